"""Reading config.toml: defaults, and one clear message per mistake."""

import pytest

from gateway.app import create_app
from gateway.cli import main
from gateway.config import ConfigError, config_path


def error_for(write_config, text):
    path = write_config(text)
    with pytest.raises(ConfigError) as info:
        create_app(path)
    return str(info.value), path


def test_unknown_key_names_file_and_key(write_config):
    message, path = error_for(write_config, '[providers.ollama]\nenabled = true\nbase_ur = "x"\n')

    assert message == f"{path}: providers.ollama.base_ur: unknown key"


def test_unknown_server_key_names_file_and_key(write_config):
    message, path = error_for(write_config, "[server]\nprot = 1\n")

    assert message == f"{path}: server.prot: unknown key"


def test_wrong_type_names_file_key_and_expected_type(write_config):
    message, path = error_for(write_config, '[providers.ollama]\ntimeout = "soon"\n')

    assert message == f"{path}: providers.ollama.timeout: Expected `float`, got `str`"


def test_wrong_type_in_server_table(write_config):
    message, path = error_for(write_config, '[server]\nport = "eighty"\n')

    assert message == f"{path}: server.port: Expected `int`, got `str`"


def test_unknown_provider_type_names_it_and_the_available_types(write_config):
    message, path = error_for(write_config, '[providers.claude]\ntype = "anthropic"\n')

    assert message == (f"{path}: providers.claude.type: no enabled plugin offers provider "
                       "type 'anthropic' (available types: ollama, openai)")


def test_invalid_toml_is_reported_with_the_file(write_config):
    message, path = error_for(write_config, "[server\n")

    assert message.startswith(f"{path}: not valid TOML:")


