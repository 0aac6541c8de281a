"""The access log: one JSON line per request, no prompts unless asked, never keys."""

import io
import sys
import textwrap

import msgspec
import pytest

from tests.conftest import OPENAI_URL, SECRET_KEY, gateway_client
from tests.test_chat import chunk, completion, sse
from tests.test_plugins import drop, plugin_dir  # noqa: F401 (a fixture)

PROMPT = "my confidential prompt about project Zebra"
REPLY = "a confidential answer about Zebra"
CLIENT_KEY = "sk-client-secret-555"
USAGE = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}


def config(extra=""):
    return textwrap.dedent(f"""
        [server]
        plugin_dirs = ["myplugins"]
        [providers.openai]
        base_url = "{OPENAI_URL}"
        api_key = "{SECRET_KEY}"
    """) + textwrap.dedent(extra)


@pytest.fixture
def models(upstream):
    return upstream.get(f"{OPENAI_URL}/models").respond(json={"data": []})


async def chat(path, **body):
    async with gateway_client(path) as client:
        return await client.post(
            "/api/chat", json={"message": PROMPT, "provider": "openai",
                               "system_prompt": "Be discreet.", **body},
            headers={"Authorization": f"Bearer {CLIENT_KEY}", "X-Request-ID": "req-1"})


async def test_a_chat_writes_one_json_access_line(write_config, upstream, models, access_lines):
    upstream.post(f"{OPENAI_URL}/chat/completions").respond(json=completion(REPLY, usage=USAGE))

    await chat(write_config(config()))

    [line] = access_lines()
    assert line["time"].endswith("+00:00")
    assert line["duration_ms"] > line["upstream_ms"] > 0
    del line["time"], line["duration_ms"], line["upstream_ms"]
    assert line == {
        "level": "info", "logger": "gateway.access", "message": "POST /api/chat 200",
        "request_id": "req-1", "method": "POST", "path": "/api/chat", "route": "/api/chat",
        "status": 200, "provider": "openai", "model": "gpt-4o-mini",
        "tokens_in": 12, "tokens_out": 3, "tokens_estimated": False, "client": "testclient",
    }


async def test_a_stream_line_has_time_to_first_chunk(write_config, upstream, models,
                                                      access_lines):
    upstream.post(f"{OPENAI_URL}/chat/completions").respond(
        content=sse(chunk("Hi"), chunk(usage=USAGE), "[DONE]"),
        headers={"content-type": "text/event-stream"})

    await chat(write_config(config()), stream=True)

    [line] = access_lines()
    assert 0 < line["first_chunk_ms"] <= line["duration_ms"]
    assert (line["status"], line["tokens_out"]) == (200, 3)


async def test_a_failed_upstream_call_logs_the_error_kind(write_config, upstream, models,
                                                          access_lines):
    upstream.post(f"{OPENAI_URL}/chat/completions").respond(404, json={"error": "no such model"})

    await chat(write_config(config()))

    [line] = access_lines()
    assert (line["status"], line["error"]) == (404, "model_not_found")


async def test_requests_without_a_chat_are_logged_too(write_config, models, access_lines):
    async with gateway_client(write_config(config())) as client:
        await client.get("/no/such/path")

    [line] = access_lines()
    assert (line["route"], line["status"], line["provider"], line["upstream_ms"]) == (
        "unmatched", 404, None, None)


async def test_prompts_replies_and_keys_stay_out_of_the_log_by_default(
        write_config, upstream, models, capsys):
    upstream.post(f"{OPENAI_URL}/chat/completions").respond(json=completion(REPLY, usage=USAGE))

    await chat(write_config(config()))

    log = capsys.readouterr().err
    assert '"route":"/api/chat"' in log
    for secret in ("Zebra", "discreet", CLIENT_KEY, SECRET_KEY):
        assert secret not in log


async def test_log_bodies_adds_messages_and_reply_but_never_keys(write_config, upstream, models,
                                                                 access_lines):
    upstream.post(f"{OPENAI_URL}/chat/completions").respond(json=completion(REPLY, usage=USAGE))

    await chat(write_config(config("[logging]\nlog_bodies = true\n")))

    [line] = access_lines()
    assert line["messages"] == [{"role": "system", "content": "Be discreet."},
                                {"role": "user", "content": PROMPT}]
    assert line["reply"] == REPLY
    assert CLIENT_KEY not in str(line) and SECRET_KEY not in str(line)


async def test_text_format_writes_readable_lines(write_config, upstream, models, capsys):
    upstream.post(f"{OPENAI_URL}/chat/completions").respond(json=completion(usage=USAGE))

    await chat(write_config(config('[logging]\nformat = "text"\n')))

    [line] = [x for x in capsys.readouterr().err.splitlines() if "gateway.access" in x]
    assert " INFO gateway.access POST /api/chat 200 request_id=req-1 " in line
    assert " provider=openai model=gpt-4o-mini " in line
    assert line.endswith(" tokens_in=12 tokens_out=3 tokens_estimated=false client=testclient")


@pytest.mark.parametrize(("path", "message", "value"), [
    ("/x%0A2026-01-01T00:00:00.000+00:00 INFO gateway.access GET /admin 200",
     "GET /x\\x0a2026-01-01T00:00:00.000+00:00 INFO gateway.access GET /admin 200 404",
     '"/x\\n2026-01-01T00:00:00.000+00:00 INFO gateway.access GET /admin 200"'),
    # Line ends for some readers (Python's splitlines()) too.
    ("/x%E2%80%A8FAKE%20LINE%C2%85y", "GET /x\\u2028FAKE LINE\\x85y 404",
     '"/x\\u2028FAKE LINE\\u0085y"'),
])
async def test_a_path_cannot_forge_a_text_line(write_config, models, capsys, path, message,
                                               value):
    async with gateway_client(write_config(config('[logging]\nformat = "text"\n'))) as client:
        await client.get(path)

    [line] = [x for x in capsys.readouterr().err.splitlines() if "gateway.access" in x]
    assert f" INFO gateway.access {message} " in line
    assert f" path={value} " in line


async def test_level_warning_turns_the_access_log_off(write_config, upstream, models, capsys):
    upstream.post(f"{OPENAI_URL}/chat/completions").respond(json=completion())

    reply = await chat(write_config(config('[logging]\nlevel = "warning"\n')))

    assert reply.status_code == 200
    assert "gateway.access" not in capsys.readouterr().err


async def test_other_log_lines_inside_a_request_carry_its_id(write_config, upstream, models,
                                                             plugin_dir, capsys):
    drop(plugin_dir, "chatty.py", """
        import logging
        from gateway import hookimpl

        @hookimpl
        def gateway_chat_request(call):
            logging.getLogger("gateway.chatty").warning("about to call %s", call.provider.id)
    """)
    upstream.post(f"{OPENAI_URL}/chat/completions").respond(json=completion())

    await chat(write_config(config()))

    lines = [msgspec.json.decode(x) for x in capsys.readouterr().err.splitlines()]
    [line] = [x for x in lines if x["logger"] == "gateway.chatty"]
    assert line == {"time": line["time"], "level": "warning", "logger": "gateway.chatty",
                    "message": "about to call openai", "request_id": "req-1"}


async def test_a_request_is_answered_when_stderr_no_longer_takes_lines(write_config, upstream,
                                                                       models, monkeypatch):
    class ReaderGone(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stderr", ReaderGone())
    upstream.post(f"{OPENAI_URL}/chat/completions").respond(json=completion(REPLY))

    reply = await chat(write_config(config()))

    assert (reply.status_code, reply.json()["response"]) == (200, REPLY)
