"""What a simulation run is made of: the scenario, as frozen, validated dataclasses.

A scenario file (TOML, :mod:`pkisim.scenario`) loads into a :class:`Scenario`;
Python users build one directly.  Every field has the unit in its name or its
comment; times are simulated seconds from the start of the run.  Validation
happens here, in ``__post_init__``, and raises :class:`~pkisim.errors.ConfigError`
naming the key (dotted, as in the scenario file) and the value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

from pkisim.errors import ConfigError
from pkisim.ids.config import IdKind, IdSpaceConfig, check_strategy

if TYPE_CHECKING:
    from pkisim.sim.drift import DriftSpec
    from pkisim.sim.kra_config import KraSpec
    from pkisim.sim.ocsp import OcspSpec
    from pkisim.sim.tks import SubsystemSpec

DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Distribution:
    """A service-time or lag distribution, in seconds.

    ``kind``: ``constant`` (= mean), ``exponential`` (mean), ``lognormal`` (mean
    and coefficient of variation ``cv``), ``uniform`` (``low``..``high``).
    """

    kind: Literal["constant", "exponential", "lognormal", "uniform"] = "exponential"
    mean: float = 0.1
    cv: float = 1.0
    low: float = 0.0
    high: float = 0.0
    key: str = field(default="distribution", compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in ("constant", "exponential", "lognormal", "uniform"):
            raise ConfigError(f"{self.key}.kind", self.kind,
                              "choose constant, exponential, lognormal or uniform")
        if self.kind == "uniform":
            if not 0 <= self.low <= self.high:
                raise ConfigError(f"{self.key}.high", self.high, f"must be >= low {self.low} >= 0")
        elif not (math.isfinite(self.mean) and self.mean >= 0):
            raise ConfigError(f"{self.key}.mean", self.mean, "must be a finite number >= 0")
        if self.kind == "lognormal" and not self.cv > 0:
            raise ConfigError(f"{self.key}.cv", self.cv, "must be > 0")

    def sample(self, rng: np.random.Generator) -> float:
        if self.kind == "constant":
            return self.mean
        if self.kind == "exponential":
            return float(rng.exponential(self.mean)) if self.mean > 0 else 0.0
        if self.kind == "uniform":
            return float(rng.uniform(self.low, self.high))
        sigma2 = math.log1p(self.cv**2)
        return float(rng.lognormal(math.log(self.mean) - sigma2 / 2, math.sqrt(sigma2)))

    @property
    def expected(self) -> float:
        return (self.low + self.high) / 2 if self.kind == "uniform" else self.mean


@dataclass(frozen=True, slots=True)
class CaSpec:
    """One CA instance (master or clone) behind the load balancer.

    ``ids`` is the CA's own configuration of the three ID spaces; a clone that
    is created by transfer from ``donor`` leaves it ``None``.  ``crl_master``
    marks the one CA that generates CRLs (``ca.crl.MasterCRL.enableCRLUpdates``).
    ``kra_connector`` is a non-replicated CS.cfg setting: key-archival
    enrollments routed to a CA without it fail.
    """

    name: str
    replica: str
    role: Literal["master", "clone"] = "clone"
    donor: str | None = None
    created_at: float = 0.0
    decommissioned_at: float | None = None
    workers: int = 4
    enroll: Distribution = Distribution("lognormal", 0.25, 0.5)
    revoke: Distribution = Distribution("lognormal", 0.1, 0.5)
    crl_fetch: Distribution = Distribution("exponential", 0.01)
    crl_generation: Distribution = Distribution("constant", 2.0)
    directory_latency: Distribution = Distribution("constant", 0.002)
    crl_master: bool = False
    kra_connector: bool = True
    ids: Mapping[IdKind, IdSpaceConfig] | None = None

    def __post_init__(self) -> None:
        key = f"ca.{self.name}"
        if not self.name or not self.name.replace("-", "").replace("_", "").isalnum():
            raise ConfigError(f"{key}.name", self.name, "use letters, digits, - and _")
        if self.role not in ("master", "clone"):
            raise ConfigError(f"{key}.role", self.role, "choose master or clone")
        if self.role == "clone" and self.ids is None and self.donor is None:
            raise ConfigError(f"{key}.donor", None, "a clone needs a donor CA or its own ids")
        if self.workers < 1:
            raise ConfigError(f"{key}.workers", self.workers, "must be >= 1")
        if self.created_at < 0:
            raise ConfigError(f"{key}.created_at", self.created_at, "must be >= 0")
        if self.decommissioned_at is not None and self.decommissioned_at <= self.created_at:
            raise ConfigError(f"{key}.decommissioned_at", self.decommissioned_at,
                              f"must be after created_at {self.created_at}")


@dataclass(frozen=True, slots=True)
class Burst:
    """The arrival rate multiplied by ``factor`` during ``[start, start + duration)``."""

    start: float
    duration: float
    factor: float


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Clients retry a failed or timed-out request after ``backoff`` seconds."""

    max_retries: int = 2
    backoff: float = 5.0
    timeout: float = 30.0


