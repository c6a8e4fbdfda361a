"""The faults and the coverage goals of the allocation state machine.

Faults a :class:`~pkisim.testing.machine.MachineConfig` enables by name
(``faults=frozenset({"outage"})``), on every back end:

``outage``
    A directory server dies (SIGKILL of a real slapd or 389-DS; the embedded
    model's replica answers ``SERVER_DOWN``) and comes back on the same data.
    A CA restarted meanwhile must refuse to start (its start-up search for the
    last issued number cannot be answered) and start once the server is back;
    claims made meanwhile fail and must be retried at the next update run.
``size-limit``
    The CAs bind as a non-root user whose searches are size-limited
    (:data:`SIZE_LIMIT` entries; Dogtag's ``pkidbuser`` with ``nsSizeLimit``,
    issue #5133): the restart search for the last issued number fails once a
    range holds more records, and the CA must refuse to start rather than
    start the range over.
``multi-valued``
    A replication race leaves ``nextRange`` with two values, the stale one
    first: Dogtag reads the first, and its compare-and-swap fails for good.
    The CA must say so (one line naming the values) rather than wedge silently.

Faults that are always on: interleaved update tasks of several CAs contend
for ``nextRange`` (claims fail and are retried), CA process restarts (a
restarted RSNv3 CA draws from a new generator), crashes, clones, partitions.

Coverage goals ("sometimes" assertions) are counted per machine class; a
preset names the ones a run of it must reach, and :meth:`Coverage.require`
fails naming each goal never reached.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from hypothesis import event

from pkisim.directory.memory import ReplicatedDirectory
from pkisim.errors import AllocationError
from pkisim.ids import protocol as p
from pkisim.ids.config import IdKind
from pkisim.ids.layout import CA, Subsystem
from pkisim.ids.radix import Radix
from pkisim.ids.strategies import STRATEGY
from pkisim.ids.subsystem import SubsystemRepositories

#: Faults a configuration may enable (see the module text).
FAULTS = ("outage", "size-limit", "multi-valued")

#: Entries a size-limited search may return (the non-root bind's limit).
SIZE_LIMIT = 3


class Backend(Protocol):
    """What the machine needs from a directory: the port plus replication control."""

    replicas: tuple[str, ...]

    def execute(self, command: p.Command, *, replica: str, now: float) -> p.Result: ...
    def bootstrap(self, adds: Iterable[p.Add], now: float = 0.0) -> None: ...
    def deliver(self, src: str | None = None, dst: str | None = None, *, now: float,
                count: int | None = None) -> int: ...
    def partition(self, groups: Any, now: float) -> None: ...
    def heal_all(self, now: float) -> None: ...
    # the faults (pkisim.testing.faults); a back end without one cannot enable it
    def kill(self, replica: str, now: float) -> None: ...
    def revive(self, replica: str, now: float) -> None: ...
    def limit_size(self, on: bool) -> None: ...


class MemoryBackend(ReplicatedDirectory):
    """The embedded model as a back end: replication held until delivered (or
    immediate with ``sync``), replicas that can be killed and revived, and a
    size-limited bind for the CAs."""

    def __init__(self, replicas: Sequence[str], sync: bool) -> None:
        super().__init__(replicas, lag=0.0 if sync else None)
        self.replicas = tuple(replicas)
        self.size_limited = False

    def execute(self, command: p.Command, *, replica: str, now: float) -> p.Result:
        if self.size_limited and isinstance(command, p.LastNumberInRange):
            found = [n for n in self.numbers(replica, command.base, now)
                     if command.begin <= n <= command.end]
            if len(found) > SIZE_LIMIT and self._replica(replica).up:
                return p.Result(p.ResultCode.SIZE_LIMIT_EXCEEDED,
                                message=f"more than {SIZE_LIMIT} entries")
        return super().execute(command, replica=replica, now=now)

    def kill(self, replica: str, now: float) -> None:
        """The server dies: it answers SERVER_DOWN and neither sends nor receives."""
        self.down(replica, now)

    def revive(self, replica: str, now: float) -> None:
        """The server is back on the same data."""
        self.up(replica, now)

    def limit_size(self, on: bool) -> None:
        """The CAs' searches are limited to :data:`SIZE_LIMIT` entries (or not)."""
        self.size_limited = on


def memory_backend(replicas: tuple[str, ...], sync: bool) -> MemoryBackend:
    """The embedded model: replication held until delivered, or immediate."""
    return MemoryBackend(replicas, sync)


#: Every goal, with the fault (or rule) that can reach it.
GOALS: dict[str, str] = {
    "range exhausted": "issuing",
    "claim during partition": "partition",
    "restart mid-range": "crash",
    "transfer out of next range": "clone",
    "claim failed and recovered": "contention or outage",
    "directory restarted": "outage",
    "restart during outage reached": "outage",
    "started once the directory was back": "outage",
    "size-limited search at restart": "size-limit",
    "rsnv3 process restart": "crash (random strategy)",
    "multi-valued nextRange reported": "multi-valued",
    "next range overrun": "clone without guard_transfers",
    "donor depleted by transfers": "clone",
}


