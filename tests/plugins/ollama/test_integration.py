"""The Ollama plugin end to end: the gateway as a real process, a fake Ollama on
127.0.0.1 and httpx as the client, so streaming, timing and hang-ups are real.

Providers of the one gateway: ``ollama`` (a healthy fake), ``hasty`` (a fake that
stalls, with short timeouts), ``quiet`` (a fake that reports no usage) and
``down`` (a port nobody listens on).
"""

import time
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import msgspec
import pytest

from tests.fakes.ollama import FakeOllama, RegistryModel
from tests.servers import free_port, gateway_process, serve_in_thread

STEP = 0.05  # seconds between the fake's streamed lines


@pytest.fixture(scope="module")
def fakes() -> dict[str, FakeOllama]:
    return {
        "ollama": FakeOllama(step_delay=STEP, registry={
            "llama3.2:1b": RegistryModel(), "qwen2.5:0.5b": RegistryModel(),
            "tinyllama": RegistryModel(stall=30), "phi3:mini": RegistryModel(stall=30)}),
        "hasty": FakeOllama(registry={"llama3.2:1b": RegistryModel(stall=30)},
                            stalls={"/api/tags": 30, "/v1/chat/completions": 30}),
        "quiet": FakeOllama(step_delay=0, report_usage=False),
    }


@pytest.fixture(scope="module")
def gateway(fakes, tmp_path_factory) -> Iterator[httpx.Client]:
    with ExitStack() as stack:
        urls = {name: stack.enter_context(serve_in_thread(fake)) for name, fake in fakes.items()}
        config = tmp_path_factory.mktemp("gateway") / "config.toml"
        config.write_text(f"""
[providers.ollama]
enabled = true
base_url = "{urls['ollama']}/v1"

[providers.hasty]
type = "ollama"
enabled = true
base_url = "{urls['hasty']}/v1"
timeout = 0.5
pull_timeout = 0.5

[providers.quiet]
type = "ollama"
enabled = true
base_url = "{urls['quiet']}/v1"

[providers.down]
type = "ollama"
enabled = true
base_url = "http://127.0.0.1:{free_port()}/v1"
""")
        url = stack.enter_context(gateway_process(config))
        yield stack.enter_context(httpx.Client(base_url=url, timeout=10))


def chat_sent_upstream(fake):
    return [body for method, path, body in fake.requests if path == "/v1/chat/completions"]


def test_list_shows_the_installed_models(gateway):
    reply = gateway.get("/api/providers/ollama/models")

    assert reply.status_code == 200
    names = [m["name"] for m in reply.json()["models"]]
    assert {"llama3.2:latest", "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M"} <= set(names)
    assert reply.json()["total"] == len(names)


def test_pull_replies_with_the_status_log_and_the_model_is_then_listed(gateway):
    reply = gateway.post("/api/providers/ollama/pull", json={"model": "qwen2.5:0.5b"})

    assert reply.status_code == 200
    body = reply.json()
    assert body["success"] is True
    assert body["message"] == "Model 'qwen2.5:0.5b' pulled successfully"
    assert [s["status"] for s in body["status_log"]][0] == "pulling manifest"
    assert body["status_log"][-1] == {"status": "success"}
    listed = [m["name"] for m in gateway.get("/api/providers/ollama/models").json()["models"]]
    assert "qwen2.5:0.5b" in listed


def test_streamed_pull_delivers_progress_as_it_happens(gateway):
    arrivals = []
    with gateway.stream("POST", "/api/providers/ollama/pull",
                        json={"model": "llama3.2:1b", "stream": True}) as reply:
        assert reply.headers["content-type"] == "application/x-ndjson"
        for line in reply.iter_lines():
            arrivals.append((time.monotonic(), msgspec.json.decode(line)))

    lines = [line for _, line in arrivals]
    assert lines[0] == {"status": "pulling manifest"}
    assert any("completed" in line for line in lines)
    assert lines[-1] == {"status": "success", "success": True, "model": "llama3.2:1b",
                         "message": "Model 'llama3.2:1b' pulled successfully"}
    # The fake sends a line every STEP seconds: a buffered reply would arrive all at once.
    assert arrivals[-1][0] - arrivals[0][0] >= STEP * (len(lines) - 2) * 0.8


def test_client_hanging_up_a_streamed_pull_stops_the_pull_upstream(gateway, fakes):
    with gateway.stream("POST", "/api/providers/ollama/pull",
                        json={"model": "tinyllama", "stream": True}) as reply:
        first = next(reply.iter_lines())

    assert msgspec.json.decode(first) == {"status": "pulling manifest"}
    deadline = time.monotonic() + 5
    while "tinyllama" not in fakes["ollama"].abandoned_pulls and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "tinyllama" in fakes["ollama"].abandoned_pulls


def test_client_hanging_up_a_plain_pull_stops_the_pull_upstream(gateway, fakes):
    with pytest.raises(httpx.ReadTimeout):
        # Gives up while the gateway is still waiting for the pull to finish.
        gateway.post("/api/providers/ollama/pull", json={"model": "phi3:mini"}, timeout=0.5)

    deadline = time.monotonic() + 5
    while "phi3:mini" not in fakes["ollama"].abandoned_pulls and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "phi3:mini" in fakes["ollama"].abandoned_pulls


