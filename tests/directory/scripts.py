"""Random scripts against the embedded directory: one topology, then steps
(writes, faults, deliveries, looks that pull, and windows of record runs),
played on several directories at once and compared after every step."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from hypothesis import strategies as st

from pkisim.directory.memory import ReplicatedDirectory
from pkisim.ids import protocol as p
from pkisim.ids.protocol import Mod, ModOp
from tests.directory.test_memory import COUNTER, RANGES, RECORDS, TOP, cas, pki_range, record, tree

REQUESTS = "ou=requests,ou=ca,o=t"
CONTAINERS = (RECORDS, REQUESTS)
ATTRS = {base: (lambda n: dict(TOP)) for base in CONTAINERS}
NUMBERS = st.integers(1, 30)


def world(names: Sequence[str], lag: float | None) -> ReplicatedDirectory:
    directory = ReplicatedDirectory(names, lag=lag)
    directory.bootstrap([*tree(), p.Add(REQUESTS, {"ou": "requests"})])
    for base in CONTAINERS:  # the first record sets the container's record shape
        directory.execute(p.Add(f"cn=1000,{base}", TOP), replica=names[0], now=0.0)
    directory.settle(now=0.0)
    return directory


@st.composite
def topology(draw: st.DrawFn) -> tuple[tuple[str, ...], float | None]:
    names = tuple(f"ds{i + 1}" for i in range(draw(st.integers(2, 4))))
    return names, draw(st.sampled_from([0.0, 0.3, 1.0, 1.0, None]))


@st.composite
def window(draw: st.DrawFn, names: Sequence[str]) -> tuple:
    """Runs of records on some replicas, interleaved in lane order, with the
    time steps between consecutive adds."""
    runs = [(draw(st.sampled_from(names)), draw(st.sampled_from(CONTAINERS)), draw(NUMBERS),
             draw(st.integers(1, 9))) for _ in range(draw(st.integers(1, 3)))]
    labels = [i for i, run in enumerate(runs) for _ in range(run[3])]
    order = draw(st.permutations(labels))
    gaps = draw(st.lists(st.sampled_from([0.0, 0.0, 0.05, 0.2, 0.7]), min_size=len(labels),
                         max_size=len(labels)))
    return ("window", tuple(runs), tuple(order), tuple(gaps))


def steps(names: Sequence[str], windows: bool = True) -> st.SearchStrategy[tuple]:
    name = st.sampled_from(names)
    record = st.tuples(st.just("record"), name, NUMBERS, st.sampled_from(CONTAINERS))
    choices = [
        record, record, record, record,
        st.tuples(st.just("revoke"), name, NUMBERS),
        st.tuples(st.just("drop_record"), name, NUMBERS),
        st.tuples(st.just("cas"), name, st.sampled_from(["20", "30", "40"])),
        st.tuples(st.just("add_value"), name, st.sampled_from(["20", "30", "40"])),
        st.tuples(st.just("delete_value"), name, st.sampled_from(["13", "20", "30"])),
        st.tuples(st.just("remaining"), name, st.integers(0, 9)),
        st.tuples(st.just("range"), name, st.integers(1, 3)),
        st.tuples(st.just("drop_range"), name, st.integers(1, 3)),
        st.tuples(st.just("drop_conflict"), name, st.integers(0, 3)),
        st.tuples(st.just("look"), name, st.just(0)),
        st.tuples(st.just("look"), name, st.just(0)),
        st.tuples(st.just("deliver"), name, name, st.sampled_from([1, 3, None])),
        st.tuples(st.just("deliver"), name, name, st.sampled_from([1, 3, None])),
        st.tuples(st.just("lag"), name, name, st.sampled_from([None, 0.0, 0.5, 3.0])),
        st.tuples(st.just("cut"), name, name),
        st.tuples(st.just("heal"), name, name),
        st.tuples(st.just("down"), name, st.just(0)),
        st.tuples(st.just("up"), name, st.just(0)),
        st.tuples(st.just("partition"), name, st.just(0)),
        st.tuples(st.just("heal_all"), name, st.just(0)),
    ]
    if windows:
        choices += [window(names)] * 4
    return st.one_of(choices)


gap = st.sampled_from([0.0, 0.0, 0.1, 0.25, 0.6, 2.0])


def lane(step: tuple, now: float) -> tuple[list[tuple[str, str, int, list[int]]], list[float]]:
    """A window's runs (replica, base, first, lane positions) and the lane's times."""
    _, runs, order, gaps = step
    positions: list[list[int]] = [[] for _ in runs]
    times = []
    for position, (label, dt) in enumerate(zip(order, gaps, strict=True)):
        now += dt
        positions[label].append(position)
        times.append(now)
    return [(replica, base, first, positions[i])
            for i, (replica, base, first, _) in enumerate(runs)], times


def one_by_one(directory: ReplicatedDirectory, runs: list, times: list[float]) -> None:
    """A window's adds as the lane makes them: ``execute`` of each ``Add``."""
    adds = sorted((position, replica, base, first + rank) for replica, base, first, positions
                  in runs for rank, position in enumerate(positions))
    for position, replica, base, n in adds:
        directory.execute(record(n) if base == RECORDS else p.Add(f"cn={n},{base}", TOP),
                          replica=replica, now=times[position])


