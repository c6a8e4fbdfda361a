"""What travels between the embedded directory's replicas, and where.

A replicated change is a plain tuple ``(csn, kind, key, a, b)``, queued on one
:class:`Link` per ordered pair of replicas; a :class:`Replica` is one server's
copy of the tree (:class:`~pkisim.directory.records.EntryStore`) with its
links, its up/down state, the unique ids of the entries deleted there and the
changes parked until their target arrives.  How changes are made, delivered and
resolved is :class:`~pkisim.directory.memory.ReplicatedDirectory`'s.
"""

from __future__ import annotations

import hashlib
import math
from collections import deque
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from pkisim.directory.records import Csn, EntryStore, Shape

# The kinds of change, and what ``key``, ``a`` and ``b`` hold for each:
#   ADD     key=dn key,        a=display dn,  b=attributes
#   RECORD  key=container key, a=number,      b=container display dn
#   MODIFY  key=dn key,        a=target uid,  b=mods ((op, attr, values), ...)
#   DELETE  key=dn key,        a=target uid,  b=None
ADD, RECORD, MODIFY, DELETE = range(4)
Change = tuple[Csn, int, str, Any, Any]
#: A change's CSN (its sort key).
csn_of = itemgetter(0)


@dataclass(frozen=True, slots=True)
class ReplicationConflict:
    """One naming conflict, as resolved on one replica."""

    dn: str  # the contested DN
    kept_csn: Csn  # add CSN of the entry that kept it
    renamed_dn: str  # where the other entry went
    replica: str
    time: float


def unique_id(uid: Csn) -> str:
    """A deterministic 389-style ``nsuniqueid`` for an entry."""
    digest = hashlib.blake2b(repr(uid).encode(), digest_size=16).hexdigest()
    return "-".join(digest[i:i + 8] for i in range(0, 32, 8))


def check_lag(lag: float | None) -> float | None:
    """``lag`` if it is a replication lag: seconds >= 0, or None (manual delivery)."""
    if lag is not None and not lag >= 0:
        raise ValueError(f"replication lag must be >= 0 seconds or None (manual), got {lag!r}")
    return lag


class Replica(EntryStore):
    """One replica's entries and its replication state."""

    __slots__ = ("gone", "incoming", "index", "name", "outgoing", "parked", "up")

    def __init__(self, name: str, index: int, shapes: dict[str, Shape]) -> None:
        super().__init__(shapes)
        self.name, self.index, self.up = name, index, True
        self.gone: set[Csn] = set()  # unique ids of entries deleted here
        self.parked: dict[Csn, list[Change]] = {}  # changes waiting for their target
        self.incoming: list[Link] = []
        self.outgoing: list[Link] = []


class Link:
    """A one-way replication link: the changes made on ``src`` queued for
    ``dst`` in the order they were made, each with the time it is ready."""

    __slots__ = ("auto", "dst", "lag", "not_before", "queue", "src", "up")

    def __init__(self, src: Replica, dst: Replica, lag: float | None) -> None:
        self.src, self.dst, self.lag, self.up = src, dst, lag, True
        self.not_before = -math.inf  # set by heal()/up(): nothing arrives before
        self.queue: deque[tuple[float, Change]] = deque()  # (ready_at, change)
        self.auto = lag is not None  # delivers by itself when changes are ready

    def refresh(self) -> None:
        self.auto = self.up and self.lag is not None and self.src.up and self.dst.up

    def hold_until(self, now: float) -> None:
        if self.lag is not None:
            self.not_before = max(self.not_before, now + self.lag)


__all__ = ["ADD", "DELETE", "MODIFY", "RECORD", "Change", "Link", "Replica",
           "ReplicationConflict", "check_lag", "csn_of", "unique_id"]
