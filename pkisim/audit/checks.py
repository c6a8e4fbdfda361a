"""The range checks of an audit: pure functions from a :class:`Deployment` to findings.

* ``nextrange-multivalued``: a ``nextRange`` with several values (a past replication race);
* ``nextrange-behind``: a ``pkiRange`` record at or above ``nextRange`` (the next claim
  repeats it);
* ``replication-conflict``: entries tagged ``nsds5ReplConflict``;
* ``duplicate-range`` / ``overlapping-ranges``: two ``pkiRange`` records that share numbers
  (compared in the CA's numbers: SSNv1 certificate records are reinterpreted as hex);
* ``cscfg-overlap``: the current or next ranges of two CS.cfg files share numbers;
* ``cscfg-next-overrun``: a next range whose end lies below its begin: a clone transfer
  took more than it held (Dogtag writes nextEnd - T unchecked), and the switch to it
  issues its begin, which the clone holds;
* ``cscfg-held-elsewhere`` / ``cscfg-unexplained``: a CS.cfg range that is a claimed
  range recorded for another CA, or that no record, clone transfer (a slice of a
  known range) or the master's initial range explains;
* ``duplicate-serial`` / ``serial-outside-ranges``: a number with two records, or a record
  outside every known range (not checked when a CS.cfg selects random IDs: RSNv3);
* ``ssnv1-gap`` (note): numbers SSNv1's hex/decimal reinterpretation skips between claims;
* ``unknown-attribute`` (note): an attribute outside Dogtag's schema on Dogtag's entries,
  once per attribute (another Dogtag version's, a local extension): not read.
"""

from __future__ import annotations

import bisect
import itertools
from collections import Counter as Tally
from collections.abc import Iterable, Iterator

from pkisim.audit.model import (
    NOTE,
    PROBLEM,
    V1,
    CaConfig,
    Deployment,
    Finding,
    RangeRecord,
    family_of,
)
from pkisim.history.timeline import id_name
from pkisim.ids.config import IdKind

RANGED = (IdKind.CERT, IdKind.REQUEST, IdKind.REPLICA, IdKind.KEY, IdKind.KEY_REQUEST)
_SHOW = 5  # examples named per finding


def fmt(kind: IdKind, number: int) -> str:
    """Certificate serials and key IDs in hex (as Dogtag shows them), other IDs in decimal."""
    return hex(number) if kind is IdKind.CERT or kind is IdKind.KEY else str(number)


def span(kind: IdKind, begin: int, end: int) -> str:
    return f"{fmt(kind, begin)}-{fmt(kind, end)}"


def check_ranges(dep: Deployment) -> list[Finding]:
    """Every range check, in a stable order."""
    out: list[Finding] = []
    out += _counters(dep)
    out += _conflicts(dep)
    out += _record_overlaps(dep)
    out += _cscfg_overlaps(dep)
    out += _cscfg_overruns(dep)
    out += _cscfg_explained(dep)
    out += _issued(dep)
    out += _ssnv1_gaps(dep)
    out += _unknown_attributes(dep)
    return out


# ---------------------------------------------------------------- the directory
def _unknown_attributes(dep: Deployment) -> Iterator[Finding]:
    for attribute in dep.unknown:
        entries = "entry" if attribute.count == 1 else f"{attribute.count:,} entries"
        yield Finding("unknown-attribute", NOTE,
                      f"{attribute.name} on {entries} of Dogtag object class {attribute.classes} "
                      f"(first: {attribute.where}) is not in Dogtag's schema for it: not read")



def _counters(dep: Deployment) -> Iterator[Finding]:
    for counter in dep.counters:
        values = ", ".join(str(v) for v in counter.values)
        if len(counter.values) > 1:
            yield Finding("nextrange-multivalued", PROBLEM,
                          f"nextRange on {counter.dn} has {len(counter.values)} values ({values}):"
                          " two claims raced on different replicas; Dogtag reads the first",
                          counter.kind)
        claimed = [r for r in dep.ranges if r.kind is counter.kind
                   and r.family == counter.family]
        ahead = [r for r in claimed if r.end >= min(counter.values)]
        if ahead:
            yield Finding("nextrange-behind", PROBLEM,
                          f"nextRange {min(counter.values)} on {counter.dn} is not above the "
                          "claimed range "
                          f"{ahead[0].dn} ({ahead[0].begin}-{ahead[0].end}): the next claim "
                          "takes numbers already claimed", counter.kind)


def _conflicts(dep: Deployment) -> Iterator[Finding]:
    if dep.conflicts:
        names = "; ".join(c.dn for c in dep.conflicts[:_SHOW])
        more = f" and {len(dep.conflicts) - _SHOW} more" if len(dep.conflicts) > _SHOW else ""
        yield Finding("replication-conflict", PROBLEM,
                      f"{len(dep.conflicts)} replication conflict entries (nsds5ReplConflict): "
                      f"{names}{more}")