def play(directory: ReplicatedDirectory, step: tuple, now: float,
         window_adds: Callable[[ReplicatedDirectory, list, list[float]], None] | None = None
         ) -> float:
    """One step at ``now``; returns the time after it (a window takes time)."""
    kind, name, *args = step
    if kind == "window":
        runs, times = lane(step, now)
        spans = [(replica, base, first, first + len(positions) - 1)
                 for replica, base, first, positions in runs]
        if window_adds is not None and directory.can_add_records(spans, ATTRS):
            window_adds(directory, runs, times)
        else:
            one_by_one(directory, runs, times)
        return times[-1]
    arg = args[0]
    command: p.Command | None = None
    if kind == "record":
        command = p.Add(f"cn={arg},{args[1]}", TOP)
    elif kind == "revoke":
        command = p.Modify(f"cn={arg},{RECORDS}",
                           (Mod(ModOp.REPLACE, "certStatus", (f"REVOKED-{name}",)),))
    elif kind == "drop_record":
        command = p.Delete(f"cn={arg},{RECORDS}")
    elif kind == "cas":
        values = (directory.entry(name, COUNTER, now=now) or {}).get("nextrange", ())
        command = cas(values[0], arg) if values else p.Read(COUNTER)
    elif kind == "add_value":
        command = p.Modify(COUNTER, (Mod(ModOp.ADD, "nextRange", (arg,)),))
    elif kind == "delete_value":
        command = p.Modify(COUNTER, (Mod(ModOp.DELETE, "nextRange", (arg,)),))
    elif kind == "remaining":  # DNA's dnaRemainingValues: one REPLACE per publication
        command = p.Modify(COUNTER, (Mod(ModOp.REPLACE, "description", (f"{name}-{arg}",)),))
    elif kind == "range":
        command = pki_range(arg, name)
    elif kind == "drop_range":
        command = p.Delete(f"cn={arg},{RANGES}")
    elif kind == "drop_conflict":
        hits = directory.execute(p.Search(RANGES, {"nsds5ReplConflict": "*"}),
                                 replica=name, now=now).entries
        command = p.Delete(hits[arg % len(hits)][0]) if hits else None
    elif kind == "look":
        directory.entries(name, now=now)  # pulls what has arrived
    elif kind == "deliver":
        if name != arg:
            directory.deliver(name, arg, now=now, count=args[1])
    elif kind in ("lag", "cut", "heal"):
        if name != arg:
            if kind == "lag":
                directory.set_lag(name, arg, args[1], now=now)
            else:
                getattr(directory, kind)(name, arg, now=now)
    elif kind == "partition":
        directory.partition([[name]], now=now)
    elif kind == "heal_all":
        directory.heal_all(now=now)
    else:
        getattr(directory, kind)(name, now=now)
    if command is not None:
        directory.execute(command, replica=name, now=now)
    return now


def observe(directory: ReplicatedDirectory) -> dict[str, Any]:
    """Everything a client or an operator can see, without pulling anything."""
    names = directory.replicas
    return {
        "entries": {name: directory.entries(name) for name in names},
        "numbers": {(name, base): directory.numbers(name, base)
                    for name in names for base in CONTAINERS},
        "pending": {(src, dst): directory.pending(src, dst)
                    for src in names for dst in names if src != dst},
        "conflicts": [(c.dn, c.kept_csn, c.renamed_dn, c.replica, c.time)
                      for c in directory.conflicts],
        "next_csn": (directory._time, directory._seq),
    }
