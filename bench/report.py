"""The benchmark's results as a table, with the overhead budget checked."""

from __future__ import annotations

DIRECT, PROXY = "direct (mock)", "pass-through"
# Growth of the gateway's RSS over the soak, after its first segment, still called flat.
FLAT_MB = 5.0


def render(r: dict) -> str:
    m = r["machine"]
    pinned = (f"gateway and proxy pinned to CPU {m['gateway_cpus']}, mock + wrk + stream client "
              f"on CPU {m['load_cpus']}" if m["gateway_cpus"] else "one CPU: nothing pinned")
    lines = [
        f"LLM gateway benchmark, {r['started']}{' (quick)' if r['quick'] else ''}"
        + (" (smoke: a few requests per step from a Python driver; the numbers mean nothing)"
           if r["settings"]["requests_per_run"] else ""),
        f"machine: {m['cpu']}, {m['cpus']} CPUs; {pinned}",
        f"python {m['python']}; " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()),
        f"noise: load average {m['loadavg_start']:.2f} at start; calibration loop "
        f"{m['calibration_start_ms']:.2f} ms at start, {m.get('calibration_end_ms', 0):.2f} ms "
        "at end (same loop, lower is faster)",
        "",
    ]
    for stream in (False, True):
        lines += _runs_table(r["runs"], stream, r["settings"]["rounds"])
        lines += _own_cpu(r["runs"], stream)
    lines += _first_event(r["first_event"])
    lines += _forwarding(r["forwarding"])
    lines += _memory(r)
    lines += _workers(r["workers"])
    if "profile" in r:
        lines += ["", f"py-spy flame graph of the gateway (plain, c=64): {r['profile']}"]
    lines += ["", "targets (issue 5):"]
    lines += [f"  [{'ok' if ok else 'MISS'}] {text}" for ok, text in check(r)]
    return "\n".join(lines)


def _run(runs: list[dict], target: str, stream: bool, c: int) -> dict | None:
    return next((x for x in runs if x["target"] == target and x["stream"] == stream
                 and x["c"] == c), None)


def _runs_table(runs: list[dict], stream: bool, rounds: int) -> list[str]:
    title = ("streamed chat (SSE, 5 content chunks), whole reply" if stream
             else "plain chat")
    turns = f", median of {rounds} runs taking turns" if rounds > 1 else ""
    lines = [f"{title}: wrk, one connection per c{turns}; CPU and RSS of the measured server",
             f"  {'target':<18} {'c':>3} {'req/s':>7} {'xdirect':>7} {'xproxy':>6} "
             f"{'p50 ms':>7} {'p99 ms':>7} {'+p50 ms':>7} {'CPU us/req':>10} {'RSS MB':>6} "
             f"{'errors':>6}"]
    for x in runs:
        if x["stream"] != stream:
            continue
        direct = _run(runs, DIRECT, stream, x["c"])
        proxy = _run(runs, PROXY, stream, x["c"])
        lines.append(
            f"  {x['target']:<18} {x['c']:>3} {x['rps']:>7.0f} {x['rps'] / direct['rps']:>7.2f} "
            f"{x['rps'] / proxy['rps']:>6.2f} {x['p50_ms']:>7.2f} {x['p99_ms']:>7.2f} "
            f"{x['p50_ms'] - direct['p50_ms']:>7.2f} {x['cpu_us']:>10.0f} {x['rss_mb']:>6.1f} "
            f"{x['errors']:>6}")
    return lines


def _own_cpu(runs: list[dict], stream: bool) -> list[str]:
    """CPU per request beyond what moving the bytes costs: gateway minus pass-through."""
    proxy = _run(runs, PROXY, stream, 64)
    lines = []
    for x in runs:
        if x["target"].startswith("gateway") and x["stream"] == stream and x["c"] == 64:
            lines.append(f"  {x['target']}: own CPU per request at c=64 (gateway - pass-through): "
                         f"{x['cpu_us'] - proxy['cpu_us']:.0f} us")
    return lines + [""]


def _first_event(rows: list[dict]) -> list[str]:
    direct = next(x for x in rows if x["target"] == DIRECT)
    lines = ["streamed chat at c=1, timed per event (ms)",
             f"  {'target':<18} {'first p50':>9} {'first p99':>9} {'+first p50':>10} "
             f"{'total p50':>9} {'total p99':>9}"]
    for x in rows:
        lines.append(f"  {x['target']:<18} {x['ttfb_p50_ms']:>9.2f} {x['ttfb_p99_ms']:>9.2f} "
                     f"{x['ttfb_p50_ms'] - direct['ttfb_p50_ms']:>10.2f} "
                     f"{x['total_p50_ms']:>9.2f} {x['total_p99_ms']:>9.2f}")
    return lines + [""]


