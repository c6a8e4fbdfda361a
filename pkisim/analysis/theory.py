"""Closed forms that check the simulation and size a deployment.

Random serials (RSNv3, :class:`pkisim.ids.random_serials.RandomRepository`)
draw ``dbs.cert.id.length`` uniform bits with no database check; a draw that
repeats a stored serial fails when its record is added (dogtag-ranges.md 5).
In a space of ``N = 2**bits`` serials, after ``n`` draws:

* :func:`expected_collisions`: the expected number of draws that repeat an
  earlier one, ``n - N (1 - (1 - 1/N)**n)`` (exactly: the stored serials are
  the distinct values drawn), about ``n**2 / 2N`` (:func:`collisions_approx`);
* :func:`collision_probability`: the chance of at least one repeat,
  ``1 - prod(1 - i/N, i < n)``; :func:`max_issuances` inverts it.

Range mode (dogtag-ranges.md sections 1, 3, 4.2): the update task runs every
``ca.serialNumberUpdateInterval`` ``T``; it claims a next range of
``serialIncrement`` when (remaining + next) < ``serialLowWaterMark``, and
nothing else ever claims.  A run that does not claim leaves the CA holding at
least the low-water mark ``m``; a run that claims leaves it at least the
increment, and the increment is at least ``m`` (pkisim refuses a smaller one:
successive claims would overwrite each other).  So a CA runs out before the
next run only if the demand in one interval, Poisson with mean ``λT`` at a peak
rate ``λ`` per CA, exceeds ``m``: :func:`exhaustion_probability` is
``P(Poisson(λT) > m)``, and :func:`recommend_low_water_mark` the smallest ``m``
that keeps it below a target.  Two things take numbers between runs besides
enrollments, and the rate to plan for is the highest one CA sees: a master
serves every enrollment until its clones join, and a clone's installation
takes ``dbs.serialCloneTransferNumber`` from its donor's range.

>>> round(expected_collisions(1000, 2**20), 2)
0.48
>>> recommend_low_water_mark(1.0, 600.0, 1e-3).low_water_mark
677
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from pkisim.sim.metrics import forecast_date

__all__ = ["LowWaterMark", "collision_probability", "collisions_approx", "days_to_exhaustion",
           "exhaustion_date", "exhaustion_probability", "expected_collisions", "max_issuances",
           "poisson_sf", "recommend_low_water_mark"]

#: Below this many draws the collision probability is an exact product.
_EXACT_DRAWS = 200_000


def _check_draws(draws: int, space: int) -> None:
    if isinstance(space, bool) or not isinstance(space, int) or space < 1:
        raise ValueError(f"space = {space!r}: must be an integer >= 1 (2**bits)")
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 0:
        raise ValueError(f"draws = {draws!r}: must be an integer >= 0")


# --------------------------------------------------------------------------- birthday bound
def expected_collisions(draws: int, space: int) -> float:
    """Expected draws that repeat an earlier draw, ``draws`` uniform in ``space`` values.

    Exactly ``n - N (1 - (1 - 1/N)**n)``, the sum over draws of the chance that
    draw ``i`` hits one of the values before it.  For ``n << N`` the difference
    cancels, so it is summed as the alternating series
    ``C(n,2)/N - C(n,3)/N**2 + ...`` instead.
    """
    _check_draws(draws, space)
    n, big = draws, float(space)
    if n < 2:
        return 0.0
    ratio = n / big
    if ratio < 0.01:
        total, term, k = 0.0, float(n), 1
        while True:  # term_k = C(n, k+1) / N**k, alternating
            term *= (n - k) / ((k + 1) * big)
            total += term if k % 2 else -term
            k += 1
            if term < 1e-17 * total or k > n:
                return total
    distinct = -big * math.expm1(n * math.log1p(-1 / big))
    return n - distinct


def collisions_approx(draws: int, space: int) -> float:
    """The birthday approximation ``n**2 / 2N`` of :func:`expected_collisions`."""
    _check_draws(draws, space)
    return draws * draws / (2 * space)


def collision_probability(draws: int, space: int) -> float:
    """The probability that ``draws`` uniform values in ``space`` are not all distinct."""
    _check_draws(draws, space)
    n, big = draws, space
    if n < 2:
        return 0.0
    if n > big:
        return 1.0
    if n <= _EXACT_DRAWS:
        log_none = float(np.log1p(-np.arange(n, dtype=np.float64) / big).sum())
    elif n / big < 1e-3:  # -sum(S_k / (k N**k)), S_k = sum(i**k, i < n); three terms suffice
        s1 = n * (n - 1) / 2
        s2 = (n - 1) * n * (2 * n - 1) / 6
        log_none = -(s1 / big + s2 / (2 * big**2) + s1 * s1 / (3 * big**3))
    else:  # n**2 / N > 200 here: the probability is 1 to double precision anyway
        log_none = math.lgamma(big + 1) - math.lgamma(big - n + 1) - n * math.log(big)
    return -math.expm1(log_none)


def max_issuances(space: int, probability: float) -> int:
    """The most draws in ``space`` whose collision probability is at most ``probability``."""
    if not 0 < probability < 1:
        raise ValueError(f"probability = {probability!r}: must be between 0 and 1")
    _check_draws(0, space)
    guess = math.sqrt(2 * space * -math.log1p(-probability))
    low = max(1, int(guess / 2))
    while low > 1 and collision_probability(low, space) > probability:
        low //= 2
    high = max(low + 1, int(guess * 2) + 2)
    while high <= space and collision_probability(high, space) <= probability:
        high *= 2
    high = min(high, space + 1)
    while high - low > 1:  # invariant: P(low) <= probability < P(high)
        mid = (low + high) // 2
        if collision_probability(mid, space) <= probability:
            low = mid
        else:
            high = mid
    return low


# --------------------------------------------------------------------------- exhaustion
def days_to_exhaustion(remaining: float, rate_per_day: float | Sequence[tuple[float, float]],
                       *, growth_per_year: float = 0.0) -> float:
    """Days until ``remaining`` numbers are used (``inf`` if never).

    ``rate_per_day`` is a constant rate, optionally growing by
    ``growth_per_year`` (0.2: the rate is ``rate * 1.2 ** (day / 365)``), or a
    profile of ``(start_day, rate_per_day)`` steps from day 0, the last rate
    holding for ever.
    """
    if not remaining >= 0:
        raise ValueError(f"remaining = {remaining!r}: must be >= 0")
    if isinstance(rate_per_day, int | float):
        rate = float(rate_per_day)
        if not (math.isfinite(rate) and rate >= 0):
            raise ValueError(f"rate_per_day = {rate_per_day!r}: must be a finite rate >= 0")
        if not growth_per_year > -1:
            raise ValueError(f"growth_per_year = {growth_per_year!r}: must be > -1")
        if remaining == 0:
            return 0.0
        if rate == 0:
            return math.inf
        if growth_per_year == 0:
            return remaining / rate
        k = math.log1p(growth_per_year) / 365.0  # rate(t) = rate * exp(k t)
        inner = remaining * k / rate
        return math.log1p(inner) / k if inner > -1 else math.inf
    if growth_per_year:
        raise ValueError("growth_per_year applies to a constant rate, not to a profile")
    return _profile_days(float(remaining), list(rate_per_day))


def _profile_days(remaining: float, steps: list[tuple[float, float]]) -> float:
    if not steps or steps[0][0] != 0:
        raise ValueError(f"rate profile {steps!r}: needs (start_day, rate) steps from day 0")
    for i, (start, rate) in enumerate(steps):
        if not (math.isfinite(rate) and rate >= 0):
            raise ValueError(f"rate profile step {i}: rate {rate!r} must be a finite rate >= 0")
        if i and not start > steps[i - 1][0]:
            raise ValueError(f"rate profile step {i}: start day {start!r} must increase")
    for i, (start, rate) in enumerate(steps):
        end = steps[i + 1][0] if i + 1 < len(steps) else math.inf
        used = rate * (end - start)
        if used >= remaining:
            return start + remaining / rate
        remaining -= used
    return math.inf


def exhaustion_date(start_date: str, remaining: float,
                    rate_per_day: float | Sequence[tuple[float, float]], *,
                    growth_per_year: float = 0.0) -> str | None:
    """The ISO date ``remaining`` numbers run out, counting from ``start_date``;
    ``None`` when never (or beyond the calendar, as in the run's forecast)."""
    days = days_to_exhaustion(remaining, rate_per_day, growth_per_year=growth_per_year)
    return forecast_date(start_date, days)


# --------------------------------------------------------------------------- low-water mark
def poisson_sf(k: int, mean: float) -> float:
    """``P(X > k)`` for ``X`` Poisson with ``mean``: summed over the terms that
    matter (within 40 standard deviations), in log space, so tails of 1e-12
    keep their digits."""
    if not (math.isfinite(mean) and mean >= 0):
        raise ValueError(f"mean = {mean!r}: must be a finite number >= 0")
    if k < 0:
        return 1.0
    if mean == 0:
        return 0.0
    spread = 40 * math.sqrt(mean) + 40
    low = max(0, int(mean - spread))
    high = int(mean + spread) + 1
    if k >= high:
        return 0.0
    i = np.arange(low, high + 1, dtype=np.float64)
    first = low * math.log(mean) - mean - math.lgamma(low + 1)
    steps = np.log(mean) - np.log(np.maximum(i[1:], 1.0))
    log_pmf = np.concatenate(([first], first + np.cumsum(steps)))
    pmf = np.exp(log_pmf)
    if k >= mean:
        return float(pmf[i > k].sum())
    return max(0.0, 1.0 - float(pmf[i <= k].sum()))


def exhaustion_probability(low_water_mark: int, rate: float, update_interval: float) -> float:
    """The chance that a CA holding only ``low_water_mark`` numbers after an
    update-task run runs out before the next run: ``P(Poisson(rate * T) > m)``.

    ``rate`` is the CA's own enrollment rate per second at the peak (a balancer
    spreading ``λ`` over ``k`` CAs gives each ``λ / k``); ``update_interval`` is
    ``ca.serialNumberUpdateInterval`` in seconds.
    """
    if not (math.isfinite(rate) and rate >= 0):
        raise ValueError(f"rate = {rate!r}: must be a finite rate >= 0 per second")
    if not (math.isfinite(update_interval) and update_interval > 0):
        raise ValueError(f"update_interval = {update_interval!r}: must be > 0 seconds")
    return poisson_sf(int(low_water_mark), rate * update_interval)


class LowWaterMark(NamedTuple):
    """``dbs.serialLowWaterMark`` and ``dbs.serialIncrement`` (numbers, not hex)."""

    low_water_mark: int
    increment: int


def recommend_low_water_mark(peak_rate: float, update_interval: float, target: float, *,
                             intervals_per_claim: int = 1,
                             clone_transfer_number: int = 0) -> LowWaterMark:
    """The smallest low-water mark (and increment) that keep the chance of a CA
    running out between two update-task runs at most ``target``.

    The low-water mark is the smallest ``m`` with ``P(Poisson(λT) > m) <= target``
    (:func:`exhaustion_probability`).  The smallest safe increment is ``m``
    itself: a claim then always lifts the CA to at least ``m``, and never
    overwrites a next range it has not used yet.  Such a CA claims at about
    every run at the peak; ``intervals_per_claim = k`` asks for an increment
    that also covers the demand of ``k`` intervals at the same ``target``
    (fewer claims on the shared ``nextRange``, fewer chances for a replication
    race).

    ``peak_rate`` is the most one CA sees: before its clones join, a master
    takes the whole rate.  A clone installed from this CA takes
    ``clone_transfer_number`` (``dbs.serialCloneTransferNumber``) from it
    between two runs, on top of the demand: the mark then covers that too.
    """
    if not 0 < target < 1:
        raise ValueError(f"target = {target!r}: must be a probability between 0 and 1")
    if isinstance(intervals_per_claim, bool) or not isinstance(intervals_per_claim, int) \
            or intervals_per_claim < 1:
        raise ValueError(f"intervals_per_claim = {intervals_per_claim!r}: must be an integer >= 1")
    if isinstance(clone_transfer_number, bool) or not isinstance(clone_transfer_number, int) \
            or clone_transfer_number < 0:
        raise ValueError(f"clone_transfer_number = {clone_transfer_number!r}: must be an "
                         "integer >= 0")
    mark = _poisson_quantile(peak_rate, update_interval, target) + clone_transfer_number
    cover = _poisson_quantile(peak_rate, update_interval * intervals_per_claim, target)
    return LowWaterMark(mark, max(mark, cover, 1))


def _poisson_quantile(rate: float, interval: float, target: float) -> int:
    """The smallest ``m >= 0`` with ``P(Poisson(rate * interval) > m) <= target``."""
    mean = rate * interval
    low, high = -1, max(1, int(mean + 50 * math.sqrt(mean) + 50))
    if exhaustion_probability(high, rate, interval) > target:  # pragma: no cover - 50 sigma
        raise ValueError(f"target = {target!r} is beyond 50 standard deviations")
    while high - low > 1:  # invariant: P(> low) > target >= P(> high)
        mid = (low + high) // 2
        if exhaustion_probability(mid, rate, interval) <= target:
            high = mid
        else:
            low = mid
    return high
