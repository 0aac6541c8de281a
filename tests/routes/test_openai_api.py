"""/v1/chat/completions and /v1/models through the real app, upstreams mocked by respx."""

import asyncio

import httpx
import msgspec
import pytest

from tests.conftest import BASE_CONFIG, OLLAMA_URL, OPENAI_URL, gateway_client
OLLAMA_NATIVE = OLLAMA_URL.removesuffix("/v1")
from tests.test_chat import chunk, completion, sse

HI = [{"role": "user", "content": "Hi"}]
USAGE = {"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7}


def events(reply):
    return [e.removeprefix("data: ") for e in reply.text.strip().split("\n\n")]


def streamed(route, *events):
    route.respond(content=sse(*events), headers={"content-type": "text/event-stream"})


LOGPROBS = {"content": [{"token": "No", "logprob": -0.1, "bytes": [78, 111], "top_logprobs": []}],
            "refusal": None}


async def test_logprobs_refusal_and_fingerprint_reach_the_client(client, upstream):
    upstream.post(f"{OPENAI_URL}/chat/completions").respond(json={
        "id": "c1", "created": 1, "model": "gpt-4o-mini", "system_fingerprint": "fp_44709d6fcb",
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": LOGPROBS,
                     "message": {"role": "assistant", "content": None, "refusal": "No."}}]})

    reply = await client.post("/v1/chat/completions", json={
        "model": "openai/gpt-4o-mini", "messages": HI, "logprobs": True})

    body = reply.json()
    assert body["system_fingerprint"] == "fp_44709d6fcb"
    assert body["choices"][0]["logprobs"] == LOGPROBS
    assert body["choices"][0]["message"] == {"role": "assistant", "refusal": "No."}


async def test_streamed_logprobs_refusal_and_fingerprint_reach_the_client(client, upstream):
    streamed(upstream.post(f"{OPENAI_URL}/chat/completions"), msgspec.json.encode({
        "id": "c1", "created": 1, "model": "m", "system_fingerprint": "fp_44709d6fcb",
        "choices": [{"index": 0, "delta": {"refusal": "No."}, "logprobs": LOGPROBS}]}).decode(),
        "[DONE]")

    reply = await client.post("/v1/chat/completions", json={
        "model": "openai/gpt-4o-mini", "messages": HI, "logprobs": True, "stream": True,
        "stream_options": {"include_usage": True}})

    first, usage = [msgspec.json.decode(d) for d in events(reply)[:-1]]
    assert first["system_fingerprint"] == usage["system_fingerprint"] == "fp_44709d6fcb"
    assert first["choices"][0]["logprobs"] == LOGPROBS
    assert first["choices"][0]["delta"] == {"refusal": "No."}


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
async def test_a_reasoning_models_thinking_reaches_the_client(client, upstream, field):
    streamed(upstream.post(f"{OPENAI_URL}/chat/completions", json__stream=True),
             msgspec.json.encode({"choices": [{"index": 0, "delta": {field: "Two plus"}}]}).decode(),
             msgspec.json.encode({"choices": [{"index": 0, "delta": {"content": "4"}}]}).decode(),
             "[DONE]")
    upstream.post(f"{OPENAI_URL}/chat/completions").respond(json={"choices": [{
        "index": 0, "finish_reason": "stop",
        "message": {"role": "assistant", "content": "4", field: "Two plus two"}}]})

    plain = await client.post("/v1/chat/completions", json={
        "model": "openai/gpt-4o-mini", "messages": HI})
    stream = await client.post("/v1/chat/completions", json={
        "model": "openai/gpt-4o-mini", "messages": HI, "stream": True})

    assert plain.json()["choices"][0]["message"] == {
        "role": "assistant", "content": "4", field: "Two plus two"}
    assert [msgspec.json.decode(d)["choices"][0]["delta"] for d in events(stream)[:-1]] == [
        {field: "Two plus"}, {"content": "4"}]


