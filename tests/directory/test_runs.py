"""Record runs (pkisim/directory/runs.py) against the same adds one by one.

A window's records added with ``add_record_runs`` travel as bundles and are
applied as blocks; the reference adds them with ``execute`` of each ``Add`` in
lane order.  Random topologies (2 to 4 replicas, lag or manual delivery),
random writes that meet the runs' numbers (naming conflicts with records still
in flight, revocations parked until their record arrives, deletes), faults
(lag changes, cut links, partitions, replicas down) and deliveries: after
every step, every replica must show the same entries, numbers and pending
changes per link, and the directory the same naming conflicts and next CSN.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pkisim.directory.bundles import Bundle, Transit
from pkisim.directory.memory import ReplicatedDirectory
from pkisim.ids import protocol as p
from pkisim.ids.protocol import Mod, ModOp
from tests.directory.scripts import (
    ATTRS,
    REQUESTS,
    gap,
    observe,
    one_by_one,
    play,
    steps,
    topology,
    world,
)
from tests.directory.test_memory import COUNTER, RECORDS, TOP, record


def runs_at_once(directory: ReplicatedDirectory, runs: list, times: list[float]) -> None:
    directory.add_record_runs(runs, times)


def sequence(directory: ReplicatedDirectory, runs: list, times: list[float]) -> None:
    adds = sorted((position, replica, base, first + rank) for replica, base, first, positions
                  in runs for rank, position in enumerate(positions))
    directory.add_record_sequence((replica, base, n, times[position])
                                  for position, replica, base, n in adds)


def draw_script(data: st.DataObject, names: tuple[str, ...], size: int) -> list[tuple]:
    """Steps; after a window, often a write that meets one of its records
    (the same number added, or the record revoked, on some replica)."""
    script = []
    for _ in range(size):
        step = data.draw(steps(names))
        script.append((step, data.draw(gap)))
        if step[0] == "window" and data.draw(st.booleans()):
            _, base, first, count = data.draw(st.sampled_from(step[1]))
            n = first + data.draw(st.integers(0, count - 1))
            name = data.draw(st.sampled_from(names))
            echo = ("record", name, n, base) if data.draw(st.booleans()) else ("revoke", name, n)
            script.append((echo, data.draw(gap)))
    return script


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_record_runs_are_the_adds_one_by_one_at_every_step(data):
    names, lag = data.draw(topology())
    script = draw_script(data, names, data.draw(st.integers(1, 40)))
    reference, runs, seq = world(names, lag), world(names, lag), world(names, lag)
    now = 0.0
    for step, dt in script:
        now += dt
        after = play(reference, step, now, one_by_one)
        assert play(runs, step, now, runs_at_once) == after
        play(seq, step, now, sequence)
        now = after
        expected = observe(reference)
        assert observe(runs) == expected, step
        assert observe(seq) == expected, step
    for directory in (reference, runs):
        directory.heal_all(now=now + 1)
        for name in names:
            directory.up(name, now=now + 1)
        directory.settle(now=now + 2)
    assert observe(runs) == observe(reference)
    assert runs.converged() == reference.converged()


def test_a_run_arrives_record_by_record_under_lag():
    """Each record of a bundle is ready at its own add time plus the lag."""
    names = ("ds1", "ds2")
    reference, runs = world(names, 0.5), world(names, 0.5)
    positions = list(range(10))
    times = [1.0 + 0.1 * i for i in positions]
    one_by_one(reference, [("ds1", RECORDS, 1, positions)], times)
    runs.add_record_runs([("ds1", RECORDS, 1, positions)], times)
    for now in (1.4, 1.5, 1.75, 2.05, 2.4):
        for directory in (reference, runs):
            directory.entries("ds2", now=now)
        assert observe(runs) == observe(reference)
        assert runs.pending("ds1", "ds2") == reference.pending("ds1", "ds2")
    assert runs.numbers("ds2", RECORDS) == [*range(1, 11), 1000]


def test_a_run_meets_a_record_added_elsewhere_while_in_flight():
    """A duplicate added on another replica while the run travels: the naming
    conflict is resolved as one by one (the earlier CSN keeps the DN)."""
    names = ("ds1", "ds2", "ds3")
    reference, runs = world(names, 1.0), world(names, 1.0)
    positions = list(range(5))
    times = [1.0, 1.0, 1.2, 1.4, 1.4]
    one_by_one(reference, [("ds1", RECORDS, 10, positions)], times)
    runs.add_record_runs([("ds1", RECORDS, 10, positions)], times)
    for directory in (reference, runs):
        directory.execute(record(12), replica="ds2", now=1.5)  # ds1's 12 still in flight
        directory.settle(now=5.0)
    assert observe(runs) == observe(reference)
    assert [(c.dn, c.replica) for c in runs.conflicts] == [
        (f"cn=12,{RECORDS.replace(' ', '')}", name) for name in ("ds2", "ds1", "ds3")]
    assert runs.converged()


def test_a_window_of_several_replicas_pulls_what_was_in_flight_where_the_lane_would():
    names = ("ds1", "ds2", "ds3")
    reference, runs = world(names, 0.2), world(names, 0.2)
    for directory in (reference, runs):  # in flight when the window starts
        directory.execute(p.Add(f"cn=7,{RECORDS}", TOP), replica="ds3", now=0.9)
        directory.execute(p.Add(f"cn=7,{REQUESTS}", TOP), replica="ds1", now=0.95)
    lane = [("ds1", RECORDS, 20, [0, 2, 4, 6]), ("ds2", RECORDS, 40, [1, 3, 5]),
            ("ds2", REQUESTS, 20, [7, 8])]
    times = [1.0, 1.05, 1.1, 1.1, 1.2, 1.3, 1.35, 1.5, 1.5]
    spans = [(replica, base, first, first + len(rows) - 1) for replica, base, first, rows in lane]
    assert runs.can_add_records(spans, ATTRS)
    one_by_one(reference, lane, times)
    runs.add_record_runs(lane, times)
    assert observe(runs) == observe(reference)
    assert runs.in_flight() < reference.in_flight()  # the bundles travel as one item each


def test_one_replica_adds_a_run_in_one_step():
    reference, runs = world(("ds1",), 0.0), world(("ds1",), 0.0)
    one_by_one(reference, [("ds1", RECORDS, 1, list(range(100)))], [3.0] * 100)
    runs.add_records("ds1", RECORDS, 1, 100, now=3.0)
    assert observe(runs) == observe(reference)
    store = runs._replicas[0].stores[RECORDS.replace(" ", "").lower()]
    assert store.numbers.runs == 1 and not store.csns and not store.csn_runs


@pytest.mark.parametrize("lag", [0.0, 0.5])
def test_record_csns_of_runs_are_forgotten_once_stable(lag):
    names = ("ds1", "ds2", "ds3")
    directory = world(names, lag)
    directory._purge_min = directory._purge_at = 1
    now = 1.0
    for window in range(200):
        rows = np.arange(30)
        times = (now + rows * 0.01).tolist()
        replica = names[window % 3]
        directory.add_record_runs([(replica, RECORDS, 2000 + 30 * window, rows)], times)
        now = times[-1] + 0.01
        directory.entry(names[(window + 1) % 3], RECORDS, now=now)  # pulls
    kept = sum(len(run) for r in directory._replicas for s in r.stores.values()
               for run in s.csn_runs)
    assert kept <= 3 * 30 * max(3, int(lag / 0.3) + 3)  # what is still in flight, not 6,000
    directory.settle(now=now + 1)
    directory._purge()
    assert not any(s.csn_runs or s.csns for r in directory._replicas for s in r.stores.values())
    assert directory.converged()


def interleave(runs: list, times: list[float], picks: list[tuple[int, str]]
               ) -> tuple[list, list[float], list[tuple[int, str, float]]]:
    """A window's adds with reads between them: ``picks`` (how many adds come
    before the read, replica) become reads at that time; the runs' positions
    move to make room.  Returns the runs, the times of every lane position and
    the reads (position, replica, time)."""
    slots = sorted((min(slot, len(times)), name, *rest) for slot, name, *rest in picks)
    moved: list[int] = []
    out_times: list[float] = []
    reads = []
    k = 0
    for i, t in enumerate([*times, None]):
        while k < len(slots) and slots[k][0] == i:
            when = times[i - 1] if i else times[0]
            reads.append((len(out_times), slots[k][1], when, *slots[k][2:]))
            out_times.append(when)
            k += 1
        if t is not None:
            moved.append(len(out_times))
            out_times.append(t)
    new_runs = [(replica, base, first, [moved[q] for q in positions])
                for replica, base, first, positions in runs]
    return new_runs, out_times, reads


def play_both(script: list[tuple], lane: tuple, window: tuple, seen: dict[int, list]) -> None:
    """The script on the reference (``lane``: its directory and how it makes a
    window) and on the one under test (``window``), step by step: after each,
    the same times, the same things seen and the same directory."""
    (reference, by_lane), (runs, at_once) = lane, window
    now = 0.0
    for step, dt in script:
        now += dt
        after = play(reference, step, now, by_lane)
        assert play(runs, step, now, at_once) == after
        now = after
        assert seen[id(runs)] == seen[id(reference)], step
        assert observe(runs) == observe(reference), step


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_reads_between_the_runs_see_what_the_lane_would(data):
    """Reads (a CRL fetch reading its replica) at their places between a
    window's adds, with random writes still in flight: what each read sees,
    and everything after, is what the adds one by one with the reads in
    between give (one replica: the records added before each read)."""
    names = tuple(f"ds{i + 1}" for i in range(data.draw(st.integers(1, 4))))
    lag = data.draw(st.sampled_from([0.0, 0.3, 1.0, None]))
    script = draw_script(data, names, data.draw(st.integers(1, 25)))
    picks = data.draw(st.lists(st.tuples(st.integers(0, 30), st.sampled_from(names)),
                               max_size=6))
    fulls = data.draw(st.lists(st.booleans(), min_size=6, max_size=6))
    reference, runs = world(names, lag), world(names, lag)
    seen: dict[int, list] = {id(reference): [], id(runs): []}
    last: dict[tuple[int, str], object] = {}  # what each replica's repeatable read saw

    def read(directory: ReplicatedDirectory, name: str, t: float, full: bool,
             lane: bool) -> None:
        """A full read pulls and lists everything; a CRL fetch reads one entry
        that is not a record (the lane's pulls first, a window's never)."""
        found = (directory.entries(name, now=t) if full
                 else directory.entry(name, COUNTER, now=t if lane else None))
        if not full:  # a repeatable read: it does nothing when it sees what the last one saw
            if last.get((id(directory), name)) == found:
                return
            last[id(directory), name] = found
        seen[id(directory)].append((name, found))

    def at_once_with_reads(directory: ReplicatedDirectory, runs_: list,
                           times: list[float]) -> None:
        new_runs, all_times, reads = interleave(runs_, times, picks)
        directory.add_record_runs(new_runs, all_times, [
            (position, name, partial(read, directory, name, t, full, False), full)
            for (position, name, t), full in zip(reads, fulls, strict=False)])

    def one_by_one_with_reads(directory: ReplicatedDirectory, runs_: list,
                              times: list[float]) -> None:
        new_runs, all_times, reads = interleave(runs_, times, picks)
        ops = [(position, replica, base, first + rank, None) for replica, base, first, rows
               in new_runs for rank, position in enumerate(rows)]
        ops += [(position, name, None, None, full)
                for (position, name, _), full in zip(reads, fulls, strict=False)]
        for position, replica, base, n, full in sorted(ops):
            if base is None:
                read(directory, replica, all_times[position], full, True)
            else:
                one_by_one(directory, [(replica, base, n, [0])], [all_times[position]])

    play_both(script, (reference, one_by_one_with_reads), (runs, at_once_with_reads), seen)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_writes_between_the_runs_are_made_as_the_lane_makes_them(data):
    """Revocations (a modify of a settled record) at their places between a
    window's adds, with reads between them and the script's writes, faults
    and deliveries around: what each read sees, what each write answers and
    everything after is what the lane's one by one gives.  A replica's records
    after its write travel behind the write's change (a record run cut in two)."""
    names = tuple(f"ds{i + 1}" for i in range(data.draw(st.integers(1, 4))))
    lag = data.draw(st.sampled_from([0.0, 0.3, 1.0, None]))
    script = draw_script(data, names, data.draw(st.integers(1, 25)))
    picks = data.draw(st.lists(st.tuples(
        st.integers(0, 30), st.sampled_from(names),
        st.sampled_from(["write", "write", "write", "full", "fetch"]),
        st.integers(0, 40)), max_size=8))
    reference, runs = world(names, lag), world(names, lag)
    seen: dict[int, list] = {id(reference): [], id(runs): []}
    last: dict[tuple[int, str], object] = {}  # what each replica's repeatable read saw

    def act(directory: ReplicatedDirectory, name: str, t: float, what: str, n: int,
            lane: bool) -> None:
        if what == "write":
            done = directory.execute(p.Modify(f"cn={n},{RECORDS}", (
                Mod(ModOp.REPLACE, "certStatus", (f"REVOKED-{name}-{t}",)),)), replica=name, now=t)
            seen[id(directory)].append((name, n, done.code))
        elif what == "full":
            seen[id(directory)].append((name, directory.entries(name, now=t)))
        else:  # a repeatable read: it does nothing when it sees what the last one there saw
            found = directory.entry(name, COUNTER, now=t if lane else None)
            if last.get((id(directory), name)) != found:
                last[id(directory), name] = found
                seen[id(directory)].append((name, found))

    def planned(directory: ReplicatedDirectory, runs_: list, times: list[float]) -> tuple:
        """The window with its reads and writes; a write of a record that is not
        settled when the window begins is left out (the simulation's window
        ends before such a revocation)."""
        new_runs, all_times, picked = interleave(runs_, times, picks)
        present = directory.numbers(names[0], RECORDS)  # a write's k: one of these
        picked = [(position, name, t, what, present[k % len(present)])
                  for position, name, t, what, k in picked]
        kept = [(position, name, t, what, n) for position, name, t, what, n in picked
                if what != "write" or directory.settled(RECORDS, n)]
        seen[id(directory)].append(("left out", len(picked) - len(kept)))
        return new_runs, all_times, kept

    def at_once(directory: ReplicatedDirectory, runs_: list, times: list[float]) -> None:
        new_runs, all_times, kept = planned(directory, runs_, times)
        reads = [(position, name, partial(act, directory, name, t, what, n, False),
                  what == "full") for position, name, t, what, n in kept if what != "write"]
        writes = [(position, name, partial(act, directory, name, t, what, n, False), RECORDS, n)
                  for position, name, t, what, n in kept if what == "write"]
        taken = {position for position, *_ in kept}
        reads += [(position, None, lambda: None, False)  # a write left out: nothing there
                  for position in range(len(all_times)) if position not in taken
                  and not any(position in rows for *_, rows in new_runs)]
        directory.add_record_runs(new_runs, all_times, reads, writes)

    def lane_by_lane(directory: ReplicatedDirectory, runs_: list, times: list[float]) -> None:
        new_runs, all_times, kept = planned(directory, runs_, times)
        ops = [(position, replica, base, first + rank, None) for replica, base, first, rows
               in new_runs for rank, position in enumerate(rows)]
        ops += [(position, name, None, n, what) for position, name, _, what, n in kept]
        for position, name, base, n, what in sorted(ops, key=lambda op: op[0]):
            if what is not None:
                act(directory, name, all_times[position], what, n, True)
            else:
                one_by_one(directory, [(name, base, n, [0])], [all_times[position]])

    play_both(script, (reference, lane_by_lane), (runs, at_once), seen)


