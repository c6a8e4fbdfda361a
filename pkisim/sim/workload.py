"""Arrivals and random draws, in chunks.

Every stream draws from its own named generator (``Seeds.numpy(name)``) and
hands out values from numpy chunks converted to Python floats, so the hot path
never calls numpy per request.  Chunking does not change the values: a numpy
``Generator`` fills a request for ``n`` values in sequence, and every stream is
only ever read in chunks of the same size.
"""

from __future__ import annotations

import csv
import math
from bisect import bisect_left
from pathlib import Path

import numpy as np

from pkisim.errors import ConfigError, shown
from pkisim.sim.config import DAY, Distribution, Workload

#: Request kinds, as small ints on the hot path and as words in the tables.
ENROLL, REVOKE, CRL_FETCH = 0, 1, 2
KIND_NAMES = ("enroll", "revoke", "crl")

CHUNK = 4096


def sample_many(dist: Distribution, rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` samples of ``dist``, with the parametrisation of :meth:`Distribution.sample`."""
    if dist.kind == "constant":
        return np.full(n, dist.mean)
    if dist.kind == "exponential":
        return rng.exponential(dist.mean, n) if dist.mean > 0 else np.zeros(n)
    if dist.kind == "uniform":
        return rng.uniform(dist.low, dist.high, n)
    if dist.mean <= 0:
        return np.zeros(n)
    sigma2 = math.log1p(dist.cv**2)
    return rng.lognormal(math.log(dist.mean) - sigma2 / 2, math.sqrt(sigma2), n)


class Draws:
    """An endless supply of samples of one distribution from one stream."""

    __slots__ = ("_buf", "_i", "constant", "dist", "rng")

    def __init__(self, dist: Distribution, rng: np.random.Generator) -> None:
        self.dist, self.rng = dist, rng
        self.constant: float | None = dist.mean if dist.kind == "constant" else None
        self._buf: list[float] = []
        self._i = 0

    def next(self) -> float:
        if self.constant is not None:
            return self.constant
        i = self._i
        if i == len(self._buf):
            self._buf = sample_many(self.dist, self.rng, CHUNK).tolist()
            i = 0
        self._i = i + 1
        return self._buf[i]

    def ahead(self, n: int) -> list[float]:
        """The next ``n`` values, without consuming them (see :meth:`skip`)."""
        if self.constant is not None:
            return [self.constant] * n
        while len(self._buf) - self._i < n:
            self._buf = self._buf[self._i:] + sample_many(self.dist, self.rng, CHUNK).tolist()
            self._i = 0
        return self._buf[self._i:self._i + n]

    def skip(self, n: int) -> None:
        """Consume ``n`` values that :meth:`ahead` looked at."""
        if self.constant is None:
            self._i += n


class Uniforms:
    """Uniform draws in [0, 1) or integers in [0, high), in chunks."""

    __slots__ = ("_buf", "_i", "high", "rng")

    def __init__(self, rng: np.random.Generator, high: int = 0) -> None:
        self.rng, self.high = rng, high
        self._buf: list = []
        self._i = 0

    def next(self) -> float:
        i = self._i
        if i == len(self._buf):
            self._buf = self._chunk()
            i = 0
        self._i = i + 1
        return self._buf[i]

    def _chunk(self) -> list:
        if self.high:
            return self.rng.integers(0, self.high, CHUNK).tolist()
        return self.rng.random(CHUNK).tolist()

    def ahead(self, n: int) -> list:
        """The next ``n`` values, without consuming them (see :meth:`skip`)."""
        while len(self._buf) - self._i < n:
            self._buf = self._buf[self._i:] + self._chunk()
            self._i = 0
        return self._buf[self._i:self._i + n]

    def skip(self, n: int) -> None:
        self._i += n


def rate_profile(workload: Workload, t: np.ndarray, base: float) -> np.ndarray:
    """:meth:`Workload.rate_at` for an array of times (the same formula)."""
    rate = np.full(t.shape, base, dtype=float)
    if workload.diurnal_amplitude:
        phase = 2 * math.pi * (t / DAY - workload.peak_hour / 24 + 0.25)
        rate *= 1 + workload.diurnal_amplitude * np.sin(phase)
    for burst in workload.bursts:
        inside = (t >= burst.start) & (t < burst.start + burst.duration)
        rate = np.where(inside, rate * burst.factor, rate)
    return rate


class PoissonArrivals:
    """A non-homogeneous Poisson process by thinning (Lewis-Shedler): candidates
    at the peak rate, each kept with probability ``rate_at(t) / peak``."""

    __slots__ = ("_buf", "_i", "_t", "base", "peak", "rng", "thin", "until", "workload")

    def __init__(self, workload: Workload, base: float, rng: np.random.Generator,
                 until: float) -> None:
        self.workload, self.base, self.rng, self.until = workload, base, rng, until
        self.peak = base * workload.peak_factor()
        self.thin = bool(workload.diurnal_amplitude or workload.bursts)
        self._t = 0.0
        self._buf: list[float] = []
        self._i = 0

    def _refill(self) -> None:
        gaps = self.rng.exponential(1.0 / self.peak, CHUNK)
        times = self._t + np.cumsum(gaps)
        self._t = float(times[-1])
        if self.thin:
            keep = self.rng.random(CHUNK) * self.peak < rate_profile(self.workload, times,
                                                                      self.base)
            times = times[keep]
        self._buf = self._buf[self._i:] + times.tolist()  # keeps what ahead() looked at
        self._i = 0

    def next(self) -> float:
        """The next arrival time, ``inf`` after the end of the run."""
        if self.base <= 0:
            return math.inf
        while self._i == len(self._buf):
            if self._t >= self.until:
                return math.inf
            self._refill()
        t = self._buf[self._i]
        self._i += 1
        return t if t < self.until else math.inf

    def ahead(self, horizon: float) -> tuple[list[float], float]:
        """The arrivals before ``horizon`` and the one after them (``inf`` if
        none), without consuming them: :meth:`next` returns these values next."""
        if self.base <= 0:
            return [], math.inf
        until = self.until
        limit = horizon if horizon < until else until
        while True:
            buf, j = self._buf, self._i
            k = bisect_left(buf, limit, j)  # the times are increasing
            if k < len(buf):
                t = buf[k]
                return buf[j:k], t if t < until else math.inf
            if self._t >= until:
                return buf[j:], math.inf
            self._refill()  # keeps the values not consumed yet

    def skip(self, n: int) -> None:
        """Consume ``n`` values (``n`` calls of :meth:`next`)."""
        if n:
            self._i += n - 1
            self.next()


class TraceArrivals:
    """Replay of a CSV trace: one arrival per row, column ``time`` in seconds."""

    __slots__ = ("_i", "times")

    def __init__(self, path: str, until: float) -> None:
        self.times = [t for t in read_trace(path) if t < until]
        self._i = 0

    def next(self) -> float:
        if self._i == len(self.times):
            return math.inf
        t = self.times[self._i]
        self._i += 1
        return t

    def ahead(self, horizon: float) -> tuple[list[float], float]:
        """The arrivals before ``horizon`` and the one after them (``inf`` if
        none), without consuming them (see :meth:`PoissonArrivals.ahead`)."""
        times, i = self.times, self._i
        k = bisect_left(times, horizon, i)
        return times[i:k], times[k] if k < len(times) else math.inf

    def skip(self, n: int) -> None:
        """Consume ``n`` values (``n`` calls of :meth:`next`)."""
        self._i += n


def read_trace(path: str) -> list[float]:
    """The sorted timestamps of a trace file; a one-line :class:`ConfigError`
    (naming the trace's line) for anything that is not a CSV of finite times."""
    line = 1
    try:
        with Path(path).open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or "time" not in reader.fieldnames:
                raise ConfigError("workload.trace", path, "needs a CSV header with a column 'time'")
            times = []
            for row in reader:
                line = reader.line_num
                text = row["time"]
                try:
                    value = float(text)
                except (TypeError, ValueError):
                    reason = f"line {line}: time {shown(text)} is not a number"
                    raise ConfigError("workload.trace", path, reason) from None
                if not (math.isfinite(value) and value >= 0):
                    raise ConfigError("workload.trace", path,
                                      f"line {line}: time {shown(text)} must be finite and >= 0")
                times.append(value)
    except OSError as err:
        raise ConfigError("workload.trace", path, f"cannot read: {err.strerror}") from None
    except UnicodeDecodeError as err:
        raise ConfigError("workload.trace", path, f"is not UTF-8 text (byte {err.start})") \
            from None
    except csv.Error as err:  # a field over csv.field_size_limit(), a NUL byte, ...
        raise ConfigError("workload.trace", path, f"line {line + 1}: not CSV ({err})") from None
    return sorted(times)