async def test_completion_forwards_unknown_parameters_and_answers_with_the_requested_model(
        client, upstream):
    route = upstream.post(f"{OPENAI_URL}/chat/completions").respond(json=completion(usage=USAGE))
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]

    reply = await client.post("/v1/chat/completions", json={
        "model": "openai/gpt-4o-mini", "messages": HI, "max_tokens": 9, "temperature": 0.3,
        "top_p": 0.9, "stop": ["\n"], "seed": 1, "tools": tools,
        "response_format": {"type": "json_object"}, "x_vendor_knob": {"a": 1},
    })

    assert reply.status_code == 200
    assert reply.json() == {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "openai/gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there"},
                     "finish_reason": "stop", "logprobs": None}],
        "usage": {**USAGE, "estimated": False}, "system_fingerprint": None,
    }
    assert reply.headers["x-gateway-provider"] == "openai"
    assert msgspec.json.decode(route.calls.last.request.content) == {
        "model": "gpt-4o-mini", "messages": HI, "stream": False, "max_tokens": 9,
        "temperature": 0.3, "top_p": 0.9, "stop": ["\n"], "seed": 1, "tools": tools,
        "response_format": {"type": "json_object"}, "x_vendor_knob": {"a": 1},
    }


async def test_model_is_split_at_the_first_slash(client, upstream):
    route = upstream.post(f"{OLLAMA_URL}/chat/completions").respond(json=completion())

    reply = await client.post("/v1/chat/completions", json={
        "model": "ollama/hf.co/org/repo:Q4_K_M", "messages": HI})

    assert reply.json()["model"] == "ollama/hf.co/org/repo:Q4_K_M"
    assert msgspec.json.decode(route.calls.last.request.content)["model"] == "hf.co/org/repo:Q4_K_M"


async def test_bare_model_goes_to_the_default_provider(write_config, upstream):
    route = upstream.post(f"{OPENAI_URL}/chat/completions").respond(json=completion())
    path = write_config('[server]\ndefault_provider = "openai"\n' + BASE_CONFIG)

    async with gateway_client(path) as client:
        reply = await client.post("/v1/chat/completions", json={"model": "gpt-4.1", "messages": HI})

    assert reply.json()["model"] == "gpt-4.1"
    assert msgspec.json.decode(route.calls.last.request.content)["model"] == "gpt-4.1"


async def test_bare_model_without_a_default_provider_is_404(client):
    reply = await client.post("/v1/chat/completions", json={"model": "gpt-4.1", "messages": HI})

    assert reply.status_code == 404
    assert reply.json()["error"]["code"] == "model_not_found"
    assert "ollama, openai" in reply.json()["error"]["message"]


async def test_ollama_hooks_apply_max_tokens_stripped_and_usage_estimated(client, upstream):
    route = upstream.post(f"{OLLAMA_URL}/chat/completions").respond(
        json=completion("one two three four five"))

    reply = await client.post("/v1/chat/completions", json={
        "model": "ollama/llama3.2", "messages": HI, "max_tokens": 5,
        "max_completion_tokens": 5})

    sent = msgspec.json.decode(route.calls.last.request.content)
    assert "max_tokens" not in sent and "max_completion_tokens" not in sent
    assert reply.json()["model"] == "ollama/llama3.2"
    assert reply.json()["usage"] == {"prompt_tokens": 1, "completion_tokens": 6,
                                     "total_tokens": 7, "estimated": True}


async def test_ollama_stream_with_include_usage_ends_with_the_estimated_usage(client, upstream):
    streamed(upstream.post(f"{OLLAMA_URL}/chat/completions"),
             chunk("one two"), chunk(" three"), chunk(finish="stop"), "[DONE]")

    reply = await client.post("/v1/chat/completions", json={
        "model": "ollama/llama3.2", "messages": HI, "stream": True,
        "stream_options": {"include_usage": True}})

    data = events(reply)
    assert data[-1] == "[DONE]"
    last = msgspec.json.decode(data[-2])
    assert last["choices"] == [] and last["model"] == "ollama/llama3.2"
    assert last["usage"] == {"prompt_tokens": 1, "completion_tokens": 4, "total_tokens": 5,
                             "estimated": True}


async def test_stream_is_openai_chunks_ending_with_done(client, upstream):
    route = upstream.post(f"{OPENAI_URL}/chat/completions")
    streamed(route, chunk("Hel"), chunk("lo"), chunk(finish="stop"), chunk(usage=USAGE), "[DONE]")

    reply = await client.post("/v1/chat/completions", json={
        "model": "openai/gpt-4o-mini", "messages": HI, "stream": True})

    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/event-stream")
    data = events(reply)
    assert data[-1] == "[DONE]"
    chunks = [msgspec.json.decode(d) for d in data[:-1]]
    assert [c["choices"][0]["delta"] for c in chunks] == [{"content": "Hel"}, {"content": "lo"}, {}]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert {c["model"] for c in chunks} == {"openai/gpt-4o-mini"}
    # Not asked for, so the upstream's usage chunk is not passed on.
    assert all(c["usage"] is None for c in chunks)
    # The gateway always asks, to have usage for the response hooks.
    sent = msgspec.json.decode(route.calls.last.request.content)
    assert sent["stream_options"] == {"include_usage": True}