def _pairs(items: list[tuple[int, int, object]]) -> Iterator[tuple[object, object]]:
    """Pairs of (begin, end, tag) intervals that share numbers."""
    items = sorted(items, key=lambda i: (i[0], i[1]))
    for i, (b1, e1, t1) in enumerate(items):
        for b2, e2, t2 in items[i + 1:]:
            if b2 > e1:
                break
            if e2 >= b1:
                yield t1, t2


def _record_overlaps(dep: Deployment) -> Iterator[Finding]:
    for kind in RANGED:
        records = [(*r.actual, r) for r in dep.ranges if r.kind is kind]
        for a, b in _pairs(records):
            assert isinstance(a, RangeRecord) and isinstance(b, RangeRecord)
            same = a.actual == b.actual
            holders = (f"{a.holder}" if a.holder == b.holder
                       else f"{a.holder} and {b.holder}")
            yield Finding("duplicate-range" if same else "overlapping-ranges", PROBLEM,
                          f"pkiRange records {a.dn} and {b.dn} "
                          f"({'both ' if same else ''}{span(kind, *a.actual)}"
                          f"{'' if same else ', ' + span(kind, *b.actual)}) claimed by "
                          f"{holders}", kind)


# ---------------------------------------------------------------- CS.cfg
def _held(dep: Deployment, kind: IdKind) -> list[tuple[int, int, object]]:
    return [(b, e, (ca, which)) for ca in dep.own_cas for which, b, e in ca.held(kind)]


def _cscfg_overlaps(dep: Deployment) -> Iterator[Finding]:
    for kind in RANGED:
        for a, b in _pairs(_held(dep, kind)):
            (ca1, w1), (ca2, w2) = a, b  # type: ignore[misc]
            if ca1 is ca2:
                continue
            r1 = _range_of(ca1, kind, w1)
            r2 = _range_of(ca2, kind, w2)
            yield Finding("cscfg-overlap", PROBLEM,
                          f"{ca1.name}'s {w1} range {span(kind, *r1)} ({ca1.source}) and "
                          f"{ca2.name}'s {w2} range {span(kind, *r2)} ({ca2.source}) share "
                          "numbers: both CAs will issue them", kind, ca2.name)


def _cscfg_overruns(dep: Deployment) -> Iterator[Finding]:
    for ca in dep.own_cas:
        for kind in RANGED:
            config = ca.spaces.get(kind)
            below = 0 if config is None else config.next_overrun_by
            if config is None or not below or not config.mode.ranged:
                continue
            keys = config.keys
            assert config.next_begin is not None and config.next_end is not None
            yield Finding("cscfg-next-overrun", PROBLEM,
                          f"{ca.name}'s dbs.{keys.next_end} {fmt(kind, config.next_end)} is "
                          f"{below} below dbs.{keys.next_begin} {fmt(kind, config.next_begin)} "
                          f"({ca.source}): a clone transfer took more than the next range held, "
                          f"so the clone's slice reaches below it, and switching to it issues "
                          f"{fmt(kind, config.next_begin)}, which that clone holds", kind, ca.name)


def _range_of(ca: CaConfig, kind: IdKind, which: str) -> tuple[int, int]:
    return next((b, e) for w, b, e in ca.held(kind) if w == which)


def initial_end(dep: Deployment, kind: IdKind, family: str) -> int | None:
    """The last number of the master's initial range (which has no record): just
    below the first claimed range, or below ``nextRange`` if nothing was claimed."""
    starts = [r.actual[0] for r in dep.ranges if r.kind is kind and r.family == family]
    starts += [v for c in dep.counters if c.kind is kind and c.family == family for v in c.actual]
    return min(starts) - 1 if starts else None


def _cscfg_explained(dep: Deployment) -> Iterator[Finding]:
    for ca in dep.own_cas:
        for kind in RANGED:
            config = ca.spaces.get(kind)
            if config is None:
                continue
            family = family_of(config.strategy) if kind is not IdKind.REPLICA else V1
            # a conflict entry is the losing claim (Dogtag deletes it): it explains nothing
            records = [r for r in dep.ranges if r.kind is kind and r.family == family
                       and r.conflict is None]
            top = initial_end(dep, kind, family)
            for which, begin, end in ca.held(kind):
                finding = _explain(ca, kind, which, begin, end, records, top)
                if finding is not None:
                    yield finding


