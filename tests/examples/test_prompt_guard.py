"""The example prompt-guard package, installed like a user would, through the real app."""

from pathlib import Path

import msgspec
import pytest

from tests.conftest import BASE_CONFIG, OPENAI_URL, gateway_client

EXAMPLE = Path(__file__).parents[2] / "examples" / "prompt_guard"

# Made up in OpenAI's key format.
FAKE_KEY = "sk-proj-" + "Xy7_Zw8-Vu9Ts0Rq1Po2Nm3Lk4Ji5Hg6Fe7Dc8Ba9"

CHAT = {
    "provider": "openai",
    "system_prompt": "Escalate to oncall@example.com when unsure.",
    "history": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}],
    "message": f"My key {FAKE_KEY} stopped working, can you check it?",
}

REDACTED = [
    {"role": "system", "content": "Escalate to [REDACTED_EMAIL] when unsure."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "My key [REDACTED_API_KEY] stopped working, can you check it?"},
]

REPLY = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "Sure."},
                      "finish_reason": "stop"}]}
STREAM = (
    b'data: {"choices":[{"index":0,"delta":{"content":"Su"}}]}\n\n'
    b'data: {"choices":[{"index":0,"delta":{"content":"re."},"finish_reason":"stop"}]}\n\n'
    b"data: [DONE]\n\n"
)


@pytest.fixture
def guarded_config(install_plugin, write_config):
    install_plugin(EXAMPLE)
    return write_config()


def sent_messages(route):
    return msgspec.json.decode(route.calls.last.request.content)["messages"]


async def test_installed_package_is_listed_as_an_entry_point_plugin(guarded_config):
    async with gateway_client(guarded_config) as client:
        plugins = (await client.get("/api/plugins")).json()["plugins"]

    guard = next(p for p in plugins if p["name"] == "prompt_guard")
    assert (guard["source"], guard["version"], guard["error"]) == ("entrypoint", "0.1.0", None)


async def test_chat_reaches_the_upstream_redacted_and_the_reply_says_how_much(
        guarded_config, upstream):
    route = upstream.post(f"{OPENAI_URL}/chat/completions").respond(json=REPLY)

    async with gateway_client(guarded_config) as client:
        reply = await client.post("/api/chat", json=CHAT)

    assert reply.status_code == 200
    assert reply.json()["response"] == "Sure."
    assert reply.headers["x-prompt-guard"] == "redacted=2; kinds=email,api_key"
    assert sent_messages(route) == REDACTED


async def test_streamed_chat_reaches_the_upstream_redacted_and_the_reply_says_how_much(
        guarded_config, upstream):
    route = upstream.post(f"{OPENAI_URL}/chat/completions").respond(
        content=STREAM, headers={"content-type": "text/event-stream"})

    async with gateway_client(guarded_config) as client:
        reply = await client.post("/api/chat", json={**CHAT, "stream": True})

    assert reply.status_code == 200
    assert reply.text.startswith('data: {"content":"Su"}\n\ndata: {"content":"re."}\n\n')
    assert reply.headers["x-prompt-guard"] == "redacted=2; kinds=email,api_key"
    assert sent_messages(route) == REDACTED


async def test_switched_off_guard_lets_the_request_through_unchanged(install_plugin, write_config,
                                                                     upstream):
    install_plugin(EXAMPLE)
    route = upstream.post(f"{OPENAI_URL}/chat/completions").respond(json=REPLY)
    path = write_config(BASE_CONFIG + "\n[plugins]\nprompt_guard = false\n")

    async with gateway_client(path) as client:
        reply = await client.post("/api/chat", json=CHAT)

    assert "x-prompt-guard" not in reply.headers
    assert sent_messages(route)[-1]["content"] == CHAT["message"]


V1_CHAT = {
    "model": "openai/gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "Escalate to oncall@example.com when unsure."},
        {"role": "user", "content": [
            {"type": "text", "text": f"My key {FAKE_KEY} stopped working."},
            {"type": "image_url", "image_url": {"url": "https://example.com/screenshot.png"}},
        ]},
    ],
}

V1_REDACTED = [
    {"role": "system", "content": "Escalate to [REDACTED_EMAIL] when unsure."},
    {"role": "user", "content": [
        {"type": "text", "text": "My key [REDACTED_API_KEY] stopped working."},
        {"type": "image_url", "image_url": {"url": "https://example.com/screenshot.png"}},
    ]},
]


async def test_v1_chat_with_content_parts_reaches_the_upstream_redacted(guarded_config, upstream):
    route = upstream.post(f"{OPENAI_URL}/chat/completions").respond(json=REPLY)

    async with gateway_client(guarded_config) as client:
        reply = await client.post("/v1/chat/completions", json=V1_CHAT)

    assert reply.status_code == 200
    assert reply.json()["choices"][0]["message"]["content"] == "Sure."
    assert reply.headers["x-prompt-guard"] == "redacted=2; kinds=email,api_key"
    assert sent_messages(route) == V1_REDACTED


async def test_v1_streamed_chat_reaches_the_upstream_redacted(guarded_config, upstream):
    route = upstream.post(f"{OPENAI_URL}/chat/completions").respond(
        content=STREAM, headers={"content-type": "text/event-stream"})

    async with gateway_client(guarded_config) as client:
        reply = await client.post("/v1/chat/completions", json={**V1_CHAT, "stream": True})

    events = [line.removeprefix("data: ") for line in reply.text.split("\n\n") if line]
    assert reply.headers["x-prompt-guard"] == "redacted=2; kinds=email,api_key"
    assert [msgspec.json.decode(e)["choices"][0]["delta"].get("content")
            for e in events[:-1]] == ["Su", "re."]
    assert events[-1] == "[DONE]"
    assert sent_messages(route) == V1_REDACTED
