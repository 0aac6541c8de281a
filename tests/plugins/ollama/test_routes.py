"""The Ollama model-management routes through the real app, Ollama mocked by respx."""

import asyncio

import httpx
import msgspec
import pytest

from gateway.observability.context import RequestRecord, bind, unbind
from tests.conftest import gateway_client
from tests.observability.conftest import _drop_log_handler, access_lines  # noqa: F401 (fixtures)
from tests.observability.conftest import changes, sample, scrape

NATIVE = "http://ollama.test"
PULL_HINT = "pull it with POST /api/providers/ollama/pull"

DETAILS = {"parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"],
           "parameter_size": "3.2B", "quantization_level": "Q4_K_M"}


def tag(name, **extra):
    return {"name": name, "model": name, "size": 2019393189,
            "modified_at": "2025-05-04T17:37:44.706015396-07:00",
            "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
            "details": DETAILS, **extra}


def listed(name):
    """What the gateway lists for ``tag(name)``: Ollama's fields minus the undocumented."""
    details = {k: v for k, v in DETAILS.items() if k != "parent_model"}
    return {"name": name, "size": 2019393189,
            "modified_at": "2025-05-04T17:37:44.706015396-07:00",
            "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
            "details": details}


def ndjson(*lines):
    return b"".join(msgspec.json.encode(line) + b"\n" for line in lines)


BLOB = "sha256:dde5aa3fc5ffc17176b5e8bdc82f587b24b2678c6c66101bf7da77af9f7ccdff"
PROGRESS = [
    {"status": "pulling manifest"},
    {"status": "pulling dde5aa3fc5ff", "digest": BLOB, "total": 2019377376},
    {"status": "pulling dde5aa3fc5ff", "digest": BLOB, "total": 2019377376, "completed": 241970},
    {"status": "pulling dde5aa3fc5ff", "digest": BLOB, "total": 2019377376, "completed": 2019377376},
    {"status": "verifying sha256 digest"},
    {"status": "writing manifest"},
    {"status": "success"},
]


def last_body(route):
    return msgspec.json.decode(route.calls.last.request.content)


# --- GET /models ---------------------------------------------------------------------------

async def test_list_returns_installed_models_and_their_total(client, upstream):
    upstream.get(f"{NATIVE}/api/tags").respond(json={"models": [
        tag("llama3.2:latest", capabilities=["completion"]), tag("hf.co/org/repo:Q4_K_M")]})

    reply = await client.get("/api/providers/ollama/models")

    assert reply.status_code == 200
    assert reply.json() == {"models": [listed("llama3.2:latest"), listed("hf.co/org/repo:Q4_K_M")],
                            "total": 2}


async def test_list_with_nothing_installed_is_empty(client, upstream):
    upstream.get(f"{NATIVE}/api/tags").respond(json={"models": []})

    reply = await client.get("/api/providers/ollama/models")

    assert reply.json() == {"models": [], "total": 0}


async def test_list_accepts_null_families_and_missing_optional_fields(client, upstream):
    upstream.get(f"{NATIVE}/api/tags").respond(json={"models": [
        {"name": "glm-4.6", "details": {"format": "", "families": None}}]})

    reply = await client.get("/api/providers/ollama/models")

    assert reply.json()["models"] == [{
        "name": "glm-4.6", "size": 0, "modified_at": "", "digest": "",
        "details": {"format": "", "family": "", "families": None, "parameter_size": "",
                    "quantization_level": ""}}]


async def test_list_reply_missing_models_is_500_saying_what_is_wrong(client, upstream):
    upstream.get(f"{NATIVE}/api/tags").respond(json={"tags": []})

    reply = await client.get("/api/providers/ollama/models")

    assert reply.status_code == 500
    assert reply.json() == {
        "status_code": 500, "error": "bad_upstream_reply",
        "detail": "Ollama sent a model list the gateway cannot read: "
                  "Object missing required field `models`"}


