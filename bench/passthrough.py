"""The least a proxy can do: forward a chat body upstream and the reply back.

It runs on the gateway's own stack (the same ASGI server and options, and the
HTTP client that :class:`gateway.OpenAICompatibleProvider` opens), so the
gateway's throughput divided by this proxy's, measured in the same run, is
the price of everything the gateway does beyond moving bytes.

    python -m bench.passthrough --port 9001 --upstream http://127.0.0.1:9000/v1
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn

from gateway import OpenAICompatibleProvider, ProviderConfig
from gateway.cli import SERVER_OPTIONS

_FORWARDED = ("content-type", "content-length")


def create_app(upstream: str) -> Any:
    provider = OpenAICompatibleProvider("upstream", ProviderConfig(base_url=upstream))

    async def app(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(provider, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        client = provider.client
        request = client.build_request("POST", provider.url("/chat/completions"), content=body,
                                       headers={"Content-Type": "application/json"})
        response = await client.send(request, stream=True)
        try:
            headers = [(k.encode(), response.headers[k].encode())
                       for k in _FORWARDED if k in response.headers]
            await send({"type": "http.response.start", "status": response.status_code,
                        "headers": headers})
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await response.aclose()

    return app


async def _lifespan(provider: OpenAICompatibleProvider, receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await provider.start()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await provider.close()
            await send({"type": "lifespan.shutdown.complete"})
            return


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.passthrough", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="OpenAI-compatible base URL (…/v1)")
    args = parser.parse_args(argv)
    uvicorn.run(create_app(args.upstream), host=args.host, port=args.port, **SERVER_OPTIONS)


if __name__ == "__main__":
    main()
