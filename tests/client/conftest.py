"""The client commands against a real gateway on 127.0.0.1 in front of a fake Ollama.

Commands run in-process through ``gateway.cli.main``; their output is what
capsys captured, so rich writes to a console that is not a terminal.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.cli import main
from tests.fakes.ollama import FakeOllama, RegistryModel
from tests.servers import free_port, serve_in_thread

STEP = 0.01  # seconds between the fake's streamed lines
USER_KEY = "gw-user-key-not-a-real-one"
ADMIN_KEY = "gw-admin-key-not-a-real-one"
# A gateway with these keys; gateways without keys ignore the one sent.
AUTH = f"""
[auth]
user_key_sha256 = ["{hashlib.sha256(USER_KEY.encode()).hexdigest()}"]
admin_key_sha256 = ["{hashlib.sha256(ADMIN_KEY.encode()).hexdigest()}"]
"""


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def run(capsys, monkeypatch) -> Callable[..., Result]:
    """Run ``gateway ARGS...`` and return its exit code and output."""
    # What the developer's shell or a CI runner may have set would change
    # where the commands connect and how rich draws.
    for name in ("GATEWAY_API_KEY", "GATEWAY_CONFIG", "COLUMNS", "FORCE_COLOR",
                 "TTY_COMPATIBLE", "TTY_INTERACTIVE", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)

    def run(*args: str) -> Result:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def ollama() -> FakeOllama:
    return FakeOllama(step_delay=STEP, registry={
        "llama3.2:1b": RegistryModel(), "tinyllama": RegistryModel(stall=30)})


@contextmanager
def gateway_in_front_of(config: Path, **fakes: FakeOllama) -> Iterator[str]:
    """A gateway from ``config``, where ``{name}`` is replaced by each fake's URL."""
    with ExitStack() as stack:
        urls = {name: stack.enter_context(serve_in_thread(fake)) for name, fake in fakes.items()}
        config.write_text(config.read_text().format(**urls))
        yield stack.enter_context(checked_gateway(config))


@contextmanager
def checked_gateway(config: Path) -> Iterator[str]:
    """A gateway from ``config``, once its start-up health checks are done."""
    with serve_in_thread(create_app(config)) as url:
        headers = {"x-api-key": ADMIN_KEY}
        deadline = time.monotonic() + 10
        while any(p["enabled"] and not p["last_checked"] for p in
                  httpx.get(f"{url}/api/providers", headers=headers).json()["providers"]):
            assert time.monotonic() < deadline, "the gateway's health checks did not finish"
            time.sleep(0.01)
        yield url


# The gateway runs in the test's process: its log lines would land in the
# command's captured stderr.
QUIET = """
[logging]
level = "error"
"""

PROVIDERS = QUIET + """
[providers.ollama]
enabled = true
base_url = "{ollama}/v1"

[providers.openai]
enabled = false
api_key = "sk-test-not-a-real-key"
"""


@pytest.fixture
def gateway(ollama, write_config) -> Iterator[str]:
    """The URL of a gateway whose ``ollama`` provider is the fake."""
    with gateway_in_front_of(write_config(PROVIDERS), ollama=ollama) as url:
        yield url


@pytest.fixture
def ollama_down(write_config) -> Iterator[str]:
    """The URL of a gateway whose ``ollama`` provider points at a closed port."""
    config = write_config(QUIET + f'[providers.ollama]\nenabled = true\n'
                          f'base_url = "http://127.0.0.1:{free_port()}/v1"\n')
    with checked_gateway(config) as url:
        yield url


def closed_url() -> str:
    return f"http://127.0.0.1:{free_port()}"
