"""Where the commands find the gateway, the API key they send, and errors as one line."""

import pytest

from gateway.client.connection import gateway_url
from tests.client.conftest import ADMIN_KEY, AUTH, PROVIDERS, USER_KEY, gateway_in_front_of
from tests.servers import free_port, serve_in_thread


@pytest.fixture
def guarded(ollama, write_config):
    """A gateway that needs keys, in front of the fake Ollama."""
    with gateway_in_front_of(write_config(AUTH + PROVIDERS), ollama=ollama) as url:
        yield url


def test_the_address_comes_from_the_config_files_server_table(write_config, monkeypatch):
    path = write_config('[server]\nhost = "0.0.0.0"\nport = 8123\n')
    monkeypatch.delenv("GATEWAY_CONFIG", raising=False)

    assert gateway_url(None, str(path)) == "http://127.0.0.1:8123"
    monkeypatch.setenv("GATEWAY_CONFIG", str(path))
    assert gateway_url(None, None) == "http://127.0.0.1:8123"
    assert gateway_url("http://gateway.internal:9000/", None) == "http://gateway.internal:9000"


def test_an_ipv6_address_is_bracketed(write_config):
    assert gateway_url(None, str(write_config('[server]\nhost = "::"\n'))) == "http://[::1]:8002"
    assert gateway_url(None, str(write_config('[server]\nhost = "::1"\n'))) == "http://[::1]:8002"


def test_without_a_config_file_the_address_is_the_default_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GATEWAY_CONFIG", raising=False)

    assert gateway_url(None, None) == "http://127.0.0.1:8002"


def test_no_gateway_at_the_configured_address_is_one_line_and_exit_3(run, write_config):
    port = free_port()
    path = write_config(f"[server]\nport = {port}\n")

    result = run("providers", "--config", str(path))

    assert result.code == 3
    assert result.err == (f"gateway: cannot reach the gateway at http://127.0.0.1:{port} — "
                          "is it running? start it with `make run`\n")


def test_a_bad_config_file_is_a_config_error(run, write_config):
    result = run("models", "--config", str(write_config("[server]\nprot = 1\n")))

    assert result.code == 2
    assert result.err.startswith("gateway: config error: ")
    assert result.err.endswith("server.prot: unknown key\n")


def test_something_else_at_the_address_is_one_line(run, ollama):
    with serve_in_thread(ollama) as not_a_gateway:
        result = run("providers", "--url", not_a_gateway)

    assert result.code == 1
    assert result.err == (f"gateway: the gateway at {not_a_gateway}/api/providers answered "
                          "HTTP 404: 404 page not found\n")


def test_without_a_key_a_guarded_gateway_gives_the_hint_to_set_one(run, guarded):
    result = run("providers", "--url", guarded)

    assert result.code == 1
    assert result.err == ("gateway: This endpoint needs an API key: send 'Authorization: Bearer "
                          "<key>' or 'x-api-key: <key>'. Set GATEWAY_API_KEY to one of the "
                          "gateway's keys.\n")


def test_the_key_is_sent_from_gateway_api_key_and_never_printed(run, guarded, monkeypatch):
    monkeypatch.setenv("GATEWAY_API_KEY", USER_KEY)

    providers = run("providers", "--url", guarded)
    rm = run("rm", "llama3.2", "--url", guarded)

    assert providers.code == 0
    assert "connected" in providers.out
    assert rm.code == 1
    assert rm.err == ("gateway: This endpoint needs an admin key; the key sent is a user key. "
                      "Set GATEWAY_API_KEY to an admin key.\n")
    assert all(USER_KEY not in text for text in (providers.out, providers.err, rm.out, rm.err))


def test_an_admin_key_may_pull_and_remove(run, guarded, monkeypatch, ollama):
    monkeypatch.setenv("GATEWAY_API_KEY", ADMIN_KEY)

    pull = run("pull", "llama3.2:1b", "--url", guarded)
    rm = run("rm", "llama3.2:1b", "--url", guarded)

    assert (pull.code, rm.code) == (0, 0)
    assert pull.out.endswith("Model 'llama3.2:1b' pulled successfully\n")
    assert "llama3.2:1b" not in ollama.models


def test_an_unknown_key_is_named_as_the_problem(run, guarded, monkeypatch):
    monkeypatch.setenv("GATEWAY_API_KEY", "not-a-key-of-this-gateway")

    result = run("models", "--url", guarded)

    assert result.code == 1
    assert result.err == ("gateway: The API key is not valid. GATEWAY_API_KEY holds a key the "
                          "gateway does not know.\n")
    assert "not-a-key-of-this-gateway" not in result.err



@pytest.mark.parametrize(("url", "problem"), [
    ("http://127.0.0.1:abc", "is not a URL: Invalid port: 'abc'"),
    ("127.0.0.1:8002", "is not an http:// or https:// URL"),
])
def test_a_url_that_cannot_be_called_is_a_bad_command_line(run, url, problem):
    result = run("providers", "--url", url)

    assert (result.code, result.err) == (2, f"gateway: --url {url!r} {problem}\n")
