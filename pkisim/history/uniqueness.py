"""Uniqueness of issued IDs, as Jepsen's ``unique-ids`` checker, with ``info``
operations reported as *possible* duplicates instead of being ignored.

The key is (issuer, ID): the CAs of one topology share an issuer, so a serial
handed out by two different CAs is exactly the duplicate that matters.  IDs
need not be integers (a Jepsen history's strings, UUIDs or ``[node counter]``
vectors are compared by equality, ordered as Clojure orders them); only the
range checkers need integers.  Of more than 48 duplicated IDs the sample keeps
the most repeated, and of equally repeated ones the largest, as Jepsen's
``unique-ids`` does.

Vectorised: sort the low 64 bits of every acknowledged (and info) ID, find equal
neighbours, and only for the rows whose low half collides compare the full
(issuer, hi, lo) keys.  Without any collision the work is one ``np.sort``.
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

import pkisim.history.runchecks as runchecks
from pkisim.history.history import VALUE_OTHER, VALUE_PRESENT, History, Op, OpType
from pkisim.history.timeline import fmt_id, id_key, id_kind, id_text, kind_of, rows_among

#: Jepsen reports the 48 worst duplicates.
DUPLICATES_SHOWN = 48


@dataclass(frozen=True)
class UniquenessResult:
    """The verdict on one op's IDs.

    ``attempted_count`` counts invokes, or completions when the history records
    no invokes (pkisim's simulations record only completions);
    ``invoke_count`` counts invokes alone (Jepsen's ``attempted-count``).
    ``acknowledged_count`` counts ``ok`` operations with an ID.  ``duplicated``
    maps an ID acknowledged more than once to its count (the 48 worst, worst
    first); ``possible_duplicates`` maps IDs that only collide because of
    ``info`` operations (outcome unknown) to their ok + info count.  With more
    than one issuer in the history, ``duplicated_issuers`` names the issuers
    under which each ID repeats, and a count is the worst issuer's.
    ``valid`` is False exactly when some ID is certainly duplicated.
    ``lowest``/``highest``: the range of the acknowledged IDs; ``None`` when
    there are none, or when they are of kinds Clojure cannot compare (strings
    and integers, say).
    """

    op: Op
    attempted_count: int
    acknowledged_count: int
    duplicated_count: int
    duplicated: dict[object, int]
    lowest: object
    highest: object
    info_count: int = 0
    possible_duplicated_count: int = 0
    possible_duplicates: dict[object, int] = field(default_factory=dict)
    duplicated_issuers: dict[object, tuple[str, ...]] = field(default_factory=dict)
    invoke_count: int = 0
    #: The duplicated IDs witnesses explain first: the most repeated, then the
    #: smallest (where the collisions began), :data:`DUPLICATES_SHOWN` at most.
    explained: tuple[object, ...] = ()

    @property
    def valid(self) -> bool:
        return self.duplicated_count == 0

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: IDs as decimal strings, so that 128-bit IDs survive any
        reader (an ID that is no integer as EDN writes it)."""
        return {
            "valid": self.valid, "op": self.op.name.lower(),
            "attempted_count": self.attempted_count,
            "acknowledged_count": self.acknowledged_count,
            "duplicated_count": self.duplicated_count,
            "duplicated": {_text(k): v for k, v in self.duplicated.items()},
            "possible_duplicated_count": self.possible_duplicated_count,
            "possible_duplicates": {_text(k): v for k, v in self.possible_duplicates.items()},
            "info_count": self.info_count,
            "lowest": None if self.lowest is None else _text(self.lowest),
            "highest": None if self.highest is None else _text(self.highest),
            "duplicated_issuers": {_text(k): list(v) for k, v in self.duplicated_issuers.items()},
        }

    def __str__(self) -> str:
        kind = kind_of(self.op)
        verdict = "valid" if self.valid else "INVALID"
        lines = [f"{self.op.name.lower()}: {verdict}",
                 f"  attempted     {self.attempted_count:>12}",
                 f"  acknowledged  {self.acknowledged_count:>12}",
                 f"  duplicated    {self.duplicated_count:>12}",
                 f"  possible      {self.possible_duplicated_count:>12}  (info operations)",
                 f"  lowest        {fmt_id(self.lowest, kind):>12}",
                 f"  highest       {fmt_id(self.highest, kind):>12}"]
        for title, table in (("duplicated", self.duplicated),
                             ("possibly duplicated", self.possible_duplicates)):
            if table:
                ids = [fmt_id(i, kind) for i in table]
                width = max(len("id"), *(len(i) for i in ids))
                lines.append(f"{title} (worst {DUPLICATES_SHOWN} shown):")
                lines.append(f"  {'id':<{width}}  count")
                lines += [f"  {i:<{width}}  {n:>5}" for i, n in zip(ids, table.values(),
                                                                     strict=True)]
        return "\n".join(lines)


def check_unique(history: History, op: Op = Op.ISSUE_CERT) -> UniquenessResult:
    """Check that no (issuer, ID) of ``op`` was acknowledged twice."""
    kind_of(op)
    if history.has_runs:
        return _check_unique_runs(history, op)
    c = history.columns()
    mine = c.op == op
    is_ok = c.type == OpType.OK
    present = c.flag == VALUE_PRESENT if c.flag.any() else np.True_  # all: no mask
    ack = mine & is_ok & present
    acknowledged = int(np.count_nonzero(ack))
    if acknowledged == len(ack):  # the common case: nothing but acknowledged IDs of ``op``
        attempted = infos = 0
        candidates = None
    else:
        invokes = int(np.count_nonzero(mine & (c.type == OpType.INVOKE)))
        attempted = invokes or int(np.count_nonzero(mine))
        info = mine & (c.type == OpType.INFO)
        infos = int(np.count_nonzero(info))
        candidates = ack | (info & present) if infos else ack
        others = _other_groups(history, mine & (is_ok | info), c.flag, c.type, c.issuer)
        acknowledged += sum(oks for oks, _ in others.values())

    lowest, highest = _extremes(c.lo, c.hi, None if candidates is None else ack)
    groups = _colliding_groups(c.lo, c.hi, c.issuer, candidates, is_ok,
                               (lowest, highest) if candidates is None else None)
    if candidates is None:
        return _result(history, op, len(ack), acknowledged, 0, groups, lowest, highest)
    other_acks = [v for (_, v), (oks, _) in others.items() if oks]
    if other_acks:
        lowest, highest = _range([v for v in (lowest, highest) if v is not None] + other_acks)
    return _result(history, op, attempted, acknowledged, infos, {**groups, **others},
                   lowest, highest, invokes)


def _check_unique_runs(history: History, op: Op) -> UniquenessResult:
    """:func:`check_unique` of a history with runs: an interval sweep over the
    runs and single rows (:mod:`pkisim.history.runchecks`)."""
    item = runchecks.items(history, op)
    ok, info = runchecks.ok_info(item)
    has = runchecks.present(item)
    invokes = int(item.count[item.type == OpType.INVOKE].sum())
    oks: Counter[tuple[int, object]] = Counter()
    infos: Counter[tuple[int, object]] = Counter()
    for i, value in runchecks.other_ids(history, item, ok | info):
        (oks if ok[i] else infos)[(int(item.issuer[i]), value)] += 1
    ack = ok & has
    lowest, highest = runchecks.extremes(item, ack)
    if +oks:
        lowest, highest = _range([v for v in (lowest, highest) if v is not None]
                                 + [v for _, v in oks])
    chosen = item.pick(ack | (info & has))
    stretches = runchecks.sweep(chosen, (chosen.type == OpType.OK, chosen.type == OpType.INFO),
                                lambda o, i: o + i >= 2)
    dup = runchecks.count_by_id(
        [(issuer, b, e, o) for issuer, b, e, (o, _) in stretches if o >= 2],
        {key: n for key, n in oks.items() if n >= 2})
    possible = runchecks.count_by_id(
        [(issuer, b, e, o + i) for issuer, b, e, (o, i) in stretches if o < 2 and i],
        {key: oks[key] + n for key, n in infos.items() if oks[key] < 2 and oks[key] + n >= 2})
    names = history.issuer_names
    worst = _sample(dup.best(DUPLICATES_SHOWN, True))
    return UniquenessResult(
        op=op, attempted_count=invokes or int(item.count.sum()),
        acknowledged_count=int(item.count[ack].sum()) + sum(oks.values()),
        duplicated_count=dup.distinct, duplicated=worst, lowest=lowest, highest=highest,
        info_count=int(item.count[info].sum()), possible_duplicated_count=possible.distinct,
        possible_duplicates=_sample(possible.best(DUPLICATES_SHOWN, True)),
        duplicated_issuers={v: tuple(names[i] for i in dup.issuers(v)) for v in worst}
        if len(names) > 1 else {},
        invoke_count=invokes, explained=tuple(v for v, _ in dup.best(DUPLICATES_SHOWN, False)))


def _sample(best: list[tuple[object, int]]) -> dict[object, int]:
    return dict(sorted(best, key=lambda kv: (-kv[1], id_key(kv[0]))))


def _range(values: list[object]) -> tuple[object, object]:
    """Least and greatest of ``values``; none when Clojure could not compare them."""
    if len({id_kind(v) for v in values}) > 1:
        return None, None
    return min(values, key=id_key), max(values, key=id_key)


def _text(value: object) -> str:
    return str(value) if isinstance(value, int) else id_text(value)


def _result(history: History, op: Op, attempted: int, acknowledged: int, infos: int,
            groups: dict[tuple[int, object], tuple[int, int]], lowest: object,
            highest: object, invokes: int = 0) -> UniquenessResult:
    certain: dict[tuple[int, object], int] = {}
    possible: dict[tuple[int, object], int] = {}
    for key, (oks, info) in groups.items():
        if oks >= 2:
            certain[key] = oks
        elif oks + info >= 2 and info:
            possible[key] = oks + info
    names = history.issuer_names
    duplicated, issuers = _by_id(certain, names)
    possible_by_id, _ = _by_id(possible, names)
    worst = _worst(duplicated)
    return UniquenessResult(
        op=op, attempted_count=attempted, acknowledged_count=acknowledged,
        duplicated_count=len(duplicated), duplicated=worst, lowest=lowest, highest=highest,
        info_count=infos, possible_duplicated_count=len(possible_by_id),
        possible_duplicates=_worst(possible_by_id),
        duplicated_issuers={i: issuers[i] for i in worst} if len(names) > 1 else {},
        invoke_count=invokes, explained=tuple(_first(duplicated)))


def _colliding_groups(lo: np.ndarray, hi: np.ndarray, issuer: np.ndarray,
                      rows: np.ndarray | None, is_ok: np.ndarray,
                      extremes: tuple[int | None, int | None] | None = None,
                      ) -> dict[tuple[int, int], tuple[int, int]]:
    """(issuer, value) -> (ok count, info count) for every key carried by more
    than one of the selected rows (``None``: all rows).  ``extremes`` are the
    lowest and highest values when already known."""
    known = extremes if extremes and extremes[1] is not None and extremes[1] >> 64 == 0 else None
    if rows is not None and known is None:
        known = _extremes(lo, hi, rows)
        known = known if known[1] is not None and known[1] >> 64 == 0 else None
    if rows is not None and known is not None and known[1] - known[0] < 1 << 32:
        repeated, counts = _repeated_offsets(lo, rows, known[0])  # no copy of the rows
    else:
        repeated, counts = _repeated(lo if rows is None else lo[rows], known)
    if not len(repeated):
        return {}
    low = lo if rows is None else lo[rows]
    if rows is None and known is not None and not np.count_nonzero(issuer):
        # every row an acknowledged 64-bit ID of one issuer: the sort already counted them
        return {(0, value): (count, 0)
                for value, count in zip(repeated.tolist(), counts.tolist(), strict=True)}
    hit = rows_among(low, repeated)
    index = hit if rows is None else np.flatnonzero(rows)[hit]
    keys = (issuer[index], hi[index], lo[index])
    order = np.lexsort(keys[::-1])
    index = index[order]
    keys = tuple(k[order] for k in keys)
    change = np.zeros(len(index), bool)
    change[0] = True
    for k in keys:
        change[1:] |= k[1:] != k[:-1]
    starts = np.flatnonzero(change)
    sizes = np.diff(np.r_[starts, len(index)])
    oks = np.add.reduceat(is_ok[index].astype(np.int64), starts)
    out = {}
    for start, size, n_ok in zip(starts.tolist(), sizes.tolist(), oks.tolist(), strict=True):
        if size >= 2:
            value = int(keys[1][start]) << 64 | int(keys[2][start])
            out[(int(keys[0][start]), value)] = (n_ok, size - n_ok)
    return out


def _repeated(low: np.ndarray, extremes: tuple[int | None, int | None] | None,
              ) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values occurring more than once in ``low``, sorted, and how
    often each occurs."""
    if not len(low):
        return low, low
    if extremes and extremes[0] is not None and extremes[1] is not None:
        least, most = extremes
    else:
        least, most = int(low.min()), int(low.max())
    if most - least < 1 << 32:  # a range of IDs: sorting 32-bit offsets is twice as fast
        offsets = np.empty(len(low), np.uint32)
        np.subtract(low, np.uint64(least), out=offsets, casting="unsafe")
        values, counts = _sorted_repeats(offsets)
        return values.astype(np.uint64) + np.uint64(least), counts
    return _sorted_repeats(low)


def _repeated_offsets(lo: np.ndarray, rows: np.ndarray, least: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_repeated` of ``lo[rows]`` whose values span less than 2**32:
    the 32-bit offsets gathered a slice at a time and sorted in place."""
    offsets = np.empty(int(np.count_nonzero(rows)), np.uint32)
    base, at, step = np.uint64(least), 0, 1 << 20
    for start in range(0, len(lo), step):
        part = lo[start:start + step][rows[start:start + step]]
        np.subtract(part, base, out=offsets[at:at + len(part)], casting="unsafe")
        at += len(part)
    offsets.sort()
    values, counts = _sorted_repeats(offsets, presorted=True)
    return values.astype(np.uint64) + base, counts


def _sorted_repeats(keys: np.ndarray, presorted: bool = False
                    ) -> tuple[np.ndarray, np.ndarray]:
    ordered = keys if presorted else np.sort(keys)
    values, extra = np.unique(ordered[1:][ordered[1:] == ordered[:-1]], return_counts=True)
    return values, extra + 1


def _other_groups(history: History, rows: np.ndarray, flag: np.ndarray, kind: np.ndarray,
                  issuer: np.ndarray) -> dict[tuple[int, object], tuple[int, int]]:
    """The same for values kept exactly in a side dict (ints outside
    [0, 2**128), IDs that are no integers), and every acknowledged one of them
    (for the range), with an ok count."""
    picked = np.flatnonzero(rows & (flag == VALUE_OTHER))
    if not len(picked):
        return {}
    values = history.other_values
    oks: Counter[tuple[int, object]] = Counter()
    infos: Counter[tuple[int, object]] = Counter()
    for row in picked.tolist():
        key = (int(issuer[row]), values[row])
        (oks if kind[row] == OpType.OK else infos)[key] += 1
    return {key: (oks[key], infos[key]) for key in oks.keys() | infos.keys()}


def _by_id(table: dict[tuple[int, object], int], issuer_names: tuple[str, ...]
           ) -> tuple[dict[object, int], dict[object, tuple[str, ...]]]:
    counts: dict[object, int] = {}
    issuers: dict[object, list[str]] = {}
    for (issuer, value), count in sorted(table.items(), key=lambda kv: kv[0][0]):
        counts[value] = max(counts.get(value, 0), count)
        issuers.setdefault(value, []).append(issuer_names[issuer])
    return counts, {k: tuple(v) for k, v in issuers.items()}


def _first(counts: dict[object, int]) -> list[object]:
    return [v for v, _ in heapq.nsmallest(DUPLICATES_SHOWN, counts.items(),
                                          key=lambda kv: (-kv[1], id_key(kv[0])))]


def _worst(counts: dict[object, int]) -> dict[object, int]:
    """Jepsen's sample: the :data:`DUPLICATES_SHOWN` most repeated IDs, the
    largest of equally repeated ones; shown most repeated first, then by ID."""
    kept = heapq.nlargest(DUPLICATES_SHOWN, counts.items(),
                          key=lambda kv: (kv[1], id_key(kv[0])))
    return dict(sorted(kept, key=lambda kv: (-kv[1], id_key(kv[0]))))


def _extremes(lo: np.ndarray, hi: np.ndarray,
              rows: np.ndarray | None) -> tuple[int | None, int | None]:
    """Lowest and highest value of the selected rows (``None``: all rows)."""
    if rows is not None and not np.count_nonzero(hi):  # 64-bit IDs: a slice at a time
        least = most = None
        step = 1 << 20
        for start in range(0, len(lo), step):
            part = lo[start:start + step][rows[start:start + step]]
            if len(part):
                low, high = int(part.min()), int(part.max())
                least = low if least is None else min(least, low)
                most = high if most is None else max(most, high)
        return least, most
    if rows is not None:
        lo, hi = lo[rows], hi[rows]
    if not len(lo):
        return None, None
    if not np.count_nonzero(hi):
        return int(lo.min()), int(lo.max())
    top, bottom = hi.max(), hi.min()
    return (int(bottom) << 64 | int(lo[hi == bottom].min()),
            int(top) << 64 | int(lo[hi == top].max()))