def test_a_write_is_not_pulled_by_an_add_before_it_at_the_same_time():
    """No lag, one time for the whole window: ds2 adds, then ds1 revokes, and
    ds2 does nothing after.  ds2 pulled before the write was made, so the
    write's change is still pending for it at the end (as one by one)."""
    directories = [world(("ds1", "ds2"), 0.0) for _ in range(2)]
    for directory, lane in zip(directories, (False, True), strict=True):
        def revoke(directory: ReplicatedDirectory = directory) -> None:
            directory.execute(p.Modify(f"cn=1000,{RECORDS}", (
                Mod(ModOp.REPLACE, "certStatus", ("REVOKED",)),)), replica="ds1", now=1.0)

        assert directory.settled(RECORDS, 1000)
        if lane:
            one_by_one(directory, [("ds2", RECORDS, 50, [0, 1])], [1.0, 1.0])
            revoke()
            one_by_one(directory, [("ds1", RECORDS, 60, [0])], [1.0])
        else:
            directory.add_record_runs([("ds2", RECORDS, 50, [0, 1]), ("ds1", RECORDS, 60, [3])],
                                      [1.0] * 4, writes=[(2, "ds1", revoke, RECORDS, 1000)])
    runs, reference = map(observe, directories)
    assert reference["pending"][("ds1", "ds2")] == 2  # the revocation and record 60
    assert runs == reference


