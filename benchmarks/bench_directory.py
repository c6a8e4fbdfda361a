"""How much an issued record, and a DNA publication, cost in the embedded directory.

Adds N certificate records (``cn=<serial>,ou=certificateRepository,ou=ca,...``,
as the simulation writes them) and prints records per second and bytes per
record (CPU time; tracemalloc), next to a plain Python ``set.add`` loop of the
same numbers.  The ratios are what matter; absolute times depend on the machine.

Scenarios:
  1 replica, sequential   one CA issuing last+1 (the SSN/legacy modes)
  1 replica, random       128-bit random serials (RSNv3): the scattered set
  3 replicas, lag 0.5 s   three CAs, each on its own replica and its own range,
                          issuing in turn 1 ms apart (1,000 certificates/s in
                          all), so about 500 changes are in flight per link;
                          every replica ends with all N records
  ... as runs             the same adds in windows of one simulated second
                          (``add_record_runs``, as the SimPy batch makes them):
                          each replica's records travel as one bundle per
                          window; every replica ends with the same records

DNA publications: DNA replaces ``dnaRemainingValues`` on its shared-config
entry at every update-task run.  P publications (20 a second, the replicas in
turn) on 1 and on 3 replicas (lag 0.5 s): the time per publication over the
last tenth against the first tenth (flat when deleted values are forgotten;
it grew linearly before), the same against a directory that never forgets
(run in this process), and how many values the attribute keeps.

    python benchmarks/bench_directory.py            # N = 1,000,000, P = 20,000
    python benchmarks/bench_directory.py -n 200000 -p 5000

Results go to benchmarks/results/bench_directory.json with the machine's details.
"""

from __future__ import annotations

import argparse
import gc
import random
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from machine_info import write_results  # benchmarks/, the script's own folder

from pkisim.directory.memory import ReplicatedDirectory
from pkisim.ids.config import IdKind
from pkisim.ids.protocol import Add, Mod, Modify, ModOp
from pkisim.ids.tree import DogtagTree

RESULTS = Path(__file__).parent / "results" / "bench_directory.json"
TREE = DogtagTree()
RECORDS = TREE.records_dn(IdKind.CERT)
ATTRS = {"objectclass": ("top",)}
STEP = 0.001  # simulated seconds between two issues
WINDOW = 1000  # adds per window of runs: one simulated second
SHARED = "dnaHostname=ca1+dnaPortNum=8443,cn=dna,o=t"
PUBLICATIONS_PER_S = 20.0


