"""Replica IDs across the whole replication topology (RHCS planning guide 2.7.8).

Directory Server tells the servers of one replication topology apart by their
replica ID (``nsDS5ReplicaId``), which must be unique among them.  Every
Dogtag subsystem (CA, KRA, OCSP, TKS) has a range of replica IDs
(``dbs.beginReplicaNumber``..``dbs.endReplicaNumber``); a new clone receives a
slice of its donor's range (``UpdateNumberRange`` for ``replicaId``, with
``checkRanges`` first, which claims a new range from ``ou=replica`` when the
donor runs low) and enables replication with IDs taken from that slice:
``dbs.beginReplicaNumber``, then the next one
(``SubsystemDBReplicationEnableCLI``: the donor's server, if it has no replica
ID for the suffix yet, then the clone's; dogtag-ranges.md section 11).

A *topology* here is one replicated suffix: the servers replicating it must
have distinct IDs.  Subsystems with their own suffix (``o=pki-tomcat-OCSP``)
form their own topology even on the same Directory Server instances; several
subsystems sharing one suffix (FreeIPA's ``o=ipaca`` holds its CA and KRA)
share one topology, but each still allocates from its *own* replica-ID range,
so with the default ranges (1-100 each) their clones collide.

:class:`ReplicaIdLedger` records assignments as installations make them;
:func:`check_replica_ids` checks them:

* ``duplicate-replica-id``: two servers of one topology have the same ID;
* ``reassigned``: a server of a topology got a second, different ID;
* ``out-of-range``: an ID outside 389-DS's 1..65534 (65535 is reserved for
  read-only consumers);
* ``exhausted`` (reported, not a uniqueness violation): an installation could
  get no replica ID (the donor's range ran out with no next range).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import pandas as pd

from pkisim.errors import AllocationError
from pkisim.history.history import History, Op, OpType
from pkisim.ids.config import IdKind

#: 389-DS accepts supplier replica IDs 1..65534.
MAX_REPLICA_ID = 65534


@dataclass(frozen=True, slots=True)
class ReplicaIdAssignment:
    """``server`` (a Directory Server instance) got ``replica_id`` for
    ``suffix`` when ``instance`` of ``subsystem`` was installed; ``replica_id``
    ``None``: the installation could get none (``detail`` says why)."""

    time: float
    subsystem: str
    instance: str
    server: str
    suffix: str
    replica_id: int | None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ReplicaIdViolation:
    rule: str
    suffix: str
    replica_id: int | None
    servers: tuple[str, ...]
    instances: tuple[str, ...]

    def __str__(self) -> str:
        return (f"{self.rule}: replica ID {self.replica_id} in {self.suffix} on "
                f"{', '.join(self.servers)} (installed by {', '.join(self.instances)})")


@dataclass(frozen=True)
class ReplicaIdResult:
    assignments: tuple[ReplicaIdAssignment, ...]
    violations: tuple[ReplicaIdViolation, ...]
    exhausted: tuple[ReplicaIdAssignment, ...] = field(default=())

    @property
    def valid(self) -> bool:
        return not self.violations

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for v in self.violations:
            out[v.rule] += 1
        return dict(sorted(out.items()))

    def to_dict(self) -> dict[str, object]:
        return {"valid": self.valid, "assigned": sum(a.replica_id is not None
                                                     for a in self.assignments),
                "topologies": len({a.suffix for a in self.assignments}),
                "violations": self.counts(), "exhausted": len(self.exhausted),
                "first": [str(v) for v in self.violations[:10]]}


def check_replica_ids(assignments: Iterable[ReplicaIdAssignment]) -> ReplicaIdResult:
    """Every topology's servers have distinct IDs, one each, within 1..65534."""
    rows = tuple(assignments)
    violations: list[ReplicaIdViolation] = []
    owner: dict[tuple[str, int], ReplicaIdAssignment] = {}
    held: dict[tuple[str, str], ReplicaIdAssignment] = {}
    for a in rows:
        if a.replica_id is None:
            continue
        rid = a.replica_id
        if not 1 <= rid <= MAX_REPLICA_ID:
            violations.append(ReplicaIdViolation("out-of-range", a.suffix, rid, (a.server,),
                                                 (a.instance,)))
        first = owner.setdefault((a.suffix, rid), a)
        if first.server != a.server:
            violations.append(ReplicaIdViolation("duplicate-replica-id", a.suffix, rid,
                                                 (first.server, a.server),
                                                 (first.instance, a.instance)))
        before = held.setdefault((a.suffix, a.server), a)
        if before.replica_id != rid:
            violations.append(ReplicaIdViolation("reassigned", a.suffix, rid,
                                                 (a.server,), (before.instance, a.instance)))
    exhausted = tuple(a for a in rows if a.replica_id is None)
    return ReplicaIdResult(rows, tuple(violations), exhausted)


