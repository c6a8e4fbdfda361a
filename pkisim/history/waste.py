"""Where the numbers went: one row per range a CA held, claimed or lost.

A range enters the report when a CA receives it (master's initial range, a
clone's transferred slice), loads it at start-up, or claims it as its next
range; a range a CA re-enters (a restarted process receives or loads the range
it held, or a stale CS.cfg brings back one it had left) is the same row, so
its numbers are counted once.  It leaves when the CA switches away from it, replaces it (a start-up
that loaded a different range), is decommissioned, overwrites an unused next
range with a new claim, or drops it after a replication conflict.  A failed
claim that moved ``nextRange`` but wrote no record burns its record range; so
does a clone install that failed after its donor had cut a slice for it.

Columns: ``process``, ``kind``, ``begin``/``end`` (as acquired), ``source``
(received, loaded, claimed, claim failed, install failed), ``acquired_at``, ``status``
(current, next, switched, replaced, decommissioned, overwritten, dropped,
burned), ``left_at``, ``counter`` (the ``nextRange`` a claim read) and the
account, in numbers:

* ``claimed`` = end - begin + 1: the numbers the range held when the CA took
  it (by claim, receipt or start-up load);
* ``transferred``: given to clones;
* ``issued``: acknowledged IDs in the range; ``failed``: IDs that info or fail
  operations consumed;
* ``skipped``: numbers below the highest one used that no operation carries;
* ``stranded``: numbers above the highest used when the range was left;
  ``remaining`` the same for a range still held at the end of the history;
* ``gap``: SSNv1 only: the numbers between this claim's real range and the real
  range the next claim will get.  The ``pkiRange`` record says
  ``[N, N + increment - 1]`` in decimal while the CA holds ``0xN...``; the next
  claim reads ``N + increment`` and gets ``int(str(N + increment), 16)``, so
  the numbers in between belong to nobody (dogtag-ranges.md section 4.4).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np
import pandas as pd

import pkisim.history.runchecks as runchecks
from pkisim.history.history import VALUE_PRESENT, EventRecord, History, Op, OpType
from pkisim.history.timeline import Timeline, join128, op_of
from pkisim.ids.config import IdKind

COLUMNS = ("process", "kind", "begin", "end", "source", "acquired_at", "status", "left_at",
           "counter", "claimed", "transferred", "issued", "failed", "skipped", "stranded",
           "remaining", "gap")
_HELD = ("current", "next")


@dataclass
class _Range:
    process: int
    kind: IdKind
    begin: int
    end: int
    source: str
    acquired_at: float
    status: str
    counter: str | None = None
    gap: int = 0
    left_at: float | None = None
    transferred: int = 0

    def __post_init__(self) -> None:
        self.end_now = self.end

    def leave(self, status: str, time: float) -> None:
        self.status, self.left_at = status, time


def waste_report(history: History) -> pd.DataFrame:
    """The account of every range in ``history``; see the module docstring."""
    ranges = _ranges(Timeline(history))
    used = _Usage(history)
    rows = []
    for r in ranges:
        issued, failed, high, distinct = (0, 0, None, 0) if r.status == "burned" else \
            used.within(r.process, r.kind, r.begin, r.end)
        consumed = 0 if high is None else high - r.begin + 1
        left = max(0, r.end_now - (r.begin - 1 if high is None else high))
        rows.append({
            "process": history.process_names[r.process], "kind": r.kind.value,
            "begin": r.begin, "end": r.end, "source": r.source, "acquired_at": r.acquired_at,
            "status": r.status, "left_at": r.left_at, "counter": r.counter,
            "claimed": r.end - r.begin + 1, "transferred": r.transferred, "issued": issued,
            "failed": failed, "skipped": consumed - distinct,
            "stranded": 0 if r.status in _HELD else left,
            "remaining": left if r.status in _HELD else 0, "gap": r.gap})
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    return frame.astype({"left_at": "float64", "acquired_at": "float64"})


def _ranges(timeline: Timeline) -> list[_Range]:
    """Walk the events once, keeping each CA's current and next range."""
    out: list[_Range] = []
    current: dict[tuple[int, IdKind], _Range] = {}
    following: dict[tuple[int, IdKind], _Range] = {}
    #: Every range a CA held, by (CA, ID space, begin): re-entered, it is the same row.
    seen: dict[tuple[int, IdKind, int], _Range] = {}

    def acquire(table: dict, key: tuple[int, IdKind], event: EventRecord, begin: int, end: int,
                source: str, status: str, **extra: object) -> None:
        again = seen.get((*key, begin))
        held = table.pop(key, None)
        if held is not None and held is not again:
            held.leave("replaced" if status == "current" else "overwritten", event.time)
        if again is not None:
            for other in (current, following):
                if other.get(key) is again:
                    del other[key]
            again.status, again.left_at = status, None
            table[key] = again
            return
        table[key] = seen[(*key, begin)] = _Range(key[0], key[1], begin, end, source,
                                                   event.time, status, **extra)
        out.append(table[key])

    for e in timeline.events:
        if e.op is Op.DECOMMISSION:
            for table in (current, following):
                for key in [k for k in table if k[0] == e.process]:
                    table.pop(key).leave("decommissioned", e.time)
        if e.kind is None:
            continue
        key = (e.process, e.kind)
        if e.op is Op.RECEIVE and e.type == OpType.FAIL and e.begin is not None \
                and e.end is not None:  # a slice cut for a clone whose install failed
            out.append(_Range(e.process, e.kind, e.begin, e.end, "install failed", e.time,
                              "burned", left_at=e.time))
        elif e.op is Op.RECEIVE and e.begin is not None and e.end is not None:
            acquire(current, key, e, e.begin, e.end, "received", "current")
        elif e.op is Op.CACHE_LOAD:
            if e.cur_begin is not None and e.cur_end is not None and (
                    key not in current or current[key].begin != e.cur_begin):
                acquire(current, key, e, e.cur_begin, e.cur_end, "loaded", "current")
            if e.next_begin is not None and e.next_end is not None and (
                    key not in following or following[key].begin != e.next_begin):
                acquire(following, key, e, e.next_begin, e.next_end, "loaded", "next")
        elif e.op is Op.CLAIM and e.type == OpType.OK and e.begin is not None \
                and e.end is not None:
            acquire(following, key, e, e.begin, e.end, "claimed", "next", counter=e.counter,
                    gap=_ssnv1_gap(e))
        elif e.op is Op.CLAIM and e.record_begin is not None and e.record_end is not None:
            out.append(_Range(e.process, e.kind, e.record_begin, e.record_end, "claim failed",
                              e.time, "burned", left_at=e.time))
        elif e.op is Op.SWITCH and e.begin is not None and e.end is not None:
            held = current.get(key)
            if held is not None and (held.begin, held.end) == (e.begin, e.end):
                continue  # a switch into the range it already holds (a DNA slice received empty)
            if key in current:
                current.pop(key).leave("switched", e.time)
            if key in following and following[key].begin == e.begin:
                current[key] = following.pop(key)
                current[key].status = "current"
            else:
                acquire(current, key, e, e.begin, e.end, "switched to", "current")
        elif e.op is Op.TRANSFER and e.begin is not None and e.end is not None:
            held = (following if e.from_next else current).get(key)
            if held is not None:
                held.transferred += e.end - e.begin + 1
                held.end_now = e.begin - 1
        elif e.op is Op.CONFLICT_DROP and key in following and e.next_begin is None:
            following.pop(key).leave("dropped", e.time)
    return out


