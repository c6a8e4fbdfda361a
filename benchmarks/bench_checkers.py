"""Is check_unique fast enough for ten million issuances?

Targets: at most 10 s for 10,000,000 issuances, and at least 20 times faster
than a plain ``collections.Counter`` pass over the same IDs.

Two histories, built with ``History.issue`` before any clock starts:

* ``ranges`` -- four CAs issue sequential serials from their own Dogtag ranges,
  interleaved at random; at the end one CA issues 100 serials from another's
  range (the replica race), so 100 serials are duplicated;
* ``rsnv3`` -- 128-bit random serials (RSNv3) with 10 planted collisions.

Both sides compute the same verdict (the duplicated IDs with their counts, the
lowest and highest ID, the acknowledged count):

* checker: ``check_unique(history)``, end to end from the History's columns;
* Counter: ``collections.Counter`` over the acknowledged IDs given as a ready
  list of Python ints (built before the clock starts, which favours it), then
  the duplicates, ``min`` and ``max``.  This strict ratio is the target.
* Counter from the history: the same, timing also the reading of the IDs out of
  the History as Python ints (``History.values``), so that both sides start
  from the same History.

    python benchmarks/bench_checkers.py                # 10,000,000 issuances
    python benchmarks/bench_checkers.py --issuances 1e6

Results go to benchmarks/results/bench_checkers.json with the machine's details.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
from machine_info import write_results  # benchmarks/, the script's own folder

from pkisim.history import History, Op, check_ranges, check_unique, explain_duplicates

RESULTS = Path(__file__).parent / "results" / "bench_checkers.json"
TARGET_SECONDS, TARGET_RATIO = 10.0, 20.0
RANGE = 1 << 28  # pkispawn's serialIncrement


def ranges_history(n: int, seed: int = 1) -> History:
    """Four CAs, own ranges, interleaved; the last 100 issuances repeat ca1's first serials."""
    rng = np.random.default_rng(seed)
    h = History()
    cas = [h.process(f"ca{i + 1}") for i in range(4)]
    who = rng.integers(0, 4, n - 100)
    serial = np.empty(n - 100, np.int64)
    for ca in range(4):
        mine = who == ca
        serial[mine] = ca * RANGE + 1 + np.arange(np.count_nonzero(mine))
    issue, op = h.issue, Op.ISSUE_CERT
    for row, (ca, value) in enumerate(zip(who.tolist(), serial.tolist(), strict=True)):
        issue(row * 0.001, cas[ca], op, value)
    for i in range(100):
        issue((n - 100 + i) * 0.001, cas[3], op, 1 + i)
    return h


def rsnv3_history(n: int, seed: int = 2) -> History:
    """128-bit random serials with 10 planted collisions."""
    rng = np.random.default_rng(seed)
    h = History()
    cas = [h.process(f"ca{i + 1}") for i in range(4)]
    hi = rng.integers(0, 2**63, n, dtype=np.uint64) | np.uint64(1 << 63)
    lo = rng.integers(0, 2**63, n, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    values = [h_ << 64 | l_ for h_, l_ in zip(hi.tolist(), lo.tolist(), strict=True)]
    values[-10:] = values[:10]
    issue, op = h.issue, Op.ISSUE_CERT
    for row, value in enumerate(values):
        issue(row * 0.001, cas[row & 3], op, value)
    return h


def counter_pass(ids: list[int]) -> tuple[dict[int, int], int, int, int]:
    counts = Counter(ids)
    duplicated = {i: c for i, c in counts.items() if c > 1}
    return duplicated, min(ids), max(ids), len(ids)


def best(run: Callable[[], object], repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - start)
    return min(times), out


def scenario(name: str, history: History, repeat: int) -> dict[str, object]:
    history.columns()  # convert the last buffered chunk before timing
    ids = [v for v in history.values() if v is not None]
    checker_s, result = best(lambda: check_unique(history), repeat)
    counter_s, (duplicated, lowest, highest, acked) = best(lambda: counter_pass(ids),
                                                           max(1, repeat - 1))
    issued = len(ids)
    from_history_s, _ = best(lambda: counter_pass([v for v in history.values()
                                                    if v is not None]), 1)
    assert result.duplicated_count == len(duplicated)  # type: ignore[attr-defined]
    assert (result.lowest, result.highest) == (lowest, highest)  # type: ignore[attr-defined]
    assert result.acknowledged_count == acked  # type: ignore[attr-defined]
    witness_s, _ = best(lambda: explain_duplicates(history, result, limit=10), 1)  # type: ignore[arg-type]
    ranges_s, _ = best(lambda: check_ranges(history, sequential=name == "ranges"), 1)
    return {"scenario": name, "issuances": issued, "duplicated": len(duplicated),
            "check_unique_s": checker_s, "check_ranges_s": ranges_s, "counter_s": counter_s,
            "ratio": counter_s / checker_s,
            "counter_from_history_s": from_history_s,
            "ratio_from_history": from_history_s / checker_s,
            "explain_duplicates_10_s": witness_s}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--issuances", type=float, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs; best kept")
    args = parser.parse_args(argv)
    n = int(args.issuances)
    rows = []
    for name, build in (("ranges", ranges_history), ("rsnv3", rsnv3_history)):
        start = time.perf_counter()
        history = build(n)
        built = time.perf_counter() - start
        rows.append(scenario(name, history, args.repeat))
        rows[-1]["build_s"] = built
        del history
    print(f"{n:,} issuances; best of {args.repeat} (Counter: best of {max(1, args.repeat - 1)})")
    print(f"{'scenario':<9} {'dups':>5} {'check_unique':>13} {'Counter':>9} {'ratio':>7} "
          f"{'from history':>13} {'ratio':>7} {'10 witnesses':>13}")
    for r in rows:
        print(f"{r['scenario']:<9} {r['duplicated']:>5} {r['check_unique_s']:>12.3f}s "
              f"{r['counter_s']:>8.3f}s {r['ratio']:>6.1f}x {r['counter_from_history_s']:>12.3f}s "
              f"{r['ratio_from_history']:>6.1f}x {r['explain_duplicates_10_s']:>12.3f}s")
    def met(r: dict[str, object]) -> bool:
        both = float(r["check_unique_s"]) + float(r["check_ranges_s"])  # type: ignore[arg-type]
        ratio = float(r["ratio"])  # type: ignore[arg-type]
        return both <= TARGET_SECONDS * n / 10_000_000 and ratio >= TARGET_RATIO

    ok = all(met(r) for r in rows)
    for r in rows:
        print(f"{r['scenario']}: check_ranges {r['check_ranges_s']:.3f}s; uniqueness + ranges "
              f"<= {TARGET_SECONDS:g} s per 10M issuances and >= "
              f"{TARGET_RATIO:g}x Counter (ready list): {'met' if met(r) else 'NOT met'}")
    write_results(RESULTS, "bench_checkers", {"scenarios": rows, "targets_met": ok})
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
