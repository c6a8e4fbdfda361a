"""What travels between the embedded directory's replicas, and where.

A replicated change is a plain tuple ``(csn, kind, key, a, b)``, queued on one
:class:`Link` per ordered pair of replicas.  Records added as runs travel as one
queue item, a :data:`BUNDLE` whose ``a`` is the link's
:class:`~pkisim.directory.bundles.Transit` through a
:class:`~pkisim.directory.bundles.Bundle`; it stands for one ``RECORD`` change
per record, in the same order and each ready at the same time.  A
:class:`Replica` is one server's copy of the tree
(:class:`~pkisim.directory.records.EntryStore`) with its links, its up/down
state, the unique ids of the entries deleted there (its tombstones) and the
changes parked until their target arrives.  How changes are made, delivered and
resolved is :class:`~pkisim.directory.delivery.Replication`'s.
"""

from __future__ import annotations

import hashlib
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from pkisim.directory.bundles import Transit
from pkisim.directory.entries import Csn
from pkisim.directory.records import EntryStore, Shape

# The kinds of change, and what ``key``, ``a`` and ``b`` hold for each:
#   ADD     key=dn key,        a=display dn,  b=attributes
#   RECORD  key=container key, a=number,      b=container display dn
#   MODIFY  key=dn key,        a=target uid,  b=mods ((op, attr, values), ...)
#   DELETE  key=dn key,        a=target uid,  b=None
#   BUNDLE  key="",            a=Transit,     b=None   (csn: its next record's)
ADD, RECORD, MODIFY, DELETE, BUNDLE = range(5)
Change = tuple[Csn, int, str, Any, Any]
#: A change's CSN (its sort key).
csn_of = itemgetter(0)


def bundle_item(transit: Transit) -> Change:
    """The queue item of what is left of a bundle on a link (its next record's CSN)."""
    return (transit.bundle.csn(transit.lo), BUNDLE, "", transit, None)


@dataclass(frozen=True, slots=True)
class ReplicationConflict:
    """One naming conflict, as resolved on one replica.  ``kept_csn`` is the
    unique id of the entry that kept the DN: ``ANCIENT`` if it was stable."""

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
    """One replica's entries and its replication state.

    ``gone`` maps the unique id of every entry deleted here to ``(settled,
    bound)``: the directory forgets it once no change naming it can still
    arrive (:meth:`~pkisim.directory.delivery.Replication._purge`).
    """

    __slots__ = ("gone", "incoming", "index", "name", "outgoing", "parked", "up")

    def __init__(self, name: str, index: int, shapes: dict[str, Shape],
                 floor: Callable[[Csn], Csn]) -> None:
        super().__init__(shapes, floor)
        self.name, self.index, self.up = name, index, True
        self.gone: dict[Csn, tuple[bool, int]] = {}  # tombstones: uid -> (settled, bound)
        self.parked: dict[Csn, list[Change]] = {}  # changes waiting for their target
        self.incoming: list[Link] = []
        self.outgoing: list[Link] = []


class Link:
    """A one-way replication link: the changes made on ``src`` queued for
    ``dst`` in the order they were made, each with the time it is ready.

    ``size`` counts the changes queued (a bundle counts its records), ``tail``
    is when the last of them is ready (FIFO: nothing is ready before it).
    """

    __slots__ = ("auto", "dst", "lag", "not_before", "queue", "size", "src", "tail", "up")

    def __init__(self, src: Replica, dst: Replica, lag: float | None) -> None:
        self.src, self.dst, self.lag, self.up = src, dst, lag, True
        self.not_before = -math.inf  # set by heal()/up(): nothing arrives before
        self.queue: deque[tuple[float, Change]] = deque()  # (ready_at, change)
        self.size = 0
        self.tail = -math.inf
        self.auto = lag is not None  # delivers by itself when changes are ready

    def refresh(self) -> None:
        self.auto = self.up and self.lag is not None and self.src.up and self.dst.up

    def hold_until(self, now: float) -> None:
        if self.lag is not None:
            self.not_before = max(self.not_before, now + self.lag)

    def send(self, change: Change, now: float) -> None:
        """Queue one change made at ``now``."""
        ready = math.inf if self.lag is None else now + self.lag
        if self.queue and self.tail > ready:
            ready = self.tail
        self.queue.append((ready, change))
        self.size += 1
        self.tail = ready

    def send_bundle(self, transit: Transit) -> None:
        """Queue a bundle's records (``transit`` starts at its first)."""
        transit.lag = math.inf if self.lag is None else self.lag
        if self.queue:
            transit.low = self.tail
        self.queue.append((transit.ready(0), bundle_item(transit)))
        self.size += len(transit.bundle)
        self.tail = transit.ready(len(transit.bundle) - 1)

    def limit(self, limit: float) -> None:
        """Nothing queued is ready later than ``limit`` (a new, shorter lag)."""
        queue = self.queue
        for i, (ready, change) in enumerate(queue):
            if change[1] == BUNDLE:
                change[3].cap = min(change[3].cap, limit)
            if ready > limit:
                queue[i] = (limit, change)
        self.tail = min(self.tail, limit)


__all__ = ["ADD", "BUNDLE", "DELETE", "MODIFY", "RECORD", "Change", "Link", "Replica",
           "ReplicationConflict", "bundle_item", "check_lag", "csn_of", "unique_id"]
