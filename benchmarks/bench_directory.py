"""How much an issued record costs in the embedded directory.

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

    python benchmarks/bench_directory.py            # N = 1,000,000
    python benchmarks/bench_directory.py -n 200000
"""

from __future__ import annotations

import argparse
import gc
import random
import time
import tracemalloc
from collections.abc import Callable

from pkisim.directory.memory import ReplicatedDirectory
from pkisim.ids.config import IdKind
from pkisim.ids.protocol import Add
from pkisim.ids.tree import DogtagTree

TREE = DogtagTree()
RECORDS = TREE.records_dn(IdKind.CERT)
ATTRS = {"objectclass": ("top",)}
STEP = 0.001  # simulated seconds between two issues


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=1_000_000, help="records per scenario")
    parser.add_argument("-r", "--repeat", type=int, default=3, help="tries; the best counts")
    args = parser.parse_args()
    n = args.n
    print(f"{n:,} record adds per scenario, best of {args.repeat}\n")
    print(f"{'scenario':28} {'records/s':>12} {'x set.add':>10} {'bytes/record':>13} "
          f"{'set bytes':>10}")
    for label, kind, replicas, lag in (("1 replica, sequential", "sequential", 1, 0.0),
                                       ("1 replica, random 128-bit", "random", 1, 0.0),
                                       ("3 replicas, lag 0.5 s", "sequential", 3, 0.5)):
        issues = numbers(kind, n, replicas)
        directory, baseline = run_directory(issues, replicas, lag), run_set(issues)
        rate, set_rate = timed([directory, baseline], args.repeat)
        check = directory.directory  # type: ignore[attr-defined]
        assert check.converged() and len(check.numbers("ds1", RECORDS)) == n
        del check
        directory.directory = None  # type: ignore[attr-defined]
        size, set_size = traced(directory), traced(baseline)
        print(f"{label:28} {rate:12,.0f} {set_rate / rate:9.1f}x {size:13.1f} {set_size:10.1f}")
    issues = numbers("sequential", n, 1)
    commands = timed([run_commands(issues)], args.repeat)[0]
    print(f"\nBuilding the Add commands alone: {commands:,.0f}/s (included above).")
    print("bytes/record: memory still allocated after the run, per record; for 3 replicas "
          "it counts all three copies.")


if __name__ == "__main__":
    main()
