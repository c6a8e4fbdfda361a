"""Which ranges each CA held when: the event table read as per-CA timelines.

Every range event carries the repository's state *after* it, so the state an
issuance saw is the last snapshot of its (process, kind) recorded before it:
the event whose ``position`` (issue rows recorded before the event) is at most
the issue row.  No allocation logic is replayed.

Also here: the 128-bit comparisons the checkers run on ``lo``/``hi`` columns,
and how IDs are written (serials in hex, request and replica IDs in decimal; a
Jepsen history's string, UUID or vector IDs as EDN writes them) and ordered.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

import numpy as np

from pkisim.history.history import ISSUE_OPS, EventRecord, History, Op, OpType
from pkisim.ids.config import IdKind

_MASK64 = (1 << 64) - 1
_MAX128 = (1 << 128) - 1
#: Notes that end or interrupt a CA's life.
LIFECYCLE_OPS = frozenset({Op.CRASH, Op.RESTART, Op.DECOMMISSION})


def kind_of(op: Op) -> IdKind:
    """The ID space an issuing op draws from."""
    try:
        return ISSUE_OPS[op]
    except KeyError:
        raise ValueError(f"{op.name.lower()} does not issue IDs; choose one of "
                         f"{', '.join(o.name.lower() for o in ISSUE_OPS)}") from None


def op_of(kind: IdKind) -> Op:
    return next(op for op, k in ISSUE_OPS.items() if k is kind)


def fmt_id(value: object, kind: IdKind | None = IdKind.CERT) -> str:
    """An ID as a PKI engineer writes it: serials in hex, other IDs in decimal;
    an ID that is no integer as EDN writes it (:func:`id_text`)."""
    if value is None:
        return "none"
    if not isinstance(value, int):
        return id_text(value)
    return hex(value) if kind is IdKind.CERT or kind is IdKind.KEY else str(value)


def id_text(value: object) -> str:
    """An ID as EDN writes it: ``"ab"``, ``#uuid "..."``, ``[1 "x"]``, ``:kw``, ``12``."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, uuid.UUID):
        return f'#uuid "{value}"'
    if isinstance(value, tuple):
        return "[" + " ".join(id_text(v) for v in value) + "]"
    return str(value)


def id_kind(value: object) -> int:
    """Which kind of ID ``value`` is (integer, string, other, UUID, vector):
    Clojure compares IDs of one kind only."""
    return id_key(value)[0]


def id_key(value: object) -> tuple:
    """A sort key, a total order on IDs: within a kind as Clojure's ``compare``
    orders them (integers by value, strings by UTF-16 code units, UUIDs by
    value, vectors by length, then element by element), kinds in a fixed order."""
    if isinstance(value, int):
        return (0, value)
    if isinstance(value, str):
        return (1, value.encode("utf-16-be"))
    if isinstance(value, uuid.UUID):
        return (3, value.int)
    if isinstance(value, tuple):
        return (4, len(value), tuple(id_key(v) for v in value))
    return (2, str(value))  # keywords (Keyword), by their text


def fmt_range(begin: int | None, end: int | None, kind: IdKind | None) -> str:
    return f"{fmt_id(begin, kind)}-{fmt_id(end, kind)}"


def fmt_time(time: float) -> str:
    return f"{time:.1f}" if float(time).is_integer() else repr(float(time))


def id_name(kind: IdKind) -> str:
    return {IdKind.CERT: "serial", IdKind.REQUEST: "request ID", IdKind.REPLICA: "replica ID",
            IdKind.KEY: "key ID", IdKind.KEY_REQUEST: "KRA request ID"}[kind]


# -- 128-bit values as (hi, lo) uint64 pairs -----------------------------------

