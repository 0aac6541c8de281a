"""Access control (gateway/auth.py): keys, scopes, and the routes they cover."""

import hashlib
import hmac

import httpx
import pytest

from gateway.app import create_app
from gateway.config import ConfigError
from tests.conftest import OPENAI_URL, gateway_client
from tests.security.conftest import ADMIN_KEY, AUTH_CONFIG, USER_KEY, bearer
from tests.security.fakes import FakeUpstream, provider_config
from tests.servers import serve_in_thread

COMPLETION = {"model": "gpt-4o-mini", "choices": [
    {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]}
CHAT = {"message": "Hi", "provider": "openai"}
# The two chat routes, each with a body it accepts.
CHATS = {"/api/chat": CHAT,
         "/v1/chat/completions": {"model": "openai/gpt-4o-mini",
                                  "messages": [{"role": "user", "content": "Hi"}]}}

USER_ROUTES = [("POST", "/api/chat"), ("POST", "/v1/chat/completions"), ("GET", "/api/providers"),
               ("GET", "/api/extra/models"), ("GET", "/v1/extra/models")]
ADMIN_ROUTES = [("POST", "/api/providers/openai/check"), ("GET", "/api/plugins"),
                ("POST", "/api/extra/pull"), ("GET", "/api/admin/stats"),
                ("GET", "/api/extra/typo")]


@pytest.fixture
def answering(upstream):
    upstream.post(f"{OPENAI_URL}/chat/completions", name="chat").respond(json=COMPLETION)
    upstream.get(f"{OPENAI_URL}/models").respond(json={"data": []})
    return upstream


@pytest.fixture
async def keyed(plugin_config, gateway_keys, answering):
    async with gateway_client(plugin_config(AUTH_CONFIG)) as client:
        yield client


async def call(client, method, path, headers=None):
    body = CHATS.get(path)
    return await client.request(method, path, json=body, headers=headers)


async def statuses(client, routes, headers=None):
    return {path: (await call(client, method, path, headers)).status_code for method, path in routes}


async def test_every_route_but_health_and_docs_needs_a_key(keyed):
    replies = [await call(keyed, method, path) for method, path in USER_ROUTES + ADMIN_ROUTES]

    assert [r.status_code for r in replies] == [401] * len(replies)
    assert {r.headers["www-authenticate"] for r in replies} == {"Bearer"}


async def test_401_on_the_native_api_is_in_the_gateway_error_shape(keyed):
    reply = await keyed.get("/api/providers")

    assert reply.json() == {
        "status_code": 401, "error": "unauthorized",
        "detail": "This endpoint needs an API key: send 'Authorization: Bearer <key>' or "
                  "'x-api-key: <key>'.",
    }


async def test_401_under_v1_is_in_openai_error_shape(keyed):
    reply = await keyed.get("/v1/extra/models", headers=bearer("wrong"))

    assert reply.json() == {"error": {"message": "The API key is not valid.",
                                      "type": "authentication_error", "param": None,
                                      "code": "unauthorized"}}


async def test_an_unknown_key_is_401_and_not_echoed(keyed):
    reply = await keyed.get("/api/providers", headers=bearer("guess-" + USER_KEY))

    assert reply.status_code == 401
    assert reply.json()["detail"] == "The API key is not valid."
    assert "guess-" not in reply.text


@pytest.mark.parametrize("key", [USER_KEY, ADMIN_KEY])
async def test_user_routes_accept_a_user_or_an_admin_key(keyed, key):
    assert await statuses(keyed, USER_ROUTES, bearer(key)) == {p: 200 for _, p in USER_ROUTES}


async def test_admin_routes_refuse_a_user_key_with_403(keyed):
    reply = await keyed.post("/api/extra/pull", headers=bearer(USER_KEY))

    assert await statuses(keyed, ADMIN_ROUTES, bearer(USER_KEY)) == {p: 403 for _, p in ADMIN_ROUTES}
    assert reply.json() == {"status_code": 403, "error": "forbidden", "detail":
                            "This endpoint needs an admin key; the key sent is a user key."}


async def test_admin_routes_accept_an_admin_key(keyed):
    assert await statuses(keyed, ADMIN_ROUTES, bearer(ADMIN_KEY)) == {p: 200 for _, p in ADMIN_ROUTES}


@pytest.mark.parametrize("authorization", ["Bearer\t{key}", "bearer \t {key}", "BEARER {key}"])
async def test_the_bearer_scheme_is_any_case_and_may_be_followed_by_tabs(keyed, authorization):
    reply = await keyed.get("/api/plugins",
                            headers={"Authorization": authorization.format(key=ADMIN_KEY)})

    assert reply.status_code == 200


@pytest.mark.parametrize("authorization", ["Bearer{key}", "Bearer\v{key}", "Basic {key}",
                                           "Bearer \t "])
async def test_a_key_not_sent_as_bearer_then_space_or_tab_is_no_key(keyed, authorization):
    reply = await keyed.get("/api/plugins",
                            headers={"Authorization": authorization.format(key=ADMIN_KEY)})

    assert reply.status_code == 401
    assert reply.json()["detail"].startswith("This endpoint needs an API key")


# The chat routes are served beside Litestar (gateway/routes/fast_path.py),
# which reads the key from the headers itself.
@pytest.mark.parametrize("path", CHATS)
@pytest.mark.parametrize("headers, status", [
    ({"Authorization": f"bearer\t{USER_KEY}"}, 200),
    ({"x-api-key": f" {ADMIN_KEY} "}, 200),
    ({"Authorization": f"Bearer{USER_KEY}"}, 401),
    ({"Authorization": "Bearer wrong", "x-api-key": USER_KEY}, 401),
])
async def test_a_chat_reads_its_key_as_every_route_does(keyed, path, headers, status):
    reply = await keyed.post(path, json=CHATS[path], headers=headers)

    assert reply.status_code == status
    if status == 401:
        assert reply.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("name, value", [("Authorization", f"Bearer {USER_KEY}"),
                                         ("x-api-key", USER_KEY)])
def test_of_a_key_header_sent_twice_the_first_counts_on_chats_as_elsewhere(
        write_config, gateway_keys, name, value):
    # On real sockets: the test client joins a header sent twice into one.
    with serve_in_thread(FakeUpstream("reply")) as upstream_url:
        app = create_app(write_config(provider_config(upstream_url) + AUTH_CONFIG))
        with serve_in_thread(app) as url, httpx.Client(base_url=url) as http:
            def status(path: str, first: str) -> int:
                return http.request("POST" if path in CHATS else "GET", path,
                                    json=CHATS.get(path),
                                    headers=[(name, first), (name, value)]).status_code

            paths = [*CHATS, "/api/providers"]
            assert [status(path, "") for path in paths] == [401, 401, 401]
            assert [status(path, value) for path in paths] == [200, 200, 200]


async def test_a_refused_chat_under_v1_is_in_openai_error_shape(keyed, answering):
    reply = await keyed.post("/v1/chat/completions", json=CHATS["/v1/chat/completions"])

    assert reply.json()["error"]["type"] == "authentication_error"
    assert not answering["chat"].called


async def test_the_key_may_come_in_x_api_key(keyed):
    reply = await keyed.get("/api/plugins", headers={"x-api-key": ADMIN_KEY})

    assert reply.status_code == 200


async def test_health_and_the_openapi_docs_need_no_key(keyed):
    health = await keyed.get("/health")
    # As load balancers ask.
    head = await keyed.head("/health")
    schema = await keyed.get("/docs/openapi.json")

    assert health.status_code == 200
    assert (head.status_code, head.content) == (200, b"")
    assert schema.status_code == 200


async def test_a_refused_chat_never_reaches_the_upstream_and_its_body_is_not_read(keyed, answering):
    reply = await keyed.post("/api/chat", content=b"{not json",
                             headers={"content-type": "application/json"})

    assert reply.status_code == 401
    assert not answering["chat"].called


async def test_without_keys_every_route_is_open(plugin_config, answering):
    routes = USER_ROUTES + ADMIN_ROUTES
    async with gateway_client(plugin_config()) as client:
        seen = await statuses(client, routes)

    assert seen == {p: 200 for _, p in routes}


async def test_keys_may_be_given_as_sha256_digests_in_the_config(write_config):
    digest = hashlib.sha256(ADMIN_KEY.encode()).hexdigest()
    path = write_config(f'[auth]\nadmin_key_sha256 = ["{digest}"]\n')
    async with gateway_client(path) as client:
        with_key = await client.get("/api/plugins", headers=bearer(ADMIN_KEY))
        without = await client.get("/api/plugins")

    assert (with_key.status_code, without.status_code) == (200, 401)


def test_a_key_variable_that_is_not_set_stops_start_up(write_config, monkeypatch):
    monkeypatch.delenv("TEST_GATEWAY_ADMIN_KEY", raising=False)
    path = write_config('[auth]\nadmin_key_envs = ["TEST_GATEWAY_ADMIN_KEY"]\n')

    with pytest.raises(ConfigError) as error:
        create_app(path)

    assert str(error.value) == (
        f"{path}: auth.admin_key_envs: environment variable TEST_GATEWAY_ADMIN_KEY is not set")


async def test_a_presented_key_is_compared_in_constant_time_with_every_key(
        write_config, gateway_keys, monkeypatch):
    compared = []
    original = hmac.compare_digest

    def compare_digest(a, b):
        compared.append(b)
        return original(a, b)

    monkeypatch.setattr("gateway.auth.hmac.compare_digest", compare_digest)
    async with gateway_client(write_config(AUTH_CONFIG)) as client:
        await client.get("/api/providers", headers=bearer(ADMIN_KEY))

    assert sorted(compared) == sorted(hashlib.sha256(k.encode()).digest()
                                      for k in (USER_KEY, ADMIN_KEY))


async def test_the_openapi_schema_shows_which_key_each_route_needs(keyed):
    paths = (await keyed.get("/docs/openapi.json")).json()["paths"]

    def responses(path, method):
        return {code: r["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
                for code, r in paths[path][method]["responses"].items() if code in ("401", "403")}

    assert "security" not in paths["/health"]["get"]
    assert paths["/api/extra/models"]["get"]["security"] == [{"bearer": []}, {"apiKey": []}]
    assert responses("/api/extra/models", "get") == {"401": "ErrorBody"}
    assert responses("/api/extra/pull", "post") == {"401": "ErrorBody", "403": "ErrorBody"}
    assert responses("/v1/extra/models", "get") == {"401": "OpenAIErrorBody"}