@dataclass(frozen=True, slots=True)
class Workload:
    """Arrivals of enrollment, revocation and CRL-fetch requests.

    Rates are per second at the daily mean; ``diurnal_amplitude`` in [0, 1)
    makes the rate ``rate * (1 + a * sin(2π (t/86400 - peak_hour/24 + 1/4)))``
    (a peak at ``peak_hour``).  ``trace`` replays enrollment timestamps from a
    CSV file (a column ``time``, seconds) instead of Poisson enrollments.
    ``clients`` is the number of distinct clients (for sticky TLS).
    """

    enroll_rate: float = 1.0
    revoke_rate: float = 0.0
    crl_fetch_rate: float = 0.0
    diurnal_amplitude: float = 0.0
    peak_hour: float = 14.0
    bursts: tuple[Burst, ...] = ()
    trace: str | None = None
    key_archival_fraction: float = 0.0
    clients: int = 1000
    retry: RetryPolicy = RetryPolicy()

    @property
    def total_rate(self) -> float:
        """Requests per second of every kind, before profiles and bursts."""
        return self.enroll_rate + self.revoke_rate + self.crl_fetch_rate

    def __post_init__(self) -> None:
        for name in ("enroll_rate", "revoke_rate", "crl_fetch_rate"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"workload.{name}", value,
                                  "must be a finite rate >= 0 per second")
        if not 0 <= self.diurnal_amplitude < 1:
            raise ConfigError("workload.diurnal_amplitude", self.diurnal_amplitude,
                              "must be in [0, 1)")
        if not 0 <= self.key_archival_fraction <= 1:
            raise ConfigError("workload.key_archival_fraction", self.key_archival_fraction,
                              "must be in [0, 1]")
        if self.clients < 1:
            raise ConfigError("workload.clients", self.clients, "must be >= 1")
        for i, burst in enumerate(self.bursts):
            if burst.duration <= 0 or burst.factor < 0:
                raise ConfigError(f"workload.bursts[{i}]", burst,
                                  "needs duration > 0 and factor >= 0")

    def rate_at(self, t: float, base: float) -> float:
        rate = base
        if self.diurnal_amplitude:
            phase = 2 * math.pi * (t / DAY - self.peak_hour / 24 + 0.25)
            rate *= 1 + self.diurnal_amplitude * math.sin(phase)
        for burst in self.bursts:
            if burst.start <= t < burst.start + burst.duration:
                rate *= burst.factor
        return rate

    def peak_factor(self) -> float:
        """An upper bound of ``rate_at / base`` (for thinning)."""
        factor = 1 + self.diurnal_amplitude
        return factor * max([b.factor for b in self.bursts] + [1.0])