async def test_stream_with_include_usage_ends_with_the_upstream_usage(client, upstream):
    streamed(upstream.post(f"{OPENAI_URL}/chat/completions"),
             chunk("Hi"), chunk(finish="stop"), chunk(usage=USAGE), "[DONE]")

    reply = await client.post("/v1/chat/completions", json={
        "model": "openai/gpt-4o-mini", "messages": HI, "stream": True,
        "stream_options": {"include_usage": True}})

    data = events(reply)
    assert msgspec.json.decode(data[-2])["usage"] == {**USAGE, "estimated": False}
    assert [msgspec.json.decode(d)["usage"] for d in data[:-2]] == [None, None]


async def test_upstream_breaking_mid_stream_ends_with_an_openai_error_event(client, upstream):
    streamed(upstream.post(f"{OPENAI_URL}/chat/completions"), chunk("Hel"), "{not json")

    reply = await client.post("/v1/chat/completions", json={
        "model": "openai/gpt-4o-mini", "messages": HI, "stream": True})

    data = events(reply)
    assert len(data) == 2
    error = msgspec.json.decode(data[1])["error"]
    assert error["code"] == "bad_upstream_reply" and error["type"] == "api_error"
    assert "cannot read" in error["message"]


@pytest.mark.parametrize("error_event", [
    '{"error": {"message": "upstream overloaded", "type": "server_error", "code": null}}',
    '{"object": "error", "message": "upstream overloaded", "type": "BadRequestError", "code": 400}',
])
async def test_an_error_event_mid_stream_reaches_the_client_with_its_message(
    client, upstream, error_event
):
    streamed(upstream.post(f"{OPENAI_URL}/chat/completions"), chunk("Hel"), error_event)

    reply = await client.post("/v1/chat/completions", json={
        "model": "openai/gpt-4o-mini", "messages": HI, "stream": True})

    data = events(reply)
    assert [msgspec.json.decode(d)["choices"][0]["delta"] for d in data[:-1]] == [
        {"content": "Hel"}]
    assert msgspec.json.decode(data[-1])["error"]["message"] == (
        "OpenAI reported an error in its stream: upstream overloaded")


async def test_an_error_event_before_the_first_chunk_lets_a_fallback_answer(write_config, upstream):
    path = write_config(BASE_CONFIG + 'fallbacks = ["spare"]\n\n[providers.spare]\ntype = "openai"\n'
                        'base_url = "http://spare.test/v1"\nmodel = "spare-model"\n')
    streamed(upstream.post(f"{OPENAI_URL}/chat/completions"),
             '{"error": {"message": "model is loading, try later"}}')
    spare = upstream.post("http://spare.test/v1/chat/completions")
    streamed(spare, chunk("Hi"), chunk(finish="stop"), "[DONE]")

    async with gateway_client(path) as client:
        reply = await client.post("/v1/chat/completions", json={
            "model": "openai/gpt-4o-mini", "messages": HI, "stream": True})

    # The error is heard before anything was sent, so the fallback answers.
    assert reply.status_code == 200
    assert reply.headers["x-gateway-provider"] == "spare"
    assert events(reply)[-1] == "[DONE]"
    assert spare.call_count == 1


async def test_an_error_event_before_the_first_chunk_gets_a_real_status(client, upstream):
    streamed(upstream.post(f"{OPENAI_URL}/chat/completions"),
             '{"error": {"message": "model is loading, try later"}}')

    reply = await client.post("/v1/chat/completions", json={
        "model": "openai/gpt-4o-mini", "messages": HI, "stream": True})

    assert reply.status_code == 502
    assert reply.json()["error"]["message"] == (
        "OpenAI reported an error in its stream: model is loading, try later")


