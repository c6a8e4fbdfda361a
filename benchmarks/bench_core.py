"""How fast does the sans-IO core issue serials from a held range?

Target: >= 1,000,000 serials/s per process, for every strategy whose issuance
needs no directory (legacy, legacy2, naive, random, dna).  The baseline, run
side by side in this process, is the cheapest possible counter: a bound
``itertools.count().__next__`` called in the same loop.  The ratio says how
much Dogtag's range bookkeeping (overflow check, switch) costs on top.

    python benchmarks/bench_core.py [--serials 5e6]

Results go to benchmarks/results/bench_core.json with the machine's details.
"""

from __future__ import annotations

import argparse
import itertools
import random
import time
from pathlib import Path

from machine_info import write_results  # benchmarks/, the script's own folder

from pkisim.ids import IdKind, IdSpaceConfig, new_repository

RESULTS = Path(__file__).parent / "results" / "bench_core.json"
TARGET = 1_000_000


def rate(issue, n: int) -> float:
    """Serials per second for ``n`` calls of ``issue`` (best of three)."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in itertools.repeat(None, n):
            issue()
        best = min(best, time.perf_counter() - start)
    return n / best


def held(strategy: str, n: int):
    config = IdSpaceConfig(IdKind.CERT, strategy, begin=1, end=4 * n, increment=4 * n,
                           low_water_mark=1, serial_management=True)
    repo = new_repository(config, rng=random.Random(1))
    repo.last = repo.begin - 1 if repo.last is None else repo.last  # cache loaded
    return repo.issue_now


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serials", type=float, default=2e6)
    n = int(parser.parse_args().serials)
    baseline = rate(itertools.count().__next__, n)
    runs = {}
    for strategy in ("legacy", "legacy2", "naive", "random", "dna"):
        serials_per_s = rate(held(strategy, n), n)
        runs[strategy] = {"serials_per_s": round(serials_per_s),
                          "ratio_to_counter": round(serials_per_s / baseline, 3),
                          "meets_target": serials_per_s >= TARGET}
        print(f"{strategy:8s} {serials_per_s:>12,.0f} serials/s  "
              f"{serials_per_s / baseline:5.2f} x itertools.count  "
              f"{'ok' if serials_per_s >= TARGET else 'BELOW TARGET'}")
    print(f"{'counter':8s} {baseline:>12,.0f} calls/s (baseline)")
    write_results(RESULTS, "bench_core", {
        "serials": n, "target_serials_per_s": TARGET,
        "baseline_calls_per_s": round(baseline), "runs": runs})


if __name__ == "__main__":
    main()