def numbers(kind: str, n: int, cas: int) -> list[tuple[int, str]]:
    """(serial, replica) in issue order."""
    if kind == "random":
        rng = random.Random(1)
        return [(rng.getrandbits(128), "ds1") for _ in range(n)]
    per_ca = -(-n // cas)
    return [(ca * 10**9 + 1 + i, f"ds{ca + 1}") for i in range(per_ca) for ca in range(cas)][:n]


def run_directory(issues: list[tuple[int, str]], replicas: int, lag: float) -> Callable[[], int]:
    def run() -> int:
        names = tuple(f"ds{i + 1}" for i in range(replicas))
        directory = ReplicatedDirectory(names, lag=lag)
        directory.bootstrap(TREE.bootstrap([]))
        execute, now = directory.execute, 0.0
        for serial, replica in issues:
            execute(Add(f"cn={serial},{RECORDS}", ATTRS), replica=replica, now=now)
            now += STEP
        directory.settle(now=now + lag)
        run.directory = directory  # type: ignore[attr-defined]
        return len(issues)
    return run


def run_windows(issues: list[tuple[int, str]], replicas: int, lag: float) -> Callable[[], int]:
    """The same adds as :func:`run_directory`, a window of runs at a time."""
    def run() -> int:
        names = tuple(f"ds{i + 1}" for i in range(replicas))
        directory = ReplicatedDirectory(names, lag=lag)
        directory.bootstrap(TREE.bootstrap([]))
        now = 0.0
        for serial, replica in issues[:replicas]:  # each CA's first record, one by one
            directory.execute(Add(f"cn={serial},{RECORDS}", ATTRS), replica=replica, now=now)
            now += STEP
        for start in range(replicas, len(issues), WINDOW):
            window = issues[start:start + WINDOW]
            rows: dict[str, list[int]] = {}
            firsts: dict[str, int] = {}
            for position, (serial, replica) in enumerate(window):
                rows.setdefault(replica, []).append(position)
                firsts.setdefault(replica, serial)
            spans = [(replica, RECORDS, first, first + len(rows[replica]) - 1)
                     for replica, first in firsts.items()]
            assert directory.can_add_records(spans, {RECORDS: lambda n: ATTRS})
            directory.add_record_runs([(replica, RECORDS, firsts[replica], positions)
                                       for replica, positions in rows.items()],
                                      [now + i * STEP for i in range(len(window))])
            now += len(window) * STEP
        directory.settle(now=now + lag)
        run.directory = directory  # type: ignore[attr-defined]
        return len(issues)
    return run


def run_commands(issues: list[tuple[int, str]]) -> Callable[[], int]:
    """Only building the Add commands (part of the directory's figure)."""
    def run() -> int:
        for serial, _ in issues:
            Add(f"cn={serial},{RECORDS}", ATTRS)
        return len(issues)
    return run


def run_set(issues: list[tuple[int, str]]) -> Callable[[], int]:
    def run() -> int:
        seen: set[int] = set()
        add = seen.add
        for serial, _ in issues:
            add(serial + 0)  # a fresh int object, as the directory parses its own from the DN
        run.directory = seen  # type: ignore[attr-defined]
        return len(issues)
    return run


def timed(runs: list[Callable[[], int]], repeat: int) -> list[float]:
    """Records per CPU second of each run: the best of ``repeat`` interleaved
    tries (CPU time and the best try, because the machine may be shared)."""
    best = [0.0] * len(runs)
    for _ in range(repeat):
        for i, run in enumerate(runs):
            gc.collect()
            start = time.process_time()
            count = run()
            best[i] = max(best[i], count / (time.process_time() - start))
    return best


def traced(run: Callable[[], int]) -> float:
    """Bytes still allocated per record once the run is over (the structure itself)."""
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    count = run()
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    run.directory = None  # type: ignore[attr-defined]
    return used / count


def publish(replicas: int, lag: float, count: int, forget: bool) -> dict[str, float]:
    """``count`` DNA publications, the replicas in turn: CPU microseconds per
    publication over the first and the last tenth, and the values kept."""
    names = tuple(f"ds{i + 1}" for i in range(replicas))
    directory = ReplicatedDirectory(names, lag=lag)
    if not forget:  # the reference: nothing is ever pruned or purged
        directory._prune = lambda entry, mods: None  # type: ignore[method-assign]
        directory._purge = lambda: None  # type: ignore[method-assign]
    directory.bootstrap([Add("o=t", {"o": "t"}), Add("cn=dna,o=t", {"cn": "dna"}),
                         Add(SHARED, {"objectClass": "dnaSharedConfig",
                                      "dnaRemainingValues": str(10**9)})])
    tenth = max(1, count // 10)
    times = []
    gc.collect()
    start = time.process_time()
    for i in range(count):
        command = Modify(SHARED, (Mod(ModOp.REPLACE, "dnaRemainingValues", (str(10**9 - i),)),))
        directory.execute(command, replica=names[i % replicas], now=i / PUBLICATIONS_PER_S)
        if (i + 1) % tenth == 0:
            times.append(time.process_time() - start)
            start = time.process_time()
    attrs = [r.entries[SHARED.lower()].attrs["dnaremainingvalues"] for r in directory._replicas]
    return {"first_tenth_us": 1e6 * times[0] / tenth, "last_tenth_us": 1e6 * times[-1] / tenth,
            "values_kept": max(len(attr.values) for attr in attrs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=1_000_000, help="records per scenario")
    parser.add_argument("-p", type=int, default=20_000, help="DNA publications per scenario")
    parser.add_argument("-r", "--repeat", type=int, default=3, help="tries; the best counts")
    args = parser.parse_args()
    n = args.n
    results: dict[str, object] = {"records": n, "publications": args.p, "repeat": args.repeat}
    print(f"{n:,} record adds per scenario, best of {args.repeat}\n")
    print(f"{'scenario':28} {'records/s':>12} {'x set.add':>10} {'bytes/record':>13} "
          f"{'set bytes':>10}")
    scenarios: dict[str, dict[str, float]] = {}
    finals = {}
    for label, kind, replicas, lag, make in (
            ("1 replica, sequential", "sequential", 1, 0.0, run_directory),
            ("1 replica, random 128-bit", "random", 1, 0.0, run_directory),
            ("3 replicas, lag 0.5 s", "sequential", 3, 0.5, run_directory),
            ("3 replicas, lag 0.5 s, runs", "sequential", 3, 0.5, run_windows)):
        issues = numbers(kind, n, replicas)
        directory, baseline = make(issues, replicas, lag), run_set(issues)
        rate, set_rate = timed([directory, baseline], args.repeat)
        check = directory.directory  # type: ignore[attr-defined]
        assert check.converged() and len(check.numbers("ds1", RECORDS)) == n
        finals[label] = [check.numbers(name, RECORDS) for name in check.replicas]
        del check
        directory.directory = None  # type: ignore[attr-defined]
        size, set_size = traced(directory), traced(baseline)
        scenarios[label] = {"records_per_s": round(rate), "set_add_per_s": round(set_rate),
                            "x_set_add": round(set_rate / rate, 2),
                            "bytes_per_record": round(size, 1), "set_bytes": round(set_size, 1)}
        print(f"{label:28} {rate:12,.0f} {set_rate / rate:9.1f}x {size:13.1f} {set_size:10.1f}")
    assert finals["3 replicas, lag 0.5 s, runs"] == finals["3 replicas, lag 0.5 s"]
    speedup = (scenarios["3 replicas, lag 0.5 s, runs"]["records_per_s"]
               / scenarios["3 replicas, lag 0.5 s"]["records_per_s"])
    print(f"\nRuns against the same adds one by one (3 replicas): {speedup:.1f}x faster, "
          "same records on every replica.")
    issues = numbers("sequential", n, 1)
    commands = timed([run_commands(issues)], args.repeat)[0]
    print(f"Building the Add commands alone: {commands:,.0f}/s (included above).")
    print("bytes/record: memory still allocated after the run, per record; for 3 replicas "
          "it counts all three copies.")
    results.update(scenarios=scenarios, runs_speedup_vs_one_by_one=round(speedup, 2),
                   add_commands_per_s=round(commands))
    # DNA publications
    count = args.p
    reference = max(1, count // 4)  # never forgetting is quadratic: fewer
    print(f"\n{count:,} DNA publications (REPLACE dnaRemainingValues, "
          f"{PUBLICATIONS_PER_S:.0f}/s, replicas in turn)\n")
    print(f"{'scenario':34} {'first us':>9} {'last us':>9} {'last/first':>10} {'values':>7}")
    dna: dict[str, dict[str, float]] = {}
    for replicas, lag in ((1, 0.0), (3, 0.5)):
        for forget, label, size in ((True, "forgets", count), (False, "never forgets", reference)):
            name = f"{replicas} replica{'s' * (replicas > 1)}, {label} ({size:,})"
            got = publish(replicas, lag, size, forget)
            got["last_over_first"] = got["last_tenth_us"] / got["first_tenth_us"]
            dna[name] = {key: round(value, 2) for key, value in got.items()}
            print(f"{name:34} {got['first_tenth_us']:9.1f} {got['last_tenth_us']:9.1f} "
                  f"{got['last_over_first']:10.2f} {got['values_kept']:7.0f}")
    results["dna_publications"] = dna
    print("first/last us: CPU microseconds per publication over the first and the last tenth.")
    write_results(RESULTS, "bench_directory", results)


if __name__ == "__main__":
    main()
