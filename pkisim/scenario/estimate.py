"""How much work a run is, before it starts: events, memory, and the key behind them.

A scenario file can ask for more than any machine can do in one sitting
(``crl_fetch_rate = 1e9``, a burst of ``factor = 1e300``, an update task every
microsecond) while every value is valid on its own.  :func:`estimate` reads a
:class:`~pkisim.sim.config.Scenario` and adds up what the simulation will do:

* **events**: a fixed cost per run (:data:`BASE_EVENTS`), every request that
  arrives (enrollments under the diurnal cycle
  and the bursts, or the trace's rows; revocations; CRL fetches) and every run
  of a periodic task (each CA's range-update task every
  ``ca.serialNumberUpdateInterval``, the load balancer's health checks, CRL
  generations and cache rebuilds, faults);
* **memory**: the request rows (``[metrics] requests``: ``full`` or
  ``aggregate``), the history and directory records of each issuance, the
  throughput table's bins and the trace, in bytes measured on runs of this code
  (about 150 bytes an enrollment with full request rows);

each part named after the scenario key that sets it.  :meth:`Budget.check`
refuses an estimate over the budget with one line naming that key, its value,
the estimate and the option that allows it anyway (``--max-events``,
``--max-memory``).  Estimates are upper-bound-minded, not exact: failed
attempts that clients retry are not counted.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from pkisim.errors import ConfigError
from pkisim.ids.config import IdKind
from pkisim.scenario.keys import KeyPath, dotted
from pkisim.sim.config import DAY, Scenario

#: Bytes per attempt: a request row and the history and directory records of an
#: issuance (measured at ten million: 127 full, under 100 aggregate; README "Performance").
BYTES_PER_ATTEMPT = {"full": 150.0, "aggregate": 110.0}
#: Bytes per throughput bin (three request kinds, counted and framed).
BYTES_PER_BIN = 300.0
#: Bytes per trace row (a Python float in a list, and its parsing).
BYTES_PER_TRACE_ROW = 40.0
#: An OCSP request, answered with numpy after the run: its arrays at their peak,
#: and its time in events' worth (about fifty to a lane event).
BYTES_PER_OCSP_REQUEST = 120.0
OCSP_EVENTS = 0.02
#: What a run costs before its first event (the world, its tables, the summary),
#: in bytes and in events' worth of time (measured: 0.06-0.1 s).
BASE_BYTES = 64e6
BASE_EVENTS = 5e3
#: The default of ``--max-events``: about three times the largest shipped scenario
#: (year-at-scale: a year at 100,000 certificates a day, 5.8e7); hours at most.
DEFAULT_MAX_EVENTS = 2e8


@dataclass(frozen=True, slots=True)
class Part:
    """One contribution to a run's work: the key that sets it, its value as the
    scenario holds it, and the events and bytes it costs."""

    key: str
    value: object
    what: str  # "1.2e12 CRL fetches over 20 min"
    events: float = 0.0
    memory: float = 0.0


@dataclass(frozen=True, slots=True)
class Estimate:
    """A run's events and memory, and the parts they come from."""

    parts: tuple[Part, ...]

    @property
    def events(self) -> float:
        return BASE_EVENTS + sum(p.events for p in self.parts)

    @property
    def memory(self) -> float:
        return BASE_BYTES + sum(p.memory for p in self.parts)

    def biggest(self, measure: str) -> Part:
        """The part that costs the most ``events`` or ``memory``."""
        return max(self.parts, key=lambda p: getattr(p, measure))

    def __str__(self) -> str:
        return f"about {amount(self.events)} events and {size(self.memory)} of memory"


def physical_memory() -> float:
    """This machine's memory in bytes (inf where it cannot be asked)."""
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return math.inf


@dataclass(frozen=True, slots=True)
class Budget:
    """The most work a command starts without being told to: ``max_events``
    events and ``max_memory`` bytes (default: 80 % of this machine's memory)."""

    max_events: float = DEFAULT_MAX_EVENTS
    max_memory: float = field(default_factory=lambda: 0.8 * physical_memory())

    def check(self, estimate: Estimate, *, runs: int = 1, at_once: int = 1,
              prefix: str = "") -> None:
        """Refuse ``runs`` runs of ``estimate`` (``at_once`` of them in memory
        together) if they exceed the budget: a :class:`ConfigError` naming the
        key that makes it huge and the option that allows it."""
        events = estimate.events * runs
        if events > self.max_events:
            part = estimate.biggest("events")
            times = f" x {runs:,} runs" if runs > 1 else ""
            raise ConfigError(prefix + part.key, part.value,
                              f"{part.what}{times}: about {amount(events)} events, over the "
                              f"limit of {amount(self.max_events)}: allow it with "
                              f"--max-events {amount(events * 1.1)}")
        memory = estimate.memory * at_once
        if memory > self.max_memory:
            part = estimate.biggest("memory")
            together = f" x {at_once} runs at once" if at_once > 1 else ""
            raise ConfigError(prefix + part.key, part.value,
                              f"{part.what}{together}: about {size(memory)} of memory, over the "
                              f"limit of {size(self.max_memory)}: allow it with "
                              f"--max-memory {size(memory * 1.1, unit=True)}")


