"""waste_report: where each range's numbers went, SSNv1 gaps included."""

from __future__ import annotations

from history_builders import claimed, issue_run, loaded, received, switched, transferred

from pkisim.history import History, Op, OpType, waste_report
from pkisim.ids.config import IdKind
from pkisim.ids.events import ClaimFailed, ConflictDropped, RangeState


def test_ssnv1_hex_decimal_gaps() -> None:
    """ca-clone-ssnv1-test.yml: increment 0x12, nextRange 13 gives 0x13-0x24, the next
    claim reads 31 and gets 0x31-0x42, so 0x25-0x30 belongs to nobody."""
    h = History()
    ca1 = h.process("ca1")
    received(h, 0.0, ca1, 0x1, 0x12)
    claimed(h, 1.0, ca1, (0x1, 0x12), (0x13, 0x24), 13, record=(13, 30))
    t = issue_run(h, 2.0, ca1, 0x1, 0x12)
    switched(h, t, ca1, 0x13, 0x24)
    t = issue_run(h, t, ca1, 0x13, 0x12)
    claimed(h, t, ca1, (0x13, 0x24), (0x31, 0x42), 31, record=(31, 48))
    switched(h, t + 1, ca1, 0x31, 0x42)
    issue_run(h, t + 1, ca1, 0x31, 3)
    w = waste_report(h)
    assert w[["begin", "end", "source", "status"]].values.tolist() == [
        [0x1, 0x12, "received", "switched"],
        [0x13, 0x24, "claimed", "switched"],
        [0x31, 0x42, "claimed", "current"]]
    assert w["counter"].fillna("").tolist() == ["", "13", "31"]
    assert w["gap"].tolist() == [0, 12, int("49", 16) - 0x42 - 1]
    assert w["issued"].tolist() == [18, 18, 3]
    assert w["stranded"].tolist() == [0, 0, 0]
    assert w["remaining"].tolist() == [0, 0, 15]


def test_ssnv2_claims_leave_no_gap() -> None:
    h = History()
    ca1 = h.process("ca1")
    received(h, 0.0, ca1, 1, 0x12)
    claimed(h, 1.0, ca1, (1, 0x12), (0x13, 0x24), 0x13)
    assert waste_report(h)["gap"].tolist() == [0, 0]


def test_a_switch_into_the_range_already_held_is_not_a_new_range() -> None:
    """DNA: a server receives a slice into an empty range, then switches to it."""
    h = History()
    ca2 = h.process("ca2")
    received(h, 0.0, ca2, 1, 0)
    received(h, 1.0, ca2, 501, 1000, "dna:ca1")
    switched(h, 2.0, ca2, 501, 1000)
    issue_run(h, 3.0, ca2, 501, 10)
    report = waste_report(h)
    assert report["issued"].sum() == 10
    assert report[report["begin"] == 501]["status"].tolist() == ["current"]


def test_every_way_to_lose_numbers() -> None:
    h = History()
    ca1, ca2 = h.process("ca1"), h.process("ca2")
    cert = IdKind.CERT
    received(h, 0.0, ca1, 1, 100)
    issue_run(h, 1.0, ca1, 1, 10)
    transferred(h, 3.0, ca1, RangeState(1, 90), 91, 100)
    received(h, 3.0, ca2, 91, 100, "clone transfer")
    h.issue(4.0, ca2, Op.ISSUE_CERT, 91, OpType.FAIL)
    h.issue(4.5, ca2, Op.ISSUE_CERT, 93)
    claimed(h, 5.0, ca1, (1, 90), (101, 200), 101)
    claimed(h, 6.0, ca1, (1, 90), (201, 300), 201)  # overwrites the unused 101-200
    h.event(7.0, ca1, ConflictDropped(cert, RangeState(1, 90), ("cn=201,ou=ranges",)))
    h.event(8.0, ca1, ClaimFailed(cert, RangeState(1, 90), "add failed", (301, 400)))
    h.note(9.0, ca1, Op.DECOMMISSION, OpType.OK)
    w = waste_report(h).set_index("begin")
    assert w["status"].to_dict() == {1: "decommissioned", 91: "current", 101: "overwritten",
                                     201: "dropped", 301: "burned"}
    assert w.loc[1, ["claimed", "transferred", "issued", "stranded", "left_at"]].tolist() == [
        100, 10, 10, 80, 9.0]
    assert w.loc[91, ["issued", "failed", "skipped", "remaining", "stranded"]].tolist() == [
        1, 1, 1, 7, 0]
    assert w.loc[101, "stranded"] == 100 and w.loc[201, "stranded"] == 100
    assert w.loc[301, ["source", "stranded"]].tolist() == ["claim failed", 100]


def test_restart_that_loads_a_different_range_strands_the_old_one() -> None:
    h = History()
    ca1 = h.process("ca1")
    received(h, 0.0, ca1, 1, 100)
    issue_run(h, 1.0, ca1, 1, 5)
    loaded(h, 2.0, ca1, RangeState(1001, 1100), last=1000)
    w = waste_report(h)
    assert w[["begin", "source", "status", "stranded", "remaining"]].values.tolist() == [
        [1, "received", "replaced", 95, 0], [1001, "loaded", "current", 0, 100]]


def test_no_range_events_no_rows() -> None:
    h = History()
    h.issue(0.0, h.process("ca1"), Op.ISSUE_CERT, 2**127)
    assert waste_report(h).empty


def test_a_range_re_entered_at_a_restart_is_counted_once() -> None:
    """A restarted allocator process receives the range its CS.cfg holds again, and
    a stale CS.cfg may bring back a range the CA had already left: one row each,
    its numbers counted once (they were counted twice: 402,750 "issued" against
    400,250 confirmed in a 4 x 100,000 soak)."""
    h = History()
    ca1 = h.process("ca1")
    received(h, 0.0, ca1, 1, 100)
    issue_run(h, 1.0, ca1, 1, 50)
    h.note(10.0, ca1, Op.RESTART, OpType.OK, "crash")
    received(h, 10.0, ca1, 1, 100, "restart")
    loaded(h, 10.0, ca1, RangeState(1, 100), last=50)
    t = issue_run(h, 11.0, ca1, 51, 50)
    claimed(h, t, ca1, (1, 100), (101, 200), 101)
    switched(h, t + 1, ca1, 101, 200)
    issue_run(h, t + 2, ca1, 101, 5)
    loaded(h, t + 5, ca1, RangeState(1, 100, 101, 200), last=100)  # a stale CS.cfg
    w = waste_report(h)
    assert w[["begin", "status"]].values.tolist() == [[1, "current"], [101, "next"]]
    assert w["issued"].sum() == 105 == h.issued_count(Op.ISSUE_CERT)
