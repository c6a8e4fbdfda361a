"""Confidence intervals for replicated simulation runs, in the standard library.

Replications of a scenario are independent (one seed each), so the mean of a
metric over them gets Student's t interval.  A proportion counted over
independent trials gets Wilson's score interval, and so does a proportion
measured in each replication (:func:`proportion_ci`, at the effective number
of trials): an interval on a proportion never leaves [0, 1].  Waits inside one
run are correlated: do not put them in a binomial interval, replicate instead.

>>> round(t_quantile(0.975, 4), 3)
2.776
>>> mean_ci([1.0, 2.0, 3.0]).half_width > 0
True
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from statistics import NormalDist, fmean, stdev

__all__ = ["Interval", "mean_ci", "proportion_ci", "t_cdf", "t_quantile", "wilson_interval"]


@dataclass(frozen=True, slots=True)
class Interval:
    """A point estimate with a two-sided confidence interval."""

    estimate: float
    low: float
    high: float
    n: int
    level: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def __contains__(self, value: float) -> bool:
        return self.low <= value <= self.high


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level = {level!r}: must be between 0 and 1")


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularized incomplete beta (Lentz's method)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1 + num * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                     + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _betacf(a, b, x) / a
    return 1 - front * _betacf(b, a, 1 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom."""
    if df <= 0:
        raise ValueError(f"df = {df!r}: must be > 0")
    tail = 0.5 * _betainc(df / 2, 0.5, df / (df + t * t))
    return 1 - tail if t > 0 else tail


@functools.lru_cache(maxsize=4096)
def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (about a
    millisecond of bisection, so remembered: a sweep's summary asks for the
    same few quantiles once per point and metric)."""
    _check_level(p)
    if df <= 0:
        raise ValueError(f"df = {df!r}: must be > 0")
    if p < 0.5:
        return -t_quantile(1 - p, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        high *= 2
    for _ in range(200):  # bisection: t_cdf is monotone, 200 halvings reach float precision
        mid = (low + high) / 2
        if t_cdf(mid, df) < p:
            low = mid
        else:
            high = mid
        if high - low <= 1e-12 * max(1.0, high):
            break
    return (low + high) / 2


def mean_ci(values: Iterable[float], level: float = 0.95) -> Interval:
    """The mean of independent replications with its Student t interval.

    One value gives an interval of infinite width (nothing is known of the spread).
    """
    _check_level(level)
    data = [float(v) for v in values]
    if not data:
        raise ValueError("mean_ci: no values")
    mean = fmean(data)
    if len(data) == 1:
        return Interval(mean, -math.inf, math.inf, 1, level)
    half = t_quantile((1 + level) / 2, len(data) - 1) * stdev(data) / math.sqrt(len(data))
    return Interval(mean, mean - half, mean + half, len(data), level)


def wilson_interval(successes: int, trials: int, level: float = 0.95) -> Interval:
    """Wilson's score interval for a proportion over independent trials
    (always inside [0, 1], unlike the normal approximation).

    >>> interval = wilson_interval(0, 3)
    >>> interval.low, round(interval.high, 3)
    (0.0, 0.561)
    """
    _check_level(level)
    if trials <= 0 or not 0 <= successes <= trials:
        raise ValueError(f"wilson_interval: successes = {successes}, trials = {trials}")
    z = NormalDist().inv_cdf((1 + level) / 2)
    p = successes / trials
    low, high = _wilson(p, trials, z)
    return Interval(p, low, high, trials, level)


def proportion_ci(values: Iterable[float], trials: Iterable[float],
                  level: float = 0.95) -> Interval:
    """The mean of per-run proportions over independent replications, with a
    Wilson score interval (never outside [0, 1]).

    ``values[j]`` is run ``j``'s proportion of its ``trials[j]`` trials.  With
    one trial per run (a yes/no outcome, such as "the run was valid") this is
    :func:`wilson_interval` over the runs.  The trials of one run are not
    independent (enrollments fail in bursts when a CA runs dry), so otherwise
    the interval is Wilson's at the *effective* number of trials, the number
    of independent trials that would vary as much as the runs do,
    ``n_eff = p(1 - p) / (s² / n)``, at most the trials counted, with Student's
    t quantile on ``n - 1`` degrees of freedom (Korn and Graubard's
    effective-sample-size interval).  When every run gave the same proportion,
    the trials counted are the effective ones.  One run of many trials says
    nothing of the spread between runs: the interval is [0, 1].

    >>> interval = proportion_ci([0.0, 0.4, 0.05], [100, 100, 100])
    >>> interval.low >= 0.0 and interval.high <= 1.0
    True
    """
    _check_level(level)
    data = [float(v) for v in values]
    counts = [float(t) for t in trials]
    if not data or len(counts) != len(data):
        raise ValueError(f"proportion_ci: {len(data)} values for {len(counts)} trial counts")
    if not all(0.0 <= v <= 1.0 for v in data) or not all(t > 0 for t in counts):
        raise ValueError("proportion_ci: proportions must lie in [0, 1] over trials > 0")
    n, mean = len(data), fmean(data)
    if all(t == 1 for t in counts):
        if not all(v in (0.0, 1.0) for v in data):
            raise ValueError("proportion_ci: one trial per run gives proportions 0 or 1")
        return wilson_interval(round(sum(data)), n, level)
    if n == 1:
        return Interval(mean, 0.0, 1.0, 1, level)
    spread = stdev(data) ** 2 / n
    total = sum(counts)
    effective = total if spread == 0 else min(total, mean * (1 - mean) / spread)
    low, high = _wilson(mean, effective, t_quantile((1 + level) / 2, n - 1))
    return Interval(mean, low, high, n, level)


def _wilson(p: float, trials: float, q: float) -> tuple[float, float]:
    """Wilson's score interval for proportion ``p`` of ``trials`` at quantile ``q``."""
    denom = 1 + q * q / trials
    centre = (p + q * q / (2 * trials)) / denom
    half = q * math.sqrt(p * (1 - p) / trials + q * q / (4 * trials * trials)) / denom
    low = 0.0 if p == 0 else max(0.0, min(p, centre - half))
    high = 1.0 if p == 1 else min(1.0, max(p, centre + half))
    return low, high
