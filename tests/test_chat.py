"""POST /api/chat through the real app, with the upstream mocked by respx."""

import httpx
import msgspec
import pytest

from tests.conftest import OLLAMA_URL, OPENAI_URL, SECRET_KEY


def completion(text="Hello there", usage=None):
    body = {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "finish_reason": "stop"}],
    }
    if usage:
        body["usage"] = usage
    return body


def sse(*events):
    return "".join(f"data: {e}\n\n" for e in events).encode()


def chunk(text=None, usage=None, finish=None):
    choices = [] if text is None and finish is None else [
        {"index": 0, "delta": {"content": text} if text else {}, "finish_reason": finish}]
    body = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": choices}
    if usage:
        body["usage"] = usage
    return msgspec.json.encode(body).decode()


async def test_chat_sends_system_history_and_message_upstream_and_returns_reply(client, upstream):
    route = upstream.post(f"{OPENAI_URL}/chat/completions").respond(json=completion(
        usage={"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}))

    reply = await client.post("/api/chat", json={
        "message": "And now?", "provider": "openai", "system_prompt": "Be brief.",
        "history": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hey"}],
        "max_tokens": 50, "temperature": 0.5,
    })

    assert reply.status_code == 200
    assert reply.json() == {
        "response": "Hello there", "provider": "openai", "model": "gpt-4o-mini",
        "tokens_used": 15,
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15,
                  "estimated": False},
    }
    sent = route.calls.last.request
    assert sent.headers["authorization"] == f"Bearer {SECRET_KEY}"
    assert msgspec.json.decode(sent.content) == {
        "model": "gpt-4o-mini", "stream": False, "max_tokens": 50, "temperature": 0.5,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hey"},
            {"role": "user", "content": "And now?"},
        ],
    }


async def test_chat_uses_the_model_from_the_request(client, upstream):
    route = upstream.post(f"{OPENAI_URL}/chat/completions").respond(json=completion())

    reply = await client.post("/api/chat", json={"message": "Hi", "provider": "openai",
                                                 "model": "gpt-4.1"})

    assert reply.json()["model"] == "gpt-4.1"
    assert msgspec.json.decode(route.calls.last.request.content)["model"] == "gpt-4.1"


async def test_reply_headers_name_the_provider_and_model_even_when_it_is_not_latin_1(
        client, upstream):
    route = upstream.post(f"{OPENAI_URL}/chat/completions").respond(json=completion())

    reply = await client.post("/api/chat", json={"message": "Hi", "provider": "openai",
                                                 "model": "qwen/模型 7b"})

    assert reply.status_code == 200
    assert msgspec.json.decode(route.calls.last.request.content)["model"] == "qwen/模型 7b"
    assert reply.headers["x-gateway-provider"] == "openai"
    assert reply.headers["x-gateway-model"] == "qwen/%E6%A8%A1%E5%9E%8B%207b"


async def test_streaming_chat_delivers_chunks_in_order_then_usage(client, upstream):
    upstream.post(f"{OPENAI_URL}/chat/completions").respond(
        content=sse(chunk("Hel"), chunk("lo"), chunk(" world"), chunk(finish="stop"),
                    chunk(usage={"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7}),
                    "[DONE]"),
        headers={"content-type": "text/event-stream"})

    reply = await client.post("/api/chat", json={"message": "Hi", "provider": "openai",
                                                 "stream": True})

    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/event-stream")
    events = reply.text.strip().split("\n\n")
    assert events[:3] == ['data: {"content":"Hel"}', 'data: {"content":"lo"}',
                          'data: {"content":" world"}']
    assert events[3].startswith("event: done\ndata: ")
    done = msgspec.json.decode(events[3].split("data: ", 1)[1])
    assert done["response"] == "Hello world"
    assert done["usage"] == {"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7,
                             "estimated": False}
    assert len(events) == 4


async def test_streaming_chat_reports_a_broken_upstream_mid_stream_as_error_event(client, upstream):
    upstream.post(f"{OPENAI_URL}/chat/completions").respond(
        content=sse(chunk("Hel"), "{not json"), headers={"content-type": "text/event-stream"})

    reply = await client.post("/api/chat", json={"message": "Hi", "provider": "openai",
                                                 "stream": True})

    events = reply.text.strip().split("\n\n")
    assert events[0] == 'data: {"content":"Hel"}'
    assert events[1].startswith("event: error\ndata: ")
    error = msgspec.json.decode(events[1].split("data: ", 1)[1])
    assert error["status_code"] == 502
    assert error["error"] == "bad_upstream_reply"


async def test_a_stream_that_ends_without_done_is_an_error_not_a_short_answer(client, upstream):
    upstream.post(f"{OPENAI_URL}/chat/completions").respond(
        content=sse(chunk("Hel")), headers={"content-type": "text/event-stream"})

    reply = await client.post("/api/chat", json={"message": "Hi", "provider": "openai",
                                                 "stream": True})

    events = reply.text.strip().split("\n\n")
    assert events[0] == 'data: {"content":"Hel"}'
    assert events[1].startswith("event: error\ndata: ")
    error = msgspec.json.decode(events[1].split("data: ", 1)[1])
    assert (error["status_code"], error["error"]) == (502, "upstream_error")
    assert "without finishing it" in error["detail"]
    assert len(events) == 2


async def test_streaming_chat_failing_before_first_chunk_gets_a_real_status(client, upstream):
    upstream.post(f"{OPENAI_URL}/chat/completions").respond(
        404, json={"error": {"message": "The model `nope` does not exist"}})

    reply = await client.post("/api/chat", json={"message": "Hi", "provider": "openai",
                                                 "model": "nope", "stream": True})

    assert reply.status_code == 404
    assert reply.json()["detail"] == "OpenAI: The model `nope` does not exist"


async def test_unknown_provider_is_400_naming_it_and_listing_available(client):
    reply = await client.post("/api/chat", json={"message": "Hi", "provider": "claude"})

    assert reply.status_code == 400
    assert reply.json()["detail"] == (
        "Provider 'claude' is not configured. Available providers: ollama, openai")


async def test_disabled_provider_is_400(write_config, upstream):
    from tests.conftest import gateway_client

    path = write_config(f'[providers.openai]\nenabled = false\n[providers.ollama]\nenabled = true\nbase_url = "{OLLAMA_URL}"\n')
    async with gateway_client(path) as client:
        reply = await client.post("/api/chat", json={"message": "Hi", "provider": "openai"})

    assert reply.status_code == 400
    assert reply.json()["detail"] == "Provider 'openai' is disabled. Available providers: ollama"


async def test_invalid_body_is_400_naming_the_field(client, upstream):
    route = upstream.post(f"{OPENAI_URL}/chat/completions")

    reply = await client.post("/api/chat", json={"message": "Hi", "provider": "openai",
                                                 "max_tokens": -5})

    assert reply.status_code == 400
    assert reply.json()["detail"] == "max_tokens: Expected `int` >= 1"
    assert not route.called


async def test_missing_message_is_400(client):
    reply = await client.post("/api/chat", json={"provider": "openai"})

    assert reply.status_code == 400
    assert "message" in reply.json()["detail"]


async def test_malformed_json_is_400(client):
    reply = await client.post("/api/chat", content=b"{nope",
                              headers={"content-type": "application/json"})

    assert reply.status_code == 400
    assert reply.json()["error"] == "bad_request"


async def test_upstream_statuses_map_to_the_error_taxonomy(client, upstream):
    route = upstream.post(f"{OPENAI_URL}/chat/completions")
    cases = [
        (httpx.Response(429, json={"error": {"message": "slow down"}},
                        headers={"retry-after": "7"}), 429, "rate_limited"),
        (httpx.Response(500, text="boom"), 502, "upstream_error"),
        (httpx.Response(200, text="<html>not json</html>"), 502, "bad_upstream_reply"),
        (httpx.ConnectError("refused"), 503, "upstream_unreachable"),
        (httpx.Response(503, json={"error": {"message": "The engine is currently overloaded"}},
                        headers={"retry-after": "7"}), 503, "upstream_busy"),
        (httpx.ReadTimeout("slow"), 504, "upstream_timeout"),
    ]
    for outcome, status, kind in cases:
        route.side_effect = [outcome]
        reply = await client.post("/api/chat", json={"message": "Hi", "provider": "openai"})
        assert (reply.status_code, reply.json()["error"]) == (status, kind)
        assert reply.json()["detail"]
        if kind in ("rate_limited", "upstream_busy"):
            assert reply.headers["retry-after"] == "7"



@pytest.mark.parametrize("body", [b'{"x":', b'{"message": 5, "provider": "openai"'])
async def test_a_body_cut_short_is_not_json_whatever_field_came_first(client, body):
    reply = await client.post("/api/chat", content=body,
                              headers={"content-type": "application/json"})

    assert reply.status_code == 400
    assert reply.json()["detail"] == "The body is not valid JSON: Input data was truncated"