@dataclass(frozen=True, slots=True)
class LoadBalancer:
    """``policy``: ``round-robin`` (DNS round-robin), ``sticky`` (sticky TLS) or
    ``least-outstanding``.  A host is taken out after ``failure_threshold``
    failed health checks ``health_interval`` seconds apart, and back after one
    good check."""

    policy: Literal["round-robin", "sticky", "least-outstanding"] = "round-robin"
    health_interval: float = 10.0
    failure_threshold: int = 3

    def __post_init__(self) -> None:
        if self.policy not in ("round-robin", "sticky", "least-outstanding"):
            raise ConfigError("load_balancer.policy", self.policy,
                              "choose round-robin, sticky or least-outstanding")
        if self.health_interval <= 0:
            raise ConfigError("load_balancer.health_interval", self.health_interval, "must be > 0")
        if self.failure_threshold < 1:
            raise ConfigError("load_balancer.failure_threshold", self.failure_threshold,
                              "must be >= 1")


@dataclass(frozen=True, slots=True)
class DirectorySpec:
    """The replicated directory: replica names and the replication lag."""

    replicas: tuple[str, ...] = ("ds1",)
    lag: float = 0.5

    def __post_init__(self) -> None:
        if not self.replicas or len(set(self.replicas)) != len(self.replicas):
            raise ConfigError("directory.replicas", list(self.replicas),
                              "need at least one replica, names unique")
        if not self.lag >= 0:
            raise ConfigError("directory.lag", self.lag, "must be >= 0 seconds")


@dataclass(frozen=True, slots=True)
class CrlSpec:
    """CRL generation on the CRL CA (``crl_master`` in :class:`CaSpec`).

    ``auto_update_interval`` (s) is ``ca.crl.MasterCRL.autoUpdateInterval``
    (Dogtag writes minutes; the loader converts); ``always_update`` regenerates
    on every revocation processed by the CRL CA; ``listen_to_clone_modifications``
    lets the CRL CA learn of revocations on clones through replication
    (``ca.listenToCloneModifications``); without it they appear only after a
    cache rebuild (``cache_rebuild_interval``).  ``clone_mode``: ``redirect``
    (CRL requests to a clone are redirected to the CRL CA, as Red Hat's planning
    guide describes) or ``replicated`` (a clone serves the last CRL stored in
    its directory replica, as Dogtag's code does).
    """

    auto_update_interval: float = 4 * 3600.0
    always_update: bool = False
    listen_to_clone_modifications: bool = True
    cache_rebuild_interval: float = DAY
    clone_mode: Literal["redirect", "replicated"] = "replicated"

    def __post_init__(self) -> None:
        if self.auto_update_interval <= 0:
            raise ConfigError("crl.auto_update_interval", self.auto_update_interval, "must be > 0")
        if self.clone_mode not in ("redirect", "replicated"):
            raise ConfigError("crl.clone_mode", self.clone_mode, "choose redirect or replicated")


FAULT_KINDS = ("crash", "maintenance", "replica-down", "partition", "lag-spike", "crl-down",
               "crl-move")


@dataclass(frozen=True, slots=True)
class Fault:
    """A scheduled fault.  ``target``: a CA name (crash, maintenance, crl-down),
    a replica name (replica-down), the new CRL CA (crl-move), or for a
    partition the groups of replicas, e.g. ``[["ds1"], ["ds2", "ds3"]]``.
    ``lag`` is the lag during a lag spike.  The fault heals after ``duration``
    (``None``: never; ``crl-move`` is instantaneous).  A crash restarts the CA
    when it heals (restart recovery from its replica)."""

    kind: str
    at: float
    target: str | tuple[tuple[str, ...], ...]
    duration: float | None = None
    lag: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ConfigError("faults.kind", self.kind, f"choose one of {', '.join(FAULT_KINDS)}")
        if self.at < 0:
            raise ConfigError("faults.at", self.at, "must be >= 0")
        if self.duration is not None and self.duration <= 0:
            raise ConfigError("faults.duration", self.duration, "must be > 0")
        if self.kind == "lag-spike" and (self.lag is None or self.lag < 0):
            raise ConfigError("faults.lag", self.lag, "a lag spike needs lag >= 0 seconds")


