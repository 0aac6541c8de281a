"""The benchmark's servers as processes, started by the runner's own code."""

from collections.abc import Iterator

import pytest

from bench.servers import Server


@pytest.fixture(scope="module")
def bench_mock(tmp_path_factory) -> Iterator[Server]:
    server = Server("mock", ["bench.mock_upstream"], "/v1/models", None,
                    tmp_path_factory.mktemp("logs")).start()
    yield server
    server.stop()
