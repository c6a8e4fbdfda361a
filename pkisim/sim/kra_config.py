"""What a scenario's ``[kra]`` table says: the KRA master and clones, their ID
spaces, the key-recovery workload and the KRA outages (rhcs-cloning.md 2.7.4).

Plain validated dataclasses, like :mod:`pkisim.sim.config`; the KRAs' life is
:mod:`pkisim.sim.kra`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pkisim.errors import ConfigError
from pkisim.sim.config import LoadBalancer

#: The fields of a KRA ID space a scenario may set (for both key IDs and KRA
#: request IDs: ``dbs.*SerialNumber`` and ``dbs.*RequestNumber`` of its CS.cfg).
KRA_ID_FIELDS = ("begin", "end", "increment", "low_water_mark", "clone_transfer_number")


@dataclass(frozen=True, slots=True)
class KraInstance:
    """One KRA: the master (no donor) or a clone of ``donor``, bound to ``replica``."""

    name: str
    replica: str
    donor: str | None = None


@dataclass(frozen=True, slots=True)
class KraOutage:
    """KRA ``target`` is down from ``at`` for ``duration`` seconds (then restarts)."""

    target: str
    at: float
    duration: float


@dataclass(frozen=True, slots=True)
class KraSpec:
    """The KRAs of a run and what is asked of them.

    ``recovery_agents`` is ``kra.noOfRequiredRecoveryAgents``; ``recovery`` is
    ``async`` (the recommended mode: approvals go to any clone, the recovery
    completes once they have replicated) or ``sync`` (deprecated: every
    approval must reach the KRA where the recovery began).  Recoveries arrive
    at ``recovery_rate`` per second for keys archived earlier; each of the
    agents approves after an exponential delay of mean ``approval_delay``.
    ``update_interval`` is ``kra.keyStatusUpdateInterval``.
    """

    instances: tuple[KraInstance, ...]
    ids: tuple[tuple[str, int], ...] = ()
    update_interval: float = 600.0
    recovery: Literal["async", "sync"] = "async"
    recovery_agents: int = 2
    recovery_rate: float = 0.0
    approval_delay: float = 60.0
    recovery_timeout: float = 3600.0
    directory_latency: float = 0.002
    load_balancer: LoadBalancer = field(default_factory=LoadBalancer)
    outages: tuple[KraOutage, ...] = field(default=())

    def __post_init__(self) -> None:
        names = [k.name for k in self.instances]
        if not names:
            raise ConfigError("kra.instance", None, "a [kra] needs at least one [[kra.instance]]")
        if len(set(names)) != len(names):
            raise ConfigError("kra.instance", names, "KRA names must be unique")
        masters = [k.name for k in self.instances if k.donor is None]
        if len(masters) != 1:
            raise ConfigError("kra.instance.donor", masters,
                              "exactly one KRA must be the master (no donor)")
        for i, kra in enumerate(self.instances):
            if kra.donor is not None and kra.donor not in names[:i]:
                raise ConfigError(f"kra.instance.{kra.name}.donor", kra.donor,
                                  "must name a KRA listed before this one")
        if self.recovery not in ("async", "sync"):
            raise ConfigError("kra.recovery", self.recovery, "choose async or sync")
        if not 1 <= self.recovery_agents <= 100:
            raise ConfigError("kra.recovery_agents", self.recovery_agents,
                              "kra.noOfRequiredRecoveryAgents must be between 1 and 100")
        if self.recovery_rate < 0:
            raise ConfigError("kra.recovery_rate", self.recovery_rate, "must be >= 0")
        for key in ("approval_delay", "recovery_timeout"):
            if not getattr(self, key) > 0:
                raise ConfigError(f"kra.{key}", getattr(self, key), "must be > 0 seconds")
        if self.update_interval < 0:
            raise ConfigError("kra.update_interval", self.update_interval,
                              "kra.keyStatusUpdateInterval must not be negative")
        if self.directory_latency < 0:
            raise ConfigError("kra.directory_latency", self.directory_latency,
                              "must not be negative")
        for outage in self.outages:
            if outage.target not in names:
                raise ConfigError("kra.outage.target", outage.target,
                                  f"not one of the KRA names {names}")
            if outage.at < 0 or not outage.duration > 0:
                raise ConfigError(f"kra.outage.{outage.target}", (outage.at, outage.duration),
                                  "at must be >= 0 and duration > 0")

    @property
    def master(self) -> KraInstance:
        return next(k for k in self.instances if k.donor is None)

    def id_overrides(self) -> dict[str, object]:
        out: dict[str, object] = dict(self.ids)
        out["update_interval"] = self.update_interval
        return out


__all__ = ["KRA_ID_FIELDS", "KraInstance", "KraOutage", "KraSpec"]