@dataclass(frozen=True, slots=True)
class RandomFaults:
    """Faults drawn per seed: rates per day across the topology, and the mean
    duration (exponential) of each.  Kinds as in :data:`FAULT_KINDS` minus crl-move;
    a random lag spike's lag is exponential with mean ``spike_lag``."""

    rates_per_day: Mapping[str, float] = field(default_factory=dict)
    mean_duration: float = 600.0
    spike_lag: float = 60.0  # mean lag (s, exponential) of a random lag spike

    def __post_init__(self) -> None:
        for kind, rate in self.rates_per_day.items():
            if kind not in FAULT_KINDS or kind == "crl-move":
                raise ConfigError(f"random_faults.{kind}", rate, "unknown fault kind")
            if not rate >= 0:
                raise ConfigError(f"random_faults.{kind}", rate, "must be a rate >= 0 per day")
        if not self.spike_lag >= 0:
            raise ConfigError("random_faults.spike_lag", self.spike_lag, "must be >= 0 seconds")


@dataclass(frozen=True, slots=True)
class Scenario:
    """A whole run.  ``strategy`` is the allocation strategy of every CA (each CA's
    ``ids`` configs must agree with it; ``pkisim run --strategy`` overrides it).
    ``start_date`` (ISO date) anchors the exhaustion forecast.  ``requests_table``
    (``[metrics] requests``): ``full`` keeps one request row per attempt;
    ``aggregate`` keeps rows only for attempts that did not end ``ok`` and, of
    the others, their count per throughput bin and their latencies (what the
    summary needs, exactly): a few bytes per attempt instead of ~40, for runs of
    millions of requests."""

    name: str
    duration: float
    cas: tuple[CaSpec, ...]
    strategy: str = "legacy2"
    seed: int = 0
    description: str = ""
    directory: DirectorySpec = DirectorySpec()
    workload: Workload = Workload()
    load_balancer: LoadBalancer = LoadBalancer()
    crl: CrlSpec = CrlSpec()
    faults: tuple[Fault, ...] = ()
    random_faults: RandomFaults = RandomFaults()
    start_date: str = "2026-01-01"
    throughput_bin: float = 60.0
    requests_table: Literal["full", "aggregate"] = "full"
    # the rest of the PKI (pkisim.sim.topology): TKS and OCSP instances, drift
    tks: SubsystemSpec | None = None
    ocsp: OcspSpec | None = None
    drift: DriftSpec | None = None
    #: The KRAs (``[kra]``, :mod:`pkisim.sim.kra`); ``None``: the run has none.
    kra: KraSpec | None = None

    def __post_init__(self) -> None:
        check_strategy(self.strategy, key="strategy")
        if self.requests_table not in ("full", "aggregate"):
            raise ConfigError("metrics.requests", self.requests_table, "choose full or aggregate")
        if not self.duration > 0:
            raise ConfigError("duration", self.duration, "must be > 0 seconds")
        names = [ca.name for ca in self.cas]
        if len(set(names)) != len(names):
            raise ConfigError("ca", names, "CA names must be unique")
        masters = [ca.name for ca in self.cas if ca.role == "master"]
        if len(masters) != 1:
            raise ConfigError("ca.role", masters, "exactly one CA must be the master")
        crl = [ca.name for ca in self.cas if ca.crl_master]
        if len(crl) > 1:
            raise ConfigError("ca.crl_master", crl, "at most one CA generates CRLs")
        for ca in self.cas:
            if ca.replica not in self.directory.replicas:
                raise ConfigError(f"ca.{ca.name}.replica", ca.replica,
                                  f"not one of directory.replicas {list(self.directory.replicas)}")
            if ca.donor is not None and ca.donor not in names:
                raise ConfigError(f"ca.{ca.name}.donor", ca.donor, "no CA of that name")
            if ca.ids is not None:
                for kind, ids in ca.ids.items():
                    if kind is not IdKind.REPLICA and ids.strategy != self.strategy:
                        raise ConfigError(f"ca.{ca.name}.strategy", ids.strategy,
                                          f"differs from the scenario strategy {self.strategy}")

    def ca(self, name: str) -> CaSpec:
        for ca in self.cas:
            if ca.name == name:
                return ca
        raise KeyError(name)
