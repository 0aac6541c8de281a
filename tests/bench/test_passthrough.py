"""The benchmark's pass-through proxy in front of the mock upstream."""

from collections.abc import Iterator

import httpx
import pytest

from bench import stream_timing
from bench.servers import Server


@pytest.fixture(scope="module")
def proxy(bench_mock, tmp_path_factory) -> Iterator[Server]:
    server = Server("passthrough", ["bench.passthrough", "--upstream", f"{bench_mock.url}/v1"],
                    "/", None, tmp_path_factory.mktemp("logs")).start()
    yield server
    server.stop()


def test_forwards_a_plain_chat_and_its_reply_unchanged(bench_mock, proxy):
    body = {"model": "bench-model", "messages": [{"role": "user", "content": "Hi"}]}

    through = httpx.post(f"{proxy.url}/", json=body)
    direct = httpx.post(f"{bench_mock.url}/v1/chat/completions", json=body)

    assert through.status_code == 200
    assert through.content == direct.content


def test_forwards_every_event_of_a_stream(proxy):
    timings = stream_timing.measure(f"{proxy.url}/", b'{"model": "m", "stream": true}',
                                    requests=3, warmup=1)

    # Five content events, the finish and usage events, then [DONE].
    assert [len(t.events) for t in timings] == [8, 8, 8]
    assert all(0 < t.ttfb <= t.total for t in timings)
