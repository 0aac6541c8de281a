"""A fake Ollama server: a plain ASGI app speaking Ollama's native API and its /v1 layer.

It follows ``shared/reference/ollama-api.md``: NDJSON pull progress sent line
by line over real time, ``{"error": ...}`` bodies with Ollama's statuses and
texts, a pull of an unknown model that fails with an error line after a 200,
the /v1 chat reply plain and as SSE (usage chunk only on request), gin's
plain-text 404 for unknown routes. Serve it with
``tests.servers.serve_in_thread(FakeOllama())``, or by hand::

    python -m tests.fakes.ollama --port 11434

Everything a test may want to vary is a constructor argument or a public
attribute, and ``requests`` records what reached it.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from . import read_body

_DETAILS = {"parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"],
            "parameter_size": "3.2B", "quantization_level": "Q4_K_M"}


@dataclass
class RegistryModel:
    """A model the fake registry offers to ``/api/pull``.

    ``layers`` are blob sizes in bytes, downloaded one after the other.
    ``stall`` is a pause in seconds after ``pulling manifest`` (for timeout
    tests; cut short when the client hangs up). ``cut_off`` ends the stream
    after the first blob, without ``success``.
    """

    layers: list[int] = field(default_factory=lambda: [1_321_082_688, 1_429, 7_711, 485])
    stall: float = 0.0
    cut_off: bool = False


def installed(name: str, size: int = 2_019_393_189, **details: Any) -> dict[str, Any]:
    """An ``/api/tags`` entry as Ollama writes it."""
    return {
        "name": name, "model": name, "size": size,
        "modified_at": "2025-05-04T17:37:44.706015396-07:00",
        "digest": _sha(name), "details": {**_DETAILS, **details},
    }


def default_models() -> list[dict[str, Any]]:
    return [
        installed("llama3.2:latest"),
        installed("hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M", size=807_694_464,
                  parameter_size="1.24B"),
    ]


def normalise(name: str) -> str:
    """Ollama's lookup form: lower case, ``:latest`` when no tag follows the last ``/``."""
    name = name.lower()
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


