"""check_crl: one generator, increasing CRL numbers, revocations listed in time."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from pkisim.history import CrlAction, CrlEvent, Revocation, check_crl

ENABLE, DISABLE, GENERATE, SERVE = (CrlAction.ENABLE, CrlAction.DISABLE, CrlAction.GENERATE,
                                    CrlAction.SERVE)


def test_clean_role_move() -> None:
    events = [CrlEvent(0, "ca1", ENABLE), CrlEvent(10, "ca1", GENERATE, 1, frozenset({5})),
              CrlEvent(20, "ca1", DISABLE), CrlEvent(21, "ca2", ENABLE),
              CrlEvent(30, "ca2", GENERATE, 2, frozenset({5, 6}))]
    r = check_crl(events, [Revocation(5, "ca3", 5), Revocation(25, "ca3", 6)], bound=10)
    assert r.valid and r.latencies == {5: 5, 6: 5} and r.pending == ()


def test_two_generators_and_a_number_going_backwards() -> None:
    events = [CrlEvent(0, "ca1", ENABLE), CrlEvent(1, "ca1", GENERATE, 7),
              CrlEvent(5, "ca2", ENABLE), CrlEvent(6, "ca2", GENERATE, 3),
              CrlEvent(7, "ca3", GENERATE, 8)]
    r = check_crl(events, [], bound=10)
    assert [(v.rule, v.process) for v in r.violations] == [
        ("two-generators", "ca2"), ("crl-number", "ca2"), ("no-role", "ca3")]
    assert str(r.violations[1]) == ("t=6.0 crl-number: ca2 generated CRL 3 after the role moved, "
                                    "not above CRL 7 that ca1 generated at t=1.0")


def test_revocations_late_missing_and_pending() -> None:
    events = [CrlEvent(0, "ca1", ENABLE), CrlEvent(100, "ca1", GENERATE, 1, frozenset({1})),
              CrlEvent(100, "ca2", SERVE, 1)]
    revoked = [Revocation(10, "ca2", 1), Revocation(20, "ca2", 2), Revocation(95, "ca2", 3)]
    r = check_crl(events, revoked, bound=60)
    assert [(v.rule, v.message) for v in r.violations] == [
        ("revocation-late", "serial 0x1 revoked by ca2 first listed 90 s later (bound 60 s)"),
        ("revocation-missing", "serial 0x2 revoked by ca2 is in no served CRL within 60 s")]
    assert r.latencies == {1: 90} and r.pending == (3,)


def test_served_crls_count_not_generated_ones_when_given() -> None:
    events = [CrlEvent(0, "ca1", GENERATE, 1, frozenset({9})), CrlEvent(50, "ca2", SERVE, 1)]
    r = check_crl(events, [Revocation(0, "ca1", 9)], bound=10)
    assert [v.rule for v in r.violations] == ["revocation-late"] and r.latencies == {9: 50}


def test_data_frames_are_accepted() -> None:
    events = pd.DataFrame({"time": [0.0, 5.0], "process": ["ca1", "ca1"],
                           "action": ["enable", "generate"], "number": [None, 1],
                           "serials": [(), (4,)]})
    revoked = pd.DataFrame({"time": [1.0], "process": ["ca2"], "serial": [4]})
    assert check_crl(events, revoked, bound=10).latencies == {4: 4.0}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), st.frozensets(st.integers(0, 6), max_size=4)),
                max_size=8),
       st.lists(st.tuples(st.integers(0, 50), st.integers(0, 6)), max_size=8))
def test_listing_times_are_the_first_served_crl_at_or_after_each_revocation(
        served: list[tuple[int, frozenset[int]]], revoked_at: list[tuple[int, int]]) -> None:
    """Each revocation's latency is that of the first CRL served at or after it
    (in time order, ties in the order they come) that lists it."""
    events = [CrlEvent(0, "ca1", ENABLE)] + [
        CrlEvent(t, "ca1", SERVE, None, serials) for t, serials in served]
    revoked = [Revocation(t, "ca2", serial) for t, serial in revoked_at]
    r = check_crl(events, revoked, bound=1000)
    in_order = sorted(served, key=lambda s: s[0])
    expected = {}
    for rev in sorted(revoked, key=lambda rev: rev.time):
        first = next((t for t, serials in in_order if t >= rev.time and rev.serial in serials),
                     None)
        if first is not None:
            expected[rev.serial] = first - rev.time
    assert r.latencies == expected
