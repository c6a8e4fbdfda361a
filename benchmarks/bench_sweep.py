"""Does a sweep scale?  Parallel efficiency of a 1,000-run sweep on 2 workers.

The sweep: the steady-state scenario (1 master + 3 clones, legacy2) shortened
to six simulated hours (~0.1 s a run), four enrollment rates times 250
replications.  It runs twice in this process: once with 1 worker (every run in
this process, no pool) and once on a pool of 2 processes started beforehand
(the start-up is not timed: a notebook keeps its pool across sweeps).  The two
results must be identical.

    efficiency = t(1 worker) / (2 * t(2 workers))        target: >= 0.9

The machine has 2 cores shared with other jobs: the load average before and
after each phase and the CPU seconds each phase used (this process, plus the
pool's processes for 2 workers) are recorded beside the times, so that a
contended measurement reads as one.  ``cpu_efficiency`` = CPU seconds with 1
worker / CPU seconds with 2 is the overhead of going parallel, whatever the
contention.  Results go to benchmarks/results/bench_sweep.json.

    python benchmarks/bench_sweep.py                 # 1,000 runs, ~2-3 minutes
    python benchmarks/bench_sweep.py --runs 200      # a quick look
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import pandas as pd
from machine_info import write_results  # benchmarks/, the script's own folder

from pkisim.analysis import ProcessExecutor, Sweep, run_sweep, sweep_from_dict

RESULTS = Path(__file__).parent / "results" / "bench_sweep.json"
SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "steady-state.toml"
RATES = ["2000/day", "5000/day", "10000/day", "20000/day"]
TARGET = 0.9


def the_sweep(runs: int) -> Sweep:
    return sweep_from_dict({"scenario": str(SCENARIO), "replications": runs // len(RATES),
                            "seed": 1000, "overrides": {"duration": "6h"},
                            "grid": {"workload.enroll_rate": RATES}}, "bench_sweep")


def timed(sweep: Sweep, **how: object) -> tuple[float, pd.DataFrame, dict[str, float]]:
    load_before = os.getloadavg()[0]
    cpu, start = time.process_time(), time.perf_counter()
    result = run_sweep(sweep, progress=False, **how)  # type: ignore[arg-type]
    seconds = time.perf_counter() - start
    return seconds, result.runs, {"load_1min_before": round(load_before, 2),
                                  "load_1min_after": round(os.getloadavg()[0], 2),
                                  "cpu_seconds": time.process_time() - cpu}


def _pool_cpu(pool: ProcessExecutor) -> float:
    """CPU seconds the pool's processes have used (Linux /proc; forkserver's
    children are not ours, so RUSAGE_CHILDREN does not see them)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pool.pool._processes:  # type: ignore[attr-defined]
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000, help="runs in the sweep (default 1000)")
    args = parser.parse_args()
    sweep = the_sweep(args.runs)
    print(f"sweep: {sweep.runs:,} runs ({len(sweep.points)} points x {sweep.replications})")
    one, runs_one, load_one = timed(sweep, workers=1)
    cpu_one = load_one.pop("cpu_seconds")
    print(f"1 worker:  {one:7.1f} s  ({one / sweep.runs * 1000:.0f} ms a run), "
          f"{cpu_one:.1f} CPU s  {load_one}")
    with ProcessExecutor(2) as pool:
        pool.start()  # the processes and their imports, before the clock starts
        workers = _pool_cpu(pool)
        two, runs_two, load_two = timed(sweep, executor=pool)
        cpu_two = load_two.pop("cpu_seconds") + _pool_cpu(pool) - workers
    print(f"2 workers: {two:7.1f} s, {cpu_two:.1f} CPU s  {load_two}")
    pd.testing.assert_frame_equal(runs_one, runs_two)
    efficiency = one / (2 * two)
    print(f"parallel efficiency t1 / (2 t2) = {efficiency:.3f} (target >= {TARGET}); "
          f"CPU seconds 1 worker / 2 workers = {cpu_one / cpu_two:.3f}; "
          f"share of the 2 cores the 2 workers got = {cpu_two / (2 * two):.2f}")
    write_results(RESULTS, "bench_sweep", {
        "sweep": {"scenario": "steady-state", "duration": "6h", "rates": RATES,
                  "runs": sweep.runs, "points": len(sweep.points),
                  "replications": sweep.replications},
        "seconds_1_worker": round(one, 2), "seconds_2_workers": round(two, 2),
        "ms_per_run_1_worker": round(one / sweep.runs * 1000, 1),
        "cpu_seconds_1_worker": round(cpu_one, 2), "cpu_seconds_2_workers": round(cpu_two, 2),
        "efficiency": round(efficiency, 3), "target": TARGET,
        "cpu_efficiency": round(cpu_one / cpu_two, 3),
        "core_share_2_workers": round(cpu_two / (2 * two), 3),
        "meets_target": efficiency >= TARGET, "identical_results": True,
        "load": {"1_worker": load_one, "2_workers": load_two},
    })


if __name__ == "__main__":  # the pool's processes import this file: run only when asked
    main()