async def test_list_reply_that_is_not_json_is_500(client, upstream):
    upstream.get(f"{NATIVE}/api/tags").respond(text="<html>proxy error</html>")

    reply = await client.get("/api/providers/ollama/models")

    assert reply.status_code == 500
    assert reply.json()["detail"].startswith("Ollama sent a model list the gateway cannot read")


async def test_plain_text_404_says_base_url_points_elsewhere(client, upstream):
    upstream.get(f"{NATIVE}/api/tags").respond(404, text="404 page not found")

    reply = await client.get("/api/providers/ollama/models")

    assert reply.status_code == 502
    assert reply.json()["detail"] == (
        "Ollama at http://ollama.test answered /api/tags with HTTP 404 (404 page not found); "
        "check that `base_url` points at Ollama's /v1")


# --- errors every route shares -------------------------------------------------------------

ROUTES = [
    ("GET", "/api/providers/ollama/models", None, "GET", "/api/tags"),
    ("GET", "/api/providers/ollama/running", None, "GET", "/api/ps"),
    ("GET", "/api/providers/ollama/models/llama3.2:1b", None, "POST", "/api/show"),
    ("DELETE", "/api/providers/ollama/models/llama3.2:1b", None, "DELETE", "/api/delete"),
    ("POST", "/api/providers/ollama/pull", {"model": "llama3.2:1b"}, "POST", "/api/pull"),
    ("POST", "/api/providers/ollama/pull", {"model": "llama3.2:1b", "stream": True},
     "POST", "/api/pull"),
]


FAILURES = {
    "down": ({"side_effect": httpx.ConnectError("[Errno 111] Connection refused")}, 503,
             "Ollama is not running at http://ollama.test — start it with `ollama serve`"),
    "slow": ({"side_effect": httpx.ReadTimeout("timed out")}, 504,
             "Ollama at http://ollama.test did not answer within 300 s; a model that is still "
             "loading can take longer (raise `timeout` in [providers.ollama])"),
    "busy": ({"return_value": httpx.Response(503, json={
                 "error": "server busy, please try again.  maximum pending requests exceeded"})},
             503, "Ollama is too busy to take the request (HTTP 503): server busy, please try "
                  "again.  maximum pending requests exceeded"),
}


@pytest.mark.parametrize(("method", "path", "body", "up_method", "up_path", "failure"), [
    (*route, failure) for route in ROUTES for failure in FAILURES
    # A pull has no per-read timeout, only pull_timeout (tested below).
    if not (failure == "slow" and route[4] == "/api/pull")
])
async def test_every_route_words_ollama_failures_so_the_user_can_act(
    client, upstream, method, path, body, up_method, up_path, failure
):
    mock, status, detail = FAILURES[failure]
    upstream.route(method=up_method, url=f"{NATIVE}{up_path}").mock(**mock)

    reply = await client.request(method, path, json=body)

    assert reply.status_code == status
    assert reply.json()["detail"] == detail
    assert reply.json()["status_code"] == status


async def test_disabled_ollama_provider_routes_say_how_to_enable_it(write_config, upstream):
    tags = upstream.get(f"{NATIVE}/api/tags")
    path = write_config(f'[providers.ollama]\nbase_url = "{NATIVE}/v1"\n')

    async with gateway_client(path) as client:
        reply = await client.get("/api/providers/ollama/models")

    assert reply.status_code == 400
    assert reply.json()["detail"] == (
        "Provider 'ollama' is disabled; set `enabled = true` in [providers.ollama] to manage its models")
    assert not tags.called


