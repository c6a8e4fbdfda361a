"""The rest of the PKI beside the CAs: TKS and OCSP instances, configuration
drift, and the replica IDs of the whole replication topology.

:class:`RestOfPki` is built by the :class:`~pkisim.sim.world.Simulation` from
its scenario's ``tks``, ``ocsp`` and ``drift`` (each may be absent), started
once the CAs of time 0 are installed, and read by
:func:`~pkisim.sim.report.build_result`: its tables and summary are added to
the run's only when the scenario has one of them, so a CA-only run measures
exactly what it did before.

Replica IDs: the OCSP and TKS installations take theirs live from their
replica-ID repositories (:mod:`pkisim.sim.tks`); a CA clone takes its own from
its replica-ID repository when it is installed (``CaLife.on_install``), the
slice it received read from the history
(:class:`~pkisim.history.replica_ids.HistoryReplicaIds`).  Only in a run with
TKS, OCSP or drift: a CA-only run records and measures what it did before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pandas as pd

from pkisim.history import check_ranges
from pkisim.history.replica_ids import (
    HistoryReplicaIds,
    ReplicaIdLedger,
    check_replica_ids,
)
from pkisim.ids.config import IdKind
from pkisim.sim.drift import ProfileDrift
from pkisim.sim.ocsp import OcspService, ocsp_summary
from pkisim.sim.tks import Subsystem, SubsystemSpec

if TYPE_CHECKING:
    from pkisim.sim.world import Simulation


class RestOfPki:
    """TKS, OCSP, drift and the replica-ID ledger of one run."""

    def __init__(self, world: Simulation) -> None:
        scenario = world.scenario
        self.active = any(x is not None for x in (scenario.tks, scenario.ocsp, scenario.drift))
        self.ledger = ReplicaIdLedger()
        self.world = world
        self.cas = HistoryReplicaIds(world.history, {c.name: c.replica for c in scenario.cas},
                                     subsystem="CA", suffix=world.tree.base, ledger=self.ledger,
                                     take=self._ca_take if self.active else None)
        if self.active:  # a CA clone takes its IDs when it is installed
            world.life.on_install.append(lambda node: self.cas.catch_up())
        self.subsystems: list[Subsystem] = []
        self.tks = self._subsystem(world, scenario.tks) if scenario.tks is not None else None
        self.ocsp: OcspService | None = None
        if scenario.ocsp is not None:
            ocsp = scenario.ocsp
            self.ocsp = OcspService(ocsp, self._subsystem(world, ocsp.subsystem),
                                    lane=world.lane, directory=world.directory, crl=world.crl,
                                    seeds=world.seeds, balancer=scenario.load_balancer,
                                    lag=scenario.directory.lag, duration=scenario.duration,
                                    crl_ca=world._crl_name)
        if scenario.drift is not None and scenario.drift.profiles:
            world.flow.refuse = ProfileDrift(scenario.drift,
                                             {c.name: c for c in scenario.cas}, world.seeds)

    def _ca_take(self, name: str) -> Callable[[], int]:
        """Take replica IDs from CA ``name``'s own repository (recorded in the history)."""
        world = self.world
        node = world.life.node(name)

        def take() -> int:
            assert node.repos is not None
            number = world.driver.take(node, node.repos[IdKind.REPLICA])
            world.driver.record_issue(node, IdKind.REPLICA, number)
            return number
        return take

    def _subsystem(self, world: Simulation, spec: SubsystemSpec) -> Subsystem:
        subsystem = Subsystem(spec, lane=world.lane, directory=world.directory,
                              seeds=world.seeds, ledger=self.ledger,
                              strategy=world.scenario.strategy, recorder=world.recorder)
        subsystem.catch_up = self.cas.catch_up
        self.subsystems.append(subsystem)
        return subsystem

    def start(self) -> None:
        """At time 0, after the CAs of time 0 are installed."""
        self.cas.catch_up()
        for subsystem in self.subsystems:
            subsystem.start()
        if self.ocsp is not None:
            self.ocsp.start()

    def collect(self) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
        """The tables and the summary section of the finished run ({} if inactive)."""
        if not self.active:
            return {}, {}
        self.cas.catch_up()
        replica_ids = check_replica_ids(self.ledger.assignments)
        tables = {"replica_ids": self.ledger.frame()}
        summary: dict[str, Any] = {"replica_ids": {
            **replica_ids.to_dict(),
            # each subsystem's replica-ID ranges, checked in its own ID space
            "range_violations": {s.spec.kind: sum(check_ranges(s.history).counts().values())
                                 for s in self.subsystems}}}
        if self.ocsp is not None:
            ocsp = self.ocsp.tables()
            tables.update(ocsp)
            summary["ocsp"] = ocsp_summary(ocsp)
        if self.tks is not None:
            summary["tks"] = {name: {"installed": node.installed, "serving": node.serving}
                              for name, node in self.tks.nodes.items()}
        return tables, summary


__all__ = ["RestOfPki"]
