"""The compact record store: IntervalSet against a plain set, shapes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pkisim.directory.intervals import IntervalSet
from pkisim.directory.records import (
    fits,
    record_number,
    serialno,
    shape_attrs,
    shape_match,
    shape_of,
)

operations = st.lists(st.tuples(st.booleans(), st.integers(0, 40)), max_size=80)


@given(operations, st.integers(0, 40), st.integers(0, 40))
def test_interval_set_behaves_like_a_set(ops: list[tuple[bool, int]], begin: int, end: int):
    model: set[int] = set()
    numbers = IntervalSet()
    for add, n in ops:
        if add:
            assert numbers.add(n) == (n not in model)
            model.add(n)
        else:
            assert numbers.discard(n) == (n in model)
            model.discard(n)
        assert len(numbers) == len(model)
    assert list(numbers) == sorted(model)
    assert all((n in numbers) == (n in model) for n in range(-1, 42))
    inside = [n for n in model if begin <= n <= end]
    assert numbers.last_in(begin, end) == (max(inside) if inside else None)


@given(st.sets(st.integers(0, 60)), st.randoms(use_true_random=False))
def test_interval_set_is_canonical_whatever_the_insertion_order(values: set[int], rng):
    ordered, shuffled = IntervalSet(), IntervalSet()
    for n in sorted(values):
        ordered.add(n)
    mixed = list(values)
    rng.shuffle(mixed)
    for n in [*mixed, 1000, 1001]:
        shuffled.add(n)
    shuffled.discard(1000)
    shuffled.discard(1001)
    assert ordered == shuffled


def test_sequential_appends_make_one_run_per_range():
    numbers = IntervalSet()
    for n in [*range(1, 1001), *range(5000, 5100), *range(1001, 2001)]:
        numbers.add(n)
    assert numbers.runs == 2 and len(numbers) == 2100
    assert numbers.last_in(0, 4999) == 2000
    assert numbers.last_in(2001, 4999) is None
    assert numbers.last_in(5050, 10**9) == 5099


def test_scattered_numbers_stay_singles_and_are_found_by_range():
    numbers = IntervalSet()
    big = [2**100 + 7, 2**90, 2**127 - 1]
    for n in big:
        numbers.add(n)
    assert numbers.runs == 0
    assert numbers.last_in(0, 2**101) == 2**100 + 7
    numbers.discard(2**100 + 7)
    assert numbers.last_in(0, 2**101) == 2**90


def test_record_numbers_are_canonical_decimal_cn_rdns():
    assert record_number("cn=17") == 17
    assert record_number("cn=0") == 0
    assert record_number("cn=017") is None
    assert record_number("cn=1f") is None
    assert record_number("cn=²") is None
    assert record_number("ou=17") is None


def test_shapes_rebuild_records_and_evaluate_filters():
    attrs = {"objectclass": ("top", "certificateRecord"), "cn": ("42",),
             "serialno": (serialno(42),)}
    assert serialno(42) == "0242"
    shape = shape_of(42, attrs)
    assert shape is not None and fits(shape, 42, attrs)
    assert shape_attrs(shape, 7) == {"objectclass": ("top", "certificateRecord"),
                                     "cn": ("7",), "serialno": ("017",)}
    assert not fits(shape, 43, attrs)  # cn says 42
    assert shape_of(42, {**attrs, "certstatus": ("REVOKED",)}) is None
    assert shape_match(shape, (("objectclass", "CERTIFICATERECORD"),)) == (True, None)
    assert shape_match(shape, (("cn", "7"),)) == (True, 7)
    assert shape_match(shape, (("serialno", "017"),)) == (True, 7)
    assert shape_match(shape, (("certstatus", "*"),)) == (False, None)
    assert shape_match(shape, (("objectclass", "pkiRange"),)) == (False, None)


@given(st.sets(st.integers(0, 60)), st.integers(0, 60), st.integers(0, 8))
def test_adding_a_run_is_adding_its_numbers_one_by_one(values: set[int], first: int, extra: int):
    last = first + extra
    values -= set(range(first, last + 1))
    one_by_one, at_once = IntervalSet(), IntervalSet()
    for n in sorted(values):
        one_by_one.add(n)
        at_once.add(n)
    for n in range(first, last + 1):
        one_by_one.add(n)
    at_once.add_run(first, last)
    assert at_once == one_by_one and len(at_once) == len(one_by_one)
    assert list(at_once) == sorted(values | set(range(first, last + 1)))
    at_once.add(last + 100)  # the hint left behind still appends correctly
    one_by_one.add(last + 100)
    assert at_once == one_by_one