def _forwarding(f: dict) -> list[str]:
    return ["upstream sending one event every 50 ms: first and last event seen by the client"] + [
        f"  {name:<18} first {x['first_ms']:7.1f} ms   last {x['last_ms']:7.1f} ms"
        for name, x in f.items()] + [""]


def _memory(r: dict) -> list[str]:
    soak = r["soak"]
    samples = "  ".join(f"{n // 1000}k:{mb:.1f}" for n, mb in soak["samples"])
    return [
        f"gateway RSS: idle {r['gateway_rss_idle_mb']:.1f} MB, peak under load "
        f"{_peak_rss(r):.1f} MB",
        f"gateway RSS (MB) over {soak['requests']:,} plain chats at c=64, by requests served:",
        f"  {samples}",
    ]


def _workers(rows: list[dict]) -> list[str]:
    one = rows[0]
    lines = ["", "--workers, plain /api/chat at c=64, unpinned (sharing the CPUs with "
             "mock and wrk)"]
    for x in rows:
        rss = ", ".join(f"{mb:.0f}" for mb in x["rss_mb_each"])
        lines.append(f"  workers={x['workers']}: {x['rps']:7.0f} req/s "
                     f"(x{x['rps'] / one['rps']:.2f})  p99 {x['p99_ms']:.1f} ms  "
                     f"CPU {x['cpu_us']:.0f} us/req  RSS MB per process {rss}")
    return lines


def _peak_rss(r: dict) -> float:
    return max(x["rss_mb"] for x in r["runs"] if x["target"].startswith("gateway"))


def _soak_growth(r: dict) -> float:
    samples = r["soak"]["samples"]
    return samples[-1][1] - samples[min(1, len(samples) - 1)][1]


def check(r: dict) -> list[tuple[bool, str]]:
    """Each target of the overhead budget: (reached, what was measured)."""
    runs, out = r["runs"], []
    gateways = sorted({x["target"] for x in runs if x["target"].startswith("gateway")})
    for g in gateways:
        plain64, proxy64 = _run(runs, g, False, 64), _run(runs, PROXY, False, 64)
        plain1, direct1 = _run(runs, g, False, 1), _run(runs, DIRECT, False, 1)
        added50 = plain1["p50_ms"] - direct1["p50_ms"]
        added99 = plain1["p99_ms"] - direct1["p99_ms"]
        first = {x["target"]: x for x in r["first_event"]}
        added_first = first[g]["ttfb_p50_ms"] - first[DIRECT]["ttfb_p50_ms"]
        out += [
            (plain64["rps"] >= 2000, f"{g}: plain c=64 >= 2,000 req/s: {plain64['rps']:,.0f}"),
            (plain64["rps"] >= 0.75 * proxy64["rps"],
             f"{g}: plain c=64 >= 0.75x pass-through: {plain64['rps'] / proxy64['rps']:.2f}x"),
            (added50 < 0.8, f"{g}: added p50 at c=1 < 0.8 ms: {added50:.2f} ms"),
            (added99 < 3, f"{g}: added p99 at c=1 < 3 ms: {added99:.2f} ms"),
            (plain64["p99_ms"] < 60, f"{g}: p99 at c=64 < 60 ms: {plain64['p99_ms']:.1f} ms"),
            (added_first < 1, f"{g}: stream first event added at c=1 < 1 ms: {added_first:.2f} ms"),
            (plain64["cpu_us"] < 500, f"{g}: CPU per request < 500 us: {plain64['cpu_us']:.0f} us"),
        ]
    f = r["forwarding"]
    direct, gw = f["direct"], f["gateway /api/chat"]
    # Chunks 50 ms apart: a buffering gateway would show its first event near the last one.
    out.append((gw["first_ms"] - direct["first_ms"] < 25,
                f"chunks forwarded as they arrive: first event {gw['first_ms']:.1f} ms "
                f"(direct {direct['first_ms']:.1f}), last {gw['last_ms']:.1f} ms "
                f"(direct {direct['last_ms']:.1f})"))
    out.append((_peak_rss(r) < 120, f"RSS < 120 MB per worker under load: {_peak_rss(r):.1f} MB"))
    growth = _soak_growth(r)
    out.append((growth < FLAT_MB, f"RSS flat over {r['soak']['requests']:,} requests "
                                  f"(growth < {FLAT_MB:.0f} MB after the first segment): "
                                  f"{growth:+.1f} MB"))
    one, two = r["workers"]
    out.append((two["rps"] >= 1.6 * one["rps"],
                f"--workers 2 about doubles throughput: x{two['rps'] / one['rps']:.2f} "
                f"({r['machine']['cpus']} CPUs, shared with mock and wrk)"))
    return out
