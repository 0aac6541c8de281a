"""``gateway serve`` refuses to expose a gateway without keys (gateway/auth.py check_bind)."""

import httpx
import pytest

from gateway.auth import Keys, check_bind
from gateway.config import ConfigError, load_config
from tests.security.conftest import AUTH_CONFIG, USER_KEY, ADMIN_KEY
from tests.servers import gateway_process
from tests.test_cli import run_cli

REFUSAL = ("refusing to listen on '0.0.0.0' without API keys, which would let anyone who can "
           "reach it use the providers' credentials. Set keys in [auth] (user_key_envs, "
           "admin_key_envs), bind to 127.0.0.1, or set [server] allow_public_without_keys = true.")


def test_serve_on_a_public_address_without_keys_refuses_to_start_with_one_line(write_config):
    path = write_config()

    result = run_cli("serve", "--config", str(path), "--host", "0.0.0.0")

    assert result.returncode == 2
    assert result.stderr == f"gateway: config error: {path}: {REFUSAL}\n"


def test_serve_on_a_public_address_with_keys_starts(write_config):
    env = {"TEST_GATEWAY_USER_KEY": USER_KEY, "TEST_GATEWAY_ADMIN_KEY": ADMIN_KEY}

    with gateway_process(write_config(AUTH_CONFIG), "--host", "0.0.0.0", env=env) as url:
        reply = httpx.get(f"{url}/health")

    assert reply.status_code == 200


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_loopback_addresses_need_no_keys(write_config, host):
    check_bind(load_config(write_config()), Keys(user=[], admin=[]), host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "gateway.example.com", ""])
def test_other_addresses_without_keys_are_refused(write_config, host):
    with pytest.raises(ConfigError):
        check_bind(load_config(write_config()), Keys(user=[], admin=[]), host)


def test_the_config_may_allow_a_public_address_without_keys(write_config):
    config = load_config(write_config("[server]\nallow_public_without_keys = true\n"))

    check_bind(config, Keys(user=[], admin=[]), "0.0.0.0")
