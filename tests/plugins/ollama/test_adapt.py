"""Chat through Ollama: max_tokens dropped, usage estimated when Ollama reports none."""

import msgspec
import pytest

from gateway import ChatRequest, Message
from plugins.ollama.adapt import adapt_max_tokens
from tests.conftest import OLLAMA_URL, OPENAI_URL, gateway_client

CHAT = f"{OLLAMA_URL}/chat/completions"
REPLY = "Paris is the capital of France"  # 6 words: round(6 * 1.3) = 8 tokens
ASK = {"message": "What is the capital of France?", "provider": "ollama",
       "system_prompt": "Answer briefly."}  # 6 + 2 words: round(8 * 1.3) = 10 tokens
ESTIMATE = {"prompt_tokens": 10, "completion_tokens": 8, "total_tokens": 18, "estimated": True}
REAL = {"prompt_tokens": 26, "completion_tokens": 9, "total_tokens": 35}


def completion(usage=None):
    body = {"id": "chatcmpl-417", "object": "chat.completion", "created": 1755800000,
            "model": "llama3.2", "system_fingerprint": "fp_ollama",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": REPLY},
                         "finish_reason": "stop"}]}
    if usage is not None:
        body["usage"] = usage
    return body


def sse(usage=None):
    """Ollama's stream: role in the first delta only, a finish chunk, the usage chunk if any."""
    base = {"id": "chatcmpl-42", "object": "chat.completion.chunk", "created": 1755800000,
            "model": "llama3.2", "system_fingerprint": "fp_ollama"}
    words = REPLY.split(" ")
    chunks = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": words[0]},
                                    "finish_reason": None}]}]
    chunks += [{**base, "choices": [{"index": 0, "delta": {"content": " " + w},
                                     "finish_reason": None}]} for w in words[1:]]
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    if usage is not None:
        chunks.append({**base, "choices": [], "usage": usage})
    events = [b"data: " + msgspec.json.encode(c) + b"\n\n" for c in chunks]
    return b"".join(events) + b"data: [DONE]\n\n"


def done_event(reply):
    event = reply.text.strip().split("\n\n")[-1]
    assert event.startswith("event: done\n")
    return msgspec.json.decode(event.split("data: ", 1)[1])


async def test_max_tokens_is_not_sent_to_ollama(client, upstream):
    route = upstream.post(CHAT).respond(json=completion(REAL))

    reply = await client.post("/api/chat", json={**ASK, "max_tokens": 50})

    assert reply.status_code == 200
    assert "max_tokens" not in msgspec.json.decode(route.calls.last.request.content)


async def test_keep_max_tokens_sends_max_tokens_to_ollama(write_config, upstream):
    route = upstream.post(CHAT).respond(json=completion(REAL))
    path = write_config(f'[providers.ollama]\nenabled = true\nbase_url = "{OLLAMA_URL}"\n'
                        'keep_max_tokens = true\n')

    async with gateway_client(path) as client:
        await client.post("/api/chat", json={**ASK, "max_tokens": 50})

    assert msgspec.json.decode(route.calls.last.request.content)["max_tokens"] == 50


async def test_other_providers_keep_max_tokens(client, upstream):
    route = upstream.post(f"{OPENAI_URL}/chat/completions").respond(json=completion(REAL))

    await client.post("/api/chat", json={**ASK, "provider": "openai", "max_tokens": 50})

    assert msgspec.json.decode(route.calls.last.request.content)["max_tokens"] == 50


@pytest.mark.parametrize(("keep", "sent"), [
    (False, {"max_tokens": None, "extra": {"top_p": 0.5}}),
    # Ollama ignores max_completion_tokens, so a kept cap must travel as max_tokens.
    (True, {"max_tokens": 20, "extra": {"top_p": 0.5}}),
])
def test_max_completion_tokens_is_dropped_or_becomes_max_tokens(keep, sent):
    request = ChatRequest(model="llama3.2", messages=[Message(role="user", content="Hi")],
                          extra={"max_completion_tokens": 20, "top_p": 0.5})

    adapt_max_tokens(request, keep=keep)

    assert {"max_tokens": request.max_tokens, "extra": request.extra} == sent


async def test_usage_is_estimated_from_words_when_ollama_reports_none(client, upstream):
    upstream.post(CHAT).respond(json=completion())

    reply = await client.post("/api/chat", json=ASK)

    assert reply.json()["usage"] == ESTIMATE
    assert reply.json()["tokens_used"] == 18


async def test_usage_is_estimated_when_ollama_reports_zero_counts(client, upstream):
    upstream.post(CHAT).respond(json=completion(
        {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}))

    reply = await client.post("/api/chat", json=ASK)

    assert reply.json()["usage"] == ESTIMATE


async def test_real_usage_from_ollama_is_passed_on_unchanged(client, upstream):
    upstream.post(CHAT).respond(json=completion(REAL))

    reply = await client.post("/api/chat", json=ASK)

    assert reply.json()["usage"] == {**REAL, "estimated": False}


async def test_streamed_usage_is_estimated_from_the_text_when_no_usage_chunk_came(client, upstream):
    upstream.post(CHAT).respond(content=sse(), headers={"content-type": "text/event-stream"})

    reply = await client.post("/api/chat", json={**ASK, "stream": True})

    done = done_event(reply)
    assert done["response"] == REPLY
    assert done["usage"] == ESTIMATE


async def test_streamed_real_usage_is_passed_on_unchanged(client, upstream):
    upstream.post(CHAT).respond(content=sse(REAL), headers={"content-type": "text/event-stream"})

    reply = await client.post("/api/chat", json={**ASK, "stream": True})

    assert done_event(reply)["usage"] == {**REAL, "estimated": False}


def test_prompt_estimate_counts_the_text_parts_of_multimodal_messages():
    from gateway import ChatResponse, Choice
    from plugins.ollama.adapt import estimate_usage

    request = ChatRequest(model="llava", messages=[Message(role="user", content=[
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}])])
    response = ChatResponse(choices=[Choice(message=Message(role="assistant", content="A cat"))])

    estimate_usage(request, response)

    assert response.usage is not None
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (6, 3)