async def test_each_ollama_instance_has_its_own_routes_and_upstream(write_config, upstream):
    upstream.get("http://gpu-box.test:11434/api/tags").respond(json={"models": [tag("big:70b")]})
    upstream.get(f"{NATIVE}/api/tags").respond(json={"models": [tag("small:1b")]})
    path = write_config(f'''
        [providers.ollama]
        enabled = true
        base_url = "{NATIVE}/v1"
        [providers.gpu]
        type = "ollama"
        enabled = true
        base_url = "http://gpu-box.test:11434/v1/"
        [providers.openai]
        enabled = true
        base_url = "http://openai.test/v1"
    ''')

    async with gateway_client(path) as client:
        gpu = await client.get("/api/providers/gpu/models")
        local = await client.get("/api/providers/ollama/models")
        openai = await client.get("/api/providers/openai/models")
        nope = await client.get("/api/providers/nope/models")

    assert [m["name"] for m in gpu.json()["models"]] == ["big:70b"]
    assert [m["name"] for m in local.json()["models"]] == ["small:1b"]
    assert (openai.status_code, nope.status_code) == (400, 400)
    assert openai.json()["detail"] == (
        "Provider 'openai' is not an Ollama provider; models can be managed for: ollama, gpu")
    assert nope.json()["detail"] == (
        "Provider 'nope' is not configured; models can be managed for: ollama, gpu")


def test_pull_and_delete_are_admin_routes_and_the_others_are_not(write_config):
    from gateway.app import create_app

    app = create_app(write_config())
    prefix = "/api/providers/{provider_id:str}"
    scopes = {(method, route.path.removeprefix(prefix)): handler.opt.get("scope")
              for route in app.routes if route.path.startswith(prefix)
              for handler in route.route_handlers
              for method in handler.http_methods if method != "OPTIONS"}

    assert scopes == {
        ("POST", "/check"): "admin",
        ("GET", "/models"): None,
        ("POST", "/pull"): "admin",
        ("GET", "/models/{name:path}"): None,
        ("DELETE", "/models/{name:path}"): "admin",
        ("GET", "/running"): None,
    }


# --- POST /pull ----------------------------------------------------------------------------

async def test_pull_returns_success_and_a_status_log_of_each_step(client, upstream):
    route = upstream.post(f"{NATIVE}/api/pull").respond(content=ndjson(*PROGRESS))

    reply = await client.post("/api/providers/ollama/pull", json={"model": "llama3.2:1b"})

    assert reply.status_code == 200
    assert reply.json() == {
        "success": True, "message": "Model 'llama3.2:1b' pulled successfully",
        "model": "llama3.2:1b",
        # A blob's repeated progress lines collapse into its latest one.
        "status_log": [PROGRESS[0], PROGRESS[3], *PROGRESS[4:]],
    }
    assert last_body(route) == {"model": "llama3.2:1b", "stream": True}


@pytest.mark.parametrize("body", [{}, {"model": ""}, {"model": "   "}, {"stream": True}])
async def test_pull_without_a_model_name_is_400(client, upstream, body):
    route = upstream.post(f"{NATIVE}/api/pull")

    reply = await client.post("/api/providers/ollama/pull", json=body)

    assert reply.status_code == 400
    assert "model" in reply.json()["detail"]
    assert not route.called


async def test_pull_body_errors_name_the_field_not_the_handler_parameter(client):
    missing = await client.post("/api/providers/ollama/pull", json={})
    unknown = await client.post("/api/providers/ollama/pull", json={"model": "x", "force": 1})
    listed = await client.post("/api/providers/ollama/pull", json=["llama3.2"])

    assert missing.json()["detail"] == "model: missing required field"
    assert unknown.json()["detail"] == "force: unknown field"
    assert listed.json()["detail"] == "body: Expected `object`, got `array`"


async def test_a_pull_without_a_body_or_with_one_that_is_not_json_says_so(client, upstream):
    route = upstream.post(f"{NATIVE}/api/pull")

    empty = await client.post("/api/providers/ollama/pull")
    broken = await client.post("/api/providers/ollama/pull", content=b'{"model": ',
                               headers={"content-type": "application/json"})

    assert (empty.status_code, empty.json()["detail"]) == (
        400, "body: The body is empty; send a JSON object")
    assert (broken.status_code, broken.json()["detail"]) == (
        400, "The body is not valid JSON: Input data was truncated")
    assert not route.called


