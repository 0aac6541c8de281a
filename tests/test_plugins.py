"""Plugin discovery (built-in, entry point, plugin folder), toggles and failures."""

import textwrap

import msgspec
import pytest

from gateway.app import create_app
from gateway.config import ConfigError
from tests.conftest import BASE_CONFIG, OPENAI_URL, gateway_client
from tests.test_chat import chunk, completion, sse

ROUTE_PLUGIN = '''
from litestar import get
from gateway import hookimpl

@get("/api/hello")
async def hello() -> dict:
    return {"hello": "from a drop-in"}

@hookimpl
def gateway_routes():
    return [hello]
'''


@pytest.fixture
def plugin_dir(tmp_path):
    folder = tmp_path / "myplugins"
    folder.mkdir()
    return folder


def drop(folder, name, source):
    (folder / name).write_text(textwrap.dedent(source))


async def plugins_of(client):
    return {p["name"]: p for p in (await client.get("/api/plugins")).json()["plugins"]}


async def test_builtin_plugins_are_listed_with_source_and_version(client):
    plugins = await plugins_of(client)

    assert plugins["ollama"]["source"] == "builtin"
    assert plugins["openai"]["source"] == "builtin"
    assert plugins["ollama"]["version"]
    assert plugins["ollama"]["enabled"] is True


async def test_drop_in_module_adds_a_route(write_config, plugin_dir):
    drop(plugin_dir, "hello.py", ROUTE_PLUGIN)
    path = write_config('[server]\nplugin_dirs = ["myplugins"]\n')

    async with gateway_client(path) as client:
        reply = await client.get("/api/hello")
        plugins = await plugins_of(client)

    assert reply.json() == {"hello": "from a drop-in"}
    assert plugins["hello"]["source"] == "plugin_dir"


async def test_drop_in_package_with_relative_imports_loads(write_config, plugin_dir):
    package = plugin_dir / "greeter"
    package.mkdir()
    drop(package, "routes.py", ROUTE_PLUGIN.replace("@hookimpl\ndef gateway_routes():\n    return [hello]\n", ""))
    drop(package, "__init__.py", '''
        from gateway import hookimpl
        from .routes import hello

        @hookimpl
        def gateway_routes():
            return [hello]
    ''')
    path = write_config('[server]\nplugin_dirs = ["myplugins"]\n')

    async with gateway_client(path) as client:
        reply = await client.get("/api/hello")

    assert reply.status_code == 200


async def test_switched_off_plugin_contributes_no_routes(write_config, plugin_dir):
    drop(plugin_dir, "hello.py", ROUTE_PLUGIN)
    path = write_config('[server]\nplugin_dirs = ["myplugins"]\n[plugins]\nhello = false\n')

    async with gateway_client(path) as client:
        reply = await client.get("/api/hello")
        plugins = await plugins_of(client)

    assert reply.status_code == 404
    assert plugins["hello"]["enabled"] is False


def test_switched_off_plugin_offers_no_provider_type(write_config):
    path = write_config('[plugins]\nollama = false\n[providers.ollama]\nenabled = true\n')

    with pytest.raises(ConfigError, match="no enabled plugin offers provider type 'ollama'"):
        create_app(path)


async def test_switched_off_plugin_runs_no_hooks(write_config, upstream):
    # With the Ollama plugin off, its max_tokens stripping must not run.
    from tests.conftest import OPENAI_URL

    route = upstream.post(f"{OPENAI_URL}/chat/completions").respond(
        json={"choices": [{"message": {"role": "assistant", "content": "ok"}}]})
    path = write_config(f'[plugins]\nollama = false\n[providers.openai]\nbase_url = "{OPENAI_URL}"\n')

    async with gateway_client(path) as client:
        await client.post("/api/chat", json={"message": "Hi", "provider": "openai",
                                             "max_tokens": 9})

    assert b'"max_tokens":9' in route.calls.last.request.content


async def test_broken_plugin_is_reported_and_the_others_still_load(write_config, plugin_dir):
    drop(plugin_dir, "broken.py", "import a_module_that_does_not_exist\n")
    drop(plugin_dir, "hello.py", ROUTE_PLUGIN)
    path = write_config('[server]\nplugin_dirs = ["myplugins"]\n')

    async with gateway_client(path) as client:
        plugins = await plugins_of(client)
        reply = await client.get("/api/hello")

    assert plugins["broken"]["error"] == (
        "ModuleNotFoundError: No module named 'a_module_that_does_not_exist'")
    assert reply.status_code == 200


