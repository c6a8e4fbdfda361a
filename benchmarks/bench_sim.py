"""How fast and how lean is the SimPy world, where users meet it?

* Every shipped scenario (``scenarios/*.toml``), as shipped: simulated
  certificate issuances per second of wall time against a bare SimPy loop that
  schedules as many timeout events (one process yielding ``env.timeout`` once
  per issuance), in the same process, alternately, best of ``--repeat``.
  Target: every scenario >= 0.4 of the bare loop's rate.
* The benchmark's own steady state (1 master + 3 clones, ``legacy2``, one
  directory replica, enrollments only) at ``--issuances``: the batched windows'
  best case, kept beside the scenarios for comparison (it is not a target).
* ``--year-at-scale [DAYS]``: ``scenarios/year-at-scale.toml`` (36.5 million
  issuances in a year): the first DAYS simulated days (default: all 365), wall
  time and the extrapolation to a year.  Target: a year in <= 60 s and <= 1 GB.
* ``--moonshot [HOURS]``: the issue's moonshot, a year at 1,000,000
  certificates a day on 8 CAs and 8 replicas (365 million issuances): the
  year-at-scale scenario with four more clones on four more replicas and ten
  times the rates, its first HOURS simulated hours (default 24) in a fresh
  subprocess: wall time, the extrapolation to a year, and that run's peak
  memory (a year's peak is not measured).  Target: a year in <= 10 minutes
  and <= 2 GB; reported as far as it gets.
* Peak resident memory of a whole run in a fresh subprocess (``--ten-million``:
  ten million issuances; target <= 1 GB).  From a million issuances on the
  memory run uses ``[metrics] requests = "aggregate"``.

    python benchmarks/bench_sim.py                   # the scenarios + 200,000 issuances
    python benchmarks/bench_sim.py --year-at-scale 7
    python benchmarks/bench_sim.py --ten-million     # memory at 1e7
    python benchmarks/bench_sim.py --moonshot 24 --skip-scenarios --skip-steady --skip-memory
    python benchmarks/bench_sim.py --quick --skip-steady --skip-memory --repeat 1

The machine is shared (2 cores, other engineers' jobs): the model and the bare
loop run alternately in the same process and the best of ``--repeat`` runs of
each counts, so contention mostly cancels in the ratio.  Both the wall-clock
ratio and the CPU-time ratio (``time.process_time`` of the model against the
bare loop's) are reported; under heavy load the CPU one is the steadier.
Results go to
benchmarks/results/bench_sim.json with the machine and its load.  Wall-clock
time is measured here, never inside the simulation.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import subprocess
import sys
import time
from collections.abc import Callable
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


def bare_loop(events: int, clock: Callable[[], float] = time.perf_counter) -> float:
    """Seconds SimPy needs to process ``events`` timeouts from one process
    (wall time, or the process's CPU time with ``clock=time.process_time``)."""

    def ticks(env: simpy.Environment) -> simpy.events.ProcessGenerator:
        for _ in range(events):
            yield env.timeout(1.0 / RATE)

    env = simpy.Environment()
    env.process(ticks(env))
    start = clock()
    env.run()
    return clock() - start


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


SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


def scenario_speed(path: Path, repeat: int, overrides: dict[str, object] | None = None,
                   ) -> dict[str, float]:
    """One scenario file as shipped (or with ``overrides``): its issuances per
    second against the bare loop's timeouts per second, best of ``repeat``."""
    scenario = load_scenario(path, overrides=overrides)
    times, cpus, bares, bare_cpus, issued = [], [], [], [], 0
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        issued = Simulation(scenario).run().summary()["issued"]
        times.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
        bares.append(bare_loop(issued))
        bare_cpus.append(bare_loop(issued, time.process_time))
    best, bare, cpu, bare_cpu = min(times), min(bares), min(cpus), min(bare_cpus)
    # on a loaded machine the CPU times are the steadier measure of the two
    return {"issued": issued, "seconds": best, "issuances_per_s": issued / best,
            "bare_seconds": bare, "ratio": bare / best, "cpu_seconds": cpu,
            "bare_cpu_seconds": bare_cpu, "ratio_cpu": bare_cpu / cpu,
            "issuances_per_cpu_s": issued / cpu}


#: ``--quick``: how much of each shipped scenario runs (simulated days).
QUICK_DAYS = {"capacity-year": 60, "steady-state": 3}


def shipped(repeat: int, quick: bool = False) -> dict[str, dict[str, float]]:
    """Every shipped scenario except the year at scale (measured on its own);
    ``quick``: the long ones shortened (:data:`QUICK_DAYS`)."""
    out = {}
    print(f"{'scenario':20s} {'issued':>12s} {'issuances/s':>12s} {'ratio':>7s} "
          f"{'cpu ratio':>9s}  (target >= 0.4)")
    for path in sorted(SCENARIOS.glob("*.toml")):
        if path.stem == "year-at-scale":
            continue
        days = QUICK_DAYS.get(path.stem) if quick else None
        row = scenario_speed(path, repeat, {"duration": f"{days}d"} if days else None)
        out[path.stem] = {**row, "days": days} if days else row
        print(f"{path.stem:20s} {int(row['issued']):12,d} {row['issuances_per_s']:12,.0f} "
              f"{row['ratio']:7.3f} {row['ratio_cpu']:9.3f}"
              f"{'' if row['ratio_cpu'] >= 0.4 else '  MISS'}")
    return out


def year_at_scale(days: int) -> dict[str, float]:
    """The first ``days`` of scenarios/year-at-scale.toml, once, and a year extrapolated."""
    row = scenario_speed(SCENARIOS / "year-at-scale.toml", 1,
                         {"duration": f"{days}d"} if days < 365 else None)
    year = row["seconds"] * 365 / days
    year_cpu = row["cpu_seconds"] * 365 / days
    print(f"year-at-scale, {days} d: {int(row['issued']):,} issuances in {row['seconds']:.1f} s "
          f"({row['cpu_seconds']:.1f} s CPU; ratio {row['ratio']:.3f}, CPU {row['ratio_cpu']:.3f});"
          f" a year: ~{year:,.0f} s, ~{year_cpu:,.0f} s CPU (target <= 60 s)")
    return {**row, "days": days, "year_seconds_estimate": year,
            "year_cpu_seconds_estimate": year_cpu}


def moonshot_scenario(hours: float) -> Scenario:
    """year-at-scale grown to the moonshot: 8 CAs on 8 replicas (clones
    installed one after another, as the first three), ten times the rates,
    the first ``hours`` simulated hours."""
    base = load_scenario(SCENARIOS / "year-at-scale.toml")
    clone = base.cas[1]
    extra = tuple(dataclasses.replace(clone, name=f"ca{i}", replica=f"ds{i}",
                                      created_at=clone.created_at + (i - 2) * 720.0)
                  for i in range(5, 9))
    work = base.workload
    workload = dataclasses.replace(work, enroll_rate=work.enroll_rate * 10,
                                   revoke_rate=work.revoke_rate * 10,
                                   crl_fetch_rate=work.crl_fetch_rate * 10,
                                   clients=work.clients * 10)
    directory = dataclasses.replace(base.directory,
                                    replicas=tuple(f"ds{i}" for i in range(1, 9)))
    return dataclasses.replace(base, name="moonshot", duration=hours * 3600.0,
                               cas=base.cas + extra, workload=workload, directory=directory)


def moonshot_run(hours: float) -> dict[str, float]:
    """The moonshot's first ``hours`` in this process: wall and CPU time, peak RSS."""
    import resource

    scenario = moonshot_scenario(hours)
    start, cpu = time.perf_counter(), time.process_time()
    issued = Simulation(scenario).run().summary()["issued"]
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    return {"hours": hours, "issued": issued, "seconds": seconds, "cpu_seconds": cpu_seconds,
            "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def moonshot(hours: float) -> dict[str, float]:
    """:func:`moonshot_run` in a fresh interpreter, and a year extrapolated."""
    code = (f"import json, sys; sys.path[:0] = {sys.path!r}; "
            f"from benchmarks.bench_sim import moonshot_run; "
            f"print(json.dumps(moonshot_run({hours!r})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    row = json.loads(done.stdout.strip().splitlines()[-1])
    scale = 365 * 24 / hours
    row["year_seconds_estimate"] = row["seconds"] * scale
    row["year_cpu_seconds_estimate"] = row["cpu_seconds"] * scale
    print(f"moonshot (8 CAs, 8 replicas, 1,000,000/day), first {hours:g} h: "
          f"{int(row['issued']):,} issuances in {row['seconds']:.1f} s "
          f"({row['cpu_seconds']:.1f} s CPU), peak {row['maxrss_mb']:,.0f} MB; a year: "
          f"~{row['year_seconds_estimate']:,.0f} s (target <= 600 s, 2 GB)")
    return row


def _positive(kind: type[int] | type[float]) -> Callable[[str], float]:
    """An argparse type: a finite number of ``kind`` above zero (else a one-line usage error)."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            value = 0
        if not (value > 0 and math.isfinite(value)):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number above zero")
        return value

    return parse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--issuances", type=float, default=200_000)
    parser.add_argument("--ten-million", action="store_true",
                        help="the memory target: a run of 10,000,000 issuances")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--repeat", type=int, default=3, help="speed runs (best counts)")
    parser.add_argument("--year-at-scale", type=_positive(int), nargs="?", const=365, default=None,
                        metavar="DAYS", help="also run scenarios/year-at-scale.toml (DAYS days)")
    parser.add_argument("--moonshot", type=_positive(float), nargs="?", const=24.0, default=None,
                        metavar="HOURS", help="the moonshot's first HOURS simulated hours")
    parser.add_argument("--skip-scenarios", action="store_true")
    parser.add_argument("--skip-steady", action="store_true",
                        help="skip the benchmark's own steady state")
    parser.add_argument("--quick", action="store_true",
                        help="the long shipped scenarios shortened (capacity-year 60 d, "
                             "steady-state 3 d)")
    parser.add_argument("--requests", choices=("full", "aggregate"), default=None,
                        help="requests table of the memory run (default: aggregate from "
                             "1,000,000 issuances on, full below)")
    args = parser.parse_args(argv)
    n = 10_000_000 if args.ten_million else int(args.issuances)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}

    if not args.skip_steady:
        steady(results, n, args.repeat)
    if not args.skip_scenarios:
        results["scenarios_quick" if args.quick else "scenarios"] = shipped(args.repeat,
                                                                            args.quick)
        results.pop("speed_shipped_steady_state", None)
    if args.year_at_scale:
        results[f"year_at_scale_{args.year_at_scale}d"] = year_at_scale(args.year_at_scale)
    if args.moonshot:
        results[f"moonshot_{args.moonshot:g}h"] = moonshot(args.moonshot)
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


def steady(results: dict, n: int, repeat: int) -> None:
    """The benchmark's own topology (one replica, enrollments only; not a target)."""
    ours = speed(min(n, 1_000_000), repeat)
    print(f"steady state, {int(ours['issued']):,} certificates "
          f"({int(ours['history_rows']):,} history rows, "
          f"{int(ours['lane_events']):,} fast-lane events in {int(ours['windows']):,} "
          f"batched windows), best of {repeat}")
    print(f"  pkisim       {ours['issuances_per_s']:12,.0f} issuances/s  "
          f"({ours['seconds']:.2f} s, tables and checkers included)")
    print(f"  bare SimPy   {ours['bare_timeouts_per_s']:12,.0f} timeouts/s   "
          f"({ours['bare_seconds']:.2f} s)")
    print(f"  ratio        {ours['ratio']:12.3f}")
    results[f"speed_{int(min(n, 1_000_000))}"] = ours
    print("  (the benchmark's own topology: one replica, enrollments only; not a target)")


if __name__ == "__main__":
    sys.exit(main())