async def test_pull_of_a_name_ollama_rejects_is_400_with_its_text(client, upstream):
    upstream.post(f"{NATIVE}/api/pull").respond(400, json={"error": "invalid model name"})

    reply = await client.post("/api/providers/ollama/pull", json={"model": "Bad Name!"})

    assert reply.status_code == 400
    assert reply.json()["detail"] == "Ollama cannot pull 'Bad Name!': invalid model name"


async def test_pull_error_line_mid_stream_is_500_with_ollama_text(client, upstream):
    upstream.post(f"{NATIVE}/api/pull").respond(content=ndjson(
        {"status": "pulling manifest"}, {"error": "pull model manifest: file does not exist"}))

    reply = await client.post("/api/providers/ollama/pull", json={"model": "nope:7b"})

    assert reply.status_code == 500
    assert reply.json() == {
        "status_code": 500, "error": "pull_failed",
        "detail": "Pulling 'nope:7b' failed: Ollama reported: pull model manifest: file does "
                  "not exist. Check the name: the registry has no model 'nope:7b'"}


@pytest.mark.parametrize("stream", [False, True])
async def test_a_pull_error_line_never_shows_the_key_the_gateway_sent(write_config, upstream,
                                                                      stream):
    # A proxy in front of Ollama that quotes the credentials it refused.
    path = write_config(f"""
[providers.ollama]
enabled = true
base_url = "{NATIVE}/v1"
api_key = "sk-ollama-proxy-5678"
""")
    upstream.post(f"{NATIVE}/api/pull").respond(content=ndjson(
        {"status": "pulling manifest"},
        {"error": "registry refused: token Bearer sk-ollama-proxy-5678"}))

    async with gateway_client(path) as client:
        reply = await client.post("/api/providers/ollama/pull",
                                  json={"model": "x", "stream": stream})

    assert "sk-ollama-proxy" not in reply.text
    assert "registry refused: token [redacted]" in reply.text


async def test_pull_of_a_model_that_needs_a_newer_ollama_is_500_with_its_text(client, upstream):
    error = ("pull model manifest: 412: \nThe model you are attempting to pull requires a "
             "newer version of Ollama.")
    upstream.post(f"{NATIVE}/api/pull").respond(content=ndjson(PROGRESS[0], {"error": error}))

    reply = await client.post("/api/providers/ollama/pull", json={"model": "qwen9"})

    assert reply.status_code == 500
    assert reply.json()["detail"] == f"Pulling 'qwen9' failed: Ollama reported: {error}"


async def test_pull_stream_ending_before_success_is_500_saying_it_broke_off(client, upstream):
    upstream.post(f"{NATIVE}/api/pull").respond(content=ndjson(*PROGRESS[:3]))

    reply = await client.post("/api/providers/ollama/pull", json={"model": "llama3.2:1b"})

    assert reply.status_code == 500
    assert reply.json()["detail"] == (
        "The pull of 'llama3.2:1b' broke off: Ollama closed the progress stream before "
        "reporting success. Pull again to resume it.")


class BrokenStream(httpx.AsyncByteStream):
    """Some progress lines, then the connection drops."""

    def __init__(self, content):
        self.content = content

    async def __aiter__(self):
        yield self.content
        raise httpx.RemoteProtocolError("peer closed connection without sending complete body")


async def test_pull_connection_dropping_mid_stream_is_500_saying_it_broke_off(client, upstream):
    upstream.post(f"{NATIVE}/api/pull").respond(stream=BrokenStream(ndjson(*PROGRESS[:2])))

    reply = await client.post("/api/providers/ollama/pull", json={"model": "llama3.2:1b"})

    assert reply.status_code == 500
    assert reply.json()["detail"] == (
        "The pull of 'llama3.2:1b' broke off: the connection to Ollama failed "
        "(RemoteProtocolError). Pull again to resume it.")


async def test_pull_progress_line_that_is_not_json_is_500(client, upstream):
    upstream.post(f"{NATIVE}/api/pull").respond(content=ndjson(PROGRESS[0]) + b"{oops\n")

    reply = await client.post("/api/providers/ollama/pull", json={"model": "llama3.2:1b"})

    assert reply.status_code == 500
    assert reply.json()["detail"].startswith(
        "Ollama sent a pull progress line the gateway cannot read")