async def test_plugin_whose_routes_hook_raises_is_reported_and_contributes_nothing(
        write_config, plugin_dir, upstream):
    drop(plugin_dir, "crashy.py", '''
        from gateway import hookimpl

        @hookimpl
        def gateway_routes(config):
            raise RuntimeError("no database configured")

        @hookimpl
        def gateway_chat_request(call):
            call.request.model = "hijacked"
    ''')
    drop(plugin_dir, "hello.py", ROUTE_PLUGIN)
    route = upstream.post(f"{OPENAI_URL}/chat/completions").respond(json=completion())
    path = write_config(BASE_CONFIG + '[server]\nplugin_dirs = ["myplugins"]\n')

    async with gateway_client(path) as client:
        plugins = await plugins_of(client)
        hello = await client.get("/api/hello")
        chat = await client.post("/api/chat", json={"message": "Hi", "provider": "openai"})

    assert plugins["crashy"]["error"] == (
        "gateway_routes failed: RuntimeError: no database configured")
    assert hello.status_code == 200
    assert chat.status_code == 200
    assert msgspec.json.decode(route.calls.last.request.content)["model"] == "gpt-4o-mini"


async def test_plugin_offering_a_type_already_offered_is_reported(write_config, plugin_dir,
                                                                  upstream):
    drop(plugin_dir, "impostor.py", '''
        from gateway import Provider, hookimpl

        class Impostor(Provider):
            pass

        @hookimpl
        def gateway_provider_types(register):
            register("openai", Impostor)
    ''')
    route = upstream.post(f"{OPENAI_URL}/chat/completions").respond(json=completion())
    path = write_config(BASE_CONFIG + '[server]\nplugin_dirs = ["myplugins"]\n')

    async with gateway_client(path) as client:
        plugins = await plugins_of(client)
        chat = await client.post("/api/chat", json={"message": "Hi", "provider": "openai"})

    assert plugins["impostor"]["error"] == (
        "gateway_provider_types failed: ValueError: provider type 'openai' is already offered "
        "by plugins.openai.provider.OpenAIProvider")
    assert chat.status_code == 200
    assert route.called


async def test_misspelled_hook_is_reported_not_silently_ignored(write_config, plugin_dir):
    drop(plugin_dir, "typo.py", '''
        from gateway import hookimpl

        @hookimpl
        def gateway_chat_requets(call):
            pass
    ''')
    path = write_config('[server]\nplugin_dirs = ["myplugins"]\n')

    async with gateway_client(path) as client:
        plugins = await plugins_of(client)

    assert "gateway_chat_requets" in plugins["typo"]["error"]


async def test_plugin_with_a_taken_name_is_reported(write_config, plugin_dir):
    drop(plugin_dir, "ollama.py", ROUTE_PLUGIN)
    path = write_config('[server]\nplugin_dirs = ["myplugins"]\n')

    async with gateway_client(path) as client:
        plugins = (await client.get("/api/plugins")).json()["plugins"]
        reply = await client.get("/api/hello")

    dropped = [p for p in plugins if p["name"] == "ollama" and p["source"] == "plugin_dir"]
    assert dropped[0]["error"] == "another plugin named 'ollama' is already loaded"
    assert reply.status_code == 404


async def test_missing_plugin_folder_is_reported(write_config):
    path = write_config('[server]\nplugin_dirs = ["nowhere"]\n')

    async with gateway_client(path) as client:
        plugins = await plugins_of(client)

    assert plugins["nowhere"]["error"] == "plugin folder does not exist"


async def test_installed_package_adds_a_provider_type_and_a_route(write_config, installed_plugins):
    path = write_config('[providers.parrot]\ntype = "echo"\nmodel = "echo-1"\n')

    async with gateway_client(path) as client:
        plugins = await plugins_of(client)
        ping = await client.get("/api/echo/ping")
        chat = await client.post("/api/chat", json={"message": "hi", "provider": "parrot"})
        streamed = await client.post("/api/chat", json={"message": "hi", "provider": "parrot",
                                                        "stream": True})

    assert (plugins["echo"]["source"], plugins["echo"]["version"]) == ("entrypoint", "1.2.3")
    assert ping.json() == {"pong": True}
    assert chat.json()["response"] == "echo: hi"
    assert 'data: {"content":"echo: hi"}' in streamed.text


