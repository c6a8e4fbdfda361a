"""Minimal witnesses for duplicate IDs, in the words of a PKI engineer.

For each duplicated ID: which CAs issued it and when, which range each CA held
at that moment (the last range snapshot recorded before the issuance), which
claim, receipt or start-up load gave it that range, through which replica, and
the likely cause, e.g.::

    serial 0x1000005 issued by ca2 at t=1801.2 and ca3 at t=1900.4; ca2 held
    0x1000000-0x1ffffff from its claim at t=1200.0 on ds2 (nextRange 16777216 ->
    33554432); ca3 held the same range from its claim at t=1200.3 on ds3
    (nextRange 16777216 -> 33554432): two claims read the same nextRange on
    different replicas
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import pkisim.history.runchecks as runchecks
from pkisim.history.history import (
    VALUE_OTHER,
    VALUE_PRESENT,
    EventRecord,
    History,
    IssueColumns,
    Op,
    OpType,
)
from pkisim.history.timeline import (
    Timeline,
    fmt_id,
    fmt_range,
    fmt_time,
    id_name,
    kind_of,
    rows_among,
)
from pkisim.history.uniqueness import UniquenessResult
from pkisim.ids.config import IdKind


@dataclass(frozen=True)
class RangeOrigin:
    """How a CA came to hold a range: its claim (with the ``nextRange`` value it
    read and wrote), a receipt (with the donor's transfer, when recorded), or
    the range it loaded at start-up."""

    op: Op
    time: float
    replica: str | None
    counter: str | None = None
    counter_after: int | None = None
    source: str = ""
    donor: str | None = None
    donor_time: float | None = None

    def describe(self) -> str:
        on = f" on {self.replica}" if self.replica else ""
        if self.op is Op.CLAIM:
            moved = f" -> {self.counter_after}" if self.counter_after is not None else ""
            when = fmt_time(self.time)
            return f"from its claim at t={when}{on} (nextRange {self.counter}{moved})"
        if self.op is Op.RECEIVE:
            if self.donor is not None and self.donor_time is not None:
                return f"from a transfer by {self.donor} at t={fmt_time(self.donor_time)}"
            source = f" ({self.source})" if self.source else ""
            return f"received at t={fmt_time(self.time)}{source}"
        return f"as loaded at start-up at t={fmt_time(self.time)}"


@dataclass(frozen=True)
class Holding:
    """One issuance of a duplicated ID and the range its CA held then."""

    process: str
    row: int
    time: float
    type: OpType
    replica: str | None
    range: tuple[int, int] | None
    inside: bool
    origin: RangeOrigin | None


@dataclass(frozen=True)
class DuplicateWitness:
    """Why one ID was issued more than once; ``str()`` is the explanation."""

    value: int
    kind: IdKind
    issuer: str
    holdings: tuple[Holding, ...]
    cause: str

    def __str__(self) -> str:
        issuer = f" of issuer {self.issuer}" if self.issuer else ""
        issued = [f"{_who(h.process)} at t={fmt_time(h.time)}"
                  + (f" ({h.type.name.lower()})" if h.type is not OpType.OK else "")
                  for h in self.holdings]
        parts, seen = [], {}
        if all(h.range is None for h in self.holdings):
            return (f"{id_name(self.kind)} {fmt_id(self.value, self.kind)}{issuer} issued by "
                    f"{_and(issued)}: {self.cause}")
        for h in self.holdings:
            if (h.process, h.range) in seen:
                continue
            seen[(h.process, h.range)] = True
            parts.append(self._held(h))
        return (f"{id_name(self.kind)} {fmt_id(self.value, self.kind)}{issuer} issued by "
                f"{_and(issued)}; {'; '.join(parts)}: {self.cause}")

    def _held(self, h: Holding) -> str:
        if h.range is None:
            return f"{_who(h.process)} had no recorded range"
        earlier = [o.range for o in self.holdings if o.process != h.process and o.row < h.row]
        text = "the same range" if h.range in earlier else fmt_range(*h.range, self.kind)
        outside = " (the ID lies outside it)" if not h.inside else ""
        origin = h.origin.describe() if h.origin else "(origin not recorded)"
        return f"{_who(h.process)} held {text}{outside} {origin}"


def explain_duplicates(history: History, result: UniquenessResult, limit: int = 10, *,
                       possible: bool = False) -> list[DuplicateWitness]:
    """Witnesses for the first ``limit`` duplicated IDs of ``result`` (the most
    repeated, then the smallest: :attr:`UniquenessResult.explained`) and, with
    ``possible``, for the possible ones too."""
    wanted = list(result.explained or result.duplicated)[:limit]
    if possible:
        wanted += list(result.possible_duplicates)[:max(0, limit - len(wanted))]
    if not wanted:
        return []
    kind = kind_of(result.op)
    timeline = Timeline(history)
    rows_of = (runchecks.rows_of if history.has_runs else _rows_of)(history, result.op, wanted)
    witnesses = []
    for value in wanted:
        rows = rows_of.get(value, [])
        c = history.rows_at(rows)  # the fields of these rows only, runs or not
        by_issuer: dict[int, list[int]] = {}
        for i in range(len(rows)):
            by_issuer.setdefault(int(c.issuer[i]), []).append(i)
        for issuer, picked in sorted(by_issuer.items()):
            if len(picked) < 2:
                continue
            holdings = tuple(_holding(history, c, i, rows[i], timeline, kind, value)
                             for i in picked)
            witnesses.append(DuplicateWitness(value, kind, history.issuer_names[issuer], holdings,
                                              _cause(timeline, holdings, kind)))
    return witnesses


def _rows_of(history: History, op: Op, values: list[object]) -> dict[object, list[int]]:
    """Rows (ok or info) of ``op`` carrying each value, in recording order."""
    c = history.columns()
    chosen = (c.op == op) & ((c.type == OpType.OK) | (c.type == OpType.INFO))
    wide = [v for v in values if isinstance(v, int) and 0 <= v < 1 << 128]
    rows = rows_among(c.lo, np.array([v & (1 << 64) - 1 for v in wide], dtype=np.uint64))
    rows = rows[chosen[rows] & (c.flag[rows] == VALUE_PRESENT)]
    wanted = set(wide)
    out: dict[object, list[int]] = {}
    for row in rows.tolist():
        value = int(c.hi[row]) << 64 | int(c.lo[row])
        if value in wanted:
            out.setdefault(value, []).append(row)
    others, exact = history.other_values, set(values)
    for row in np.flatnonzero(chosen & (c.flag == VALUE_OTHER)).tolist():
        if others[row] in exact:
            out.setdefault(others[row], []).append(row)
    return out


def _holding(history: History, c: IssueColumns, i: int, row: int, timeline: Timeline,
             kind: IdKind, value: object) -> Holding:
    """The holding of issue row ``row``, whose fields are ``c``'s ``i``-th."""
    process = int(c.process[i])
    replica = int(c.replica[i])
    state = timeline.state_at(process, kind, row)
    held = None if state is None or state.cur_begin is None or state.cur_end is None \
        else (state.cur_begin, state.cur_end)
    origin = None
    if held is not None:
        event = timeline.origin(process, kind, held[0], row)
        origin = None if event is None else _origin(history, timeline, event)
    return Holding(process=history.process_names[process], row=row, time=float(c.time[i]),
                   type=OpType(int(c.type[i])),
                   replica=history.replica_names[replica] if replica >= 0 else None,
                   range=held, inside=held is not None and isinstance(value, int)
                   and held[0] <= value <= held[1],
                   origin=origin)


def _origin(history: History, timeline: Timeline, event: EventRecord) -> RangeOrigin:
    replica = history.replica_names[event.replica] if event.replica >= 0 else None
    donor = None
    if event.op is Op.RECEIVE:
        donor = timeline.transfer_of(event)
    return RangeOrigin(
        op=event.op, time=event.time, replica=replica, counter=event.counter,
        counter_after=None if event.record_end is None else event.record_end + 1,
        source=event.detail, donor=None if donor is None else history.process_names[donor.process],
        donor_time=None if donor is None else donor.time)


def _cause(timeline: Timeline, holdings: tuple[Holding, ...], kind: IdKind) -> str:
    a, b = holdings[0], holdings[1]
    if a.range is None and b.range is None:
        return ("no range was recorded for either issuance: a collision of random IDs, "
                "or an allocator without ranges")
    if a.process == b.process:
        code = timeline.history.process_names.index(a.process)
        between = timeline.lifecycle_between(code, a.row, b.row)
        if between:
            what = between[-1]
            action = what.op.name.lower().replace("_", " ")
            return (f"{_who(a.process)} issued it twice: after its {action} at "
                    f"t={fmt_time(what.time)} it resumed below a number it had already issued")
        return f"{_who(a.process)} issued it twice without a restart in between"
    for h in (a, b):
        if h.range is None:
            return f"{_who(h.process)} issued it without any recorded range"
        if not h.inside:
            return f"{_who(h.process)} issued it outside the range it held"
    oa, ob = a.origin, b.origin
    if oa and ob and oa.op is Op.CLAIM and ob.op is Op.CLAIM:
        if oa.counter == ob.counter:
            if oa.replica != ob.replica:
                return "two claims read the same nextRange on different replicas"
            return ("two claims read the same nextRange on the same replica: the "
                    "compare-and-swap did not stop the second")
        return f"claims of nextRange {oa.counter} and {ob.counter} produced overlapping ranges"
    for h, other in ((a, b), (b, a)):
        if h.origin and h.origin.op is Op.RECEIVE and h.origin.donor == other.process:
            return (f"{_who(other.process)} kept issuing from the slice it had transferred to "
                    f"{_who(h.process)}")
    return f"the ranges {fmt_range(*a.range, kind)} and {fmt_range(*b.range, kind)} overlap"


def _who(process: str) -> str:
    """Jepsen numbers its client processes: say "process 3", not "3"."""
    return f"process {process}" if process.isdigit() else process


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
