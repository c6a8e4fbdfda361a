"""check_unique: Jepsen's unique-ids verdict, possible duplicates, every value size."""

from __future__ import annotations

from collections import Counter

from history_builders import clean_topology, replica_race
from hypothesis import given, settings
from hypothesis import strategies as st

from pkisim.history import History, Op, OpType, check_unique
from pkisim.history.uniqueness import DUPLICATES_SHOWN


def history_of(*ops: tuple[str, OpType, int | None]) -> History:
    h = History()
    for t, (ca, kind, value) in enumerate(ops):
        h.issue(float(t), h.process(ca), Op.ISSUE_CERT, value, kind)
    return h


OK, INFO, FAIL, INVOKE = OpType.OK, OpType.INFO, OpType.FAIL, OpType.INVOKE


def test_clean_history_is_valid() -> None:
    r = check_unique(clean_topology())
    assert r.valid and r.duplicated == {} and r.duplicated_count == 0
    assert (r.attempted_count, r.acknowledged_count) == (26, 25)
    assert (r.lowest, r.highest) == (1, 205)


def test_duplicate_across_two_cas() -> None:
    r = check_unique(replica_race())
    assert not r.valid
    assert r.duplicated == {0x1000005: 2} and r.duplicated_count == 1
    assert (r.lowest, r.highest) == (0x1000000, 0x1000005)


def test_info_operations_give_possible_duplicates_apart_from_certain_ones() -> None:
    h = history_of(("ca1", OK, 5), ("ca2", INFO, 5),   # ok + info: possible
                   ("ca1", INFO, 6), ("ca2", INFO, 6),  # info + info: possible
                   ("ca1", OK, 7), ("ca2", OK, 7), ("ca3", INFO, 7),  # certain, not possible
                   ("ca1", INFO, 8), ("ca1", FAIL, 9), ("ca2", OK, 9))  # alone; fail ignored
    r = check_unique(h)
    assert r.duplicated == {7: 2}
    assert r.possible_duplicates == {5: 2, 6: 2} and r.possible_duplicated_count == 2
    assert r.info_count == 5 and r.acknowledged_count == 4
    assert not r.valid


def test_only_possible_duplicates_stay_valid() -> None:
    r = check_unique(history_of(("ca1", OK, 5), ("ca2", INFO, 5)))
    assert r.valid and r.possible_duplicates == {5: 2}


def test_attempted_counts_invokes_when_there_are_any() -> None:
    h = history_of(("0", INVOKE, None), ("0", OK, 1), ("1", INVOKE, None), ("1", FAIL, None),
                   ("2", INVOKE, None))
    r = check_unique(h)
    assert (r.attempted_count, r.acknowledged_count) == (3, 1)


def test_128_bit_values() -> None:
    big = 2**127 + 12345
    r = check_unique(history_of(("ca1", OK, big), ("ca2", OK, big), ("ca1", OK, 12345),
                                ("ca2", OK, 2**64 + 12345), ("ca3", OK, 3)))
    assert r.duplicated == {big: 2}  # same low half, different high half: distinct
    assert (r.lowest, r.highest) == (3, big)


def test_values_beyond_128_bits_and_negative() -> None:
    huge = 2**160 + 1
    r = check_unique(history_of(("ca1", OK, huge), ("ca2", OK, huge), ("ca1", INFO, -1),
                                ("ca2", OK, -1), ("ca3", OK, 1)))
    assert r.duplicated == {huge: 2}
    assert r.possible_duplicates == {-1: 2}
    assert (r.lowest, r.highest, r.acknowledged_count) == (-1, huge, 4)


def test_issuers_are_part_of_the_key() -> None:
    h = History()
    ca1, ca2 = h.process("ca1"), h.process("ca2")
    other = h.issuer("CN=Other CA")
    h.issue(0.0, ca1, Op.ISSUE_CERT, 5)
    h.issue(1.0, ca2, Op.ISSUE_CERT, 5, issuer=other)
    assert check_unique(h).valid
    h.issue(2.0, ca2, Op.ISSUE_CERT, 5, issuer=other)
    r = check_unique(h)
    assert r.duplicated == {5: 2} and r.duplicated_issuers == {5: ("CN=Other CA",)}


def test_request_ids_are_checked_apart_from_serials() -> None:
    h = History()
    ca1, ca2 = h.process("ca1"), h.process("ca2")
    h.issue(0.0, ca1, Op.ISSUE_REQUEST, 10)
    h.issue(0.0, ca1, Op.ISSUE_CERT, 10)
    h.issue(1.0, ca2, Op.ISSUE_REQUEST, 10)
    assert check_unique(h).valid
    assert check_unique(h, Op.ISSUE_REQUEST).duplicated == {10: 2}


def test_duplicates_are_capped_at_the_48_worst() -> None:
    h = History()
    ca = h.process("ca1")
    for value in range(100):
        for _ in range(2 + (value == 77) * 3):
            h.issue(0.0, ca, Op.ISSUE_CERT, value)
    r = check_unique(h)
    assert r.duplicated_count == 100 and len(r.duplicated) == DUPLICATES_SHOWN
    assert next(iter(r.duplicated.items())) == (77, 5)
    # of the 99 IDs issued twice Jepsen keeps the largest 47 (jepsen.checker/unique-ids:
    # sort-by count of an ID-sorted map, reversed, take 48); shown by ID after the worst
    assert list(r.duplicated)[1:] == [v for v in range(52, 100) if v != 77]
    # the witnesses explain where the collisions began: the worst, then the smallest
    assert r.explained[:4] == (77, 0, 1, 2) and len(r.explained) == DUPLICATES_SHOWN


def test_empty_history() -> None:
    r = check_unique(History())
    assert r.valid and (r.attempted_count, r.lowest, r.highest) == (0, None, None)


values = st.one_of(st.integers(0, 40), st.integers(2**64 - 3, 2**64 + 3),
                   st.integers(2**128 - 2, 2**128 + 2), st.sampled_from([2**127, 2**200]))
ops = st.lists(st.tuples(st.sampled_from(["ca1", "ca2", "ca3"]),
                         st.sampled_from([OK, OK, OK, INFO, FAIL]), values), max_size=60)


@settings(max_examples=300, derandomize=True, database=None, deadline=None)
@given(ops)
def test_agrees_with_a_plain_counter(history: list[tuple[str, OpType, int]]) -> None:
    r = check_unique(history_of(*history))
    acked = Counter(v for _, kind, v in history if kind is OK)
    infos = Counter(v for _, kind, v in history if kind is INFO)
    certain = {v: n for v, n in acked.items() if n > 1}
    possible = {v: acked[v] + n for v, n in infos.items()
                if acked[v] < 2 and acked[v] + n > 1}
    assert r.duplicated_count == len(certain)
    assert r.duplicated == dict(sorted(certain.items(), key=lambda kv: (-kv[1], kv[0]))[:48])
    assert r.possible_duplicates == possible
    assert r.acknowledged_count == sum(acked.values())
    assert (r.lowest, r.highest) == ((min(acked), max(acked)) if acked else (None, None))
    assert r.valid == (not certain)
