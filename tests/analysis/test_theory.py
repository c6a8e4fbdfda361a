"""The closed forms against exact arithmetic, brute force and textbook values.

Their agreement with the simulation is test_theory_sim.py."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import pytest

from pkisim.analysis import (
    MMc,
    collision_probability,
    collisions_approx,
    days_to_exhaustion,
    erlang_b,
    erlang_c,
    exhaustion_date,
    exhaustion_probability,
    expected_collisions,
    max_issuances,
    mgc_mean_wait,
    poisson_sf,
    recommend_low_water_mark,
)


# --------------------------------------------------------------------------- Erlang C
def erlang_c_factorials(c: int, a: Fraction) -> Fraction:
    """The textbook formula, in exact rational arithmetic."""
    below = sum(a**k / math.factorial(k) for k in range(c))
    top = a**c / math.factorial(c) * c / (c - a)
    return top / (below + top)


@pytest.mark.parametrize("c", [1, 2, 3, 5, 8, 20, 40])
@pytest.mark.parametrize("rho", [0.05, 0.3, 0.7, 0.95, 0.999])
def test_erlang_c_matches_the_factorial_formula(c, rho):
    a = Fraction(rho).limit_denominator(10**6) * c
    assert erlang_c(c, float(a)) == pytest.approx(float(erlang_c_factorials(c, a)), rel=1e-11)


def test_erlang_b_and_c_small_cases():
    assert erlang_b(1, 2.0) == pytest.approx(2 / 3)  # a / (1 + a)
    assert erlang_c(1, 0.4) == pytest.approx(0.4)  # M/M/1: P(wait) = rho
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)
    assert erlang_c(3, 0.0) == 0.0


def test_erlang_c_is_stable_for_hundreds_of_servers_and_rho_near_one():
    for c in (100, 500, 2000):
        for rho in (0.5, 0.9, 0.999, 0.999999):
            value = erlang_c(c, rho * c)
            assert 0 < value < 1 and math.isfinite(value)
    # increasing in the load, decreasing in the servers at a fixed utilisation
    assert erlang_c(500, 450.0) < erlang_c(500, 490.0) < erlang_c(500, 499.9)
    assert erlang_c(50, 45.0) > erlang_c(500, 450.0)
    assert erlang_c(2000, 1999.99) == pytest.approx(1.0, abs=2e-3)


def test_mmc_wait_formulas():
    pool = MMc(servers=4, arrival_rate=3.0, service_rate=1.0)
    c = erlang_c(4, 3.0)
    assert pool.utilisation == 0.75
    assert pool.wait_probability == c
    assert pool.mean_wait == pytest.approx(c / (4 - 3))
    assert pool.mean_response == pytest.approx(pool.mean_wait + 1)
    assert pool.mean_queue_length == pytest.approx(3 * pool.mean_wait)  # Little
    assert pool.wait_tail(0) == c and pool.wait_tail(-1) == 1.0
    assert pool.wait_tail(2.0) == pytest.approx(c * math.exp(-2.0))
    q = pool.wait_quantile(0.9)
    assert pool.wait_tail(q) == pytest.approx(0.1)
    assert pool.wait_quantile(1 - c) == 0.0 and pool.wait_quantile(0.3) == 0.0
    # M/M/1: Wq = rho / (mu - lambda)
    assert MMc(1, 0.5, 2.0).mean_wait == pytest.approx(0.25 / 1.5)
    assert MMc.at_utilisation(8, 0.9, 0.25) == MMc(8, 28.8, 4.0)


def test_allen_cunneen_scales_erlang_c_by_the_service_variability():
    pool = MMc(8, 28.0, 4.0)
    assert mgc_mean_wait(pool, 1.0) == pool.mean_wait  # exponential: exact
    assert mgc_mean_wait(pool, 0.0) == pytest.approx(pool.mean_wait / 2)  # constant service
    assert mgc_mean_wait(pool, 0.5) == pytest.approx(pool.mean_wait * 0.625)


@pytest.mark.parametrize("bad, word", [
    (lambda: mgc_mean_wait(MMc(2, 1.0, 1.0), -0.5), "service_cv"),
    (lambda: erlang_c(4, 4.0), "unstable"),
    (lambda: erlang_c(0, 1.0), "servers"),
    (lambda: erlang_b(2, -1.0), "offered load"),
    (lambda: MMc(2, 3.0, 1.0), "unstable"),
    (lambda: MMc(2, 1.0, 0.0), "service_rate"),
    (lambda: MMc(2, 1.0, 1.0).wait_quantile(1.0), "p = 1.0"),
])
def test_queueing_bad_input_is_one_line(bad, word):
    with pytest.raises(ValueError, match=word) as err:
        bad()
    assert "\n" not in str(err.value)


# --------------------------------------------------------------------------- birthday bound
def brute_force(draws: int, space: int) -> tuple[Fraction, Fraction]:
    """(expected repeats, P(at least one)) over every sequence of draws."""
    repeats = collided = 0
    for seq in itertools.product(range(space), repeat=draws):
        r = draws - len(set(seq))
        repeats += r
        collided += r > 0
    total = space**draws
    return Fraction(repeats, total), Fraction(collided, total)


@pytest.mark.parametrize("draws, space", [(2, 2), (3, 5), (5, 4), (6, 5), (4, 7), (7, 3)])
def test_birthday_against_brute_force(draws, space):
    repeats, collided = brute_force(draws, space)
    assert expected_collisions(draws, space) == pytest.approx(float(repeats), rel=1e-12)
    assert collision_probability(draws, space) == pytest.approx(float(collided), rel=1e-12)


@pytest.mark.parametrize("draws, space", [(5_000, 2**20), (40_000, 2**20), (100, 2**40),
                                          (60_000, 2**24), (3_000, 4_000)])
def test_expected_collisions_exact_rational(draws, space):
    """Both branches (series for n << N, closed form otherwise) against exact arithmetic."""
    exact = draws - space * (1 - (1 - Fraction(1, space)) ** draws)
    assert expected_collisions(draws, space) == pytest.approx(float(exact), rel=1e-10)


def test_expected_collisions_for_128_bit_serials():
    n, big = 10**12, 2**128
    pairs = n * (n - 1) / (2 * big)
    assert expected_collisions(n, big) == pytest.approx(pairs, rel=1e-9)
    assert collisions_approx(n, big) == pytest.approx(n * n / (2 * big))
    # the approximation overstates the repeats once n/N is no longer tiny
    assert expected_collisions(40_000, 2**20) < collisions_approx(40_000, 2**20)


def test_collision_probability_textbook_values_and_branches():
    assert collision_probability(23, 365) == pytest.approx(0.507297, abs=1e-6)
    assert collision_probability(366, 365) == 1.0
    assert collision_probability(1, 2**20) == 0.0
    # the exact product (n <= 200,000) and the series beyond it agree
    big = 2**64
    assert collision_probability(200_001, big) == pytest.approx(
        collision_probability(200_000, big), rel=2e-5)
    n = 10**9
    assert collision_probability(n, big) == pytest.approx(-math.expm1(-n * (n - 1) / (2 * big)),
                                                          rel=1e-9)
    assert collision_probability(300_000, 10**8) == pytest.approx(1.0)


@pytest.mark.parametrize("space, p", [(365, 0.5), (2**20, 0.5), (2**24, 0.01),
                                      (2**64, 1e-6), (2**128, 1e-9)])
def test_max_issuances_inverts_collision_probability(space, p):
    n = max_issuances(space, p)
    assert collision_probability(n, space) <= p < collision_probability(n + 1, space)
    if space == 365:
        assert n == 22


def test_birthday_bad_input():
    for bad in (lambda: expected_collisions(-1, 10), lambda: collision_probability(3, 0),
                lambda: max_issuances(2**20, 1.5), lambda: expected_collisions(2.5, 10)):
        with pytest.raises(ValueError):
            bad()


# --------------------------------------------------------------------------- exhaustion
def test_days_to_exhaustion_constant_growth_and_profile():
    assert days_to_exhaustion(1000, 100.0) == 10.0
    assert days_to_exhaustion(0, 5.0) == 0.0
    assert days_to_exhaustion(10, 0.0) == math.inf
    # growing 20 % a year: the integral of the rate up to the answer is the space
    days = days_to_exhaustion(1_000_000, 1000.0, growth_per_year=0.2)
    k = math.log(1.2) / 365
    assert 1000.0 * math.expm1(k * days) / k == pytest.approx(1_000_000)
    assert days < 1000
    # shrinking fast enough never runs out: the integral converges below the space
    assert days_to_exhaustion(1_000_000, 1000.0, growth_per_year=-0.9) == math.inf
    # a profile: 100/day for 10 days, then 50/day
    assert days_to_exhaustion(500, [(0, 100.0), (10, 50.0)]) == 5.0
    assert days_to_exhaustion(1500, [(0, 100.0), (10, 50.0)]) == 20.0
    assert days_to_exhaustion(1500, [(0, 100.0), (10, 0.0)]) == math.inf


def test_exhaustion_date():
    assert exhaustion_date("2026-01-01", 3100, 100.0) == "2026-02-01"
    assert exhaustion_date("2026-01-01", 2**159, 1e6) is None  # beyond the calendar
    assert exhaustion_date("2026-01-01", 2_950_000, 1.0) is None  # past 9999-12-31 (8,077 y)
    assert exhaustion_date("2026-01-01", 10, 0.0) is None


@pytest.mark.parametrize("bad, word", [
    (lambda: days_to_exhaustion(-1, 1.0), "remaining"),
    (lambda: days_to_exhaustion(1, -1.0), "rate_per_day"),
    (lambda: days_to_exhaustion(1, [(1, 2.0)]), "from day 0"),
    (lambda: days_to_exhaustion(1, [(0, 2.0), (0, 1.0)]), "must increase"),
    (lambda: days_to_exhaustion(1, [(0, 2.0)], growth_per_year=0.1), "constant rate"),
])
def test_exhaustion_bad_input(bad, word):
    with pytest.raises(ValueError, match=word):
        bad()


# --------------------------------------------------------------------------- low-water mark
def poisson_sf_direct(k: int, mean: float) -> float:
    """Every term, in log space with the standard library."""
    terms = [math.exp(i * math.log(mean) - mean - math.lgamma(i + 1))
             for i in range(k + 1, int(mean + 60 * math.sqrt(mean) + 60))]
    return math.fsum(terms)


@pytest.mark.parametrize("k, mean", [(0, 0.5), (5, 2.0), (30, 12.0), (700, 600.0),
                                     (10_400, 10_000.0), (9_500, 10_000.0)])
def test_poisson_sf(k, mean):
    assert poisson_sf(k, mean) == pytest.approx(poisson_sf_direct(k, mean), rel=1e-9, abs=1e-15)


def test_poisson_sf_edges():
    assert poisson_sf(-1, 3.0) == 1.0
    assert poisson_sf(0, 0.0) == 0.0
    assert poisson_sf(5, 2.0) == pytest.approx(1 - sum(math.exp(-2) * 2**i / math.factorial(i)
                                                        for i in range(6)))
    assert 0 < poisson_sf(12_000, 10_000.0) < 1e-60  # 20 sigma: tiny, not NaN


@pytest.mark.parametrize("rate, interval, target", [(1.0, 600.0, 1e-3), (1.5, 600.0, 1e-4),
                                                    (0.01, 600.0, 1e-2), (50.0, 3600.0, 1e-6)])
def test_recommended_low_water_mark_is_the_smallest(rate, interval, target):
    mark, increment = recommend_low_water_mark(rate, interval, target)
    assert exhaustion_probability(mark, rate, interval) <= target
    assert mark == 0 or exhaustion_probability(mark - 1, rate, interval) > target
    assert increment == max(mark, 1)
    assert mark > rate * interval  # above the mean demand of one interval


def test_recommended_increment_for_fewer_claims():
    one = recommend_low_water_mark(1.0, 600.0, 1e-3)
    three = recommend_low_water_mark(1.0, 600.0, 1e-3, intervals_per_claim=3)
    assert three.low_water_mark == one.low_water_mark
    assert three.increment >= 3 * 600 and three.increment > one.increment
    assert exhaustion_probability(three.increment, 1.0, 1800.0) <= 1e-3


def test_recommended_mark_covers_a_clone_transfer():
    plain = recommend_low_water_mark(1.0, 600.0, 1e-3)
    donor = recommend_low_water_mark(1.0, 600.0, 1e-3, clone_transfer_number=0x40)
    assert donor.low_water_mark == plain.low_water_mark + 0x40
    assert donor.increment == donor.low_water_mark


def test_low_water_mark_bad_input():
    for bad in (lambda: recommend_low_water_mark(1.0, 600.0, 0.0),
                lambda: recommend_low_water_mark(1.0, 600.0, 0.1, intervals_per_claim=0),
                lambda: recommend_low_water_mark(1.0, 600.0, 0.1, clone_transfer_number=-1),
                lambda: exhaustion_probability(10, -1.0, 600.0),
                lambda: exhaustion_probability(10, 1.0, 0.0)):
        with pytest.raises(ValueError):
            bad()