def test_a_bundle_behind_a_manual_link_is_ready_by_a_later_lag():
    """Records queued while a link delivered by hand wait behind what came
    before (``low`` is infinite); a lag set since caps them: ready then, as
    the same records one by one (the check of ``low`` came first and said
    none was ready)."""
    bundle = Bundle(0, [0.0, 0.1, 0.2], [1, 2, 3], 0.0)
    transit = Transit(bundle)
    transit.lag, transit.low = math.inf, math.inf
    assert transit.ready_end(5.0) == 0
    transit.cap = 0.5
    assert [transit.ready(j) for j in range(3)] == [0.5] * 3
    assert transit.ready_end(0.4) == 0 and transit.ready_end(0.5) == 3


@pytest.mark.parametrize("lag", [0.0, 0.3])
def test_a_record_written_twice_in_a_window_is_written_as_one_by_one(lag: float) -> None:
    """ds1 adds a value to a record between the window's adds, and ds2 then
    deletes it.  Two modifies of one record need not commute: ds2's delete
    succeeds only if it sees ds1's change, which reached it by then, as one
    by one, although a write otherwise pulls nothing and leaves its replica
    to be caught up later."""
    times = [1.0, 1.1, 1.2, 1.5, 2.0, 2.1, 2.2]
    writes = [(2, "ds1", ModOp.ADD), (4, "ds2", ModOp.DELETE)]
    directories = [world(("ds1", "ds2"), lag) for _ in range(2)]
    answers: list[list] = [[], []]
    for directory, lane, seen in zip(directories, (False, True), answers, strict=True):
        def write(replica: str, op: ModOp, t: float, directory: ReplicatedDirectory = directory,
                  seen: list = seen) -> None:
            seen.append(directory.execute(p.Modify(f"cn=1000,{RECORDS}", (
                Mod(op, "objectClass", ("extensibleObject",)),)), replica=replica, now=t).code)

        assert directory.settled(RECORDS, 1000)
        runs = [("ds1", RECORDS, 60, [0, 3, 6]), ("ds2", RECORDS, 50, [1, 5])]
        if lane:
            ops = sorted([(q, replica, RECORDS, first + k) for replica, _, first, rows in runs
                          for k, q in enumerate(rows)]
                         + [(q, replica, None, op) for q, replica, op in writes])
            for q, replica, base, what in ops:
                if base is None:
                    write(replica, what, times[q])
                else:
                    one_by_one(directory, [(replica, base, what, [0])], [times[q]])
        else:
            directory.add_record_runs(runs, times, writes=[
                (q, replica, partial(write, replica, op, times[q]), RECORDS, 1000)
                for q, replica, op in writes])
    assert answers[0] == answers[1] == [p.ResultCode.SUCCESS] * 2
    assert observe(directories[0]) == observe(directories[1])