class ReplicaIdLedger:
    """The replica IDs the installations of one run assigned, in order."""

    def __init__(self) -> None:
        self.assignments: list[ReplicaIdAssignment] = []
        self._ids: dict[tuple[str, str], int] = {}

    def has(self, suffix: str, server: str) -> bool:
        return (suffix, server) in self._ids

    def enable(self, time: float, subsystem: str, instance: str, servers: Iterable[str],
               suffix: str, take: Callable[[], int]) -> None:
        """Replication enabled for ``suffix`` on ``servers`` (the donor's, then the
        clone's) by the installation of ``instance``: each server without an ID
        for the suffix gets the next one ``take`` gives."""
        for server in servers:
            if (suffix, server) in self._ids:
                continue
            rid = take()
            self._ids[(suffix, server)] = rid
            self.assignments.append(ReplicaIdAssignment(time, subsystem, instance, server,
                                                        suffix, rid))

    def failed(self, time: float, subsystem: str, instance: str, server: str, suffix: str,
               why: str) -> None:
        self.assignments.append(ReplicaIdAssignment(time, subsystem, instance, server, suffix,
                                                    None, why))

    def frame(self) -> pd.DataFrame:
        return assignments_frame(self.assignments)


def assignments_frame(assignments: Iterable[ReplicaIdAssignment]) -> pd.DataFrame:
    columns = ["time", "subsystem", "instance", "server", "suffix", "replica_id", "detail"]
    rows = [(a.time, a.subsystem, a.instance, a.server, a.suffix,
             pd.NA if a.replica_id is None else a.replica_id, a.detail) for a in assignments]
    frame = pd.DataFrame(rows, columns=columns)
    frame["replica_id"] = frame["replica_id"].astype("Int64")
    return frame


class HistoryReplicaIds:
    """The replica IDs a history's clone installations imply, for instances whose
    replica-ID repositories the run did not draw from (the CAs of a simulation).

    Each received replica-ID slice ``[B, E]`` (``receive`` of kind ``replica``,
    detail ``transfer:<donor>``) enables replication on the donor's server and
    the clone's: ``B``, ``B + 1``, ... to those without an ID.  ``servers`` maps
    process names to their Directory Server instances.  :meth:`catch_up` reads
    the events recorded since its last call into ``ledger`` (call it before a
    live assignment of another subsystem of the same suffix, and at the end).
    ``take(clone)``, if given, takes the numbers from the clone's own replica-ID
    repository (so that its later transfers do not hand them out again);
    without it they are read off the slice.
    """

    def __init__(self, history: History, servers: Mapping[str, str], *, subsystem: str,
                 suffix: str, ledger: ReplicaIdLedger,
                 take: Callable[[str], Callable[[], int]] | None = None) -> None:
        self.history, self.servers, self.subsystem, self.suffix = (history, servers, subsystem,
                                                                   suffix)
        self.ledger = ledger
        self.take = take
        self._seen = 0

    def catch_up(self) -> ReplicaIdLedger:
        events = self.history.events
        names = self.history.process_names
        for e in events[self._seen:]:
            if (e.op is not Op.RECEIVE or e.type is not OpType.OK or e.kind is not IdKind.REPLICA
                    or not e.detail.startswith("transfer:") or e.begin is None
                    or e.end is None):
                continue  # a master's initial range: replication is enabled at its first clone
            clone, donor = names[e.process], e.detail.removeprefix("transfer:")
            order = [self.servers[name] for name in (donor, clone) if name in self.servers]
            take = (iter(range(e.begin, e.end + 1)).__next__ if self.take is None
                    else self.take(clone))
            try:
                self.ledger.enable(e.time, self.subsystem, clone, order, self.suffix, take)
            except (StopIteration, AllocationError):
                self.ledger.failed(e.time, self.subsystem, clone, self.servers.get(clone, "?"),
                                   self.suffix, "the received replica-ID slice is too small")
        self._seen = len(events)
        return self.ledger


__all__ = ["MAX_REPLICA_ID", "HistoryReplicaIds", "ReplicaIdAssignment", "ReplicaIdLedger",
           "ReplicaIdResult", "ReplicaIdViolation", "assignments_frame", "check_replica_ids"]
