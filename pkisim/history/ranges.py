"""Range conformance: the invariants of dogtag-ranges.md section 10, items 2-4.

* ``before-first-range`` / ``outside-range``: every issued ID lay in its CA's
  current range at issue time (the state of the CA's last range event recorded
  before the issuance; a CA's first state comes from its first event, a
  RangeReceived or CacheLoaded).
* ``not-increasing``: within one range, a CA's acknowledged IDs strictly
  increase (sequential strategies; pass ``sequential=False`` for random ones).
* ``overlap``: the current and next ranges of all CAs are pairwise disjoint at
  all times (a sweep over the events; each overlap is reported when it starts).
  Record a clone transfer donor-first: the donor's RangeTransferred, then the
  clone's RangeReceived.
* ``transfer``: a transfer partitions the donor's range exactly (the slice was
  the top of the range and the donor now ends just below it) and a clone
  received exactly that slice.  A slice larger than the next range it came
  from is reported as such: Dogtag cuts it all the same and writes a next end
  below the next begin (dogtag-ranges.md 4.3, 7.5), and its switch to that
  range issues the begin, which the clone holds.
* ``next-range-decreased``: the ``nextRange`` values successful claims wrote
  never decrease (per ID space).

CAs without any range event for an ID space (random strategies, foreign
histories) are not checked; their IDs are counted in ``unchecked_count``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

import pkisim.history.runchecks as runchecks
from pkisim.history.history import (
    ISSUE_OPS,
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
    join128,
    less_equal,
    split128,
)
from pkisim.ids.config import IdKind

_MAX128 = (1 << 128) - 1
RULES = ("before-first-range", "outside-range", "not-increasing", "overlap", "transfer",
         "next-range-decreased")


@dataclass(frozen=True)
class RangeViolation:
    """One broken invariant.  ``ids`` holds examples (the first few IDs), or the
    bounds of an overlap or of a transferred slice; ``count`` how many IDs or
    events the violation stands for."""

    rule: str
    time: float
    process: str
    kind: IdKind
    message: str
    ids: tuple[int, ...] = ()
    count: int = 1

    def __str__(self) -> str:
        return f"t={fmt_time(self.time)} {self.rule}: {self.message}"


@dataclass(frozen=True)
class RangeResult:
    violations: tuple[RangeViolation, ...]
    checked_count: int
    unchecked_count: int

    @property
    def valid(self) -> bool:
        return not self.violations

    def counts(self) -> dict[str, int]:
        """Violations per rule."""
        found = Counter(v.rule for v in self.violations)
        return {rule: found[rule] for rule in RULES}

    def __str__(self) -> str:
        head = (f"ranges: {'valid' if self.valid else 'INVALID'} ({self.checked_count} IDs "
                f"checked, {self.unchecked_count} without range events)")
        return "\n".join([head, *(f"  {v}" for v in self.violations)])


def check_ranges(history: History, *, sequential: bool = True) -> RangeResult:
    """Check every range invariant; see the module docstring.  The IDs must be
    integers (a Jepsen history's string IDs lie in no range): ValueError."""
    if not history.integer_ids:
        raise ValueError("check_ranges: the history has IDs that are not integers; "
                         "ranges hold integers only")
    timeline = Timeline(history)
    if history.has_runs:
        found, checked, unchecked = _check_runs(history, timeline, sequential)
    else:
        found, checked, unchecked = _check_rows(history, timeline, sequential)
    found += _overlaps(history, timeline)
    found += _transfers(history, timeline)
    found += _next_range_monotonic(history, timeline)
    found.sort(key=lambda v: (v.time, RULES.index(v.rule)))
    return RangeResult(tuple(found), checked, unchecked)


def _check_rows(history: History, timeline: Timeline,
                sequential: bool) -> tuple[list[RangeViolation], int, int]:
    """The ID rules, row by row: violations, IDs checked, IDs unchecked."""
    c = history.columns()
    narrow = not c.hi.any()  # every ID below 2**64 (cheap: an unused column is not in memory)
    flagged = bool(c.flag.any())  # some row without a plain value
    found: list[RangeViolation] = []
    checked = unchecked = 0
    for op, kind in ISSUE_OPS.items():
        chosen = (c.op == op) & (c.type != OpType.INVOKE)
        present = chosen & (c.flag == VALUE_PRESENT) if flagged else chosen
        for process, rows in _rows_by_process(c, present, len(history.process_names)):
            snapshots = timeline.snapshots(process, kind)
            if not snapshots:
                unchecked += len(rows)
                continue
            checked += len(rows)
            check = _ProcessCheck(history, c, timeline, process, kind, rows, snapshots, narrow)
            found += check.in_range()
            if sequential:
                found += check.increasing()
        others = history.other_values
        found += _other_values(history, timeline, kind, (
            (row, int(c.process[row]), float(c.time[row]), others[row])
            for row in np.flatnonzero(chosen & (c.flag == VALUE_OTHER)).tolist()))
    return found, checked, unchecked


def _check_runs(history: History, timeline: Timeline,
                sequential: bool) -> tuple[list[RangeViolation], int, int]:
    """The ID rules on runs and single rows (:mod:`pkisim.history.runchecks`)."""
    found: list[RangeViolation] = []
    checked = unchecked = 0
    for op, kind in ISSUE_OPS.items():
        item = runchecks.items(history, op)
        chosen = item.type != OpType.INVOKE
        mine = item.pick(chosen & runchecks.present(item))
        for process in np.unique(mine.process).tolist():
            of = mine.pick(mine.process == process)
            snapshots = timeline.snapshots(process, kind)
            if not snapshots:
                unchecked += int(of.count.sum())
                continue
            checked += int(of.count.sum())
            check = _RunCheck(history, timeline, process, kind, of, snapshots)
            found += check.in_range()
            if sequential:
                found += check.increasing()
        found += _other_values(history, timeline, kind, (
            (int(item.row[i]), int(item.process[i]), float(item.time[i]), value)
            for i, value in runchecks.other_ids(history, item, chosen)))
    return found, checked, unchecked


def _rows_by_process(c: IssueColumns, chosen: np.ndarray,
                     processes: int) -> Iterator[tuple[int, np.ndarray]]:
    """The chosen rows of each process, in row order, processes by code.  One
    pass per process instead of one sort of every row: a few MB per process
    rather than several copies of the whole column at ten million rows."""
    if chosen.any():
        for process in range(processes):
            rows = np.flatnonzero(chosen & (c.process == process))
            if len(rows):
                yield process, rows


class _ProcessCheck:
    """The ID checks of one CA and ID space, vectorised over its rows."""

    def __init__(self, history: History, c: IssueColumns, timeline: Timeline, process: int,
                 kind: IdKind, rows: np.ndarray, snapshots: list[EventRecord],
                 narrow: bool) -> None:
        self.history, self.c, self.kind, self.rows = history, c, kind, rows
        self.name = history.process_names[process]
        self.snapshots = snapshots
        self.state = timeline.snapshot_index(process, kind, rows)
        self.begin = split128([s.cur_begin if s.cur_begin is not None else 1 for s in snapshots])
        self.end = split128([s.cur_end if s.cur_end is not None else 0 for s in snapshots])
        self.narrow = narrow
        self.narrow_ranges = not (self.begin[0].any() or self.end[0].any())

    def _range(self, state: int) -> str:
        s = self.snapshots[state]
        return fmt_range(s.cur_begin, s.cur_end, self.kind)

    def in_range(self) -> list[RangeViolation]:
        rows, state = self.rows, self.state
        found = []
        before = state < 0
        if before.any():
            bad = rows[before]
            found.append(self._violation(
                "before-first-range", bad,
                f"{self.name} issued {len(bad)} {id_name(self.kind)}(s) before its first "
                f"range event (first {fmt_id(self._value(bad[0]), self.kind)})"))
        if before.any():
            known = ~before
            rows, state = rows[known], state[known]
        hi, lo = self._values(rows)
        if self.narrow and self.narrow_ranges:  # 64-bit IDs and ranges: fewer gathers
            inside = self.begin[1][state] <= lo
            inside &= lo <= self.end[1][state]
        else:
            inside = (less_equal(self.begin[0][state], self.begin[1][state], hi, lo)
                      & less_equal(hi, lo, self.end[0][state], self.end[1][state]))
        for s in np.unique(state[~inside]).tolist():
            bad = rows[~inside & (state == s)]
            found.append(self._violation(
                "outside-range", bad,
                f"{self.name} issued {len(bad)} {id_name(self.kind)}(s) outside its range "
                f"{self._range(s)} (first {fmt_id(self._value(bad[0]), self.kind)})"))
        return found

    def increasing(self) -> list[RangeViolation]:
        c = self.c
        ok = (c.type[self.rows] == OpType.OK) & (self.state >= 0)
        rows, state = self.rows[ok], self.state[ok]
        if len(rows) < 2:
            return []
        hi, lo = self._values(rows)
        blo = self.begin[1][state]
        same_range = blo[1:] == blo[:-1]
        if not self.narrow_ranges:
            bhi = self.begin[0][state]
            same_range &= bhi[1:] == bhi[:-1]
        if self.narrow:
            back = same_range & (lo[1:] <= lo[:-1])
        else:
            back = same_range & less_equal(hi[1:], lo[1:], hi[:-1], lo[:-1])
        found = []
        for s in np.unique(state[1:][back]).tolist():
            where = np.flatnonzero(back & (state[1:] == s))
            first = where[0]
            found.append(self._violation(
                "not-increasing", rows[1:][where],
                f"{self.name} issued {fmt_id(self._value(rows[first + 1]), self.kind)} after "
                f"{fmt_id(self._value(rows[first]), self.kind)} within its range "
                f"{self._range(s)} ({len(where)} time(s))"))
        return found

    def _values(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(hi, lo) of ``rows``; ``hi`` a broadcast zero when no ID needs it."""
        if self.narrow:
            return np.zeros(1, np.uint64), self.c.lo[rows]
        return self.c.hi[rows], self.c.lo[rows]

    def _value(self, row: int) -> int:
        return int(self.c.hi[row]) << 64 | int(self.c.lo[row])

    def _violation(self, rule: str, rows: np.ndarray, message: str) -> RangeViolation:
        examples = tuple(join128(self.c.hi[rows[:5]], self.c.lo[rows[:5]]))
        return RangeViolation(rule, float(self.c.time[rows[0]]), self.name, self.kind, message,
                              examples, len(rows))


def _other_values(history: History, timeline: Timeline, kind: IdKind,
                  rows: Iterable[tuple[int, int, float, object]]) -> list[RangeViolation]:
    """Values outside [0, 2**128) lie in no sensible range: report each of
    them (``rows``: row, process, time, value)."""
    found = []
    for row, process, time, value in rows:
        state = timeline.state_at(process, kind, row)
        if state is None:
            continue
        if state.cur_begin is not None and state.cur_end is not None \
                and state.cur_begin <= value <= state.cur_end:
            continue
        name = history.process_names[process]
        found.append(RangeViolation(
            "outside-range", time, name, kind,
            f"{name} issued {fmt_id(value, kind)} outside its range "
            f"{fmt_range(state.cur_begin, state.cur_end, kind)}", (value,)))
    return found


class _RunCheck:
    """The ID checks of one CA and ID space on its runs and single rows
    (``item``, in recording order): what :class:`_ProcessCheck` finds row by row."""

    def __init__(self, history: History, timeline: Timeline, process: int, kind: IdKind,
                 item: runchecks.Items, snapshots: list[EventRecord]) -> None:
        self.history, self.kind, self.item = history, kind, item
        self.name = history.process_names[process]
        self.snapshots = snapshots
        self.state = timeline.snapshot_index(process, kind, item.row)
        self.begin = [min(max(1 if s.cur_begin is None else s.cur_begin, 0), _MAX128)
                      for s in snapshots]
        self.end = [min(max(0 if s.cur_end is None else s.cur_end, 0), _MAX128)
                    for s in snapshots]
        self.b_hi, self.b_lo = split128(self.begin)
        self.e_hi, self.e_lo = split128(self.end)

    def _range(self, state: int) -> str:
        s = self.snapshots[state]
        return fmt_range(s.cur_begin, s.cur_end, self.kind)

    def _violation(self, rule: str, item: runchecks.Items, pieces: list[tuple[int, int, int]],
                   message: str) -> RangeViolation:
        """``pieces``: (item, first rank, issuances) in recording order."""
        examples: list[int] = []
        for i, rank, n in pieces[:5]:
            examples += [runchecks.value_at(item, i, rank + k) for k in range(min(n, 5))]
        i, rank, _ = pieces[0]
        time = runchecks.row_time(self.history, item, i, rank)[1]
        return RangeViolation(rule, time, self.name, self.kind, message, tuple(examples[:5]),
                              sum(n for _, _, n in pieces))

    def in_range(self) -> list[RangeViolation]:
        item, state, kind = self.item, self.state, self.kind
        found = []
        before = np.flatnonzero(state < 0).tolist()
        if before:
            pieces = [(i, 0, int(item.count[i])) for i in before]
            total = sum(n for _, _, n in pieces)
            found.append(self._violation(
                "before-first-range", item, pieces,
                f"{self.name} issued {total} {id_name(kind)}(s) before its first range event "
                f"(first {fmt_id(runchecks.value_at(item, before[0]), kind)})"))
        known = np.flatnonzero(state >= 0)
        s = state[known]
        last_lo, last_hi = item.last()
        inside = (less_equal(self.b_hi[s], self.b_lo[s], item.hi[known], item.lo[known])
                  & less_equal(last_hi[known], last_lo[known], self.e_hi[s], self.e_lo[s]))
        outside: dict[int, list[tuple[int, int, int]]] = {}
        for i in known[~inside].tolist():
            at = int(state[i])
            first, count = runchecks.value_at(item, i), int(item.count[i])
            last, begin, end = first + count - 1, self.begin[at], self.end[at]
            below = min(last, begin - 1) if first < begin else first - 1
            if below >= first:
                outside.setdefault(at, []).append((i, 0, below - first + 1))
            above = max(first, end + 1, below + 1)
            if above <= last:
                outside.setdefault(at, []).append((i, above - first, last - above + 1))
        for at, pieces in sorted(outside.items()):
            i, rank, _ = pieces[0]
            found.append(self._violation(
                "outside-range", item, pieces,
                f"{self.name} issued {sum(n for _, _, n in pieces)} {id_name(kind)}(s) outside "
                f"its range {self._range(at)} (first "
                f"{fmt_id(runchecks.value_at(item, i, rank), kind)})"))
        return found

    def increasing(self) -> list[RangeViolation]:
        ok = (self.item.type == OpType.OK) & (self.state >= 0)
        item, state = self.item.pick(ok), self.state[ok]
        if len(state) < 2:
            return []
        last_lo, last_hi = item.last()
        a, b = state[:-1], state[1:]
        back = (self.b_hi[b] == self.b_hi[a]) & (self.b_lo[b] == self.b_lo[a])
        back &= less_equal(item.hi[1:], item.lo[1:], last_hi[:-1], last_lo[:-1])
        found = []
        for s in np.unique(b[back]).tolist():
            where = (np.flatnonzero(back & (b == s)) + 1).tolist()
            first = where[0]
            previous = runchecks.value_at(item, first - 1, int(item.count[first - 1]) - 1)
            found.append(self._violation(
                "not-increasing", item, [(i, 0, 1) for i in where],
                f"{self.name} issued {fmt_id(runchecks.value_at(item, first), self.kind)} "
                f"after {fmt_id(previous, self.kind)} within its range {self._range(s)} "
                f"({len(where)} time(s))"))
        return found


def _held(event: EventRecord) -> dict[str, tuple[int, int]]:
    ranges = {"current": (event.cur_begin, event.cur_end), "next": (event.next_begin,
                                                                    event.next_end)}
    return {slot: (b, e) for slot, (b, e) in ranges.items()
            if b is not None and e is not None and b <= e}


_KRA_KINDS = (IdKind.KEY, IdKind.KEY_REQUEST)
_KRA_OPS = (int(Op.ISSUE_KEY), int(Op.ISSUE_KEY_REQUEST))


def _overlaps(history: History, timeline: Timeline) -> list[RangeViolation]:
    held: dict[tuple[int, IdKind], dict[str, tuple[int, int]]] = {}
    active: dict[IdKind, set[tuple]] = {}
    found = []
    # Each subsystem's database has its own replica-ID space (a CA's and a
    # KRA's in different suffixes): a process is a KRA if it has key IDs.
    kra: set[int] = set()
    for c in (history.singles(), history.runs()):  # runs stay runs
        kra |= set(np.unique(c.process[np.isin(c.op, _KRA_OPS)]).tolist())
    kra |= {e.process for e in timeline.events if e.kind in _KRA_KINDS}
    for event in timeline.events:
        if event.op is Op.DECOMMISSION:
            for key in [k for k in held if k[0] == event.process]:
                del held[key]
            continue
        if event.kind is None:
            continue
        kind = event.kind
        held[(event.process, kind)] = _held(event)
        intervals = [(p, slot, b, e) for (p, k), ranges in held.items() if k is kind
                     and (p in kra) == (event.process in kra)
                     for slot, (b, e) in ranges.items()]
        now: dict[tuple, tuple] = {}
        for i, (p1, s1, b1, e1) in enumerate(intervals):
            for p2, s2, b2, e2 in intervals[i + 1:]:
                if b1 <= e2 and b2 <= e1:
                    now[((p1, b1), (p2, b2))] = (p1, s1, b1, e1, p2, s2, b2, e2)
        for key in set(now) - active.get(kind, set()):
            p1, s1, b1, e1, p2, s2, b2, e2 = now[key]
            n1, n2 = history.process_names[p1], history.process_names[p2]
            found.append(RangeViolation(
                "overlap", event.time, history.process_names[event.process], kind,
                f"{n1}'s {s1} range {fmt_range(b1, e1, kind)} overlaps {n2}'s {s2} range "
                f"{fmt_range(b2, e2, kind)}", (max(b1, b2), min(e1, e2))))
        active[kind] = set(now)
    return found


def _transfers(history: History, timeline: Timeline) -> list[RangeViolation]:
    found = []
    # a slice whose clone install failed is accounted for (lost, a waste), not a bad transfer
    received = {(e.kind, e.begin, e.end) for e in timeline.events if e.op is Op.RECEIVE}
    for process, kind in timeline.pairs():
        name = history.process_names[process]
        snapshots = timeline.snapshots(process, kind)
        for i, event in enumerate(snapshots):
            if event.op is not Op.TRANSFER or event.begin is None or event.end is None:
                continue
            slot = "next" if event.from_next else "current"
            now_end = event.next_end if event.from_next else event.cur_end
            before = snapshots[i - 1] if i else None
            before_end = None if before is None else (
                before.next_end if event.from_next else before.cur_end)
            piece = fmt_range(event.begin, event.end, kind)
            problems = []
            if now_end != event.begin - 1:
                problems.append(f"{name} transferred {piece} from its {slot} range but "
                                f"that range now ends at {fmt_id(now_end, kind)}, "
                                f"not {fmt_id(event.begin - 1, kind)}")
            if before is not None and before_end != event.end:
                problems.append(f"{name} transferred {piece}, which is not the top of "
                                f"its {slot} range (it ended at {fmt_id(before_end, kind)})")
            floor = None if before is None else (before.next_begin if event.from_next
                                                 else before.cur_begin)
            if floor is not None and event.begin < floor:
                problems.append(
                    f"{name} transferred {piece} from its {slot} range "
                    f"{fmt_range(floor, before_end, kind)}, which held "
                    f"{max(0, (before_end or 0) - floor + 1)} numbers: the slice reaches "
                    f"{floor - event.begin} below it and the range now ends at "
                    f"{fmt_id(now_end, kind)}, below its begin (Dogtag writes that end "
                    f"unchecked); switching to it issues {fmt_id(floor, kind)}, the clone's")
            if (kind, event.begin, event.end) not in received:
                problems.append(f"no clone received the slice {piece} {name} transferred")
            found += [RangeViolation("transfer", event.time, name, kind, message,
                                     (event.begin, event.end)) for message in problems]
    return found


def _next_range_monotonic(history: History, timeline: Timeline) -> list[RangeViolation]:
    found = []
    highest: dict[IdKind, tuple[int, EventRecord]] = {}
    for event in timeline.events:
        kind = event.kind
        if event.op is not Op.CLAIM or event.type != OpType.OK or event.record_end is None \
                or kind is None:
            continue
        written = event.record_end + 1
        before = highest.get(kind)
        if before is not None and written < before[0]:
            name = history.process_names[event.process]
            found.append(RangeViolation(
                "next-range-decreased", event.time, name, kind,
                f"{name}'s claim (read {event.counter}) set nextRange to {written}, below "
                f"{before[0]} set by {history.process_names[before[1].process]}'s claim at "
                f"t={fmt_time(before[1].time)}", (written, before[0])))
        if before is None or written > before[0]:
            highest[kind] = (written, event)
    return found