def _ssnv1_gap(claim: EventRecord) -> int:
    """Numbers between an SSNv1 claim's real range and the next claim's."""
    rb, re_ = claim.record_begin, claim.record_end
    if rb is None or re_ is None or claim.begin is None or claim.end is None \
            or claim.begin == rb or claim.begin != int(str(rb), 16):
        return 0
    return max(0, int(str(re_ + 1), 16) - claim.end - 1)


class _Usage:
    """Each CA's IDs, sorted once, for counting what fell into a range."""

    def __init__(self, history: History) -> None:
        self.history = history
        self.c = None if history.has_runs else history.columns()
        self._runs: dict[tuple[int, IdKind], list[tuple[int, int, int, int]]] = {}
        self._cache: dict[tuple[int, IdKind], tuple[list[int] | np.ndarray, np.ndarray]] = {}

    def _stretches(self, process: int, kind: IdKind) -> list[tuple[int, int, int, int]]:
        """Runs: (first, last, ok cover, other cover) of the IDs in use, ascending."""
        key = (process, kind)
        if key not in self._runs:
            item = runchecks.items(self.history, op_of(kind))
            item = item.pick((item.process == process) & runchecks.present(item)
                             & (item.type != OpType.INVOKE))
            item = item._replace(issuer=np.zeros(len(item.row), np.int32))
            ok = item.type == OpType.OK
            self._runs[key] = [(b, e, o, n) for _, b, e, (o, n) in runchecks.sweep(
                item, (ok, ~ok), lambda o, n: o + n > 0)]
        return self._runs[key]

    def _within_runs(self, process: int, kind: IdKind, begin: int,
                     end: int) -> tuple[int, int, int | None, int]:
        stretches = self._stretches(process, kind)
        ok = other = distinct = 0
        high = None
        at = bisect.bisect_left([e for _, e, _, _ in stretches], begin)
        for b, e, n_ok, n_other in stretches[at:]:
            if b > end:
                break
            low, high = max(b, begin), min(e, end)
            size = high - low + 1
            ok, other, distinct = ok + size * n_ok, other + size * n_other, distinct + size
        return ok, other, high, distinct

    def _sorted(self, process: int, kind: IdKind) -> tuple[list[int] | np.ndarray, np.ndarray]:
        key = (process, kind)
        if key not in self._cache:
            c = self.c
            assert c is not None
            rows = np.flatnonzero((c.process == process) & (c.op == op_of(kind))
                                  & (c.flag == VALUE_PRESENT) & (c.type != OpType.INVOKE))
            hi, lo, ok = c.hi[rows], c.lo[rows], c.type[rows] == OpType.OK
            if np.count_nonzero(hi):
                values = join128(hi, lo)
                order = np.argsort(np.array(values, dtype=object), kind="stable")
                self._cache[key] = ([values[i] for i in order], ok[order])
            else:
                order = np.argsort(lo, kind="stable")
                self._cache[key] = (lo[order], ok[order])
        return self._cache[key]

    def within(self, process: int, kind: IdKind, begin: int,
               end: int) -> tuple[int, int, int | None, int]:
        """(ok count, other count, highest value, distinct values) in [begin, end]."""
        if self.history.has_runs:
            return self._within_runs(process, kind, begin, end)
        values, ok = self._sorted(process, kind)
        if isinstance(values, np.ndarray):
            if begin >= 1 << 64 or end < 0:
                return 0, 0, None, 0
            low, high = np.uint64(max(begin, 0)), np.uint64(min(end, (1 << 64) - 1))
            i, j = int(np.searchsorted(values, low)), int(np.searchsorted(values, high, "right"))
            segment = values[i:j]
            distinct = int(np.count_nonzero(np.diff(segment))) + 1 if len(segment) else 0
        else:
            i, j = bisect.bisect_left(values, begin), bisect.bisect_right(values, end)
            segment = values[i:j]
            distinct = len(set(segment))
        if not len(segment):
            return 0, 0, None, 0
        n_ok = int(np.count_nonzero(ok[i:j]))
        return n_ok, (j - i) - n_ok, int(segment[-1]), distinct
