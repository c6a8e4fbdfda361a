"""Faults: the scenario's schedule plus faults drawn per seed, and their injection.

Every fault is planned before the run starts (FoundationDB style: each fault
site draws from its own stream, ``faults/<kind>``), so a CA knows when it will
next crash.  The model uses that only to decide whether a crash falls between
signing a certificate and storing it (the reply window), which would otherwise
need one more event per request.

:class:`FaultInjector` applies the faults of a run to the CAs (through their
:class:`~pkisim.sim.ca.CaLife`), the balancer, the CRL role and the directory;
:class:`ReplicaOutages` is which replicas are down.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import simpy

from pkisim.errors import ConfigError
from pkisim.seeding import Seeds
from pkisim.sim.config import DAY, Fault, Scenario

if TYPE_CHECKING:
    from pkisim.directory.memory import ReplicatedDirectory
    from pkisim.sim.ca import CaLife
    from pkisim.sim.metrics import Recorder

Process = Generator[simpy.Event, Any, Any]

_CA_KINDS = ("crash", "maintenance", "crl-down", "crl-move")


@dataclass(frozen=True, slots=True)
class FaultWindow:
    """A fault as it happened: ``end`` is ``None`` when it never healed."""

    kind: str
    target: str
    start: float
    end: float | None


def target_text(target: str | tuple[tuple[str, ...], ...]) -> str:
    """``"ca2"`` or, for a partition, ``"ds1 | ds2,ds3"``."""
    if isinstance(target, str):
        return target
    return " | ".join(",".join(group) for group in target)


def check_targets(scenario: Scenario) -> None:
    """Scheduled faults must name CAs and replicas that exist."""
    names = {ca.name for ca in scenario.cas}
    replicas = set(scenario.directory.replicas)
    for i, fault in enumerate(scenario.faults):
        key = f"faults[{i}].target"
        if fault.kind in _CA_KINDS:
            if fault.target not in names:
                raise ConfigError(key, fault.target, f"no CA of that name for a {fault.kind}")
        elif fault.kind == "replica-down":
            if fault.target not in replicas:
                raise ConfigError(key, fault.target, "no directory replica of that name")
        elif fault.kind == "partition":
            groups = fault.target
            flat = [r for group in groups for r in group] if not isinstance(groups, str) else []
            if not flat or set(flat) - replicas or len(set(flat)) != len(flat):
                raise ConfigError(key, groups, "a partition needs disjoint groups of replicas")


def plan(scenario: Scenario, seeds: Seeds, crl_ca: str) -> list[Fault]:
    """The scheduled faults plus the random ones, in time order."""
    faults = list(scenario.faults)
    random_faults = scenario.random_faults
    names = [ca.name for ca in scenario.cas]
    replicas = list(scenario.directory.replicas)
    for kind in sorted(random_faults.rates_per_day):
        rate = random_faults.rates_per_day[kind]
        if rate <= 0 or (kind == "partition" and len(replicas) < 2):
            continue
        rng = seeds.numpy(f"faults/{kind}")
        t = 0.0
        while True:
            t += float(rng.exponential(DAY / rate))
            if t >= scenario.duration:
                break
            duration = max(1e-3, float(rng.exponential(random_faults.mean_duration)))
            lag = None
            target: str | tuple[tuple[str, ...], ...]
            if kind in ("crash", "maintenance"):
                target = names[int(rng.integers(len(names)))]
            elif kind == "crl-down":
                target = crl_ca
            elif kind == "replica-down":
                target = replicas[int(rng.integers(len(replicas)))]
            elif kind == "partition":
                order = [replicas[i] for i in rng.permutation(len(replicas))]
                cut = int(rng.integers(1, len(order)))
                target = (tuple(sorted(order[:cut])), tuple(sorted(order[cut:])))
            else:  # lag-spike
                target = "all"
                lag = float(rng.exponential(random_faults.spike_lag))
            faults.append(Fault(kind, t, target, duration, lag))
    return sorted(faults, key=lambda fault: fault.at)


def crash_times(faults: Sequence[Fault], name: str) -> list[float]:
    return [f.at for f in faults if f.kind == "crash" and f.target == name]


class ReplicaOutages:
    """Which directory replicas are down (a CA bound to one cannot start)."""

    def __init__(self, directory: ReplicatedDirectory, clock: Callable[[], float]) -> None:
        self.directory, self.clock = directory, clock
        self._down: set[str] = set()

    def is_down(self, name: str) -> bool:
        return name in self._down

    def set_down(self, name: str, down: bool) -> None:
        """Take replica ``name`` down, or bring it back, now."""
        if down:
            self._down.add(name)
            self.directory.down(name, now=self.clock())
        else:
            self._down.discard(name)
            self.directory.up(name, now=self.clock())


@dataclass(frozen=True, slots=True)
class FaultInjector:
    """Applies planned faults: CA crashes, maintenance, CRL outages and moves
    (through ``life``), replica outages, partitions and lag spikes (on the
    directory, whose normal lag is ``lag``).  What happened goes to ``recorder``."""

    life: CaLife
    outages: ReplicaOutages
    directory: ReplicatedDirectory
    recorder: Recorder
    lag: float

    def record(self, window: FaultWindow) -> None:
        end = math.nan if window.end is None else window.end
        self.recorder.faults.append((window.kind, window.target, window.start, end))

    def inject(self, fault: Fault) -> Process:
        """Apply one fault at its time and heal it after its duration."""
        life, directory = self.life, self.directory
        env = life.env
        yield env.timeout(fault.at - env.now)
        target = target_text(fault.target)
        end = None if fault.duration is None else fault.at + fault.duration
        if fault.kind == "crl-move":
            end = fault.at
        window = FaultWindow(fault.kind, target, fault.at, end)
        if fault.kind in ("crash", "maintenance") and not life.node(target).serving:
            return  # a host that is already down (or not installed yet) cannot fail again
        self.record(window)
        if fault.kind == "crash":
            node = life.node(target)
            life.crash(node)
            if fault.duration is not None:
                yield env.timeout(fault.duration)
                if not node.gone:
                    yield from life.start(node)
        elif fault.kind == "maintenance":
            node = life.node(target)
            life.balancer.drain(node)
            yield from life.stop(node)
            if fault.duration is not None:
                yield env.timeout(max(0.0, fault.at + fault.duration - env.now))
                if not node.gone:
                    yield from life.start(node)
                    life.balancer.undrain(node)
        elif fault.kind == "replica-down":
            self.outages.set_down(target, True)
            if fault.duration is not None:
                yield env.timeout(fault.duration)
                self.outages.set_down(target, False)
        elif fault.kind == "partition":
            assert not isinstance(fault.target, str)
            directory.partition([list(g) for g in fault.target], now=env.now)
            if fault.duration is not None:
                yield env.timeout(fault.duration)
                directory.heal_all(now=env.now)
        elif fault.kind == "lag-spike":
            assert fault.lag is not None
            directory.set_all_lag(fault.lag, now=env.now)
            if fault.duration is not None:
                yield env.timeout(fault.duration)
                directory.set_all_lag(self.lag, now=env.now)
        elif fault.kind == "crl-down":
            node = life.node(target)
            node.crl_down = True
            if fault.duration is not None:
                yield env.timeout(fault.duration)
                node.crl_down = False
        elif fault.kind == "crl-move":
            life.crl.assign(life.node(target))


__all__ = ["FaultInjector", "FaultWindow", "ReplicaOutages", "check_targets", "crash_times",
           "plan", "target_text"]
