"""Helpers for reading what the gateway reports: its /metrics and its log lines."""

from __future__ import annotations

import logging
from collections import Counter

import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families

Sample = tuple[str, frozenset[tuple[str, str]]]


def parse_metrics(text: str) -> dict[Sample, float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def scrape(client) -> dict[Sample, float]:
    reply = await client.get("/metrics")
    assert reply.status_code == 200
    return parse_metrics(reply.text)


def changes(before: dict[Sample, float], after: dict[Sample, float]) -> Counter:
    """How much each sample grew: metrics are per process, and earlier tests
    in this process have already counted."""
    return Counter({k: v - before.get(k, 0.0) for k, v in after.items()
                    if v != before.get(k, 0.0)})


def sample(name: str, **labels: str) -> Sample:
    return name, frozenset(labels.items())


@pytest.fixture(autouse=True)
def _drop_log_handler():
    yield
    # An app built during a test logs to the stderr of that test, which
    # pytest closes after it.
    logger = logging.getLogger("gateway")
    for handler in list(logger.handlers):
        if handler.get_name() == "gateway":
            logger.removeHandler(handler)


@pytest.fixture
def access_lines(capsys):
    """Reads the access log lines written so far, parsed from JSON."""
    def read() -> list[dict]:
        lines = capsys.readouterr().err.splitlines()
        parsed = [msgspec.json.decode(line) for line in lines if line]
        return [line for line in parsed if line["logger"] == "gateway.access"]

    return read
