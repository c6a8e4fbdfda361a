"""The SimPy world: one run of a scenario.

Time is SimPy's.  Rare things are SimPy processes: CA installation and
start-up, the update task, health checks, CRL generation, faults.  Each of
their directory commands costs one simulated round trip (a ``directory_latency``
sample) and runs on the CA's replica at that simulated time.

Requests are too many for a process each.  They live in the *fast lane*
(:class:`~pkisim.sim.lane.Lane`): a plain heap of ``(time, seq, code,
payload)`` that one SimPy callback drains up to the next SimPy event
(``env.peek()``), so that everything still happens in global time order, and
the history's recording order is its time order.  Anything the lane itself
starts in SimPy (a CRL generation after a revocation, DNA's on-demand range
request) goes through :meth:`~pkisim.sim.lane.Lane.call_at`, which also
shortens the current drain.  A drain whose window is quiet (healthy CAs,
enrollments only, nothing that could switch ranges, fail or crash) is computed
in one go by :mod:`pkisim.sim.batch`, with exactly the same results, through
the lane's snapshot/commit API; ``Simulation(..., fast=False)`` handles every
lane event one by one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from typing import Any, TypeVar

import simpy

from pkisim.directory.memory import ReplicatedDirectory
from pkisim.errors import AllocationError, ConfigError
from pkisim.history.history import History, Op, OpType
from pkisim.ids.config import IdKind
from pkisim.ids.tree import DogtagTree
from pkisim.seeding import Seeds
from pkisim.sim import ca as ca_life
from pkisim.sim import faults as fault_plan
from pkisim.sim.balancer import Balancer
from pkisim.sim.batch import Batch
from pkisim.sim.ca import CaNode
from pkisim.sim.config import Scenario
from pkisim.sim.crl import CrlService
from pkisim.sim.driver import SimDriver
from pkisim.sim.faults import FaultWindow
from pkisim.sim.lane import Lane
from pkisim.sim.metrics import Recorder, RunResult
from pkisim.sim.report import build_result
from pkisim.sim.requests import RequestFlow

T = TypeVar("T")
Process = Generator[simpy.Event, Any, Any]


class Simulation:
    """One run of ``scenario``; ``seed`` overrides ``scenario.seed``.

    ``progress`` is called with the fraction of simulated time done (about a
    hundred times a run); it never influences the results.  ``fast=False``
    turns off the batched quiet windows (:mod:`pkisim.sim.batch`): the same
    results, event by event (for differential testing).
    """

    def __init__(self, scenario: Scenario, *, seed: int | None = None,
                 progress: Callable[[float], None] | None = None, fast: bool = True) -> None:
        fault_plan.check_targets(scenario)
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        self.seeds = Seeds(self.seed)
        self.progress = progress
        self.env = simpy.Environment()
        self.lane = Lane(self.env)
        self.tree = DogtagTree()
        self.history = History()
        self.directory = ReplicatedDirectory(scenario.directory.replicas,
                                             lag=scenario.directory.lag)
        self.recorder = Recorder(scenario.requests_table == "aggregate",
                                 scenario.throughput_bin, scenario.duration)
        self.driver = SimDriver(self.env, self.directory, self.history, self.now, self.call_at)
        self.lb = Balancer(scenario.load_balancer)
        self.crl = CrlService(self, scenario.crl)
        self.nodes = [self.driver.add(CaNode(spec, i, self)) for i, spec in enumerate(scenario.cas)]
        self._by_name = {node.name: node for node in self.nodes}
        self._down_replicas: set[str] = set()
        crl_name = next((c.name for c in scenario.cas if c.crl_master),
                        next(c.name for c in scenario.cas if c.role == "master"))
        self._crl_name = crl_name
        self.fault_plan = fault_plan.plan(scenario, self.seeds, crl_name)
        for node in self.nodes:
            node.set_crash_times(fault_plan.crash_times(self.fault_plan, node.name))
        self.flow = RequestFlow(self)
        self.batch = Batch(scenario, self.flow, lane=self.lane, balancer=self.lb,
                           nodes=self.nodes, directory=self.directory, history=self.history,
                           recorder=self.recorder, tree=self.tree) if fast else None
        self.lane.serve(self.flow.handlers, None if self.batch is None else self.batch.window)
        self._ran = False

    # ------------------------------------------------------------ lookups
    def node(self, name: str) -> CaNode:
        return self._by_name[name]

    def now(self) -> float:
        """The current simulated time (the fast lane's, while it drains)."""
        return self.lane.now()

    def replica_down(self, name: str) -> bool:
        return name in self._down_replicas

    def set_replica_down(self, name: str, down: bool) -> None:
        if down:
            self._down_replicas.add(name)
            self.directory.down(name, now=self.now())
        else:
            self._down_replicas.discard(name)
            self.directory.up(name, now=self.now())

    # ------------------------------------------------------------ the fast lane
    def push(self, t: float, code: int, payload: Any) -> None:
        """Schedule a request event in the fast lane."""
        self.lane.push(t, code, payload)

    def call_at(self, t: float, action: Callable[[], object]) -> None:
        """Run ``action`` in SimPy at time ``t >= now`` (from the lane or a process)."""
        self.lane.call_at(t, action)

    # ------------------------------------------------------------ recording
    def record_note(self, node: CaNode, op: str, type_: str, detail: str,
                    time: float | None = None) -> None:
        self.driver.note(node, Op[op], OpType[type_], detail, time=time)

    def record_fault(self, window: FaultWindow) -> None:
        end = math.nan if window.end is None else window.end
        self.recorder.faults.append((window.kind, window.target, window.start, end))

    # ------------------------------------------------------------ the run
    def _sample_space(self) -> Process:
        """Serial space per CA, at regular intervals and at the end."""
        interval = max(self.scenario.throughput_bin, self.scenario.duration / 500)
        while True:
            self.record_space()
            yield self.env.timeout(interval)

    def record_space(self) -> None:
        t = self.now()
        for node in self.nodes:
            if node.repos is None:
                continue
            for kind in (IdKind.CERT, IdKind.REQUEST):
                issued = node.issued(kind)
                repo = node.repos[kind]
                state = repo.state
                remaining = 0 if node.gone else repo.remaining()
                self.recorder.space.append((
                    t, node.name, kind.value, issued, float(remaining),
                    node.stranded.get(kind, 0), state.begin, state.end, state.next_begin,
                    state.next_end))

    def _progress(self) -> Process:
        assert self.progress is not None
        step = self.scenario.duration / 100
        while True:
            self.progress(min(1.0, self.env.now / self.scenario.duration))
            yield self.env.timeout(step)

    def _install_initial(self) -> None:
        master = next(n for n in self.nodes if n.spec.role == "master")
        self.directory.bootstrap(self.tree.bootstrap(list(ca_life.own_configs(self,
                                                                              master).values())))
        pending = sorted((n for n in self.nodes if n.spec.created_at == 0),
                         key=lambda n: (n.spec.role != "master", n.index))
        for node in pending:
            ca_life.install_now(self, node)
            self.directory.settle(now=0.0)  # installed one after another, long before the run
        self.crl.assign(self.node(self._crl_name))
        for node in self.nodes:
            if node.spec.created_at > 0:
                self.env.process(ca_life.install(self, node))
            if node.spec.decommissioned_at is not None:
                self.env.process(ca_life.decommission(self, node))

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
        env.process(self.lb.health_checks(env))
        for fault in self.fault_plan:
            env.process(fault_plan.inject(self, fault))
        env.process(self._sample_space())
        if self.progress is not None:
            env.process(self._progress())
        self.flow.prime()
        env.run(until=self.scenario.duration)
        self.record_space()
        if self.progress is not None:
            self.progress(1.0)
        return build_result(self)


def simulate(scenario: Scenario, seed: int | None = None) -> RunResult:
    """Run ``scenario`` once and return what it measured."""
    return Simulation(scenario, seed=seed).run()


__all__ = ["Simulation", "simulate"]
