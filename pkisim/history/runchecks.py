"""The checkers' reading of a history with runs (:mod:`pkisim.history.runtable`).

A history recorded with :meth:`History.issue_runs` keeps a window's consecutive
IDs as runs; the checkers read it as **items**: every run and every row stored
one by one (a run of one), in recording order, and work on intervals of IDs
instead of IDs: an interval sweep (sort the starts and ends, accumulate how
many items cover each stretch) finds the stretches of IDs carried more than
once in O(items log items), however many IDs the runs hold.  The verdicts,
counts, duplicate samples and witnesses are those of the row-by-row checkers
(``tests/history/test_runs_differential.py`` compares them with a row-wise
reference).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from typing import NamedTuple

import numpy as np

from pkisim.history.history import VALUE_OTHER, VALUE_PRESENT, History, Op, OpType
from pkisim.history.runtable import add128
from pkisim.history.timeline import id_key

_MASK64 = (1 << 64) - 1


class Items(NamedTuple):
    """Runs and single rows of one op, in recording order (``run`` = -1 for a single row)."""

    row: np.ndarray  # int64 logical row of the first issuance
    count: np.ndarray  # int64
    time: np.ndarray  # float64 time of the first issuance
    process: np.ndarray
    replica: np.ndarray
    type: np.ndarray
    lo: np.ndarray  # first value
    hi: np.ndarray
    flag: np.ndarray
    issuer: np.ndarray
    run: np.ndarray  # int64 run index, -1 for a single row

    def last(self) -> tuple[np.ndarray, np.ndarray]:
        """(lo, hi) of each item's last value."""
        return add128(self.lo, self.hi, self.count - 1)

    def pick(self, mask: np.ndarray) -> Items:
        return Items(*(column[mask] for column in self))


def items(history: History, op: Op) -> Items:
    """Every run and single row of ``op``, in recording order."""
    s, r = history.singles(), history.runs()
    mine, runs = s.op == op, np.flatnonzero(r.op == op)
    rows = history.single_rows()[mine]
    n = len(rows)
    parts = (
        (rows, r.row[runs]), (np.ones(n, np.int64), r.count[runs]),
        (s.time[mine], r.time[runs]), (s.process[mine], r.process[runs]),
        (s.replica[mine], r.replica[runs]), (s.type[mine], r.type[runs]),
        (s.lo[mine], r.lo[runs]), (s.hi[mine], r.hi[runs]),
        (s.flag[mine], np.zeros(len(runs), np.uint8)), (s.issuer[mine], r.issuer[runs]),
        (np.full(n, -1, np.int64), runs.astype(np.int64)))
    columns = [np.concatenate(pair) for pair in parts]
    order = np.argsort(columns[0], kind="stable")
    return Items(*(column[order] for column in columns))


def value_at(item: Items, i: int, rank: int = 0) -> int:
    """The value of item ``i``'s issuance at ``rank``."""
    return (int(item.hi[i]) << 64 | int(item.lo[i])) + rank


def row_time(history: History, item: Items, i: int, rank: int = 0) -> tuple[int, float]:
    """Logical row and time of item ``i``'s issuance at ``rank``."""
    if rank == 0 or item.run[i] < 0:
        return int(item.row[i]), float(item.time[i])
    rows, times = history.run_rows(int(item.run[i]), [rank])
    return int(rows[0]), float(times[0])


# -- the interval sweep ------------------------------------------------------------

def sweep(item: Items, weights: tuple[np.ndarray, ...],
          keep: Callable[..., np.ndarray]) -> list[tuple[int, int, int, tuple[int, ...]]]:
    """Stretches of IDs of constant cover: ``(issuer, first, last, covers)``
    where ``covers`` sums each of ``weights`` (one value per item) over the
    items holding the IDs; only stretches where ``keep(*covers)`` (arrays) holds."""
    n = len(item.row)
    if not n:
        return []
    last_lo, last_hi = item.last()
    side = np.r_[np.zeros(n, np.uint8), np.ones(n, np.uint8)]  # 0: before first, 1: after last
    lo, hi = np.r_[item.lo, last_lo], np.r_[item.hi, last_hi]
    issuer = np.r_[item.issuer, item.issuer]
    order = np.lexsort((side, lo, hi, issuer))
    covers = []
    for w in weights:
        w = np.asarray(w, np.int64)
        delta = np.r_[w, -w][order]
        covers.append(np.cumsum(delta)[:-1])
    gap = np.flatnonzero(keep(*covers))
    if not len(gap):
        return []
    a, b = order[gap], order[gap + 1]
    out = []
    for i, j, k in zip(a.tolist(), b.tolist(), gap.tolist(), strict=True):
        start = (int(hi[i]) << 64 | int(lo[i])) + int(side[i])
        end = (int(hi[j]) << 64 | int(lo[j])) - (1 - int(side[j]))
        if start <= end:
            out.append((int(issuer[i]), start, end, tuple(int(c[k]) for c in covers)))
    return out