@dataclass
class Coverage:
    """"Sometimes" assertions: dangerous states the suite must have reached."""

    reached: Counter[str] = field(default_factory=Counter)
    #: What :meth:`missing` checks without arguments (the original four).
    GOALS: ClassVar[tuple[str, ...]] = ("range exhausted", "claim during partition",
                                        "restart mid-range", "transfer out of next range")

    def hit(self, goal: str) -> None:
        if goal not in GOALS:
            raise ValueError(f"not a coverage goal: {goal!r}")
        self.reached[goal] += 1
        event(goal)

    def missing(self, goals: Iterable[str] | None = None) -> list[str]:
        return [g for g in (self.GOALS if goals is None else goals) if not self.reached[g]]

    def require(self, goals: Iterable[str], what: str = "the run") -> None:
        """AssertionError naming every goal in ``goals`` never reached."""
        missing = self.missing(goals)
        if missing:
            raise AssertionError(
                f"{what} never reached its coverage goal(s): "
                + "; ".join(f"{g!r} (needs {GOALS.get(g, '?')})" for g in missing)
                + f" (reached: {dict(self.reached) or 'nothing'})")


#: How the machine's messages name each ID space (a KRA's are not the CA's).
LABELS = {IdKind.CERT: "cert", IdKind.REQUEST: "request", IdKind.KEY: "key ID",
          IdKind.KEY_REQUEST: "KRA request ID", IdKind.REPLICA: "replica ID"}


def label(kind: IdKind) -> str:
    """The name of ``kind`` in the machine's messages."""
    return LABELS[kind]


def numbers_note(subsystem: Subsystem = CA) -> str:
    """How the machine's messages write numbers (the history checker's
    convention, pkisim.history.timeline): SSNv1 reads decimal nextRange digits
    as hex, so a bare "25" would be ambiguous next to a serial or key ID
    (``dbs.key.id.radix`` is 16, as for certificates)."""
    main = "certificate serials" if subsystem is CA else "key IDs"
    request = "request IDs" if subsystem is CA else "KRA request IDs"
    return f"(numbers: {main} in 0x hex; {request} and nextRange values in decimal)"


NUMBERS_NOTE = numbers_note(CA)


def show(kind: IdKind, number: int) -> str:
    """An ID as the machine's messages write it: serials and key IDs in 0x hex,
    other IDs decimal."""
    return hex(number) if kind is IdKind.CERT or kind is IdKind.KEY else str(number)


def can_transfer(repos: SubsystemRepositories) -> bool:
    """Would every ranged transfer come out of numbers the donor really holds?

    Dogtag does not check that a next range holds T numbers before cutting
    T from its top (dogtag-ranges.md 4.3, step 5): the slice then reaches
    below the next range's begin, into numbers another CA may own.  And a
    next range emptied exactly is still switched to, and its begin (now the
    clone's) issued.
    """
    for repo in repos:
        if not repo.ranged or repo.last is None:
            continue
        size = repo.config.clone_transfer_number or 0
        try:
            from_current = repo.transfers_from_current(size)
        except AllocationError:
            return False
        if not from_current and repo.state.next_size <= size:
            return False  # an emptied next range is switched to all the same
    return True


def cscfg_spelling(strategy: str, subsystem: Subsystem = CA) -> str:
    """How CS.cfg values in a message are written (CS.cfg's own radix)."""
    main = subsystem.main
    radix = STRATEGY[subsystem.strategy_for(main, strategy)].radix(main)
    serials = {Radix.HEX: "hex without 0x", Radix.PREFIXED: "0x hex"}.get(radix, "decimal")
    what = "certificate" if subsystem is CA else "key ID"
    return f"(CS.cfg spelling: {what} values {serials}, request values decimal)"


def stale_value(result: p.Result, increment: int, initial: int) -> tuple[str, str] | None:
    """The values a replication race leaves in ``nextRange``: the one before
    the current value (already claimed), then the current one; ``None`` while
    no claim has moved the counter from its ``initial`` value."""
    values = (result.entry or {}).get("nextrange", ()) if result.ok else ()
    if len(values) != 1 or not values[0].isdigit():
        return None
    current = int(values[0])
    if current - increment < initial:
        return None
    return str(current - increment), values[0]


__all__ = [
    "FAULTS",
    "GOALS",
    "LABELS",
    "NUMBERS_NOTE",
    "SIZE_LIMIT",
    "Backend",
    "Coverage",
    "MemoryBackend",
    "can_transfer",
    "cscfg_spelling",
    "label",
    "memory_backend",
    "numbers_note",
    "show",
    "stale_value",
]