async def test_a_chunk_whose_text_is_error_is_an_ordinary_chunk(client, upstream):
    streamed(upstream.post(f"{OPENAI_URL}/chat/completions"),
             chunk("error"), chunk(' "error": none'), chunk(finish="stop"), "[DONE]")

    reply = await client.post("/v1/chat/completions", json={
        "model": "openai/gpt-4o-mini", "messages": HI, "stream": True})

    data = events(reply)
    assert data[-1] == "[DONE]"
    assert [msgspec.json.decode(d)["choices"][0]["delta"].get("content") for d in data[:-1]] == [
        "error", ' "error": none', None]


async def test_stream_failing_before_the_first_chunk_gets_a_real_status(client, upstream):
    upstream.post(f"{OPENAI_URL}/chat/completions").respond(
        404, json={"error": {"message": "The model `nope` does not exist"}})

    reply = await client.post("/v1/chat/completions", json={
        "model": "openai/nope", "messages": HI, "stream": True})

    assert reply.status_code == 404
    assert reply.json() == {"error": {
        "message": "OpenAI: The model `nope` does not exist", "type": "not_found_error",
        "param": None, "code": "model_not_found"}}


@pytest.mark.parametrize(("change", "param", "problem"), [
    ({"messages": []}, "messages", "Expected `array` of length >= 1"),
    ({"messages": [{"role": "robot", "content": "Hi"}]}, "messages[0].role", "Invalid enum value 'robot'"),
    ({"messages": [{"content": "Hi"}]}, "messages[0].role", "missing required field"),
    ({"model": 5}, "model", "Expected `str`, got `int`"),
    ({"model": "openai/"}, "model", "'openai/' names a provider but no model"),
    ({"max_tokens": 0}, "max_tokens", "Expected `int` >= 1"),
    ({"max_completion_tokens": 2**31}, "max_completion_tokens", "Expected `int` <= 2147483647"),
    ({"temperature": 2.5}, "temperature", "Expected `float` <= 2.0"),
    ({"top_p": -1}, "top_p", "Expected `float` >= 0.0"),
    ({"presence_penalty": 3}, "presence_penalty", "Expected `float` <= 2.0"),
    ({"n": 0}, "n", "Expected `int` >= 1"),
    ({"stream_options": {"include_usage": "yes"}}, "stream_options.include_usage",
     "Expected `bool | null`, got `str`"),
])
async def test_invalid_request_is_400_naming_the_field(client, upstream, change, param, problem):
    route = upstream.post(f"{OPENAI_URL}/chat/completions")
    body = {"model": "openai/gpt-4o-mini", "messages": HI, **change}

    reply = await client.post("/v1/chat/completions", json=body)

    assert reply.status_code == 400
    assert reply.json() == {"error": {"message": f"{param}: {problem}",
                                      "type": "invalid_request_error", "param": param,
                                      "code": "invalid_request"}}
    assert not route.called


async def test_nulls_for_stream_and_include_usage_mean_not_set(client, upstream):
    streamed(upstream.post(f"{OPENAI_URL}/chat/completions", json__stream=True),
             chunk("Hi"), chunk(finish="stop"), chunk(usage=USAGE), "[DONE]")
    route = upstream.post(f"{OPENAI_URL}/chat/completions").respond(json=completion("Hi"))

    plain = await client.post("/v1/chat/completions", json={
        "model": "openai/gpt-4o-mini", "messages": HI, "stream": None, "stream_options": None})
    stream = await client.post("/v1/chat/completions", json={
        "model": "openai/gpt-4o-mini", "messages": HI, "stream": True,
        "stream_options": {"include_usage": None}})

    assert plain.status_code == 200
    assert plain.json()["choices"][0]["message"]["content"] == "Hi"
    assert route.called
    assert stream.status_code == 200
    assert all(msgspec.json.decode(d)["usage"] is None for d in events(stream)[:-1])


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini\n", "openai/../x", "openai/a\x00b"])
async def test_a_model_name_with_a_control_character_or_dots_is_400_in_words(
    client, upstream, model
):
    route = upstream.post(f"{OPENAI_URL}/chat/completions")

    reply = await client.post("/v1/chat/completions", json={"model": model, "messages": HI})
    api = await client.post("/api/chat", json={"message": "Hi", "provider": "openai",
                                               "model": model.removeprefix("openai/")})

    expected = "model: Expected a name of 1 to 256 characters, with no control characters and no '..'"
    assert (reply.status_code, reply.json()["error"]["message"]) == (400, expected)
    assert (api.status_code, api.json()["detail"]) == (400, expected)
    assert not route.called