class StalledStream(httpx.AsyncByteStream):
    async def __aiter__(self):
        yield ndjson(PROGRESS[0])
        await asyncio.sleep(30)


async def test_pull_outlasting_pull_timeout_is_504_saying_it_may_continue(write_config, upstream):
    upstream.post(f"{NATIVE}/api/pull").respond(stream=StalledStream())
    path = write_config(f'[providers.ollama]\nenabled = true\nbase_url = "{NATIVE}/v1"\n'
                        'pull_timeout = 0.2\n')

    async with gateway_client(path) as client:
        reply = await client.post("/api/providers/ollama/pull", json={"model": "llama3.2:1b"})

    assert reply.status_code == 504
    assert reply.json()["detail"] == (
        "Pulling 'llama3.2:1b' did not finish within 0.2 s (`pull_timeout` in "
        "[providers.ollama]). The download may continue in the background; pull again to "
        "resume it or to follow its progress.")


# --- POST /pull with "stream": true ---------------------------------------------------------

def pull_counts(before, after):
    return {dict(labels)["outcome"]: value
            for (name, labels), value in changes(before, after).items()
            if name == "gateway_model_pulls_total"
            and labels >= {("provider", "ollama"), ("model", "m:1b")}}


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(("progress", "outcome"), [
    (PROGRESS, "succeeded"),
    ([PROGRESS[0], {"error": "max retries exceeded: EOF"}], "failed"),
    (PROGRESS[:3], "failed"),
])
async def test_every_pull_is_counted_in_metrics_with_its_outcome(
        client, upstream, progress, outcome, stream):
    upstream.post(f"{NATIVE}/api/pull").respond(content=ndjson(*progress))
    before = await scrape(client)

    await client.post("/api/providers/ollama/pull", json={"model": "m:1b", "stream": stream})

    assert pull_counts(before, await scrape(client)) == {"started": 1, outcome: 1}


async def test_a_pull_ollama_refuses_is_counted_as_failed(client, upstream):
    upstream.post(f"{NATIVE}/api/pull").mock(side_effect=httpx.ConnectError("refused"))
    before = await scrape(client)

    await client.post("/api/providers/ollama/pull", json={"model": "m:1b"})

    assert pull_counts(before, await scrape(client)) == {"started": 1, "failed": 1}


async def pull_lines(client, model="llama3.2:1b"):
    reply = await client.post("/api/providers/ollama/pull", json={"model": model, "stream": True})
    return reply, [msgspec.json.decode(line) for line in reply.text.splitlines()]


async def test_streamed_pull_forwards_every_progress_line_then_a_success_line(client, upstream):
    upstream.post(f"{NATIVE}/api/pull").respond(content=ndjson(*PROGRESS))

    reply, lines = await pull_lines(client)

    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/x-ndjson"
    assert lines == [*PROGRESS[:-1], {
        "status": "success", "success": True, "model": "llama3.2:1b",
        "message": "Model 'llama3.2:1b' pulled successfully"}]


async def test_streamed_pull_ends_with_an_error_line_when_ollama_reports_one(client, upstream):
    upstream.post(f"{NATIVE}/api/pull").respond(content=ndjson(
        PROGRESS[0], {"error": "max retries exceeded: EOF"}))

    reply, lines = await pull_lines(client)

    assert reply.status_code == 200
    assert lines == [PROGRESS[0], {
        "status": "error", "success": False, "model": "llama3.2:1b", "status_code": 500,
        "error": "pull_failed",
        "detail": "Pulling 'llama3.2:1b' failed: Ollama reported: max retries exceeded: EOF"}]


async def test_streamed_pull_cut_off_ends_with_an_error_line(client, upstream):
    upstream.post(f"{NATIVE}/api/pull").respond(content=ndjson(*PROGRESS[:3]))

    reply, lines = await pull_lines(client)

    assert lines[:3] == PROGRESS[:3]
    assert lines[3]["success"] is False
    assert lines[3]["detail"].startswith("The pull of 'llama3.2:1b' broke off")
    assert len(lines) == 4


