"""The benchmark's mock upstream, started as ``make bench`` starts it."""

import httpx
import msgspec

from bench.mock_upstream import MODEL


def test_answers_openai_chat_plain_and_streamed(bench_mock):
    plain = httpx.post(f"{bench_mock.url}/v1/chat/completions",
                       json={"model": MODEL, "messages": []})
    streamed = httpx.post(f"{bench_mock.url}/v1/chat/completions",
                          json={"model": MODEL, "messages": [], "stream": True})

    assert plain.json()["choices"][0]["message"]["content"] == "Hello from the mock upstream"
    events = [e.removeprefix("data: ") for e in streamed.text.strip().split("\n\n")]
    texts = [msgspec.json.decode(e)["choices"][0]["delta"].get("content") for e in events[:5]]
    assert texts == ["Hello", " from", " the", " mock", " upstream"]
    assert events[-1] == "[DONE]"
    assert msgspec.json.decode(events[-2])["usage"]["completion_tokens"] == 5


def test_answers_ollama_native_chat_streamed_by_default_and_plain(bench_mock):
    streamed = httpx.post(f"{bench_mock.url}/api/chat", json={"model": MODEL, "messages": []})
    plain = httpx.post(f"{bench_mock.url}/api/chat",
                       json={"model": MODEL, "messages": [], "stream": False})

    lines = [msgspec.json.decode(line) for line in streamed.text.splitlines()]
    assert "".join(x["message"]["content"] for x in lines) == "Hello from the mock upstream"
    assert [x["done"] for x in lines] == [False] * 5 + [True]
    assert plain.json()["message"]["content"] == "Hello from the mock upstream"


def test_lists_its_model_both_ways(bench_mock):
    assert httpx.get(f"{bench_mock.url}/v1/models").json()["data"][0]["id"] == MODEL
    assert httpx.get(f"{bench_mock.url}/api/tags").json()["models"][0]["name"] == MODEL
