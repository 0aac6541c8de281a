"""Fixtures: an app built from a config written for the test, its client,
and respx routes at the upstream boundary."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import respx
from litestar.testing import AsyncTestClient

from gateway.app import create_app

HERE = Path(__file__).parent

OLLAMA_URL = "http://ollama.test/v1"
OPENAI_URL = "http://openai.test/v1"
SECRET_KEY = "sk-test-not-a-real-key-0123456789"

BASE_CONFIG = f"""
[providers.ollama]
enabled = true
base_url = "{OLLAMA_URL}"

[providers.openai]
enabled = true
base_url = "{OPENAI_URL}"
api_key = "{SECRET_KEY}"
"""


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    def write(text: str = BASE_CONFIG, name: str = "config.toml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return write


@asynccontextmanager
async def gateway_client(path: Path) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(app=create_app(path)) as client:
        yield client


@pytest.fixture
async def client(write_config) -> AsyncIterator[AsyncTestClient]:
    async with gateway_client(write_config()) as client:
        yield client


@pytest.fixture
def upstream() -> respx.MockRouter:
    # using="httpx" mocks at the client level, whatever transport a provider
    # uses; the test client's own host must pass through to the app.
    with respx.mock(using="httpx", assert_all_called=False) as router:
        router.route(host="testserver.local").pass_through()
        yield router


@pytest.fixture(scope="session")
def plugin_packages(tmp_path_factory) -> Callable[[Path], Path]:
    """Build and pip-install a local package once per session, each into its
    own private folder (the development venv is left untouched); returns the folder."""
    folders: dict[Path, Path] = {}

    def install(source: Path) -> Path:
        if source not in folders:
            target = tmp_path_factory.mktemp("site")
            # Built from a clean copy, so the build leaves nothing behind in the
            # repo and finds nothing stale from an earlier one.
            copy = tmp_path_factory.mktemp("src") / source.name
            shutil.copytree(source, copy, ignore=shutil.ignore_patterns(
                "build", "*.egg-info", "__pycache__", ".pytest_cache"))
            subprocess.run(
                [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                 "--no-build-isolation", "--target", str(target), str(copy)],
                check=True,
            )
            folders[source] = target
        return folders[source]

    return install


@pytest.fixture
def install_plugin(plugin_packages, monkeypatch) -> Callable[[Path], Path]:
    """Install a local plugin package like a user would, for this test only.

    Its folder is on sys.path until the test ends, so apps the test builds
    find the plugin's entry points and apps in other tests do not.
    """

    def install(source: Path) -> Path:
        target = plugin_packages(source)
        monkeypatch.syspath_prepend(str(target))
        return target

    return install


@pytest.fixture
def installed_plugins(install_plugin) -> Path:
    """The third-party test plugin in tests/third_party_plugin, installed."""
    return install_plugin(HERE / "third_party_plugin")