async def test_missing_model_is_400_naming_it(client):
    reply = await client.post("/v1/chat/completions", json={"messages": HI})

    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == "model"


async def test_malformed_json_is_400_in_openai_shape(client):
    reply = await client.post("/v1/chat/completions", content=b"{nope",
                              headers={"content-type": "application/json"})

    assert reply.status_code == 400
    assert reply.json()["error"]["type"] == "invalid_request_error"


DEEP = "[" * 5000 + "]" * 5000


async def test_a_body_nested_too_deeply_is_400(client, upstream):
    body = ('{"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}], '
            f'"tools": [{{"x": {DEEP}}}]}}')
    route = upstream.post(f"{OPENAI_URL}/chat/completions")

    reply = await client.post("/v1/chat/completions", content=body,
                              headers={"content-type": "application/json"})

    assert reply.status_code == 400
    assert reply.json()["error"]["message"] == "The body is nested too deeply"
    assert not route.called


@pytest.mark.parametrize("stream", [False, True])
async def test_an_upstream_reply_nested_too_deeply_is_502(client, upstream, stream):
    message = f'{{"role": "assistant", "tool_calls": [{{"x": {DEEP}}}]}}'
    route = upstream.post(f"{OPENAI_URL}/chat/completions")
    if stream:
        streamed(route, f'{{"choices": [{{"index": 0, "delta": {message}}}]}}')
    else:
        route.respond(content=f'{{"choices": [{{"index": 0, "message": {message}}}]}}'.encode(),
                      headers={"content-type": "application/json"})

    reply = await client.post("/v1/chat/completions", json={
        "model": "openai/gpt-4o-mini", "messages": HI, "stream": stream})

    assert reply.status_code == 502
    assert reply.json()["error"]["code"] == "bad_upstream_reply"


async def test_unknown_provider_is_404_model_not_found(client):
    reply = await client.post("/v1/chat/completions", json={"model": "claude/opus", "messages": HI})

    assert reply.status_code == 404
    assert reply.json()["error"] == {
        "message": "Provider 'claude' is not configured. Available providers: ollama, openai",
        "type": "not_found_error", "param": None, "code": "model_not_found"}


async def test_upstream_failures_map_to_statuses_in_openai_shape(client, upstream):
    route = upstream.post(f"{OPENAI_URL}/chat/completions")
    cases = [
        (httpx.Response(429, json={"error": {"message": "slow down"}}, headers={"retry-after": "7"}),
         429, "rate_limit_error", "rate_limited"),
        (httpx.Response(400, json={"error": {"message": "bad stop"}}), 400,
         "invalid_request_error", "bad_request"),
        (httpx.Response(500, text="boom"), 502, "api_error", "upstream_error"),
        (httpx.Response(200, text="<html>"), 502, "api_error", "bad_upstream_reply"),
        (httpx.ConnectError("refused"), 503, "api_error", "upstream_unreachable"),
        (httpx.Response(503, json={"error": {"message": "The engine is currently overloaded"}},
                        headers={"retry-after": "7"}), 503, "api_error", "upstream_busy"),
        (httpx.ReadTimeout("slow"), 504, "api_error", "upstream_timeout"),
    ]
    for outcome, status, type_, code in cases:
        route.side_effect = [outcome]
        reply = await client.post("/v1/chat/completions",
                                  json={"model": "openai/gpt-4o-mini", "messages": HI})
        error = reply.json()["error"]
        assert (reply.status_code, error["type"], error["code"]) == (status, type_, code)
        assert error["message"]
        if code in ("rate_limited", "upstream_busy"):
            assert reply.headers["retry-after"] == "7"


@pytest.mark.parametrize(("status", "param", "code"), [
    (400, "messages", "context_length_exceeded"),
    (400, "temperature", "invalid_value"),
    (404, None, "model_not_found"),
    (429, None, "rate_limit_exceeded"),
    (503, None, "engine_overloaded"),
])
async def test_the_upstreams_own_param_and_code_reach_a_v1_client(client, upstream, status,
                                                                  param, code):
    upstream.post(f"{OPENAI_URL}/chat/completions").respond(status, json={"error": {
        "message": "no", "type": "invalid_request_error", "param": param, "code": code}})

    v1 = await client.post("/v1/chat/completions", json={
        "model": "openai/gpt-4o-mini", "messages": HI})
    api = await client.post("/api/chat", json={"message": "Hi", "provider": "openai"})

    assert v1.status_code == status
    assert (v1.json()["error"]["param"], v1.json()["error"]["code"]) == (param, code)
    # The gateway's own API keeps the gateway's kinds.
    assert api.json()["error"] == {400: "bad_request", 404: "model_not_found",
                                   429: "rate_limited", 503: "upstream_busy"}[status]


