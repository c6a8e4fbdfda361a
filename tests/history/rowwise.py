"""A row-by-row reference for the checkers: plain Python over every issue row.

Slow and obvious on purpose: the run-based checkers (interval sweeps over
:mod:`pkisim.history.runtable` runs) must agree with it.
"""

from __future__ import annotations

from collections import Counter

from pkisim.history import History, Op, OpType
from pkisim.history.timeline import id_key, id_kind
from pkisim.ids.config import IdKind

SHOWN = 48


def rows(history: History) -> list[tuple[int, float, int, int, int, object, int]]:
    """(row, time, process, op, type, value, issuer) of every issue row."""
    c = history.columns()
    values = history.values()
    return [(i, float(c.time[i]), int(c.process[i]), int(c.op[i]), int(c.type[i]), values[i],
             int(c.issuer[i])) for i in range(len(values))]


def unique(history: History, op: Op) -> dict[str, object]:
    mine = [r for r in rows(history) if r[3] == op]
    invokes = sum(1 for r in mine if r[4] == OpType.INVOKE)
    oks: Counter[tuple[int, object]] = Counter()
    infos: Counter[tuple[int, object]] = Counter()
    for _, _, _, _, kind, value, issuer in mine:
        if value is not None and kind == OpType.OK:
            oks[(issuer, value)] += 1
        elif value is not None and kind == OpType.INFO:
            infos[(issuer, value)] += 1
    acked = [v for (_, v), n in oks.items() for _ in range(n)]
    lowest = highest = None
    if acked and len({id_kind(v) for v in acked}) == 1:
        lowest, highest = min(acked, key=id_key), max(acked, key=id_key)
    certain: dict[object, int] = {}
    possible: dict[object, int] = {}
    issuers: dict[object, list[str]] = {}
    for key in sorted(oks.keys() | infos.keys(), key=lambda k: k[0]):
        n_ok, n_info = oks[key], infos[key]
        if n_ok >= 2:
            certain[key[1]] = max(certain.get(key[1], 0), n_ok)
            issuers.setdefault(key[1], []).append(history.issuer_names[key[0]])
        elif n_info and n_ok + n_info >= 2:
            possible[key[1]] = max(possible.get(key[1], 0), n_ok + n_info)

    def worst(table: dict[object, int]) -> dict[object, int]:
        ranked = sorted(table.items(), key=lambda kv: (kv[1], id_key(kv[0])), reverse=True)
        return dict(sorted(ranked[:SHOWN], key=lambda kv: (-kv[1], id_key(kv[0]))))

    sample = worst(certain)
    return {
        "attempted_count": invokes or len(mine), "acknowledged_count": len(acked),
        "duplicated_count": len(certain), "duplicated": sample,
        "lowest": lowest, "highest": highest,
        "info_count": sum(1 for r in mine if r[4] == OpType.INFO),
        "possible_duplicated_count": len(possible), "possible_duplicates": worst(possible),
        "duplicated_issuers": ({v: tuple(issuers[v]) for v in sample}
                               if len(history.issuer_names) > 1 else {}),
        "invoke_count": invokes,
        "explained": tuple(sorted(certain, key=lambda v: (-certain[v], id_key(v)))[:SHOWN]),
    }


def held(history: History, process: int, kind: IdKind,
         row: int) -> tuple[int, int | None, int | None] | None:
    """The snapshot ``process`` saw at issue row ``row`` (its index among the
    process's snapshots of ``kind``, its current range); None before any."""
    state = None
    mine = [e for e in history.events if e.process == process and e.kind is kind]
    for i, event in enumerate(mine):
        if event.position <= row:
            state = (i, event.cur_begin, event.cur_end)
    return state


def range_findings(history: History, sequential: bool = True) -> set[tuple]:
    """(rule, process, kind, time of the first bad row, first bad ID, count) of
    the ID rules: before-first-range, outside-range (per range held), not-increasing."""
    kinds = {Op.ISSUE_CERT: IdKind.CERT, Op.ISSUE_REQUEST: IdKind.REQUEST,
             Op.ISSUE_REPLICA: IdKind.REPLICA}
    groups: dict[tuple, list[tuple[float, object]]] = {}
    last: dict[tuple[int, IdKind], tuple[object, object]] = {}
    for row, time, process, op, kind, value, _ in rows(history):
        if kind == OpType.INVOKE or value is None or not isinstance(value, int) \
                or not 0 <= value < 1 << 128:
            continue
        ids = kinds[Op(op)]
        if not any(e.process == process and e.kind is ids for e in history.events):
            continue
        state = held(history, process, ids, row)
        if state is None:
            groups.setdefault(("before-first-range", process, ids), []).append((time, value))
            continue
        begin = 1 if state[1] is None else state[1]
        end = 0 if state[2] is None else state[2]
        if not begin <= value <= end:
            groups.setdefault(("outside-range", process, ids, state[0]), []).append(
                (time, value))
        if sequential and kind == OpType.OK:
            before = last.get((process, ids))
            if before is not None and before[0] == begin and value <= before[1]:
                groups.setdefault(("not-increasing", process, ids, state[0]), []).append(
                    (time, value))
            last[(process, ids)] = (begin, value)
    return {(key[0], history.process_names[key[1]], key[2], found[0][0], found[0][1], len(found))
            for key, found in groups.items()}


def usage(history: History, process: int, kind: IdKind, begin: int,
          end: int) -> tuple[int, int, int | None, int]:
    """(ok count, other count, highest ID, distinct IDs) of ``process``'s
    present, non-invoke IDs in [begin, end] (the waste report's account)."""
    op = {IdKind.CERT: Op.ISSUE_CERT, IdKind.REQUEST: Op.ISSUE_REQUEST,
          IdKind.REPLICA: Op.ISSUE_REPLICA}[kind]
    found = [(value, kind_) for _, _, p, o, kind_, value, _ in rows(history)
             if p == process and o == op and kind_ != OpType.INVOKE
             and isinstance(value, int) and 0 <= value < 1 << 128 and begin <= value <= end]
    ok = sum(1 for _, k in found if k == OpType.OK)
    values = [v for v, _ in found]
    return ok, len(found) - ok, max(values) if values else None, len(set(values))
