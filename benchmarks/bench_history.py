"""How lean and how fast is the History recorder?

Targets: at most 40 bytes per issued serial with ten million issuances, and an
``issue`` call well under 0.4 µs, so that an allocation core issuing a million
serials a second is not dominated by its recorder.

Each variant runs in a fresh interpreter that records N issuances (four CAs,
sequential serials, simulated times) and reports the wall time per call and
the resident memory it added:

* ``history``    -- ``History.issue`` with 28-bit serials (Dogtag ranges);
* ``history128`` -- the same with 128-bit serials (RSNv3);
* ``list``       -- the baseline: ``rows.append((time, ca, op, serial))``;
* ``call``       -- a no-op function with ``issue``'s signature: the cost of the
                    loop, the arguments and the call, which any recorder pays.

    python benchmarks/bench_history.py               # 10,000,000 issuances
    python benchmarks/bench_history.py --issuances 1e6

Results go to benchmarks/results/bench_history.json with the machine's details.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from machine_info import write_results  # benchmarks/, the script's own folder

from pkisim.history import History, Op, OpType

RESULTS = Path(__file__).parent / "results" / "bench_history.json"
VARIANTS = ("call", "list", "history", "history128")
TARGET_BYTES, TARGET_NS = 40, 400


def rss() -> int:
    """Resident bytes of this process now (Linux), else the peak."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def record(variant: str, n: int) -> dict[str, float]:
    """Record ``n`` issuances the ``variant`` way; runs in a worker process."""
    h = History()
    cas = [h.process(f"ca{i}") for i in range(4)]
    op, ok = Op.ISSUE_CERT, OpType.OK
    base = 2**127 if variant == "history128" else 0x10000000
    rows: list[tuple] = []
    kept: object = rows

    def nothing(time: float, process: int, op: Op, value: int | None,
                type: OpType = ok, replica: int = -1) -> None:
        pass

    call = {"call": nothing, "list": None}.get(variant, h.issue)
    append = rows.append
    before = rss()
    start = time.perf_counter()
    if variant == "list":
        for i in range(n):
            append((i * 0.001, cas[i & 3], op, base + i))
    else:
        assert call is not None
        for i in range(n):
            call(i * 0.001, cas[i & 3], op, base + i)
    if variant.startswith("history"):
        h.columns()  # converts the last chunk: part of the cost
        kept = h
    seconds = time.perf_counter() - start
    out = {"variant": variant, "issuances": n, "seconds": seconds,
           "ns_per_call": seconds / n * 1e9, "rss_bytes_per_row": (rss() - before) / n}
    if variant.startswith("history"):
        out["column_bytes_per_row"] = h.nbytes / n
    del kept
    return out


def in_worker(variant: str, n: int) -> dict[str, float]:
    code = (f"import json, sys; sys.path[:0] = {sys.path!r}; "
            f"from benchmarks.bench_history import record; "
            f"print(json.dumps(record({variant!r}, {n})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=Path(__file__).parent.parent)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--issuances", type=float, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per variant; best kept")
    args = parser.parse_args(argv)
    n = int(args.issuances)
    runs = {}
    for variant in VARIANTS:
        tries = [in_worker(variant, n) for _ in range(max(1, args.repeat))]
        runs[variant] = min(tries, key=lambda r: r["seconds"])
    call_ns = runs["call"]["ns_per_call"]
    print(f"{n:,} issuances, best of {args.repeat} runs each, fresh interpreter per run")
    print(f"{'variant':<12} {'ns/call':>8} {'net ns':>8} {'RSS B/row':>10} {'columns B/row':>14}")
    for variant, r in runs.items():
        columns = r.get("column_bytes_per_row")
        print(f"{variant:<12} {r['ns_per_call']:8.0f} {r['ns_per_call'] - call_ns:8.0f} "
              f"{r['rss_bytes_per_row']:10.1f} {'' if columns is None else f'{columns:14.1f}'}")
    history = runs["history"]
    verdict = {
        "bytes_per_serial": history["rss_bytes_per_row"],
        "bytes_target": TARGET_BYTES,
        "bytes_ok": history["rss_bytes_per_row"] <= TARGET_BYTES,
        "issue_ns": history["ns_per_call"],
        "issue_ns_target": TARGET_NS,
        "issue_ok": history["ns_per_call"] < TARGET_NS,
        "issue_vs_list_append": history["ns_per_call"] / runs["list"]["ns_per_call"],
    }
    print(f"History: {verdict['bytes_per_serial']:.1f} B/serial (target <= {TARGET_BYTES}), "
          f"{verdict['issue_ns']:.0f} ns/issue including the loop (target < {TARGET_NS}), "
          f"{verdict['issue_vs_list_append']:.2f}x a list.append of a tuple")
    write_results(RESULTS, "bench_history", {"runs": runs, "verdict": verdict})
    return 0 if verdict["bytes_ok"] and verdict["issue_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