class Counted(NamedTuple):
    """IDs carried more than once, as stretches ``(first, last, count, issuers)``
    of equal count (the worst issuer's), and exact IDs kept outside [0, 2**128)."""

    stretches: list[tuple[int, int, int, tuple[int, ...]]]
    exact: dict[object, tuple[int, tuple[int, ...]]]

    @property
    def distinct(self) -> int:
        return sum(e - b + 1 for b, e, _, _ in self.stretches) + len(self.exact)

    def best(self, n: int, largest: bool) -> list[tuple[object, int]]:
        """The ``n`` IDs of the highest count with theirs; of equal counts the
        largest (``largest``) or the smallest IDs."""
        found: list[tuple[object, int]] = []
        for b, e, c, _ in self.stretches:  # at most n candidates from each stretch
            values = (range(e, max(b, e - n + 1) - 1, -1) if largest
                      else range(b, min(e, b + n - 1) + 1))
            found += [(v, c) for v in values]
        found += [(v, c) for v, (c, _) in self.exact.items()]
        if largest:
            return heapq.nlargest(n, found, key=lambda kv: (kv[1], id_key(kv[0])))
        return heapq.nsmallest(n, found, key=lambda kv: (-kv[1], id_key(kv[0])))

    def issuers(self, value: object) -> tuple[int, ...]:
        if value in self.exact:
            return self.exact[value][1]
        for b, e, _, codes in self.stretches:
            if isinstance(value, int) and b <= value <= e:
                return codes
        return ()


def count_by_id(per_issuer: Iterable[tuple[int, int, int, int]],
                exact: dict[tuple[int, object], int]) -> Counted:
    """From ``(issuer, first, last, count)`` stretches (disjoint per issuer)
    and ``(issuer, id) -> count``: per ID the worst count and the issuers
    carrying it (by code), as :func:`uniqueness._by_id` does row by row."""
    points: list[tuple[int, int, int, int]] = []  # (position, +1/-1, issuer, count)
    for issuer, b, e, c in per_issuer:
        points += [(b, 1, issuer, c), (e + 1, -1, issuer, c)]
    points.sort(key=lambda p: (p[0], p[1]))
    active: dict[int, int] = {}
    stretches: list[tuple[int, int, int, tuple[int, ...]]] = []
    for i, (at, step, issuer, c) in enumerate(points):
        if step > 0:
            active[issuer] = c
        else:
            del active[issuer]
        end = points[i + 1][0] - 1 if i + 1 < len(points) else at - 1
        if active and end >= at:
            stretches.append((at, end, max(active.values()), tuple(sorted(active))))
    by_value: dict[object, tuple[int, list[int]]] = {}
    for (issuer, value), c in sorted(exact.items(), key=lambda kv: kv[0][0]):
        old = by_value.get(value, (0, []))
        by_value[value] = (max(old[0], c), [*old[1], issuer])
    return Counted(stretches, {v: (c, tuple(i)) for v, (c, i) in by_value.items()})


# -- what each checker reads ---------------------------------------------------------

def present(item: Items) -> np.ndarray:
    return item.flag == VALUE_PRESENT


def other_ids(history: History, item: Items, mask: np.ndarray) -> list[tuple[int, object]]:
    """(item index, exact value) of the chosen single rows whose value is kept
    outside the columns (ints outside [0, 2**128), IDs that are no integers)."""
    others = history.other_values
    return [(i, others[int(item.row[i])])
            for i in np.flatnonzero(mask & (item.flag == VALUE_OTHER)).tolist()]


def extremes(item: Items, mask: np.ndarray) -> tuple[int | None, int | None]:
    """Lowest first and highest last value of the chosen items."""
    if not mask.any():
        return None, None
    lo, hi = item.lo[mask], item.hi[mask]
    last_lo, last_hi = add128(lo, hi, item.count[mask] - 1)
    low = np.lexsort((lo, hi))[0]
    high = np.lexsort((last_lo, last_hi))[-1]
    return (int(hi[low]) << 64 | int(lo[low]), int(last_hi[high]) << 64 | int(last_lo[high]))


def ok_info(item: Items) -> tuple[np.ndarray, np.ndarray]:
    return item.type == OpType.OK, item.type == OpType.INFO


def rows_of(history: History, op: Op, values: list[object]) -> dict[object, list[int]]:
    """Logical rows (ok or info) of ``op`` carrying each value, in recording order."""
    item = items(history, op)
    ok, info = ok_info(item)
    chosen = (ok | info) & present(item)
    last_lo, last_hi = item.last()
    out: dict[object, list[int]] = {}
    for value in values:
        if not (isinstance(value, int) and 0 <= value < 1 << 128):
            continue
        v_hi, v_lo = np.uint64(value >> 64), np.uint64(value & _MASK64)
        inside = chosen & ((item.hi < v_hi) | ((item.hi == v_hi) & (item.lo <= v_lo)))
        inside &= (last_hi > v_hi) | ((last_hi == v_hi) & (last_lo >= v_lo))
        rows = [row_time(history, item, i, value - value_at(item, i))[0]
                for i in np.flatnonzero(inside).tolist()]
        if rows:
            out[value] = sorted(rows)
    exact = set(values)
    for i, value in other_ids(history, item, ok | info):
        if value in exact:
            out.setdefault(value, []).append(int(item.row[i]))
    return out
