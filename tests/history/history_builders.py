"""Hand-built histories with known answers, shared by the history tests."""

from __future__ import annotations

from pkisim.history import History, Op, OpType
from pkisim.ids.config import IdKind
from pkisim.ids.events import (
    CacheLoaded,
    RangeClaimed,
    RangeReceived,
    RangeState,
    RangeTransferred,
    SwitchedToNextRange,
)

CERT = IdKind.CERT


def received(h: History, t: float, ca: int, begin: int, end: int, source: str = "initial",
             kind: IdKind = CERT) -> None:
    h.event(t, ca, RangeReceived(kind, RangeState(begin, end), begin, end, source))


def claimed(h: History, t: float, ca: int, current: tuple[int, int], claim: tuple[int, int],
            counter: int, replica: int = -1, record: tuple[int, int] | None = None,
            kind: IdKind = CERT) -> None:
    """A successful claim that read ``counter``; ``record`` defaults to the claim itself."""
    rb, re_ = record or (counter, counter + claim[1] - claim[0])
    state = RangeState(current[0], current[1], claim[0], claim[1])
    h.event(t, ca, RangeClaimed(kind, state, claim[0], claim[1], str(counter), rb, re_), replica)


def switched(h: History, t: float, ca: int, begin: int, end: int, kind: IdKind = CERT) -> None:
    h.event(t, ca, SwitchedToNextRange(kind, RangeState(begin, end), begin, end))


def transferred(h: History, t: float, ca: int, state: RangeState, begin: int, end: int,
                from_next: bool = False, kind: IdKind = CERT) -> None:
    h.event(t, ca, RangeTransferred(kind, state, begin, end, from_next))


def loaded(h: History, t: float, ca: int, state: RangeState, last: int,
           kind: IdKind = CERT) -> None:
    h.event(t, ca, CacheLoaded(kind, state, last))


def issue_run(h: History, t: float, ca: int, first: int, count: int, step: float = 0.1,
              op: Op = Op.ISSUE_CERT) -> float:
    """Issue ``count`` consecutive IDs from ``first``; returns the next free time."""
    for i in range(count):
        h.issue(t + i * step, ca, op, first + i)
    return t + count * step


def replica_race() -> History:
    """The dogtag-ranges.md section 3 race: ca2 and ca3 claim through different
    replicas, both read nextRange 16777216, both switch, serial 0x1000005 twice."""
    h = History()
    ca2, ca3 = h.process("ca2"), h.process("ca3")
    ds2, ds3 = h.replica("ds2"), h.replica("ds3")
    received(h, 0.0, ca2, 0x1, 0xFFFFF)
    received(h, 0.0, ca3, 0x100000, 0x1FFFFF)
    claimed(h, 1200.0, ca2, (0x1, 0xFFFFF), (0x1000000, 0x1FFFFFF), 16777216, ds2)
    claimed(h, 1200.3, ca3, (0x100000, 0x1FFFFF), (0x1000000, 0x1FFFFFF), 16777216, ds3)
    switched(h, 1800.0, ca2, 0x1000000, 0x1FFFFFF)
    switched(h, 1800.0, ca3, 0x1000000, 0x1FFFFFF)
    for i in range(5):
        h.issue(1801.0, ca2, Op.ISSUE_CERT, 0x1000000 + i)
    h.issue(1801.2, ca2, Op.ISSUE_CERT, 0x1000005)
    h.issue(1900.4, ca3, Op.ISSUE_CERT, 0x1000005)
    return h


def clean_topology() -> History:
    """Master ca1 and clone ca2 (a transfer), claims through one replica, no faults."""
    h = History()
    ca1, ca2 = h.process("ca1"), h.process("ca2")
    ds1 = h.replica("ds1")
    received(h, 0.0, ca1, 1, 100)
    t = issue_run(h, 1.0, ca1, 1, 10)
    transferred(h, t, ca1, RangeState(1, 90), 91, 100)
    received(h, t, ca2, 91, 100, "clone transfer from ca1")
    claimed(h, t + 1, ca1, (1, 90), (101, 200), 101, ds1)
    claimed(h, t + 2, ca2, (91, 100), (201, 300), 201, ds1)
    t = issue_run(h, t + 3, ca2, 91, 10)
    switched(h, t, ca2, 201, 300)
    issue_run(h, t, ca2, 201, 5)
    h.issue(t + 9, ca1, Op.ISSUE_CERT, None, OpType.FAIL)
    return h