async def test_streamed_pull_that_cannot_start_gets_a_real_status(client, upstream):
    upstream.post(f"{NATIVE}/api/pull").mock(side_effect=httpx.ConnectError("refused"))

    reply = await client.post("/api/providers/ollama/pull",
                              json={"model": "llama3.2:1b", "stream": True})

    assert reply.status_code == 503
    assert reply.headers["content-type"] == "application/json"


# --- GET /models/{name} ---------------------------------------------------------------------

SHOW = {
    "license": "LLAMA 3.2 COMMUNITY LICENSE", "modelfile": "FROM x\n",
    "parameters": 'stop "<|eot_id|>"', "template": "{{ .Prompt }}", "details": DETAILS,
    "model_info": {"general.architecture": "llama", "llama.context_length": 131072},
    "capabilities": ["completion", "tools"], "tensors": [{"name": "t"}],
    "modified_at": "2025-05-04T17:37:44.706015396-07:00",
}


@pytest.mark.parametrize("name", ["llama3.2:1b", "hf.co/org/repo:Q4_K_M", "myuser/model"])
async def test_show_returns_the_model_details_for_names_with_colons_and_slashes(
    client, upstream, name
):
    route = upstream.post(f"{NATIVE}/api/show").respond(json=SHOW)

    reply = await client.get(f"/api/providers/ollama/models/{name}")

    assert reply.status_code == 200
    assert reply.json() == {
        "name": name, "details": listed(name)["details"],
        "capabilities": ["completion", "tools"],
        "modified_at": "2025-05-04T17:37:44.706015396-07:00",
        "parameters": 'stop "<|eot_id|>"', "template": "{{ .Prompt }}",
        "license": "LLAMA 3.2 COMMUNITY LICENSE", "modelfile": "FROM x\n",
        "model_info": {"general.architecture": "llama", "llama.context_length": 131072},
    }
    assert last_body(route) == {"model": name}


async def test_show_accepts_a_url_encoded_name(client, upstream):
    route = upstream.post(f"{NATIVE}/api/show").respond(json=SHOW)

    await client.get("/api/providers/ollama/models/hf.co%2Forg%2Frepo%3AQ4_K_M")

    assert last_body(route) == {"model": "hf.co/org/repo:Q4_K_M"}


async def test_show_of_an_absent_model_is_404_with_a_hint_to_pull_it(client, upstream):
    upstream.post(f"{NATIVE}/api/show").respond(404, json={"error": "model 'nope:latest' not found"})

    reply = await client.get("/api/providers/ollama/models/nope")

    assert reply.status_code == 404
    assert reply.json() == {"status_code": 404, "error": "model_not_found",
                            "detail": f"Ollama: model 'nope:latest' not found — {PULL_HINT}"}


async def test_show_reply_of_the_wrong_shape_is_500(client, upstream):
    upstream.post(f"{NATIVE}/api/show").respond(json={"details": "gguf"})

    reply = await client.get("/api/providers/ollama/models/llama3.2:1b")

    assert reply.status_code == 500
    assert reply.json()["detail"].startswith(
        "Ollama sent a model description the gateway cannot read: Expected `object`, got `str`")


# --- DELETE /models/{name} -------------------------------------------------------------------

async def test_delete_removes_the_model_and_says_so(client, upstream):
    # Ollama answers a delete with an empty body.
    route = upstream.delete(f"{NATIVE}/api/delete").respond(200)

    reply = await client.delete("/api/providers/ollama/models/hf.co/org/repo:Q4_K_M")

    assert reply.status_code == 200
    assert reply.json() == {"success": True, "model": "hf.co/org/repo:Q4_K_M",
                            "message": "Model 'hf.co/org/repo:Q4_K_M' deleted"}
    assert last_body(route) == {"model": "hf.co/org/repo:Q4_K_M"}


