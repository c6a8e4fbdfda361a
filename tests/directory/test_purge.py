"""Forgetting what every replica has seen (pkisim/directory/delivery.py).

Deleted attribute values, tombstones and record CSNs are forgotten below the
stable CSN.  A directory that forgets at every chance must answer exactly as
one that never forgets, after every step of random scripts; and the memory
that DNA's one-REPLACE-per-publication left behind must stay bounded.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pkisim.directory.memory import ReplicatedDirectory
from pkisim.ids import protocol as p
from pkisim.ids.protocol import Mod, ModOp
from tests.directory.scripts import gap, observe, play, steps, topology, world
from tests.directory.test_memory import COUNTER, RECORDS, TOP


def never_forget(directory: ReplicatedDirectory) -> ReplicatedDirectory:
    """The reference: nothing is ever pruned or purged."""
    directory._prune = lambda entry, mods: None  # type: ignore[method-assign]
    directory._purge = lambda: None  # type: ignore[method-assign]
    return directory


def runs_at_once(directory: ReplicatedDirectory, runs: list, times: list[float]) -> None:
    directory.add_record_runs(runs, times)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_forgetting_never_changes_an_answer(data):
    names, lag = data.draw(topology())
    script = data.draw(st.lists(st.tuples(steps(names), gap), min_size=1, max_size=40))
    keep = never_forget(world(names, lag))
    forget = world(names, lag)
    forget._purge_min = forget._purge_at = 1  # at every point where nothing is half-applied
    now = 0.0
    for step, dt in script:
        now += dt
        play(keep, step, now, runs_at_once)
        now = play(forget, step, now, runs_at_once)
        assert observe(forget) == observe(keep), step
    forget.heal_all(now=now + 1)
    keep.heal_all(now=now + 1)
    for name in names:
        forget.up(name, now=now + 1)
        keep.up(name, now=now + 1)
    forget.settle(now=now + 2)
    keep.settle(now=now + 2)
    assert observe(forget) == observe(keep)
    if forget.converged():  # everything is stable: everything deleted is forgotten
        forget._purge()
        forget._purge()  # tombstones go in two steps
        assert not forget._litter and not any(r.gone for r in forget._replicas)
        assert not any(s.csns or s.csn_runs for r in forget._replicas for s in r.stores.values())


def publish(directory: ReplicatedDirectory, name: str, remaining: int, now: float) -> None:
    """DNA's publication: one REPLACE of dnaRemainingValues on the shared entry."""
    command = p.Modify(COUNTER, (Mod(ModOp.REPLACE, "description", (str(remaining),)),))
    assert directory.execute(command, replica=name, now=now).ok


def values_kept(directory: ReplicatedDirectory) -> int:
    return max(len(r.entries[COUNTER].attrs["description"].values) for r in directory._replicas)


def test_replaced_values_are_forgotten_on_one_replica():
    directory = world(("ds1",), 0.0)
    for i in range(5000):
        publish(directory, "ds1", 10**6 - i, now=i / 10)
    assert values_kept(directory) == 1
    assert directory.entry("ds1", COUNTER)["description"] == (str(10**6 - 4999),)


def test_replaced_values_stay_bounded_by_what_is_in_flight():
    names = ("ds1", "ds2", "ds3")
    directory = world(names, 0.5)
    for i in range(6000):  # 20 publications a second, each replica in turn
        publish(directory, names[i % 3], 10**6 - i, now=i / 20)
    assert values_kept(directory) <= 2 * 20 * 0.5 + 3  # not 6,000
    assert len(directory._litter) <= 3
    directory.settle(now=1000.0)
    directory._purge()
    assert values_kept(directory) == 1 and not directory._litter


def test_tombstones_are_forgotten_once_no_change_can_name_them():
    names = ("ds1", "ds2", "ds3")
    directory = world(names, 0.5)
    directory._purge_min = directory._purge_at = 1
    for i in range(300):
        dn = f"cn=r{i},ou=ranges,o=t"
        assert directory.execute(p.Add(dn, TOP), replica=names[i % 3], now=i).ok
        assert directory.execute(p.Delete(dn), replica=names[(i + 1) % 3], now=i + 0.6).ok
    graves = sum(len(r.gone) for r in directory._replicas)
    assert graves <= 3 * 8  # the last few deletes on each replica, not 900
    directory.settle(now=1000.0)
    directory._purge()
    directory._purge()
    assert not any(r.gone for r in directory._replicas)
    assert directory.numbers("ds1", RECORDS) == [1000] and directory.converged()
