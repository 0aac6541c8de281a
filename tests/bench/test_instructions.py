"""`make instructions`: its in-process driver and its report (valgrind itself
is not needed to check them)."""

import pytest

from bench import instructions


@pytest.mark.parametrize("target", instructions.TARGETS)
async def test_the_driver_has_every_chat_answered(bench_mock, target):
    assert await instructions.chat_loop(target, bench_mock.url, 100) == 100


def test_the_report_sets_each_target_against_the_proxy():
    text = instructions.render(
        {"pass-through": 1_000_000, "gateway /api/chat": 1_500_000, "gateway /v1": 1_600_000},
        2000)

    [proxy, api, v1] = text.splitlines()[2:]
    assert proxy.split() == ["pass-through", "1,000,000", "1.00", "0"]
    assert api.split() == ["gateway", "/api/chat", "1,500,000", "1.50", "500,000"]
    assert v1.split() == ["gateway", "/v1", "1,600,000", "1.60", "600,000"]
