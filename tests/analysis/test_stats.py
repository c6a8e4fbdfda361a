"""Intervals against published values and against their own coverage."""

import math

import numpy as np
import pytest

from pkisim.analysis.stats import mean_ci, proportion_ci, t_cdf, t_quantile, wilson_interval


@pytest.mark.parametrize(("p", "df", "expected"), [
    (0.975, 1, 12.706204736174694),
    (0.975, 4, 2.7764451051977934),
    (0.995, 29, 2.756385903670605),
    (0.95, 10, 1.8124611228116756),
    (0.975, 1000, 1.9623390808264083),
])
def test_t_quantile_matches_tables(p: float, df: float, expected: float) -> None:
    assert t_quantile(p, df) == pytest.approx(expected, rel=1e-6)
    assert t_cdf(expected, df) == pytest.approx(p, abs=1e-9)
    assert t_quantile(1 - p, df) == pytest.approx(-expected, rel=1e-6)


def test_mean_ci_covers_the_true_mean_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(7)
    trials = 2000
    covered = sum(4.0 in mean_ci(rng.exponential(4.0, size=30)) for _ in range(trials))
    # exponential data: t intervals undercover slightly; 0.93..0.96 is the known range at n=30
    assert 0.92 * trials <= covered <= 0.965 * trials


def test_mean_ci_of_one_value_is_unbounded_and_bad_input_is_refused() -> None:
    one = mean_ci([3.0])
    assert one.estimate == 3.0 and math.isinf(one.half_width)
    with pytest.raises(ValueError, match="no values"):
        mean_ci([])
    with pytest.raises(ValueError, match=r"level = 1\.5"):
        mean_ci([1.0, 2.0], level=1.5)


def test_wilson_interval_matches_the_published_example() -> None:
    interval = wilson_interval(5, 100)
    assert (interval.low, interval.high) == pytest.approx((0.02154, 0.11175), abs=1e-5)
    assert wilson_interval(0, 10).low == 0.0 and wilson_interval(10, 10).high == 1.0
    with pytest.raises(ValueError, match="successes = 11"):
        wilson_interval(11, 10)


def test_an_interval_on_a_proportion_never_leaves_zero_to_one() -> None:
    # the case: one run of three failed 30 % of its enrollments, the others none;
    # Student's t interval goes negative, Wilson's stays inside [0, 1]
    fractions, attempts = [0.3, 0.0, 0.0], [1000, 1000, 1000]
    assert mean_ci(fractions).low < 0
    wilson = proportion_ci(fractions, attempts)
    assert wilson.estimate == pytest.approx(0.1) and 0 < wilson.low < 0.1 < wilson.high < 1
    # the runs vary far more than 3000 independent attempts would: few effective trials
    assert wilson.high - wilson.low > 10 * (wilson_interval(300, 3000).high
                                           - wilson_interval(300, 3000).low)
    none = proportion_ci([0.0] * 3, attempts)  # no failure in 3000 attempts
    assert none.low == 0.0 and 0 < none.high < 0.01
    everything = proportion_ci([1.0] * 3, attempts)
    assert everything.high == 1.0 and 0.99 < everything.low < 1.0
    # one trial per run (a yes/no metric such as "valid"): Wilson over the runs
    assert proportion_ci([1, 1, 0, 1], [1] * 4) == wilson_interval(3, 4)
    assert (proportion_ci([0.2], [50]).low, proportion_ci([0.2], [50]).high) == (0.0, 1.0)
    with pytest.raises(ValueError, match=r"lie in \[0, 1\]"):
        proportion_ci([1.5, 0.0], [10, 10])


def test_proportion_ci_covers_a_bursty_failure_rate_about_95_percent_of_the_time() -> None:
    # each run's attempts share a rate drawn around 0.05 (bursts): overdispersed binomials
    rng = np.random.default_rng(11)
    trials, covered = 2000, 0
    for _ in range(trials):
        rates = rng.beta(2, 38, size=8)  # mean 0.05
        fractions = rng.binomial(500, rates) / 500
        interval = proportion_ci(fractions, [500] * 8)
        covered += interval.low <= 0.05 <= interval.high
        assert 0.0 <= interval.low <= interval.high <= 1.0
    assert 0.93 * trials <= covered <= 0.99 * trials
