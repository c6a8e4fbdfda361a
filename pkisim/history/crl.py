"""CRL properties of a cloned topology (dogtag-ranges.md sections 6 and 10.8).

Input records, for the simulation to produce (lists of these, or DataFrames
with the same column names; ``action`` as its string value):

* :class:`CrlEvent` ``(time, process, action, number=None, serials=frozenset())``:
  ``enable``/``disable`` -- a CA takes or gives up the CRL generator role
  (``ca.crl.MasterCRL.enableCRLUpdates``); ``generate`` -- it generated and
  published CRL ``number`` listing ``serials``; ``serve`` -- a CA (any clone)
  served CRL ``number`` to a client (``serials`` may be left empty: the
  generated CRL of that number is meant).
* :class:`Revocation` ``(time, process, serial)``: a CA revoked a certificate.

Properties:

* ``two-generators``: at most one CA holds the generator role at a time;
  ``no-role``: with role events present, only the role holder generates.
* ``crl-number``: CRL numbers strictly increase across all generated CRLs, so
  also across role moves (RFC 5280 5.2.3; Pagure 3085).
* ``revocation-late`` / ``revocation-missing``: each revoked serial appears in
  a served CRL (``serve`` events if there are any, else ``generate`` events)
  within ``bound`` seconds.  A revocation less than ``bound`` before the end of
  the history that no CRL lists yet is *pending*, not a violation.
"""

from __future__ import annotations

import enum
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from pkisim.history.timeline import fmt_time


class CrlAction(enum.Enum):
    ENABLE = "enable"
    DISABLE = "disable"
    GENERATE = "generate"
    SERVE = "serve"


@dataclass(frozen=True)
class CrlEvent:
    time: float
    process: str
    action: CrlAction
    number: int | None = None
    serials: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Revocation:
    time: float
    process: str
    serial: int


@dataclass(frozen=True)
class CrlViolation:
    rule: str
    time: float
    process: str
    message: str

    def __str__(self) -> str:
        return f"t={fmt_time(self.time)} {self.rule}: {self.message}"


@dataclass(frozen=True)
class CrlResult:
    """``latencies``: serial -> seconds from revocation to the first served
    CRL listing it; ``pending``: serials revoked too recently to judge."""

    violations: tuple[CrlViolation, ...]
    latencies: dict[int, float]
    pending: tuple[int, ...]

    @property
    def valid(self) -> bool:
        return not self.violations

    def __str__(self) -> str:
        head = (f"crl: {'valid' if self.valid else 'INVALID'} ({len(self.latencies)} revocations "
                f"listed, {len(self.pending)} pending)")
        return "\n".join([head, *(f"  {v}" for v in self.violations)])


def check_crl(crl_events: Iterable[CrlEvent] | pd.DataFrame,
              revocations: Iterable[Revocation] | pd.DataFrame, bound: float, *,
              end_time: float | None = None) -> CrlResult:
    """Check the CRL properties; ``end_time`` defaults to the last time seen."""
    events = sorted(_crl_events(crl_events), key=lambda e: e.time)
    revoked = sorted(_revocations(revocations), key=lambda r: r.time)
    if end_time is None:
        end_time = max([e.time for e in events] + [r.time for r in revoked], default=0.0)
    found = _roles(events) + _numbers(events)
    listed, late, pending = _listings(events, revoked, bound, end_time)
    found += late
    found.sort(key=lambda v: v.time)
    return CrlResult(tuple(found), listed, tuple(pending))


def _crl_events(records: Iterable[CrlEvent] | pd.DataFrame) -> list[CrlEvent]:
    if isinstance(records, pd.DataFrame):
        records = [CrlEvent(time=float(r["time"]), process=str(r["process"]),
                            action=CrlAction(r["action"]),
                            number=None if pd.isna(r.get("number")) else int(r["number"]),
                            serials=frozenset(r.get("serials") or ()))
                   for r in records.to_dict("records")]
    return list(records)


def _revocations(records: Iterable[Revocation] | pd.DataFrame) -> list[Revocation]:
    if isinstance(records, pd.DataFrame):
        return [Revocation(float(r["time"]), str(r["process"]), int(r["serial"]))
                for r in records.to_dict("records")]
    return list(records)


def _roles(events: list[CrlEvent]) -> list[CrlViolation]:
    found = []
    holders: set[str] = set()
    any_role = any(e.action in (CrlAction.ENABLE, CrlAction.DISABLE) for e in events)
    for e in events:
        if e.action is CrlAction.ENABLE:
            if holders - {e.process}:
                others = ", ".join(sorted(holders - {e.process}))
                found.append(CrlViolation("two-generators", e.time, e.process,
                                          f"{e.process} became CRL generator while {others} "
                                          "still was"))
            holders.add(e.process)
        elif e.action is CrlAction.DISABLE:
            holders.discard(e.process)
        elif e.action is CrlAction.GENERATE and any_role and e.process not in holders:
            found.append(CrlViolation("no-role", e.time, e.process,
                                      f"{e.process} generated CRL {e.number} without the role"))
    return found


def _numbers(events: list[CrlEvent]) -> list[CrlViolation]:
    found = []
    best: CrlEvent | None = None
    for e in events:
        if e.action is not CrlAction.GENERATE or e.number is None:
            continue
        if best is not None and best.number is not None and e.number <= best.number:
            moved = " after the role moved" if best.process != e.process else ""
            found.append(CrlViolation(
                "crl-number", e.time, e.process,
                f"{e.process} generated CRL {e.number}{moved}, not above CRL {best.number} "
                f"that {best.process} generated at t={fmt_time(best.time)}"))
        if best is None or best.number is None or e.number > best.number:
            best = e
    return found


def _listings(events: list[CrlEvent], revoked: list[Revocation], bound: float,
              end_time: float) -> tuple[dict[int, float], list[CrlViolation], list[int]]:
    generated = {e.number: e.serials for e in events if e.action is CrlAction.GENERATE}
    serves = [e for e in events if e.action is CrlAction.SERVE]
    served = [(e.time, e.serials or generated.get(e.number, frozenset()))
              for e in (serves or [e for e in events if e.action is CrlAction.GENERATE])]
    listed: dict[int, float] = {}
    found, pending = [], []
    times = [t for t, _ in served]  # in time order (check_crl sorts the events)
    for r in revoked:
        start = bisect_left(times, r.time)  # the CRLs served before it cannot list it
        first = next((served[i][0] for i in range(start, len(served))
                      if served[i][0] >= r.time and r.serial in served[i][1]), None)
        if first is not None and first - r.time <= bound:
            listed[r.serial] = first - r.time
        elif first is not None:
            listed[r.serial] = first - r.time
            found.append(CrlViolation("revocation-late", r.time, r.process,
                                      f"serial {hex(r.serial)} revoked by {r.process} first "
                                      f"listed {first - r.time:g} s later (bound {bound:g} s)"))
        elif end_time < r.time + bound:
            pending.append(r.serial)
        else:
            found.append(CrlViolation("revocation-missing", r.time, r.process,
                                      f"serial {hex(r.serial)} revoked by {r.process} is in no "
                                      f"served CRL within {bound:g} s"))
    return listed, found, pending