async def test_models_of_every_provider_prefixed_and_a_failing_one_left_out(write_config, upstream):
    upstream.get(f"{OPENAI_URL}/models").respond(
        json={"data": [{"id": "gpt-4o-mini", "owned_by": "openai", "created": 5}]})
    upstream.get(f"{OLLAMA_NATIVE}/api/tags").respond(json={"models": [{"name": "llama3.2:latest"}]})
    upstream.get("http://groq.test/v1/models").mock(side_effect=httpx.ConnectError("refused"))
    path = write_config(BASE_CONFIG + '[providers.groq]\ntype = "openai"\n'
                                      'base_url = "http://groq.test/v1"\n')

    async with gateway_client(path) as client:
        reply = await client.get("/v1/models")

    assert reply.status_code == 200
    assert reply.json() == {"object": "list", "data": [
        {"id": "ollama/llama3.2:latest", "object": "model", "created": 0, "owned_by": "ollama"},
        {"id": "openai/gpt-4o-mini", "object": "model", "created": 5, "owned_by": "openai"},
    ]}


async def test_models_leave_out_a_provider_that_hangs(client, upstream, monkeypatch):
    monkeypatch.setattr("gateway.routes.openai_api.MODELS_WAIT", 0.2)

    async def hang(request):
        await asyncio.sleep(30)

    upstream.get(f"{OPENAI_URL}/models").mock(side_effect=hang)
    upstream.get(f"{OLLAMA_NATIVE}/api/tags").respond(json={"models": [{"name": "llama3.2:latest"}]})

    reply = await asyncio.wait_for(client.get("/v1/models"), 5)

    assert [m["id"] for m in reply.json()["data"]] == ["ollama/llama3.2:latest"]


async def test_one_model_is_found_by_its_prefixed_id_even_with_slashes(client, upstream):
    upstream.get(f"{OLLAMA_NATIVE}/api/tags").respond(json={"models": [{"name": "hf.co/org/repo:Q4"}]})

    found = await client.get("/v1/models/ollama/hf.co/org/repo:Q4")
    missing = await client.get("/v1/models/ollama/llama9")

    assert found.json() == {"id": "ollama/hf.co/org/repo:Q4", "object": "model", "created": 0,
                            "owned_by": "ollama"}
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "model_not_found"


async def test_an_ollama_model_is_found_by_any_name_ollama_resolves_to_it(client, upstream):
    upstream.get(f"{OLLAMA_NATIVE}/api/tags").respond(json={"models": [
        {"name": "llama3.2:latest"}, {"name": "registry.local:5000/team/coder:latest"},
        {"name": "qwen2.5:7b"}]})

    names = ["llama3.2", "llama3.2:latest", "Llama3.2", "library/llama3.2",
             "registry.ollama.ai/library/llama3.2:latest", "registry.local:5000/team/coder",
             "QWEN2.5:7B"]
    found = [await client.get(f"/v1/models/ollama/{name}") for name in names]
    # Only ":latest" is implied; another tag must be named.
    missing = await client.get("/v1/models/ollama/qwen2.5")

    # Named as asked, as Ollama's own /v1/models/{model} does.
    assert [r.json()["id"] for r in found] == [f"ollama/{name}" for name in names]
    assert missing.status_code == 404


async def test_other_providers_match_a_model_id_exactly(client, upstream):
    upstream.get(f"{OPENAI_URL}/models").respond(json={"object": "list", "data": [
        {"id": "gpt-4o", "object": "model", "created": 1, "owned_by": "openai"}]})

    found = await client.get("/v1/models/openai/gpt-4o")
    missing = await client.get("/v1/models/openai/gpt-4o:latest")

    assert found.status_code == 200
    assert missing.status_code == 404


async def test_unknown_v1_route_is_404_in_openai_shape(client):
    reply = await client.get("/v1/embeddings")

    assert reply.status_code == 404
    assert reply.json()["error"]["type"] == "not_found_error"