# A provider type that sends its key in a header of its own, so that a
# proxy in front of it may take Basic auth from the URL; and it wants a model.
X_API_KEY_TYPE = '''
import httpx
from gateway import Provider, hookimpl

class XKey(Provider):
    @classmethod
    def check_config(cls, config):
        if not config.model:
            raise ValueError("model: this type needs a default model")

    async def start(self):
        self.client = httpx.AsyncClient(base_url=self.config.base_url, timeout=5,
                                        headers={"x-api-key": self.config.resolved_api_key()})

    async def close(self):
        await self.client.aclose()

@hookimpl
def gateway_provider_types(register):
    register("xkey", XKey)
'''


def test_a_provider_type_checks_its_own_tables_at_start_up(write_config, plugin_dir):
    drop(plugin_dir, "xkey.py", X_API_KEY_TYPE)
    path = write_config('[server]\nplugin_dirs = ["myplugins"]\n'
                        '[providers.x]\ntype = "xkey"\nmodel = ""\n')

    with pytest.raises(ConfigError) as info:
        create_app(path)

    assert str(info.value) == f"{path}: providers.x: model: this type needs a default model"


def test_a_key_beside_basic_auth_in_the_url_is_refused_only_by_types_that_send_both_as_one_header(
        write_config, plugin_dir):
    drop(plugin_dir, "xkey.py", X_API_KEY_TYPE)
    path = write_config('[server]\nplugin_dirs = ["myplugins"]\n'
                        '[providers.x]\ntype = "xkey"\nmodel = "m"\napi_key = "sk-a"\n'
                        'base_url = "http://u:pw@127.0.0.1/v1"\n')

    app = create_app(path)

    assert app.state.providers["x"].config.resolved_api_key() == "sk-a"


@pytest.mark.parametrize("path, body, error", [
    ("/api/chat", {"message": "Hi", "provider": "openai"},
     {"status_code": 500, "error": "internal_error",
      "detail": "The gateway hit an unexpected error; the details are in its log."}),
    ("/v1/chat/completions",
     {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]},
     {"error": {"message": "The gateway hit an unexpected error; the details are in its log.",
                "type": "api_error", "param": None, "code": "internal_error"}}),
])
async def test_a_plugin_failing_in_a_chat_is_a_500_in_the_routes_error_shape_and_logged(
        write_config, plugin_dir, upstream, capsys, path, body, error):
    drop(plugin_dir, "buggy.py", '''
        from gateway import hookimpl

        @hookimpl
        def gateway_chat_request(call):
            raise RuntimeError("a bug in a plugin")
    ''')
    route = upstream.post(f"{OPENAI_URL}/chat/completions").respond(json=completion())
    config = write_config(BASE_CONFIG + '[server]\nplugin_dirs = ["myplugins"]\n')

    async with gateway_client(config) as client:
        reply = await client.post(path, json=body)

    assert (reply.status_code, reply.json()) == (500, error)
    assert not route.called
    log = capsys.readouterr().err
    assert f"unhandled error on POST {path}" in log
    assert "RuntimeError: a bug in a plugin" in log


@pytest.mark.parametrize("path, body, end", [
    ("/api/chat", {"message": "Hi", "provider": "openai", "stream": True},
     'event: error\ndata: {"status_code":500,"error":"internal_error","detail":'
     '"The gateway hit an unexpected error; the details are in its log."}\n\n'),
    ("/v1/chat/completions", {"model": "openai/gpt-4o-mini", "stream": True,
                              "messages": [{"role": "user", "content": "Hi"}]},
     'data: {"error":{"message":"The gateway hit an unexpected error; the details are in its '
     'log.","type":"api_error","param":null,"code":"internal_error"}}\n\n'),
])
async def test_a_plugin_failing_once_a_stream_has_begun_ends_it_with_an_error_event(
        write_config, plugin_dir, upstream, capsys, path, body, end):
    drop(plugin_dir, "buggy.py", '''
        from gateway import hookimpl

        @hookimpl
        def gateway_chat_response(call, response):
            raise RuntimeError("a bug in a plugin")
    ''')
    upstream.post(f"{OPENAI_URL}/chat/completions").respond(
        content=sse(chunk("Hel"), chunk("lo", finish="stop"), "[DONE]"),
        headers={"content-type": "text/event-stream"})
    config = write_config(BASE_CONFIG + '[server]\nplugin_dirs = ["myplugins"]\n')

    async with gateway_client(config) as client:
        reply = await client.post(path, json=body)

    assert reply.status_code == 200
    assert reply.text.count('"Hel"') == reply.text.count('"lo"') == 1
    assert reply.text.endswith(end)
    log = capsys.readouterr().err
    assert "unhandled error in a chat stream from openai" in log
    assert "RuntimeError: a bug in a plugin" in log