def split128(values: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """(hi, lo) uint64 arrays of ``values``, clamped into ``[0, 2**128 - 1]``."""
    clamped = [min(max(v, 0), _MAX128) for v in values]
    return (np.array([v >> 64 for v in clamped], dtype=np.uint64),
            np.array([v & _MASK64 for v in clamped], dtype=np.uint64))


def less_equal(ahi: np.ndarray, alo: np.ndarray, bhi: np.ndarray, blo: np.ndarray) -> np.ndarray:
    """Elementwise ``a <= b`` for 128-bit values."""
    return (ahi < bhi) | ((ahi == bhi) & (alo <= blo))


def join128(hi: np.ndarray, lo: np.ndarray) -> list[int]:
    return [h << 64 | v for h, v in zip(hi.tolist(), lo.tolist(), strict=True)]


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing


def rows_among(values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Indices of the ``values`` (uint64) that occur in ``wanted``, ascending.

    One pass over ``values`` whatever the size of ``wanted``: a hashed bitmap of
    the wanted values picks candidate rows, and only those are checked exactly.
    """
    wanted = np.unique(np.asarray(wanted, dtype=np.uint64))
    if not len(wanted) or not len(values):
        return np.zeros(0, np.int64)
    if len(wanted) <= 4:
        hit = values == wanted[0]
        for value in wanted[1:]:
            hit |= values == value
        return np.flatnonzero(hit)
    bits = min(24, max(12, len(wanted).bit_length() + 10))  # about 1 false candidate in 1000
    shift = np.uint64(64 - bits)
    table = np.zeros(1 << bits, bool)
    table[(wanted * _GOLDEN) >> shift] = True
    hashed = np.multiply(values, _GOLDEN)
    hashed >>= shift
    candidates = np.flatnonzero(table[hashed])
    return candidates[np.isin(values[candidates], wanted)]


# -- timelines -----------------------------------------------------------------

class Timeline:
    """The range snapshots of each (process, kind), and each process's lifecycle notes."""

    def __init__(self, history: History) -> None:
        self.history = history
        self.events = history.events
        self._snapshots: dict[tuple[int, IdKind], list[int]] = {}
        self.lifecycle: dict[int, list[EventRecord]] = {}
        for i, event in enumerate(self.events):
            if event.kind is not None:
                self._snapshots.setdefault((event.process, event.kind), []).append(i)
            elif event.op in LIFECYCLE_OPS:
                self.lifecycle.setdefault(event.process, []).append(event)
        self._positions = {key: np.array([self.events[i].position for i in indices], np.int64)
                           for key, indices in self._snapshots.items()}

    def pairs(self) -> list[tuple[int, IdKind]]:
        """Every (process, kind) with range snapshots, in order of first appearance."""
        return list(self._snapshots)

    def processes(self, kind: IdKind) -> list[int]:
        """Processes with range state for ``kind``."""
        return sorted(p for p, k in self._snapshots if k is kind)

    def snapshots(self, process: int, kind: IdKind) -> list[EventRecord]:
        return [self.events[i] for i in self._snapshots.get((process, kind), [])]

    def snapshot_index(self, process: int, kind: IdKind, rows: np.ndarray) -> np.ndarray:
        """For each issue row, the index (into :meth:`snapshots`) of the state it
        saw; -1 before the first snapshot."""
        positions = self._positions.get((process, kind))
        if positions is None:
            return np.full(len(rows), -1, np.int64)
        return np.searchsorted(positions, rows, side="right") - 1

    def state_at(self, process: int, kind: IdKind, row: int) -> EventRecord | None:
        """The last snapshot of ``process`` recorded before issue row ``row``."""
        index = int(self.snapshot_index(process, kind, np.array([row]))[0])
        return None if index < 0 else self.snapshots(process, kind)[index]

    def origin(self, process: int, kind: IdKind, begin: int, row: int) -> EventRecord | None:
        """The event that gave ``process`` the range starting at ``begin``, as
        of issue row ``row``: its latest claim or receipt of that range, else
        the first cache load that already held it."""
        snapshots = [e for e in self.snapshots(process, kind) if e.position <= row]
        for event in reversed(snapshots):
            if event.op in (Op.CLAIM, Op.RECEIVE) and event.type is OpType.OK \
                    and event.begin == begin:
                return event
        for event in snapshots:
            if event.op is Op.CACHE_LOAD and begin in (event.cur_begin, event.next_begin):
                return event
        return None

    def transfer_of(self, received: EventRecord) -> EventRecord | None:
        """The donor's transfer event matching a clone's receipt."""
        for event in self.events:
            if (event.op is Op.TRANSFER and event.kind is received.kind
                    and event.process != received.process
                    and (event.begin, event.end) == (received.begin, received.end)):
                return event
        return None

    def lifecycle_between(self, process: int, first_row: int, last_row: int) -> list[EventRecord]:
        """Crashes, restarts and cache loads of ``process`` between two issue rows."""
        found = [e for e in self.lifecycle.get(process, [])
                 if first_row < e.position <= last_row]
        found += [e for (p, _), indices in self._snapshots.items() if p == process
                  for e in (self.events[i] for i in indices)
                  if e.op is Op.CACHE_LOAD and first_row < e.position <= last_row]
        return sorted(found, key=lambda e: e.position)