async def test_delete_of_an_absent_model_is_404_pointing_at_the_list(client, upstream):
    upstream.delete(f"{NATIVE}/api/delete").respond(404, json={"error": "model 'nope' not found"})

    reply = await client.delete("/api/providers/ollama/models/nope")

    assert reply.status_code == 404
    assert reply.json()["detail"] == (
        "Ollama has no model 'nope'; GET /api/providers/ollama/models lists the installed ones")


# --- GET /running ----------------------------------------------------------------------------

async def test_running_lists_the_models_in_memory(client, upstream):
    upstream.get(f"{NATIVE}/api/ps").respond(json={"models": [{
        **tag("mistral:latest"), "size_vram": 1000, "context_length": 4096,
        "expires_at": "2024-06-04T14:38:31.83753-07:00"}]})

    reply = await client.get("/api/providers/ollama/running")

    assert reply.status_code == 200
    assert reply.json() == {"models": [{
        "name": "mistral:latest", "size": 2019393189, "size_vram": 1000,
        "digest": listed("x")["digest"], "details": listed("x")["details"],
        "expires_at": "2024-06-04T14:38:31.83753-07:00", "context_length": 4096}], "total": 1}


async def test_running_reply_of_the_wrong_shape_is_500(client, upstream):
    upstream.get(f"{NATIVE}/api/ps").respond(json={"models": None})

    reply = await client.get("/api/providers/ollama/running")

    assert reply.status_code == 500
    assert reply.json()["error"] == "bad_upstream_reply"


async def test_every_call_to_ollamas_own_api_carries_the_request_id(client, upstream):
    upstream.get(f"{NATIVE}/api/tags").respond(json={"models": []})
    upstream.get(f"{NATIVE}/api/ps").respond(json={"models": []})
    upstream.post(f"{NATIVE}/api/show").respond(404, json={"error": "model 'x' not found"})
    upstream.request("DELETE", f"{NATIVE}/api/delete").respond(404, json={"error": "not found"})
    upstream.post(f"{NATIVE}/api/pull").respond(content=ndjson({"status": "success"}))
    calls = [("GET", "/api/providers/ollama/models", None),
             ("GET", "/api/providers/ollama/running", None),
             ("GET", "/api/providers/ollama/models/x", None),
             ("DELETE", "/api/providers/ollama/models/x", None),
             ("POST", "/api/providers/ollama/pull", {"model": "x"}),
             ("POST", "/api/providers/ollama/check", None)]

    for number, (method, path, body) in enumerate(calls):
        await client.request(method, path, json=body, headers={"X-Request-ID": f"id-{number}"})
        assert upstream.calls.last.request.headers.get("x-request-id") == f"id-{number}", path


# --- what the access log and /metrics show of the calls to Ollama ---------------------------

# How long the mocked Ollama takes to answer, or to send each progress line.
WAIT = 0.02


def answer_after_a_wait(up_path):
    bodies = {"/api/tags": {"json": {"models": []}}, "/api/ps": {"json": {"models": []}},
              "/api/show": {"json": SHOW}, "/api/delete": {},
              "/api/pull": {"content": ndjson(*PROGRESS)}}

    async def answer(request):
        await asyncio.sleep(WAIT)
        return httpx.Response(200, **bodies[up_path])

    return answer


def access_line(access_lines, path):
    [line] = [line for line in access_lines() if line["path"] == path]
    return line


@pytest.mark.parametrize(("method", "path", "body", "up_method", "up_path"), ROUTES)
async def test_the_access_line_has_the_time_spent_waiting_on_ollama(
    write_config, upstream, access_lines, method, path, body, up_method, up_path
):
    upstream.route(method=up_method, url=f"{NATIVE}{up_path}").mock(
        side_effect=answer_after_a_wait(up_path))

    async with gateway_client(write_config()) as client:
        reply = await client.request(method, path, json=body)

    line = access_line(access_lines, path)
    assert reply.status_code == 200
    assert WAIT * 1000 <= line["upstream_ms"] <= line["duration_ms"]


