"""The smoke run of `make bench`: every step still works (no targets asserted)."""

import json
import os

from bench import run

TARGETS = {"direct (mock)", "pass-through", "gateway /api/chat", "gateway /v1"}


def test_the_bench_runs_every_step_and_writes_its_report(tmp_path, capsys):
    cpus = os.sched_getaffinity(0)

    assert run.main(["--smoke", "--out", str(tmp_path)]) == 0

    [text] = tmp_path.glob("*.txt")
    [raw] = tmp_path.glob("*.json")
    results = json.loads(raw.read_text())
    assert {(r["target"], r["stream"], r["c"]) for r in results["runs"]} == {
        (t, s, c) for t in TARGETS for s in (False, True) for c in run.CONCURRENCY}
    assert all(r["requests"] == 20 and r["errors"] == 0 for r in results["runs"])
    assert {f["target"] for f in results["first_event"]} == TARGETS
    assert [w["workers"] for w in results["workers"]] == [1, 2]
    assert results["soak"]["requests"] >= 100
    assert "targets (issue 5):" in text.read_text()
    assert text.read_text() in capsys.readouterr().out
    # The bench pins itself to a CPU while it runs, and must not leave it so.
    assert os.sched_getaffinity(0) == cpus
