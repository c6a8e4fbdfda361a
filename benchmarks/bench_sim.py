"""How fast and how lean is the SimPy world?

Two numbers, side by side with SimPy's own limit:

* simulated certificate issuances per second of wall time in the steady-state
  scenario (1 master + 3 clones, ``legacy2``, one directory replica, enrollments
  only), against a bare SimPy loop that schedules the same number of timeout
  events (one process yielding ``env.timeout`` once per issuance).  Target: at
  least 0.4 of the bare loop's rate.
* peak resident memory of a whole run (simulation, result tables and the
  checkers' verdict) in a fresh subprocess.  Target: <= 1 GB for ten million
  issuances (``--ten-million``).  From a million issuances on the memory run
  uses ``[metrics] requests = "aggregate"`` (rows only for attempts that did
  not end ok; the summary is the same) and says so; ``--requests full`` forces
  one row per attempt (~40 bytes each: about 1.4 GB at ten million).

Beside them, for honesty, the same ratio for ``scenarios/steady-state.toml``
as shipped (a replica per CA, revocations, CRL fetches, a daily profile): the
batched windows mostly decline there and the event lane does the work.

    python benchmarks/bench_sim.py                  # 200,000 issuances, ~15 s
    python benchmarks/bench_sim.py --issuances 1e6
    python benchmarks/bench_sim.py --ten-million    # speed at 1e6, memory at 1e7 (~1 min)

The speed runs use the default (batched quiet windows, ``pkisim.sim.batch``)
and the full requests table.  The machine is shared (2 cores, other engineers'
jobs): the model and the bare loop run alternately in the same process and
the best of ``--repeat`` runs of each counts, so contention mostly cancels in
the ratio, but single numbers move by 10-20 % from run to run.  Results go to
benchmarks/results/bench_sim.json (one entry per size).  Wall-clock time is
measured here, in the benchmark, never inside the simulation.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import simpy

try:
    from machine_info import write_results  # benchmarks/, the script's own folder
except ImportError:  # imported as benchmarks.bench_sim
    from benchmarks.machine_info import write_results

from pkisim.scenario import load_scenario
from pkisim.sim import CaSpec, DirectorySpec, Scenario, Simulation, Workload

RATE = 40.0  # enrollments per second across the topology (each CA ~60 % busy)
RESULTS = Path(__file__).parent / "results" / "bench_sim.json"


def steady_state(issuances: int, requests_table: str = "full") -> Scenario:
    clones = tuple(CaSpec(f"ca{i}", "ds1", donor="ca1") for i in (2, 3, 4))
    return Scenario("bench-steady", duration=issuances / RATE,
                    cas=(CaSpec("ca1", "ds1", role="master"), *clones),
                    directory=DirectorySpec(("ds1",)), workload=Workload(enroll_rate=RATE),
                    requests_table=requests_table)


def bare_loop(events: int) -> float:
    """Seconds SimPy needs to process ``events`` timeouts from one process."""

    def clock(env: simpy.Environment) -> simpy.events.ProcessGenerator:
        for _ in range(events):
            yield env.timeout(1.0 / RATE)

    env = simpy.Environment()
    env.process(clock(env))
    start = time.perf_counter()
    env.run()
    return time.perf_counter() - start


def model(issuances: int, requests_table: str = "full") -> dict[str, float]:
    simulation = Simulation(steady_state(issuances, requests_table), seed=1)
    start = time.perf_counter()
    result = simulation.run()
    total = time.perf_counter() - start
    issued = result.summary()["issued"]
    return {"issued": issued, "seconds": total,
            "lane_events": result.stats["lane_events"],
            "windows": simulation.batch.windows if simulation.batch is not None else 0,
            "history_rows": result.history.issue_rows,
            "history_mb": result.history.nbytes / 2**20,
            "requests_mb": result.requests.memory_usage(index=False).sum() / 2**20}


def memory(issuances: int, requests_table: str) -> dict[str, float]:
    """Run the model in a fresh interpreter and read its peak RSS."""
    code = (f"import json, resource, sys; sys.path[:0] = {sys.path!r}; "
            f"from benchmarks.bench_sim import model; "
            f"out = model({issuances}, {requests_table!r}); "
            "out['maxrss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024; "
            "print(json.dumps(out))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def speed(n: int, repeat: int) -> dict[str, float]:
    """Best of ``repeat`` runs of the model and of the bare loop, interleaved
    (the machine is shared: the best run is the least disturbed one)."""
    runs, bares = [], []
    for _ in range(repeat):
        runs.append(model(n))
        bares.append(bare_loop(int(runs[-1]["issued"])))
    ours = min(runs, key=lambda r: r["seconds"])
    bare = min(bares)
    return {**ours, "bare_seconds": bare, "issuances_per_s": ours["issued"] / ours["seconds"],
            "bare_timeouts_per_s": ours["issued"] / bare, "ratio": bare / ours["seconds"],
            "repeat": repeat, "all_seconds": [r["seconds"] for r in runs], "all_bare": bares}


def shipped(repeat: int) -> dict[str, float]:
    """The same ratio for scenarios/steady-state.toml as shipped: one directory
    replica per CA, revocations, CRL fetches and a daily profile, where the
    batched windows mostly decline and the event lane does the work."""
    scenario = load_scenario(Path(__file__).resolve().parents[1] / "scenarios"
                             / "steady-state.toml")
    times, bares, issued = [], [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        issued = Simulation(scenario).run().summary()["issued"]
        times.append(time.perf_counter() - start)
        bares.append(bare_loop(issued))
    return {"issued": issued, "seconds": min(times), "bare_seconds": min(bares),
            "ratio": min(bares) / min(times)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--issuances", type=float, default=200_000)
    parser.add_argument("--ten-million", action="store_true",
                        help="the memory target: a run of 10,000,000 issuances")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--repeat", type=int, default=3, help="speed runs (best counts)")
    parser.add_argument("--requests", choices=("full", "aggregate"), default=None,
                        help="requests table of the memory run (default: aggregate from "
                             "1,000,000 issuances on, full below)")
    args = parser.parse_args(argv)
    n = 10_000_000 if args.ten_million else int(args.issuances)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}

    ours = speed(min(n, 1_000_000), args.repeat)
    print(f"steady state, {int(ours['issued']):,} certificates "
          f"({int(ours['history_rows']):,} history rows, "
          f"{int(ours['lane_events']):,} fast-lane events in {int(ours['windows']):,} "
          f"batched windows), best of {args.repeat}")
    print(f"  pkisim       {ours['issuances_per_s']:12,.0f} issuances/s  "
          f"({ours['seconds']:.2f} s, tables and checkers included)")
    print(f"  bare SimPy   {ours['bare_timeouts_per_s']:12,.0f} timeouts/s   "
          f"({ours['bare_seconds']:.2f} s)")
    print(f"  ratio        {ours['ratio']:12.3f}   (target >= 0.4)")
    results[f"speed_{int(min(n, 1_000_000))}"] = ours
    file = shipped(args.repeat)
    print(f"  scenarios/steady-state.toml as shipped (4 replicas, revocations, CRL fetches): "
          f"ratio {file['ratio']:.3f} ({file['issued']:,} certificates in "
          f"{file['seconds']:.2f} s; the batch declines most windows there)")
    results["speed_shipped_steady_state"] = file
    if not args.skip_memory:
        table = args.requests or ("aggregate" if n >= 1_000_000 else "full")
        mem = memory(n, table)
        print(f"peak memory, {int(mem['issued']):,} certificates, requests table {table}: "
              f"{mem['maxrss_mb']:,.0f} MB (target <= 1024 MB for 10,000,000)  "
              f"[{mem['seconds']:.0f} s]")
        print(f"  of which the history's columns {mem['history_mb']:,.0f} MB, "
              f"the requests table {mem['requests_mb']:,.0f} MB")
        results[f"memory_{n}_{table}"] = {**mem, "requests_table": table}
    write_results(RESULTS, "bench_sim", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