def _explain(ca: CaConfig, kind: IdKind, which: str, begin: int, end: int,
             records: list[RangeRecord], initial_top: int | None) -> Finding | None:
    name = f"{ca.name}'s {which} range {span(kind, begin, end)} ({ca.source})"
    exact = [r for r in records if r.actual[0] == begin]
    mine = [r for r in exact if r.holder.lower() == ca.holder.lower()]
    if mine:
        if end <= mine[0].actual[1]:
            return None
        return Finding("cscfg-unexplained", PROBLEM, f"{name} ends above its pkiRange record "
                       f"{mine[0].dn} ({span(kind, *mine[0].actual)})", kind, ca.name)
    if exact:
        holders = ", ".join(sorted({r.holder for r in exact}))
        return Finding("cscfg-held-elsewhere", PROBLEM,
                       f"{name} is the range claimed by {holders} (pkiRange {exact[0].dn}): "
                       "two CAs hold it", kind, ca.name)
    inside = [r for r in records if r.actual[0] < begin and end <= r.actual[1]]
    if inside:  # a clone transfer: a slice of a claimed range
        return None
    if initial_top is not None and end <= initial_top:
        return None  # the master's initial range, or a slice of it
    if initial_top is None and not records:
        return None  # nothing in the directory to compare with
    return Finding("cscfg-unexplained", PROBLEM,
                   f"{name} matches no pkiRange record, no slice of a claimed range and not "
                   "the master's initial range", kind, ca.name)


# ---------------------------------------------------------------- issued records
def known_intervals(dep: Deployment, kind: IdKind) -> list[tuple[int, int]]:
    """Every range the deployment knows for ``kind``, merged."""
    spans = [r.actual for r in dep.ranges if r.kind is kind]
    spans += [(b, e) for b, e, _ in _held(dep, kind)]
    families = {r.family for r in dep.ranges if r.kind is kind}
    families |= {c.family for c in dep.counters if c.kind is kind}
    for family in families:
        top = initial_end(dep, kind, family)
        if top is not None and top >= 0:
            spans.append((0, top))
    return _merge(spans)


def _merge(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for b, e in sorted(spans):
        if out and b <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((b, e))
    return out


def _issued(dep: Deployment) -> Iterator[Finding]:
    for kind in (IdKind.CERT, IdKind.REQUEST, IdKind.KEY, IdKind.KEY_REQUEST):
        what = id_name(kind)
        numbers = [r.number for r in dep.issued if r.kind is kind]
        if not numbers:
            continue
        twice = sorted(n for n, c in Tally(numbers).items() if c > 1)
        if twice:
            yield Finding("duplicate-serial", PROBLEM,
                          f"{len(twice)} {what}s have two records (replication conflicts): "
                          f"{', '.join(fmt(kind, n) for n in twice[:_SHOW])}"
                          f"{' ...' if len(twice) > _SHOW else ''}", kind)
        known = known_intervals(dep, kind)
        if not known or any(ca.spaces[kind].mode.full_length_random for ca in dep.own_cas
                            if kind in ca.spaces):
            continue  # RSNv3 numbers belong to no range
        starts = [b for b, _ in known]
        outside = []
        for n in sorted(set(numbers)):
            i = bisect.bisect_right(starts, n) - 1
            if i < 0 or n > known[i][1]:
                outside.append(n)
        if outside:
            yield Finding("serial-outside-ranges", PROBLEM,
                          f"{len(outside)} {what}s lie outside every known range: "
                          f"{', '.join(fmt(kind, n) for n in outside[:_SHOW])}"
                          f"{' ...' if len(outside) > _SHOW else ''}", kind)


# ---------------------------------------------------------------- SSNv1
def _ssnv1_gaps(dep: Deployment) -> Iterator[Finding]:
    for kind in (IdKind.CERT, IdKind.KEY):  # a KRA's SSNv1 key IDs are read the same way
        yield from _ssnv1_gaps_of(dep, kind)


def _ssnv1_gaps_of(dep: Deployment, kind: IdKind) -> Iterator[Finding]:
    records = sorted((r for r in dep.ranges if r.kind is kind and r.family == V1
                      and r.conflict is None), key=lambda r: r.actual)
    if not records:
        return
    bounds = [r.actual for r in records]
    top = initial_end(dep, kind, V1)
    if top is not None:
        bounds.insert(0, (0, top))
    counters = [c for c in dep.counters if c.kind is kind and c.family == V1]
    nexts = [v for c in counters for v in c.actual]
    if nexts:
        bounds.append((min(nexts), min(nexts)))
    gaps = [(e1 + 1, b2 - 1) for (_, e1), (b2, _) in itertools.pairwise(bounds)
            if b2 > e1 + 1]
    if gaps:
        lost = sum(e - b + 1 for b, e in gaps)
        shown = ", ".join(span(kind, *g) for g in gaps[:_SHOW])
        yield Finding("ssnv1-gap", NOTE,
                      f"SSNv1 reads the decimal nextRange as hex: {len(gaps)} gaps between "
                      f"claimed {'key' if kind is IdKind.KEY else 'certificate'} ranges, {lost} "
                      f"{id_name(kind)}s never usable ({shown}"
                      f"{' ...' if len(gaps) > _SHOW else ''})", kind)