class FakeOllama:
    """The ASGI app. ``models`` are installed, ``registry`` can be pulled,
    ``running`` names the loaded models, ``reply`` is every chat answer.

    ``step_delay`` is the pause between streamed lines (pull progress and chat
    chunks). ``stalls`` maps a path (``/api/tags``, ``/v1/chat/completions``...)
    to seconds to wait before answering, cut short when the client hangs up.
    ``report_usage=False`` makes chat replies carry zero counts and no usage
    chunk, as Ollama does when it lacks them.
    """

    def __init__(
        self,
        *,
        models: list[dict[str, Any]] | None = None,
        registry: dict[str, RegistryModel] | None = None,
        running: list[str] | None = None,
        reply: str = "Hello! I am a fake Ollama model.",
        step_delay: float = 0.02,
        stalls: dict[str, float] | None = None,
        report_usage: bool = True,
        version: str = "0.12.6",
    ) -> None:
        self.models = {normalise(m["name"]): m for m in (default_models() if models is None else models)}
        self.registry = {normalise(k): v for k, v in (registry or {"llama3.2:1b": RegistryModel()}).items()}
        self.running = list(running if running is not None else ["llama3.2:latest"])
        self.reply = reply
        self.step_delay = step_delay
        self.stalls = dict(stalls or {})
        self.report_usage = report_usage
        self.version = version
        # (method, path, decoded JSON body or None), in arrival order.
        self.requests: list[tuple[str, str, Any]] = []
        # Names of the pulls whose client hung up before the pull ended.
        self.abandoned_pulls: list[str] = []

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        exchange = await _Exchange.start(scope, receive, send)
        try:
            await self._route(exchange)
        finally:
            exchange.listener.cancel()

    async def _route(self, x: _Exchange) -> None:
        self.requests.append((x.method, x.path, x.json))
        if not await x.pause(self.stalls.get(x.path, 0)):
            return
        routes = {
            ("GET", "/"): self._root, ("HEAD", "/"): self._root,
            ("GET", "/api/version"): self._version,
            ("GET", "/api/tags"): self._tags,
            ("GET", "/api/ps"): self._ps,
            ("POST", "/api/show"): self._show,
            ("DELETE", "/api/delete"): self._delete,
            ("POST", "/api/pull"): self._pull,
            ("GET", "/v1/models"): self._v1_models,
            ("POST", "/v1/chat/completions"): self._v1_chat,
        }
        handler = routes.get((x.method, x.path))
        if handler is not None:
            await handler(x)
        elif any(path == x.path for _, path in routes):
            await x.text(405, "405 method not allowed")
        else:
            await x.text(404, "404 page not found")

    async def _root(self, x: _Exchange) -> None:
        await x.text(200, "Ollama is running")

    async def _version(self, x: _Exchange) -> None:
        await x.send_json(200, {"version": self.version})

    async def _tags(self, x: _Exchange) -> None:
        await x.send_json(200, {"models": list(self.models.values())})

    async def _ps(self, x: _Exchange) -> None:
        loaded = [self.models[normalise(n)] for n in self.running if normalise(n) in self.models]
        await x.send_json(200, {"models": [
            {**m, "size_vram": m["size"], "expires_at": "2025-05-04T18:42:44.706015396-07:00",
             "context_length": 4096} for m in loaded]})

    async def _show(self, x: _Exchange) -> None:
        name = _model_field(x.json)
        if not name:
            return await x.send_json(400, {"error": "model is required"})
        model = self.models.get(normalise(name))
        if model is None:
            return await x.send_json(404, {"error": f"model '{normalise(name)}' not found"})
        await x.send_json(200, {
            "license": "LLAMA 3.2 COMMUNITY LICENSE AGREEMENT",
            "modelfile": f"# Modelfile generated by \"ollama show\"\nFROM {model['name']}\n",
            "parameters": 'stop                           "<|eot_id|>"',
            "template": "{{ .System }}\n{{ .Prompt }}",
            "details": model["details"],
            "model_info": {"general.architecture": "llama", "general.parameter_count": 3212749888,
                           "llama.context_length": 131072},
            "capabilities": ["completion", "tools"],
            "modified_at": model["modified_at"],
        })

    async def _delete(self, x: _Exchange) -> None:
        name = _model_field(x.json)
        if not name:
            return await x.send_json(400, {"error": "model is required"})
        if self.models.pop(normalise(name), None) is None:
            return await x.send_json(404, {"error": f"model '{name}' not found"})
        await x.send(200, b"", "application/json")

    async def _pull(self, x: _Exchange) -> None:
        name = _model_field(x.json)
        if not name or " " in name:
            return await x.send_json(400, {"error": "invalid model name"})
        entry = self.registry.get(normalise(name))
        if entry is None and normalise(name) in self.models:
            entry = RegistryModel(layers=[self.models[normalise(name)]["size"]])
        await x.start_stream(200, "application/x-ndjson")
        pause = 0.0
        async for line in self._progress(name, entry):
            if not await x.pause(pause):
                self.abandoned_pulls.append(name)
                return
            pause = line.pop("_pause", self.step_delay)
            await x.write(json.dumps(line).encode() + b"\n")
        await x.end()

    async def _progress(self, name: str, entry: RegistryModel | None):
        yield {"status": "pulling manifest", "_pause": entry.stall if entry else self.step_delay}
        if entry is None:
            yield {"error": "pull model manifest: file does not exist"}
            return
        cached = normalise(name) in self.models
        for index, size in enumerate(entry.layers):
            digest = "sha256:" + _sha(f"{name}/{index}")
            line = {"status": f"pulling {digest[7:19]}", "digest": digest, "total": size}
            if cached:
                yield {**line, "completed": size}
                continue
            yield line
            # A big blob reports its progress a few times; a small one only once done.
            steps = 3 if size > 1_000_000 else 1
            for step in range(1, steps + 1):
                yield {**line, "completed": size * step // steps}
            if entry.cut_off:
                return
        if not cached:
            yield {"status": "verifying sha256 digest"}
        yield {"status": "writing manifest"}
        self.models[normalise(name)] = installed(normalise(name), size=sum(entry.layers))
        yield {"status": "success"}

    async def _v1_models(self, x: _Exchange) -> None:
        data = [{"id": m["name"], "object": "model", "created": 1746405464, "owned_by": "library"}
                for m in self.models.values()]
        # Ollama sends a null list, not an empty one, when nothing is installed.
        await x.send_json(200, {"object": "list", "data": data or None})

    async def _v1_chat(self, x: _Exchange) -> None:
        body = x.json or {}
        model = body.get("model", "")
        if normalise(model) not in self.models:
            return await x.send_json(404, {"error": {
                "message": f"model '{model}' not found", "type": "not_found_error",
                "param": None, "code": None}})
        prompt_words = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
        completion_words = len(self.reply.split())
        usage = ({"prompt_tokens": prompt_words, "completion_tokens": completion_words,
                  "total_tokens": prompt_words + completion_words} if self.report_usage
                 else {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0})
        base = {"id": "chatcmpl-417", "created": 1755800000, "model": model,
                "system_fingerprint": "fp_ollama"}
        if not body.get("stream"):
            return await x.send_json(200, {**base, "object": "chat.completion", "choices": [
                {"index": 0, "message": {"role": "assistant", "content": self.reply},
                 "finish_reason": "stop"}], "usage": usage})
        await x.start_stream(200, "text/event-stream")
        chunk = {**base, "object": "chat.completion.chunk"}
        for index, word in enumerate(self.reply.split(" ")):
            delta = {"role": "assistant"} if index == 0 else {}
            delta["content"] = word if index == 0 else " " + word
            await x.write(_sse({**chunk, "choices": [
                {"index": 0, "delta": delta, "finish_reason": None}]}))
            if not await x.pause(self.step_delay):
                return
        await x.write(_sse({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
        if self.report_usage and (body.get("stream_options") or {}).get("include_usage"):
            await x.write(_sse({**chunk, "choices": [], "usage": usage}))
        await x.write(b"data: [DONE]\n\n")
        await x.end()


class _Exchange:
    """One request and its reply, with a watch on the client hanging up."""

    def __init__(self, scope: dict, send: Any, body: bytes) -> None:
        self.method = scope["method"]
        self.path = scope["path"]
        self._send = send
        self.gone = asyncio.Event()
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None
        self.listener: asyncio.Task[None]

    @classmethod
    async def start(cls, scope: dict, receive: Any, send: Any) -> _Exchange:
        body = await read_body(receive)
        exchange = cls(scope, send, body)
        exchange.listener = asyncio.create_task(exchange._watch(receive))
        return exchange

    async def _watch(self, receive: Any) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.gone.set()

    async def pause(self, seconds: float) -> bool:
        """Wait ``seconds``; False if the client hung up meanwhile."""
        if self.gone.is_set():
            return False
        if seconds <= 0:
            return True
        try:
            await asyncio.wait_for(self.gone.wait(), seconds)
        except TimeoutError:
            return True
        return False

    async def start_stream(self, status: int, content_type: str) -> None:
        await self._send({"type": "http.response.start", "status": status,
                          "headers": [(b"content-type", content_type.encode())]})

    async def write(self, data: bytes) -> None:
        await self._send({"type": "http.response.body", "body": data, "more_body": True})

    async def end(self) -> None:
        await self._send({"type": "http.response.body", "body": b""})

    async def send(self, status: int, body: bytes, content_type: str) -> None:
        await self.start_stream(status, content_type)
        await self._send({"type": "http.response.body", "body": body})

    async def send_json(self, status: int, body: Any) -> None:
        await self.send(status, json.dumps(body).encode(), "application/json; charset=utf-8")

    async def text(self, status: int, body: str) -> None:
        await self.send(status, body.encode(), "text/plain")


def _model_field(body: Any) -> str:
    # "name" is Ollama's deprecated alias; "model" wins.
    if not isinstance(body, dict):
        return ""
    return str(body.get("model") or body.get("name") or "")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _sse(body: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="Run the fake Ollama server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=11434)
    parser.add_argument("--step-delay", type=float, default=0.3,
                        help="seconds between streamed lines (default: %(default)s)")
    args = parser.parse_args()
    uvicorn.run(FakeOllama(step_delay=args.step_delay), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