def test_missing_file_is_reported(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the config file"):
        create_app(tmp_path / "absent.toml")


async def test_ollama_defaults_are_those_of_the_original_design(write_config):
    from tests.conftest import gateway_client

    async with gateway_client(write_config("[providers.ollama]\n")) as client:
        (ollama,) = (await client.get("/api/providers")).json()["providers"]

    assert {k: ollama[k] for k in ("name", "enabled", "model", "base_url", "has_api_key")} == {
        "name": "Ollama", "enabled": False, "model": "llama3.2",
        "base_url": "http://localhost:11434/v1", "has_api_key": False,
    }
    assert ollama["status"] == "disabled"


async def test_several_instances_of_one_type(write_config, upstream):
    from tests.conftest import gateway_client

    groq = upstream.post("http://groq.test/v1/chat/completions").respond(json={
        "choices": [{"message": {"role": "assistant", "content": "fast"}}]})
    path = write_config('''
        [providers.groq]
        type = "openai"
        base_url = "http://groq.test/v1"
        model = "llama-3.1-8b"
        [providers.vllm]
        type = "openai"
        base_url = "http://vllm.test/v1"
        model = "qwen"
    ''')
    async with gateway_client(path) as client:
        listed = (await client.get("/api/providers")).json()["providers"]
        reply = await client.post("/api/chat", json={"message": "Hi", "provider": "groq"})

    assert [(p["id"], p["type"]) for p in listed] == [("groq", "openai"), ("vllm", "openai")]
    assert reply.json()["response"] == "fast"
    assert groq.called


def test_gateway_config_env_chooses_the_file_and_flag_wins(monkeypatch):
    monkeypatch.setenv("GATEWAY_CONFIG", "/etc/gw.toml")

    assert str(config_path()) == "/etc/gw.toml"
    assert str(config_path("mine.toml")) == "mine.toml"
    monkeypatch.delenv("GATEWAY_CONFIG")
    assert str(config_path()) == "config.toml"


def test_default_provider_must_be_a_configured_provider(write_config):
    message, path = error_for(write_config, '[server]\ndefault_provider = "groq"\n'
                                            '[providers.openai]\napi_key = "x"\n')

    assert message == f"{path}: server.default_provider: no provider 'groq' is configured"


def test_logging_format_must_be_json_or_text(write_config):
    message, path = error_for(write_config, '[logging]\nformat = "xml"\n')

    assert message == f"{path}: logging.format: Invalid enum value 'xml'"


def test_health_check_interval_cannot_be_negative(write_config):
    message, path = error_for(write_config, "[server]\nhealth_check_interval = -1\n")

    assert message == f"{path}: server.health_check_interval: Expected `float` >= 0.0"


BAD_KEY = ("the key (from api_key or api_key_env) holds a space, a control character or a "
           "non-ASCII one; a header cannot carry it")
BASIC_AND_KEY = ("base_url has a user:password@ and api_key (or api_key_env) a key, and only one "
                 "of them can be sent (both are the Authorization header): keep one")
NO_ID = ("cannot be a provider id: use letters, digits, '_', '-' and '.', no '..' (the id goes "
         "before the '/' of model names and into URLs)")


@pytest.mark.parametrize(("text", "key", "problem"), [
    ("[server]\nport = 75060\n", "server.port", "Expected `int` <= 65535"),
    ("[server]\nport = 0\n", "server.port", "Expected `int` >= 1"),
    ("[server]\nworkers = 0\n", "server.workers", "Expected `int` >= 1"),
    ("[server]\nbody_timeout = 0\n", "server.body_timeout", "Expected `float` > 0.0"),
    ("[providers.openai]\ntimeout = -1\n", "providers.openai.timeout", "Expected `float` > 0.0"),
    ("[providers.openai]\nmax_connections = 0\n", "providers.openai.max_connections",
     "Expected `int` >= 1"),
    ("[providers.ollama]\npull_timeout = 0\n", "providers.ollama.pull_timeout",
     "Expected `float` > 0.0"),
    ('[providers.ollama]\nbase_url = "127.0.0.1:11434/v1"\n', "providers.ollama.base_url",
     "not an http:// or https:// URL"),
    # The URL itself is not repeated: it may hold a password.
    ('[providers.ollama]\nbase_url = "http://u:pw-1@127.0.0.1:80x/v1"\n',
     "providers.ollama.base_url", "not a URL (Invalid port: '80x')"),
    ('[providers.openai]\napi_key = "sk-a\\nb"\n', "providers.openai.api_key", BAD_KEY),
    ('[providers.openai]\napi_key = "sk-unisécret"\n', "providers.openai.api_key", BAD_KEY),
    ('[providers.openai]\nbase_url = "http://u:pw@127.0.0.1/v1"\napi_key = "sk-a"\n',
     "providers.openai", BASIC_AND_KEY),
    ('[providers.vllm]\ntype = "openai"\nbase_url = "http://u@127.0.0.1/v1"\napi_key = "sk-a"\n',
     "providers.vllm", BASIC_AND_KEY),
    ('[providers."a/b"]\ntype = "ollama"\n', "providers.a/b", f"'a/b' {NO_ID}"),
    ('[providers.""]\ntype = "ollama"\n', "providers.", f"'' {NO_ID}"),
    ('[providers."a..b"]\ntype = "ollama"\n', "providers.a..b", f"'a..b' {NO_ID}"),
])
def test_values_that_could_never_work_stop_start_up_naming_the_key(write_config, text, key,
                                                                   problem):
    message, path = error_for(write_config, text)

    assert message == f"{path}: {key}: {problem}"


@pytest.mark.parametrize(("flag", "value"), [("--port", "75056"), ("--port", "-1"),
                                             ("--workers", "0")])
def test_serve_refuses_a_port_or_worker_count_out_of_range(capsys, flag, value):
    with pytest.raises(SystemExit) as exit_:
        main(["serve", flag, value])

    assert exit_.value.code == 2
    assert f"argument {flag}: {value!r} is not a whole number" in capsys.readouterr().err


@pytest.mark.parametrize(("text", "problem"), [
    ('[plugins]\nollama = "yes"\n', "plugins.ollama: Expected `bool`, got `str`"),
    ("[providers]\nollama = true\n", "providers.ollama: Expected `object`, got `bool`"),
])
def test_a_wrong_value_in_plugins_or_providers_names_its_key(write_config, text, problem):
    message, path = error_for(write_config, text)

    assert message == f"{path}: {problem}"
