"""The SimPy world: one run of a scenario, wired together.

Time is SimPy's.  Rare things are SimPy processes: CA installation and
start-up, the update task, health checks, CRL generation, faults.  Each of
their directory commands costs one simulated round trip (a ``directory_latency``
sample) and runs on the CA's replica at that simulated time.

The pieces, and who talks to whom:

* :class:`~pkisim.sim.lane.Lane`, the *fast lane*: requests are too many for a
  process each, so their events sit in a plain heap that one SimPy callback
  drains up to the next SimPy event, in global time order (so the history's
  recording order is its time order).  Its :meth:`~pkisim.sim.lane.Lane.now`
  is the run's clock, and :meth:`~pkisim.sim.lane.Lane.call_at` starts SimPy
  work from the lane.
* :class:`~pkisim.sim.driver.SimDriver`, the one driver of the CA protocol
  (:mod:`pkisim.ids`, sans-IO): every directory command, range event, note and
  issuance of every CA goes through it, on the lane's clock.
* :class:`~pkisim.sim.requests.RequestFlow`: the request path (arrivals, the
  :class:`~pkisim.sim.balancer.Balancer`, worker pools, retries), the lane's
  event handlers.  :class:`~pkisim.sim.batch.Batch` computes a quiet window
  of the lane in one go, with exactly the same results, through the lane's
  snapshot/commit API, the balancer's cursor and the core's run issuance;
  ``Simulation(..., fast=False)`` handles every lane event one by one.
* :class:`~pkisim.sim.ca.CaLife` (installation, start-up, update task,
  crashes, stops), :class:`~pkisim.sim.crl.CrlService` (the CRL role) and
  :class:`~pkisim.sim.faults.FaultInjector`: the rare, SimPy side.

Each receives the collaborators it uses; only :class:`Simulation` (which
builds them and runs the scenario) and :func:`~pkisim.sim.report.build_result`
(which reads the finished run) see the whole.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import simpy

from pkisim.directory.memory import ReplicatedDirectory
from pkisim.errors import AllocationError, ConfigError
from pkisim.history.history import History
from pkisim.ids.tree import DogtagTree
from pkisim.seeding import Seeds
from pkisim.sim.balancer import Balancer
from pkisim.sim.batch import Batch
from pkisim.sim.ca import CaLife, CaNode
from pkisim.sim.config import Scenario
from pkisim.sim.crl import CrlService
from pkisim.sim.driver import SimDriver
from pkisim.sim.faults import FaultInjector, ReplicaOutages, check_targets, crash_times, plan
from pkisim.sim.kra import KraService
from pkisim.sim.lane import OBSERVER, Lane, Tick
from pkisim.sim.metrics import Recorder, RunResult
from pkisim.sim.report import build_result
from pkisim.sim.requests import RequestFlow
from pkisim.sim.space import SpaceSampler
from pkisim.sim.topology import RestOfPki

Process = Generator[simpy.Event, Any, Any]


#: About how many requests one batched window covers at most (the lane cuts
#: long quiet stretches into windows of this many expected arrivals; 1024 beat
#: 512 and 2048 on the shipped scenarios once revocations wrote inside record
#: runs: fewer windows, each one's fixed costs spread wider).
WINDOW_EVENTS = 1024


class Simulation:
    """One run of ``scenario``; ``seed`` overrides ``scenario.seed``.

    ``progress`` is called with the fraction of simulated time done (about a
    hundred times a run); it never influences the results.  ``fast=False``
    turns off the batched quiet windows (:mod:`pkisim.sim.batch`) and steps
    every health check (:mod:`pkisim.sim.balancer`): the same results, event by
    event (for differential testing).
    """

    def __init__(self, scenario: Scenario, *, seed: int | None = None,
                 progress: Callable[[float], None] | None = None, fast: bool = True) -> None:
        check_targets(scenario)
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        self.seeds = seeds = Seeds(self.seed)
        self.progress = progress
        self.env = env = simpy.Environment()
        self.lane = lane = Lane(env)
        self.tree = tree = DogtagTree()
        self.history = history = History()
        self.directory = directory = ReplicatedDirectory(scenario.directory.replicas,
                                                         lag=scenario.directory.lag)
        self.recorder = recorder = Recorder(scenario.requests_table == "aggregate",
                                            scenario.throughput_bin, scenario.duration)
        self.driver = driver = SimDriver(env, directory, history, lane.now, lane.call_at)
        self.lb = balancer = Balancer(scenario.load_balancer)
        self.crl = crl = CrlService(scenario.crl, env=env, lane=lane, directory=directory,
                                    tree=tree, driver=driver)
        self.nodes = [driver.add(CaNode(spec, i, history, seeds))
                      for i, spec in enumerate(scenario.cas)]
        self.outages = outages = ReplicaOutages(directory, lane.now)
        self.life = life = CaLife(
            env=env, clock=lane.now, driver=driver, history=history, tree=tree, seeds=seeds,
            strategy=scenario.strategy, balancer=balancer, crl=crl, outages=outages,
            nodes={node.name: node for node in self.nodes}, limit=lane.limit if fast else None)
        self._crl_name = next((c.name for c in scenario.cas if c.crl_master),
                              next(c.name for c in scenario.cas if c.role == "master"))
        self.fault_plan = plan(scenario, seeds, self._crl_name)
        for node in self.nodes:
            node.set_crash_times(crash_times(self.fault_plan, node.name))
        self.faults = FaultInjector(life, outages, directory, recorder, scenario.directory.lag)
        self.flow = flow = RequestFlow(scenario, seeds, lane=lane, balancer=balancer,
                                       driver=driver, directory=directory, tree=tree,
                                       recorder=recorder, crl=crl)
        self.pki = RestOfPki(self)  # TKS, OCSP, drift, replica IDs (before the batch: drift)
        self.sampler = SpaceSampler(env, lane.now, self.nodes, recorder,
                                    max(scenario.throughput_bin, scenario.duration / 500))
        self.batch = Batch(scenario, flow, lane=lane, balancer=balancer, nodes=self.nodes,
                           directory=directory, history=history, recorder=recorder,
                           tree=tree, sampler=self.sampler) if fast else None
        lane.serve(flow.handlers, None if self.batch is None else self.batch.window,
                   max_window=WINDOW_EVENTS / max(scenario.workload.total_rate, 1e-9))
        # the KRAs, if the scenario has any: their own balancer, fed by the CAs' connectors
        self.kra = None if scenario.kra is None else KraService(
            scenario.kra, env=env, clock=lane.now, driver=driver, directory=directory,
            history=history, seeds=seeds, strategy=scenario.strategy, recorder=recorder,
            duration=scenario.duration)
        flow.kra = self.kra
        self.fast = fast
        self._ran = False

    def node(self, name: str) -> CaNode:
        return self.life.node(name)

    def now(self) -> float:
        """The current simulated time (the fast lane's, while it drains)."""
        return self.lane.now()

    # ------------------------------------------------------------ sampling
    def record_space(self) -> None:
        """The space table's rows for now (:mod:`pkisim.sim.space`)."""
        self.sampler.record()

    def _progress(self) -> Process:
        assert self.progress is not None
        step = self.scenario.duration / 100
        while True:
            self.progress(min(1.0, self.env.now / self.scenario.duration))
            yield Tick(self.env, step, OBSERVER)

    def _install_initial(self) -> None:
        life = self.life
        master = next(n for n in self.nodes if n.spec.role == "master")
        self.directory.bootstrap(self.tree.bootstrap(list(life.own_configs(master).values())))
        pending = sorted((n for n in self.nodes if n.spec.created_at == 0),
                         key=lambda n: (n.spec.role != "master", n.index))
        for node in pending:
            life.install_now(node)
            self.directory.settle(now=0.0)  # installed one after another, long before the run
        self.crl.assign(self.node(self._crl_name))
        self.pki.start()
        if self.kra is not None:
            self.kra.install()
        for node in self.nodes:
            if node.spec.created_at > 0:
                self.env.process(life.install(node))
            if node.spec.decommissioned_at is not None:
                self.env.process(life.decommission(node))

    def run(self) -> RunResult:
        """Run the scenario to its end and measure it (once per Simulation)."""
        if self._ran:
            raise RuntimeError("a Simulation runs once; make a new one")
        self._ran = True
        try:
            self._install_initial()
        except AllocationError as err:
            raise ConfigError("ca", self.scenario.name, f"topology cannot start: {err}") from None
        env = self.env
        env.process(self.lb.health_checks(env, skip_settled=self.fast))
        for fault in self.fault_plan:
            env.process(self.faults.inject(fault))
        env.process(self.sampler.process())
        if self.kra is not None:
            self.kra.start()
        if self.progress is not None:
            env.process(self._progress())
        self.flow.prime()
        env.run(until=self.scenario.duration)
        self.record_space()
        if self.kra is not None:
            self.kra.record_space()
        if self.progress is not None:
            self.progress(1.0)
        return build_result(self)


def simulate(scenario: Scenario, seed: int | None = None) -> RunResult:
    """Run ``scenario`` once and return what it measured."""
    return Simulation(scenario, seed=seed).run()


__all__ = ["Simulation", "simulate"]
