"""check_ranges: IDs inside ranges, increasing, disjoint ranges, exact transfers, nextRange."""

from __future__ import annotations

from history_builders import (
    claimed,
    clean_topology,
    issue_run,
    received,
    replica_race,
    switched,
    transferred,
)

from pkisim.history import History, Op, OpType, check_ranges
from pkisim.ids.config import IdKind
from pkisim.ids.events import RangeState


def one_ca(begin: int = 1, end: int = 10) -> tuple[History, int]:
    h = History()
    ca1 = h.process("ca1")
    received(h, 0.0, ca1, begin, end)
    return h, ca1


def test_clean_topology_is_valid() -> None:
    r = check_ranges(clean_topology())
    assert r.valid, str(r)
    assert (r.checked_count, r.unchecked_count) == (25, 0)
    assert set(r.counts().values()) == {0}


def test_issued_outside_the_current_range() -> None:
    h, ca1 = one_ca()
    issue_run(h, 1.0, ca1, 9, 4)  # 9, 10 fine; 11, 12 outside
    (v,) = check_ranges(h).violations
    assert (v.rule, v.process, v.ids, v.count, v.time) == ("outside-range", "ca1", (11, 12), 2,
                                                           1.2)
    assert str(v) == ("t=1.2 outside-range: ca1 issued 2 serial(s) outside its range 0x1-0xa "
                      "(first 0xb)")


def test_issued_before_the_first_range() -> None:
    h = History()
    ca1 = h.process("ca1")
    h.issue(0.5, ca1, Op.ISSUE_CERT, 1)
    received(h, 1.0, ca1, 1, 10)
    h.issue(1.5, ca1, Op.ISSUE_CERT, 2)
    (v,) = check_ranges(h).violations
    assert (v.rule, v.ids) == ("before-first-range", (1,))


def test_the_snapshot_at_the_same_instant_is_ordered_by_recording() -> None:
    h, ca1 = one_ca(1, 3)
    claimed(h, 1.0, ca1, (1, 3), (4, 6), 4)
    issue_run(h, 2.0, ca1, 1, 3, step=0.0)
    switched(h, 2.0, ca1, 4, 6)  # same instant as the issuances before and after it
    issue_run(h, 2.0, ca1, 4, 3, step=0.0)
    assert check_ranges(h).valid


def test_ids_must_increase_within_a_range() -> None:
    h, ca1 = one_ca()
    for value in (1, 2, 3, 2, 4):
        h.issue(1.0, ca1, Op.ISSUE_CERT, value)
    h.issue(1.0, ca1, Op.ISSUE_CERT, 1, OpType.INFO)  # info ops are not ordered
    (v,) = check_ranges(h).violations
    assert v.rule == "not-increasing"
    assert v.message == "ca1 issued 0x2 after 0x3 within its range 0x1-0xa (1 time(s))"
    assert check_ranges(h, sequential=False).valid


def test_overlapping_next_ranges_are_reported_once() -> None:
    h = replica_race()
    r = check_ranges(h)
    (v,) = r.violations
    assert (v.rule, v.time, v.process, v.ids) == ("overlap", 1200.3, "ca3",
                                                  (0x1000000, 0x1FFFFFF))
    assert v.message == ("ca2's next range 0x1000000-0x1ffffff overlaps ca3's next range "
                         "0x1000000-0x1ffffff")


def test_transfer_that_did_not_shrink_the_donor() -> None:
    h, ca1 = one_ca(1, 100)
    ca2 = h.process("ca2")
    transferred(h, 1.0, ca1, RangeState(1, 100), 91, 100)
    received(h, 1.0, ca2, 91, 100)
    rules = [(v.rule, v.message) for v in check_ranges(h).violations]
    assert rules == [
        ("overlap", "ca1's current range 0x1-0x64 overlaps ca2's current range 0x5b-0x64"),
        ("transfer", "ca1 transferred 0x5b-0x64 from its current range but that range now ends "
                     "at 0x64, not 0x5a")]


def test_transfer_that_was_not_the_top_and_never_arrived() -> None:
    h, ca1 = one_ca(1, 100)
    transferred(h, 1.0, ca1, RangeState(1, 50), 51, 60)
    messages = [v.message for v in check_ranges(h).violations]
    assert messages == ["ca1 transferred 0x33-0x3c, which is not the top of its current range "
                        "(it ended at 0x64)",
                        "no clone received the slice 0x33-0x3c ca1 transferred"]