def test_pull_of_an_unknown_model_is_500_with_ollama_error(gateway):
    reply = gateway.post("/api/providers/ollama/pull", json={"model": "no-such-model:7b"})

    assert reply.status_code == 500
    assert "pull model manifest: file does not exist" in reply.json()["detail"]


def test_streamed_pull_of_an_unknown_model_ends_with_an_error_line(gateway):
    reply = gateway.post("/api/providers/ollama/pull",
                         json={"model": "no-such-model:7b", "stream": True})

    lines = [msgspec.json.decode(line) for line in reply.text.splitlines()]
    assert lines[0] == {"status": "pulling manifest"}
    assert lines[-1]["success"] is False
    assert lines[-1]["status_code"] == 500


def test_show_describes_a_model_whose_name_has_a_slash_and_a_colon(gateway):
    name = "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M"

    reply = gateway.get(f"/api/providers/ollama/models/{name}")

    assert reply.status_code == 200
    assert reply.json()["name"] == name
    assert reply.json()["details"]["parameter_size"] == "1.24B"


def test_delete_removes_a_model_and_a_second_delete_is_404(gateway):
    gateway.post("/api/providers/ollama/pull", json={"model": "llama3.2:1b"})

    first = gateway.delete("/api/providers/ollama/models/llama3.2:1b")
    second = gateway.delete("/api/providers/ollama/models/llama3.2:1b")
    show = gateway.get("/api/providers/ollama/models/llama3.2:1b")

    assert first.json() == {"success": True, "model": "llama3.2:1b",
                            "message": "Model 'llama3.2:1b' deleted"}
    assert second.status_code == 404
    assert show.status_code == 404
    assert "pull it with POST /api/providers/ollama/pull" in show.json()["detail"]


def test_running_lists_the_loaded_models(gateway):
    reply = gateway.get("/api/providers/ollama/running")

    assert reply.status_code == 200
    assert [m["name"] for m in reply.json()["models"]] == ["llama3.2:latest"]
    assert reply.json()["total"] == 1


def test_chat_answers_with_ollama_usage_and_sends_no_max_tokens(gateway, fakes):
    reply = gateway.post("/api/chat", json={"message": "Hi there", "provider": "ollama",
                                            "max_tokens": 20})

    assert reply.status_code == 200
    assert reply.json()["response"] == "Hello! I am a fake Ollama model."
    assert reply.json()["usage"] == {"prompt_tokens": 2, "completion_tokens": 7,
                                     "total_tokens": 9, "estimated": False}
    assert "max_tokens" not in chat_sent_upstream(fakes["ollama"])[-1]


def test_streamed_chat_arrives_in_chunks_with_estimated_usage_when_ollama_has_none(gateway):
    reply = gateway.post("/api/chat", json={"message": "Hi there", "provider": "quiet",
                                            "stream": True})

    events = reply.text.strip().split("\n\n")
    assert events[0] == 'data: {"content":"Hello!"}'
    assert len(events) == 8  # seven words, then the done event
    done = msgspec.json.decode(events[-1].split("data: ", 1)[1])
    assert done["usage"] == {"prompt_tokens": 3, "completion_tokens": 9, "total_tokens": 12,
                             "estimated": True}


def test_chat_with_a_model_not_pulled_is_404_with_a_hint(gateway):
    reply = gateway.post("/api/chat", json={"message": "Hi", "provider": "ollama",
                                            "model": "mistral"})

    assert reply.status_code == 404
    assert reply.json()["detail"] == (
        "Ollama: model 'mistral' not found — pull it with POST /api/providers/ollama/pull")


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/api/providers/hasty/models", None),
    ("POST", "/api/chat", {"message": "Hi", "provider": "hasty"}),
])
def test_ollama_answering_too_slowly_is_504(gateway, method, path, body):
    reply = gateway.request(method, path, json=body)

    assert reply.status_code == 504
    assert "did not answer within 0.5 s" in reply.json()["detail"]


def test_pull_outlasting_its_timeout_is_504_saying_it_may_continue(gateway):
    reply = gateway.post("/api/providers/hasty/pull", json={"model": "llama3.2:1b"})

    assert reply.status_code == 504
    assert "may continue in the background" in reply.json()["detail"]


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/api/providers/down/models", None),
    ("POST", "/api/providers/down/pull", {"model": "llama3.2:1b", "stream": True}),
    ("POST", "/api/chat", {"message": "Hi", "provider": "down"}),
])
def test_ollama_not_running_is_503_saying_how_to_start_it(gateway, method, path, body):
    reply = gateway.request(method, path, json=body)

    assert reply.status_code == 503
    assert reply.json()["detail"].endswith(" — start it with `ollama serve`")
    assert reply.json()["detail"].startswith("Ollama is not running at http://127.0.0.1:")