class TricklingStream(httpx.AsyncByteStream):
    """Ollama's progress lines, each after a wait."""

    async def __aiter__(self):
        for line in PROGRESS:
            await asyncio.sleep(WAIT)
            yield ndjson(line)


async def test_a_streamed_pull_counts_the_wait_for_every_progress_line(write_config, upstream,
                                                                       access_lines):
    upstream.post(f"{NATIVE}/api/pull").respond(stream=TricklingStream())

    async with gateway_client(write_config()) as client:
        reply = await client.post("/api/providers/ollama/pull",
                                  json={"model": "llama3.2:1b", "stream": True})

    line = access_line(access_lines, "/api/providers/ollama/pull")
    assert reply.text.splitlines()[-1].startswith('{"status":"success"')
    assert len(PROGRESS) * WAIT * 1000 <= line["upstream_ms"] <= line["duration_ms"]


async def test_a_pull_leaves_the_time_its_lines_spend_on_the_client_out(write_config,
                                                                         upstream):
    upstream.post(f"{NATIVE}/api/pull").respond(stream=TricklingStream())
    record = RequestRecord("test", 0.0)

    async with gateway_client(write_config()) as client:
        ollama = client.app.state.providers["ollama"]
        token = bind(record)
        try:
            async for _ in ollama.pull("llama3.2:1b"):
                await asyncio.sleep(5 * WAIT)  # a client slow to take each line
        finally:
            unbind(token)

    assert len(PROGRESS) * WAIT <= record.upstream_seconds < len(PROGRESS) * 5 * WAIT


@pytest.mark.parametrize(("method", "path", "body", "up_method", "up_path"), ROUTES)
async def test_ollama_out_of_reach_is_the_access_lines_error_and_counted_in_metrics(
    write_config, upstream, access_lines, method, path, body, up_method, up_path
):
    upstream.route(method=up_method, url=f"{NATIVE}{up_path}").mock(
        side_effect=httpx.ConnectError("[Errno 111] Connection refused"))

    async with gateway_client(write_config()) as client:
        before = await scrape(client)
        await client.request(method, path, json=body)
        grown = changes(before, await scrape(client))

    line = access_line(access_lines, path)
    assert (line["status"], line["error"]) == (503, "upstream_unreachable")
    errors = {k: v for k, v in grown.items() if k[0] == "gateway_upstream_errors_total"}
    assert errors == {sample("gateway_upstream_errors_total", provider="ollama",
                             kind="upstream_unreachable"): 1}


async def test_a_streamed_pull_failing_midway_is_the_access_lines_error(write_config, upstream,
                                                                        access_lines):
    upstream.post(f"{NATIVE}/api/pull").respond(content=ndjson(
        PROGRESS[0], {"error": "max retries exceeded: EOF"}))

    async with gateway_client(write_config()) as client:
        reply = await client.post("/api/providers/ollama/pull",
                                  json={"model": "llama3.2:1b", "stream": True})

    line = access_line(access_lines, "/api/providers/ollama/pull")
    assert (reply.status_code, line["status"], line["error"]) == (200, 200, "pull_failed")


async def test_the_schema_documents_what_each_model_route_may_answer(client):
    paths = (await client.get("/docs/openapi.json")).json()["paths"]
    routes = {f"{method.upper()} {path}": sorted(op["responses"])
              for path, ops in paths.items() if path.startswith("/api/providers/{provider_id}/")
              for method, op in ops.items()}
    failures = ["200", "400", "500", "502", "503", "504"]

    assert routes == {
        "POST /api/providers/{provider_id}/check": ["200", "400"],
        "GET /api/providers/{provider_id}/models": failures,
        "POST /api/providers/{provider_id}/pull": failures,
        "GET /api/providers/{provider_id}/models/{name}": sorted([*failures, "404"]),
        "DELETE /api/providers/{provider_id}/models/{name}": sorted([*failures, "404"]),
        "GET /api/providers/{provider_id}/running": failures,
    }
    error = paths["/api/providers/{provider_id}/models/{name}"]["delete"]["responses"]["404"]
    assert error["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