def test_transfer_from_the_next_range() -> None:
    h, ca1 = one_ca(1, 10)
    ca2 = h.process("ca2")
    claimed(h, 1.0, ca1, (1, 10), (11, 20), 11)
    transferred(h, 2.0, ca1, RangeState(1, 10, 11, 15), 16, 20, from_next=True)
    received(h, 2.0, ca2, 16, 20)
    assert check_ranges(h).valid
    transferred(h, 3.0, ca1, RangeState(1, 10, 11, 15), 11, 12, from_next=True)
    assert [v.message for v in check_ranges(h).violations] == [
        "ca1 transferred 0xb-0xc from its next range but that range now ends at 0xf, not 0xa",
        "ca1 transferred 0xb-0xc, which is not the top of its next range (it ended at 0xf)",
        "no clone received the slice 0xb-0xc ca1 transferred"]


def test_transfer_larger_than_the_next_range_is_reported() -> None:
    """Dogtag cuts T numbers from the top of the next range without checking that
    it holds T: the slice reaches below the range, whose end then lies below its
    begin (as CS.cfg says afterwards)."""
    h, ca1 = one_ca(1, 10)
    ca2 = h.process("ca2")
    claimed(h, 1.0, ca1, (1, 10), (11, 16), 11)
    transferred(h, 2.0, ca1, RangeState(1, 10, 11, 8), 9, 16, from_next=True)
    received(h, 2.0, ca2, 9, 16)
    rules = [(v.rule, v.message) for v in check_ranges(h).violations]
    assert rules == [
        ("overlap", "ca1's current range 0x1-0xa overlaps ca2's current range 0x9-0x10"),
        ("transfer", "ca1 transferred 0x9-0x10 from its next range 0xb-0x10, which held 6 "
                     "numbers: the slice reaches 2 below it and the range now ends at 0x8, "
                     "below its begin (Dogtag writes that end unchecked); switching to it "
                     "issues 0xb, the clone's")]


def test_next_range_must_not_decrease() -> None:
    h, ca1 = one_ca(1, 5)
    ca2 = h.process("ca2")
    received(h, 0.0, ca2, 6, 10)
    claimed(h, 1.0, ca1, (1, 5), (21, 30), 21)
    claimed(h, 2.0, ca2, (6, 10), (11, 20), 11)
    (v,) = check_ranges(h).violations
    assert v.rule == "next-range-decreased"
    assert v.message == ("ca2's claim (read 11) set nextRange to 21, below 31 set by ca1's claim "
                         "at t=1.0")


def test_a_decommissioned_ca_no_longer_holds_ranges() -> None:
    h, ca1 = one_ca(1, 10)
    ca3 = h.process("ca3")
    h.note(5.0, ca1, Op.DECOMMISSION, OpType.OK)
    received(h, 6.0, ca3, 1, 10, "reused")
    assert check_ranges(h).valid


def test_wide_ranges_and_values_beyond_128_bits() -> None:
    base = 2**100
    h, ca1 = one_ca(base, base + 10)
    h.issue(1.0, ca1, Op.ISSUE_CERT, base + 5)
    h.issue(2.0, ca1, Op.ISSUE_CERT, base + 11)
    h.issue(3.0, ca1, Op.ISSUE_CERT, 2**130)
    rules = [(v.rule, v.ids) for v in check_ranges(h).violations]
    assert rules == [("outside-range", (base + 11,)), ("outside-range", (2**130,))]


def test_cas_without_range_events_are_not_checked() -> None:
    h = History()
    h.issue(0.0, h.process("rsnv3"), Op.ISSUE_CERT, 2**127)
    h.issue(0.0, h.process("rsnv3"), Op.ISSUE_REQUEST, 5)
    r = check_ranges(h)
    assert r.valid and (r.checked_count, r.unchecked_count) == (0, 2)


def test_request_ranges_are_their_own_space() -> None:
    h, ca1 = one_ca(1, 10)  # cert range 1-10
    received(h, 0.0, ca1, 100, 110, kind=IdKind.REQUEST)
    h.issue(1.0, ca1, Op.ISSUE_REQUEST, 105)
    h.issue(1.0, ca1, Op.ISSUE_CERT, 5)
    assert check_ranges(h).valid
