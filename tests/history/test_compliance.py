"""check_compliance: RFC 5280 length and sign, CA/B Forum BR 7.1 entropy."""

from __future__ import annotations

import random

import pytest

from pkisim.errors import ConfigError
from pkisim.history import History, Op, check_compliance, der_integer_octets


@pytest.mark.parametrize(("value", "octets"), [
    (0, 1), (1, 1), (0x7F, 1), (0x80, 2), (0xFF, 2), (0x7FFF, 2), (0x8000, 3),
    (2**159 - 1, 20), (2**159, 21), (2**160 - 1, 21), (-1, 1), (-128, 1), (-129, 2)])
def test_der_integer_octets(value: int, octets: int) -> None:
    assert der_integer_octets(value) == octets


def random_serials(bits: int, n: int = 200) -> list[int]:
    rng = random.Random(bits)
    return [rng.getrandbits(bits) | 1 << (bits - 1) for _ in range(n)]  # top bit set: worst case


@pytest.mark.parametrize(("bits", "rfc", "br", "octets"), [
    (20, True, False, 3), (64, True, True, 9), (128, True, True, 17), (160, False, True, 21)])
def test_random_serials_of_each_length(bits: int, rfc: bool, br: bool, octets: int) -> None:
    r = check_compliance(random_serials(bits), "random", id_length=bits)
    assert (r.rfc5280, r.baseline_requirements, r.max_octets, r.random_bits) == (rfc, br, octets,
                                                                                  bits)
    assert r.count == 200


def test_160_bits_is_a_configuration_risk_even_when_the_sample_fits() -> None:
    r = check_compliance([1, 2, 3], "random", id_length=160)
    assert not r.rfc5280 and r.too_long == 0
    assert "dbs.cert.id.length 160 can produce 21-octet serials" in str(r)


def test_sequential_serials_fit_rfc_5280_but_never_the_br() -> None:
    for strategy in ("legacy", "legacy2", "naive", "dna"):
        r = check_compliance(range(1, 1001), strategy)
        assert r.rfc5280 and not r.baseline_requirements and r.random_bits == 0
    assert "sequential" in str(check_compliance([1], "legacy2"))


def test_rsnv1_entropy_is_bounded_by_its_range() -> None:
    r = check_compliance([0x1234], "legacy-random")
    assert r.random_bits == 28 and not r.baseline_requirements
    assert check_compliance([5], "legacy-random", range_size=2**70).baseline_requirements


def test_zero_and_negative_serials() -> None:
    r = check_compliance([0, 5, -3], "random")
    assert (r.non_positive, r.rfc5280, r.baseline_requirements) == (2, False, False)
    assert r.examples == (0, -3)


def test_a_history_is_checked_in_numpy() -> None:
    h = History()
    ca = h.process("ca1")
    for v in (1, 2**127, 0, 2**170):
        h.issue(0.0, ca, Op.ISSUE_CERT, v)
    h.issue(0.0, ca, Op.ISSUE_REQUEST, 2**200)  # not a serial
    r = check_compliance(h, "random")
    assert (r.count, r.non_positive, r.too_long, r.max_octets) == (4, 1, 1, 22)


def test_unknown_strategy() -> None:
    with pytest.raises(ConfigError, match="unknown strategy"):
        check_compliance([1], "snowflake")
