"""Fixtures for the hardening tests: gateway keys from the environment and
drop-in plugin routes, so the checks are shown to cover routes the core does
not know."""

from __future__ import annotations

import textwrap
from contextlib import ExitStack
from pathlib import Path

import pytest

from gateway.app import create_app
from tests.conftest import BASE_CONFIG
from tests.security.fakes import FakeUpstream, provider_config
from tests.servers import serve_in_thread

USER_KEY = "gw-user-key-for-tests-1111"
ADMIN_KEY = "gw-admin-key-for-tests-2222"

AUTH_CONFIG = """
[auth]
user_key_envs = ["TEST_GATEWAY_USER_KEY"]
admin_key_envs = ["TEST_GATEWAY_ADMIN_KEY"]
"""

# Routes a plugin might add: an ordinary one, one marked admin, a router
# marked admin as a whole, one under /v1, and one that reads its body.
ROUTES_PLUGIN = """
from litestar import Request, Router, get, post
from gateway import hookimpl

@get("/api/extra/models")
async def models() -> dict[str, list]:
    return {"models": []}

@post("/api/extra/pull", opt={"scope": "admin"}, status_code=200)
async def pull() -> dict[str, bool]:
    return {"pulled": True}

@get("/stats")
async def stats() -> dict[str, int]:
    return {"requests": 1}

@get("/v1/extra/models")
async def v1_models() -> dict[str, list]:
    return {"data": []}

@post("/api/extra/upload", status_code=200)
async def upload(request: Request) -> dict[str, int]:
    return {"bytes": len(await request.body())}

@post("/v1/extra/upload", status_code=200)
async def v1_upload(request: Request) -> dict[str, int]:
    return {"bytes": len(await request.body())}

@get("/api/extra/typo", opt={"scope": "admn"})
async def typo() -> dict[str, bool]:
    return {"ok": True}

@hookimpl
def gateway_routes():
    return [models, pull, v1_models, upload, v1_upload, typo,
            Router("/api/admin", route_handlers=[stats], opt={"scope": "admin"})]
"""


@pytest.fixture
def gateway_keys(monkeypatch) -> None:
    monkeypatch.setenv("TEST_GATEWAY_USER_KEY", USER_KEY)
    monkeypatch.setenv("TEST_GATEWAY_ADMIN_KEY", ADMIN_KEY)


@pytest.fixture
def plugin_config(write_config, tmp_path: Path):
    """Write a config with the drop-in routes plugin, ``server`` lines in
    ``[server]`` and ``extra`` tables appended."""

    def write(extra: str = "", server: str = "") -> Path:
        folder = tmp_path / "plugins"
        folder.mkdir(exist_ok=True)
        (folder / "extra_routes.py").write_text(textwrap.dedent(ROUTES_PLUGIN))
        return write_config(f'[server]\nplugin_dirs = ["plugins"]\n{server}\n{BASE_CONFIG}{extra}')

    return write


@pytest.fixture
def served(write_config):
    """``served(fake, **provider settings)`` serves ``fake`` and a gateway in
    front of it, each with uvicorn on 127.0.0.1; returns the gateway's URL."""
    with ExitStack() as stack:
        def serve(fake: FakeUpstream, **settings) -> str:
            upstream_url = stack.enter_context(serve_in_thread(fake))
            app = create_app(write_config(provider_config(upstream_url, **settings)))
            return stack.enter_context(serve_in_thread(app))

        yield serve


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
