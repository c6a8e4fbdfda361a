"""explain_duplicates: a witness a PKI engineer can read, for each kind of cause."""

from __future__ import annotations

from history_builders import (
    claimed,
    issue_run,
    loaded,
    received,
    replica_race,
    switched,
    transferred,
)

from pkisim.history import History, Op, OpType, check_unique, explain_duplicates
from pkisim.ids.events import RangeState


def witnesses(h: History, op: Op = Op.ISSUE_CERT, possible: bool = False) -> list[str]:
    return [str(w) for w in explain_duplicates(h, check_unique(h, op), possible=possible)]


def test_replica_race_names_both_claims() -> None:
    h = replica_race()
    (w,) = explain_duplicates(h, check_unique(h))
    assert str(w) == (
        "serial 0x1000005 issued by ca2 at t=1801.2 and ca3 at t=1900.4; ca2 held "
        "0x1000000-0x1ffffff from its claim at t=1200.0 on ds2 (nextRange 16777216 -> "
        "33554432); ca3 held the same range from its claim at t=1200.3 on ds3 (nextRange "
        "16777216 -> 33554432): two claims read the same nextRange on different replicas")
    assert [x.process for x in w.holdings] == ["ca2", "ca3"]
    assert w.holdings[0].origin is not None and w.holdings[0].origin.counter == "16777216"


def test_same_replica_race() -> None:
    h = History()
    ca1, ca2, ds1 = h.process("ca1"), h.process("ca2"), h.replica("ds1")
    received(h, 0.0, ca1, 1, 10)
    received(h, 0.0, ca2, 11, 20)
    claimed(h, 5.0, ca1, (1, 10), (21, 30), 21, ds1)
    claimed(h, 5.0, ca2, (11, 20), (21, 30), 21, ds1)
    for ca in (ca1, ca2):
        switched(h, 6.0, ca, 21, 30)
        h.issue(7.0, ca, Op.ISSUE_CERT, 21)
    (text,) = witnesses(h)
    assert text.endswith("two claims read the same nextRange on the same replica: the "
                         "compare-and-swap did not stop the second")


def test_restart_that_resumed_too_low() -> None:
    h = History()
    ca1 = h.process("ca1")
    received(h, 0.0, ca1, 1, 100)
    issue_run(h, 1.0, ca1, 1, 5)
    h.note(2.0, ca1, Op.CRASH, OpType.INFO, "power loss")
    loaded(h, 3.0, ca1, RangeState(1, 100), last=3)  # records of 4 and 5 were lost
    h.issue(3.5, ca1, Op.ISSUE_CERT, 4)
    (text,) = witnesses(h)
    assert text == ("serial 0x4 issued by ca1 at t=1.3 and ca1 at t=3.5; ca1 held 0x1-0x64 "
                    "received at t=0.0 (initial): ca1 issued it twice: after its cache load at "
                    "t=3.0 it resumed below a number it had already issued")


def test_donor_that_kept_its_transferred_slice() -> None:
    h = History()
    ca1, ca2 = h.process("ca1"), h.process("ca2")
    received(h, 0.0, ca1, 1, 100)
    transferred(h, 1.0, ca1, RangeState(1, 100), 91, 100)  # the donor forgot to shrink
    received(h, 1.0, ca2, 91, 100, "clone transfer")
    h.issue(2.0, ca2, Op.ISSUE_CERT, 91)
    h.issue(2.5, ca1, Op.ISSUE_CERT, 91)
    (text,) = witnesses(h)
    assert text == ("serial 0x5b issued by ca2 at t=2.0 and ca1 at t=2.5; ca2 held 0x5b-0x64 "
                    "from a transfer by ca1 at t=1.0; ca1 held 0x1-0x64 received at t=0.0 "
                    "(initial): ca1 kept issuing from the slice it had transferred to ca2")


def test_issued_outside_its_range() -> None:
    h = History()
    ca1, ca2 = h.process("ca1"), h.process("ca2")
    received(h, 0.0, ca1, 1, 10)
    received(h, 0.0, ca2, 11, 20)
    h.issue(1.0, ca1, Op.ISSUE_CERT, 12)
    h.issue(2.0, ca2, Op.ISSUE_CERT, 12)
    (text,) = witnesses(h)
    assert "ca1 held 0x1-0xa (the ID lies outside it)" in text
    assert text.endswith("ca1 issued it outside the range it held")


def test_random_collision_and_possible_duplicates() -> None:
    h = History()
    a, b = h.process("0"), h.process("1")
    h.issue(1.0, a, Op.ISSUE_REQUEST, 2**100)
    h.issue(2.0, b, Op.ISSUE_REQUEST, 2**100)
    h.issue(3.0, a, Op.ISSUE_REQUEST, 7, OpType.INFO)
    h.issue(4.0, b, Op.ISSUE_REQUEST, 7)
    assert witnesses(h, Op.ISSUE_REQUEST) == [
        "request ID 1267650600228229401496703205376 issued by process 0 at t=1.0 and process 1 "
        "at t=2.0: no range was recorded for either issuance: a collision of random IDs, or an "
        "allocator without ranges"]
    texts = witnesses(h, Op.ISSUE_REQUEST, possible=True)
    assert texts[1].startswith("request ID 7 issued by process 0 at t=3.0 (info) and process 1")


def test_limit_and_no_duplicates() -> None:
    h = History()
    ca = h.process("ca1")
    for v in (1, 1, 2, 2, 3, 3):
        h.issue(0.0, ca, Op.ISSUE_CERT, v)
    assert len(explain_duplicates(h, check_unique(h), limit=2)) == 2
    clean = History()
    clean.issue(0.0, clean.process("ca1"), Op.ISSUE_CERT, 1)
    assert explain_duplicates(clean, check_unique(clean)) == []
