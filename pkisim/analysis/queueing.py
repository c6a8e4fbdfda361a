"""Erlang C: the M/M/c queue that a load-balanced pool of CA worker threads is.

A CA serves enrollments with ``workers`` threads, first come first served
(:class:`pkisim.sim.CaSpec`).  With Poisson arrivals at rate ``λ`` and
exponential service at rate ``μ`` per thread, that pool is an M/M/c queue with
``c`` servers and offered load ``a = λ/μ`` (Erlangs), utilisation ``ρ = a/c``:

* Erlang B by its recursion ``B(0) = 1``, ``B(k) = a B(k-1) / (k + a B(k-1))``
  (no factorials, no overflow: good for hundreds of servers and ρ near 1);
* Erlang C, the probability that a request waits, ``C = c B / (c - a (1 - B))``;
* the mean wait in the queue ``Wq = C / (c μ - λ)``, and the wait's tail
  ``P(W > t) = C exp(-(c μ - λ) t)`` (the wait of a request that waits is
  exponential with rate ``c μ - λ``);
* for service times that are not exponential (a CA's default enrollment time
  is lognormal with a coefficient of variation of 0.5), Allen and Cunneen's
  approximation ``Wq(M/G/c) ≈ Wq(M/M/c) (1 + cv²) / 2``.

>>> round(erlang_c(4, 3.0), 4)
0.5094
>>> pool = MMc(servers=4, arrival_rate=3.0, service_rate=1.0)
>>> round(pool.mean_wait, 4)
0.5094
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["MMc", "erlang_b", "erlang_c", "mgc_mean_wait"]


def _check_pool(servers: int, load: float) -> None:
    if isinstance(servers, bool) or not isinstance(servers, int) or servers < 1:
        raise ValueError(f"servers = {servers!r}: must be an integer >= 1")
    if not (math.isfinite(load) and load >= 0):
        raise ValueError(f"offered load = {load!r}: must be a finite number >= 0 (Erlangs)")


def erlang_b(servers: int, load: float) -> float:
    """Erlang B: the blocking probability of ``servers`` servers offered ``load`` Erlangs."""
    _check_pool(servers, load)
    b = 1.0
    for k in range(1, servers + 1):
        b = load * b / (k + load * b)
    return b


def erlang_c(servers: int, load: float) -> float:
    """Erlang C: the probability that a request waits (all ``servers`` busy).

    Needs ``load < servers`` (utilisation below 1): otherwise the queue grows
    without bound and every request waits.
    """
    _check_pool(servers, load)
    if load >= servers:
        raise ValueError(f"offered load = {load!r} Erlangs >= {servers} servers: the queue is "
                         "unstable (utilisation >= 1)")
    b = erlang_b(servers, load)
    return servers * b / (servers - load * (1 - b))


@dataclass(frozen=True, slots=True)
class MMc:
    """An M/M/c pool: ``servers`` worker threads, Poisson arrivals at
    ``arrival_rate`` per second, exponential service at ``service_rate`` per
    second per thread (the reciprocal of the mean service time)."""

    servers: int
    arrival_rate: float
    service_rate: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.service_rate) and self.service_rate > 0):
            raise ValueError(f"service_rate = {self.service_rate!r}: must be > 0 per second")
        if not (math.isfinite(self.arrival_rate) and self.arrival_rate >= 0):
            raise ValueError(f"arrival_rate = {self.arrival_rate!r}: must be >= 0 per second")
        _check_pool(self.servers, self.load)
        if self.load >= self.servers:
            raise ValueError(f"arrival_rate = {self.arrival_rate!r} >= servers * service_rate = "
                             f"{self.servers * self.service_rate!r}: the queue is unstable")

    @classmethod
    def at_utilisation(cls, servers: int, utilisation: float,
                       service_mean: float = 1.0) -> MMc:
        """The pool whose arrival rate makes its utilisation ``ρ = λ / (c μ)``."""
        return cls(servers, utilisation * servers / service_mean, 1 / service_mean)

    @property
    def load(self) -> float:
        """Offered load ``a = λ/μ`` in Erlangs."""
        return self.arrival_rate / self.service_rate

    @property
    def utilisation(self) -> float:
        """``ρ = λ / (c μ)``: the fraction of time a thread is busy."""
        return self.load / self.servers

    @property
    def wait_probability(self) -> float:
        """Erlang C: the probability that a request waits for a thread."""
        return erlang_c(self.servers, self.load)

    @property
    def drain_rate(self) -> float:
        """``c μ - λ``: the rate of the exponential wait of a request that waits."""
        return self.servers * self.service_rate - self.arrival_rate

    @property
    def mean_wait(self) -> float:
        """``Wq = C / (c μ - λ)``: the mean time in the queue (seconds)."""
        return self.wait_probability / self.drain_rate

    @property
    def mean_response(self) -> float:
        """``W = Wq + 1/μ``: the mean time from arrival to the end of service."""
        return self.mean_wait + 1 / self.service_rate

    @property
    def mean_queue_length(self) -> float:
        """``Lq = λ Wq`` (Little's law)."""
        return self.arrival_rate * self.mean_wait

    def wait_tail(self, t: float) -> float:
        """``P(W > t) = C exp(-(c μ - λ) t)``: the probability of waiting longer than ``t``."""
        if t < 0:
            return 1.0
        return self.wait_probability * math.exp(-self.drain_rate * t)

    def wait_quantile(self, p: float) -> float:
        """The ``p`` quantile of the wait in the queue (0 when ``1 - p >= C``)."""
        if not 0 < p < 1:
            raise ValueError(f"p = {p!r}: must be between 0 and 1")
        c = self.wait_probability
        if 1 - p >= c:
            return 0.0
        return math.log(c / (1 - p)) / self.drain_rate


def mgc_mean_wait(pool: MMc, service_cv: float) -> float:
    """Allen and Cunneen's approximation of the mean wait of an M/G/c pool whose
    service time has coefficient of variation ``service_cv`` (1: exponential,
    exact; 0: constant)."""
    if not (math.isfinite(service_cv) and service_cv >= 0):
        raise ValueError(f"service_cv = {service_cv!r}: must be a finite number >= 0")
    return pool.mean_wait * (1 + service_cv**2) / 2
