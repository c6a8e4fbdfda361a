"""How fast and how lean is the SimPy world?

Two numbers, side by side with SimPy's own limit:

* simulated certificate issuances per second of wall time in the steady-state
  scenario (1 master + 3 clones, ``legacy2``, one directory replica, enrollments
  only), against a bare SimPy loop that schedules the same number of timeout
  events (one process yielding ``env.timeout`` once per issuance).  Target: at
  least 0.4 of the bare loop's rate.
* peak resident memory of a whole run (simulation plus result tables) in a
  fresh subprocess.  Target: <= 1 GB for ten million issuances (``--ten-million``).

    python benchmarks/bench_sim.py                  # 200,000 issuances, a few seconds
    python benchmarks/bench_sim.py --issuances 1e6
    python benchmarks/bench_sim.py --ten-million    # the memory target (minutes)

Wall-clock time is measured here, in the benchmark, never inside the simulation.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import simpy

from pkisim.sim import CaSpec, DirectorySpec, Scenario, Simulation, Workload

RATE = 40.0  # enrollments per second across the topology (each CA ~60 % busy)


def steady_state(issuances: int) -> Scenario:
    clones = tuple(CaSpec(f"ca{i}", "ds1", donor="ca1") for i in (2, 3, 4))
    return Scenario("bench-steady", duration=issuances / RATE,
                    cas=(CaSpec("ca1", "ds1", role="master"), *clones),
                    directory=DirectorySpec(("ds1",)), workload=Workload(enroll_rate=RATE))


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


def model(issuances: int) -> dict[str, float]:
    simulation = Simulation(steady_state(issuances), seed=1)
    start = time.perf_counter()
    result = simulation.run()
    total = time.perf_counter() - start
    issued = result.summary()["issued"]
    return {"issued": issued, "seconds": total,
            "lane_events": result.stats["lane_events"],
            "history_rows": result.history.issue_rows,
            "history_mb": result.history.nbytes / 2**20,
            "requests_mb": result.requests.memory_usage(index=False).sum() / 2**20}


def memory(issuances: int) -> dict[str, float]:
    """Run the model in a fresh interpreter and read its peak RSS."""
    code = (f"import json, resource, sys; sys.path[:0] = {sys.path!r}; "
            f"from benchmarks.bench_sim import model; out = model({issuances}); "
            "out['maxrss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024; "
            "print(json.dumps(out))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--issuances", type=float, default=200_000)
    parser.add_argument("--ten-million", action="store_true",
                        help="the memory target: a run of 10,000,000 issuances")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args(argv)
    n = 10_000_000 if args.ten_million else int(args.issuances)

    speed_n = min(n, 1_000_000)
    ours = model(speed_n)
    bare = bare_loop(int(ours["issued"]))
    ours_rate = ours["issued"] / ours["seconds"]
    bare_rate = ours["issued"] / bare
    print(f"steady state, {int(ours['issued']):,} certificates "
          f"({int(ours['history_rows']):,} history rows, "
          f"{int(ours['lane_events']):,} fast-lane events)")
    print(f"  pkisim       {ours_rate:12,.0f} issuances/s  "
          f"({ours['seconds']:.2f} s, tables included)")
    print(f"  bare SimPy   {bare_rate:12,.0f} timeouts/s   ({bare:.2f} s)")
    print(f"  ratio        {ours_rate / bare_rate:12.3f}   (target >= 0.4)")
    if not args.skip_memory:
        mem = memory(n)
        print(f"peak memory, {int(mem['issued']):,} certificates: {mem['maxrss_mb']:,.0f} MB "
              f"(target <= 1024 MB for 10,000,000)  [{mem['seconds']:.0f} s]")
        print(f"  of which the history's columns {mem['history_mb']:,.0f} MB, "
              f"the requests table {mem['requests_mb']:,.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