def estimate(scenario: Scenario) -> Estimate:
    """The events and memory a run of ``scenario`` costs, part by part."""
    s = scenario
    d = s.duration
    span = f"over {_duration(d)}"
    w = s.workload
    per_attempt = BYTES_PER_ATTEMPT[s.requests_table]
    parts: list[Part] = []

    def requests(key: str, value: object, count: float, what: str) -> None:
        parts.append(Part(key, value, f"{amount(count)} {what} {span}", count,
                          count * per_attempt))

    if w.trace is not None:
        rows = _trace_rows(w.trace)
        parts.append(Part("workload.trace", w.trace, f"{amount(rows)} enrollments in the trace",
                          rows, rows * (per_attempt + BYTES_PER_TRACE_ROW)))
    else:
        amplitude = 1 + w.diurnal_amplitude if d < DAY else 1.0  # a day or more averages out
        requests("workload.enroll_rate", w.enroll_rate, w.enroll_rate * d * amplitude,
                 "enrollments")
        for i, burst in enumerate(w.bursts):
            inside = max(0.0, min(d, burst.start + burst.duration) - max(0.0, burst.start))
            extra = w.enroll_rate * amplitude * max(0.0, burst.factor - 1) * inside
            requests(f"workload.bursts[{i}].factor", burst.factor, extra,
                     "more enrollments in the burst")
    requests("workload.revoke_rate", w.revoke_rate, w.revoke_rate * d, "revocations")
    requests("workload.crl_fetch_rate", w.crl_fetch_rate, w.crl_fetch_rate * d, "CRL fetches")
    if s.ocsp is not None:  # answered after the run with numpy (pkisim.sim.ocsp)
        count = s.ocsp.request_rate * d
        parts.append(Part("ocsp.request_rate", s.ocsp.request_rate,
                          f"{amount(count)} OCSP requests {span}", count * OCSP_EVENTS,
                          count * BYTES_PER_OCSP_REQUEST))
    parts += _periodic(s)
    bins = d / s.throughput_bin
    parts.append(Part("throughput_bin", s.throughput_bin, f"{amount(bins)} throughput bins "
                      f"{span}", 0.0, bins * BYTES_PER_BIN))
    return Estimate(tuple(parts))


def _periodic(s: Scenario) -> list[Part]:
    """The tasks that run on a clock: per CA, per fault, per CRL."""
    d = s.duration
    span = f"over {_duration(d)}"
    cas = len(s.cas)
    parts = []
    master = next(ca for ca in s.cas if ca.role == "master")
    for i, ca in enumerate(s.cas):
        ids = ca.ids if ca.ids is not None else master.ids
        interval = ids[IdKind.CERT].update_interval if ids is not None else 0.0
        if interval > 0:
            key: KeyPath = ("ca", i, "ids", "serialNumberUpdateInterval")
            parts.append(Part(dotted(key), interval, f"{amount(d / interval)} range-update "
                              f"task runs on {ca.name} {span}", d / interval))
    lb = s.load_balancer
    parts.append(Part("load_balancer.health_interval", lb.health_interval,
                      f"{amount(cas * d / lb.health_interval)} health checks {span}",
                      cas * d / lb.health_interval))
    crl = s.crl
    parts.append(Part("crl.auto_update_interval", crl.auto_update_interval,
                      f"{amount(d / crl.auto_update_interval)} CRL generations {span}",
                      d / crl.auto_update_interval))
    if not crl.listen_to_clone_modifications:
        parts.append(Part("crl.cache_rebuild_interval", crl.cache_rebuild_interval,
                          f"{amount(d / crl.cache_rebuild_interval)} CRL cache rebuilds {span}",
                          d / crl.cache_rebuild_interval))
    if crl.always_update:
        revocations = s.workload.revoke_rate * d
        parts.append(Part("crl.always_update", True, f"{amount(revocations)} CRL generations "
                          f"(one per revocation) {span}", revocations))
    for kind, rate in sorted(s.random_faults.rates_per_day.items()):
        faults = rate * d / DAY
        parts.append(Part(f"random_faults.rates_per_day.{kind}", rate,
                          f"{amount(faults)} random {kind} faults {span}", 2 * faults))
    if s.faults:
        parts.append(Part("faults", f"{len(s.faults)} faults", f"{len(s.faults):,} faults",
                          2.0 * len(s.faults)))
    return parts


def _trace_rows(path: str) -> float:
    """The rows of a trace file (its lines but the header), counted in blocks."""
    try:
        with open(path, "rb") as f:
            lines = sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 20), b""))
    except OSError:
        return 0.0  # the builder read it already; the simulation will say what went wrong
    return float(max(lines - 1, 0))


def amount(number: float) -> str:
    """``1234`` -> ``1,234``; ``1.2e12`` -> ``1.2e+12``; ``inf`` -> ``inf``."""
    if not math.isfinite(number):
        return "inf"
    return f"{number:,.0f}" if number < 1e7 else f"{number:.2g}"


def size(number: float, *, unit: bool = False) -> str:
    """Bytes with a binary unit: ``3.2 GB`` (``3.2G`` with ``unit``, as options take it)."""
    if not math.isfinite(number):
        return "inf"
    for scale, name in ((2**40, "T"), (2**30, "G"), (2**20, "M"), (2**10, "K")):
        if number >= scale:
            value = number / scale
            text = f"{value:.3g}" if value < 1e5 else f"{value:.3g}".replace("+", "")
            return f"{text}{name}" if unit else f"{text} {name}B"
    return f"{number:.0f}" if unit else f"{number:.0f} bytes"


def _duration(seconds: float) -> str:
    for scale, unit in ((365 * DAY, "years"), (DAY, "days"), (3600.0, "hours"),
                        (60.0, "minutes")):
        if seconds >= scale:
            return f"{seconds / scale:,.3g} {unit}"
    return f"{seconds:.3g} seconds"


__all__ = ["BASE_BYTES", "BASE_EVENTS", "BYTES_PER_ATTEMPT", "DEFAULT_MAX_EVENTS", "Budget",
           "Estimate", "Part", "amount", "estimate", "physical_memory", "size"]
