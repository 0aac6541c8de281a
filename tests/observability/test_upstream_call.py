"""``gateway.upstream_call``: what a plugin's own upstream calls add to the
request's record, which the access line and ``/metrics`` read."""

import asyncio

import pytest

from gateway import UpstreamTimeout, UpstreamUnreachable, upstream_call
from gateway.observability.context import RequestRecord, bind, unbind


@pytest.fixture
def record():
    record = RequestRecord("test", 0.0)
    token = bind(record)
    yield record
    unbind(token)


def test_an_error_out_of_nested_blocks_counts_once(record):
    with pytest.raises(UpstreamUnreachable):
        with upstream_call("outer"):
            with upstream_call("inner"):
                raise UpstreamUnreachable("down")

    assert record.upstream_errors == [("inner", "upstream_unreachable")]


async def test_blocks_that_fail_at_the_same_time_count_each_error(record):
    async def call(provider, error):
        with upstream_call(provider):
            await asyncio.sleep(0.01)
            raise error

    results = await asyncio.gather(call("a", UpstreamUnreachable("down")),
                                   call("b", UpstreamTimeout("slow")), return_exceptions=True)

    assert [type(r) for r in results] == [UpstreamUnreachable, UpstreamTimeout]
    assert sorted(record.upstream_errors) == [("a", "upstream_unreachable"),
                                              ("b", "upstream_timeout")]
    assert 0.01 <= record.upstream_seconds < 0.5


def test_an_error_that_is_no_gateway_error_goes_on_uncounted(record):
    with pytest.raises(KeyError):
        with upstream_call("a"):
            raise KeyError("x")

    assert record.upstream_errors is None
    assert record.upstream_seconds is not None
