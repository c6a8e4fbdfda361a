"""A CA instance (master or clone) and its life: installation, start-up,
the serial-number update task, crash, restart with recovery, decommissioning.

The allocation logic itself lives in :mod:`pkisim.ids` (sans-IO); this module
only decides *when* it runs and drives its directory commands through the
:class:`~pkisim.sim.driver.SimDriver`, one simulated directory round trip per
command.  :class:`CaNode` is one instance's state; :class:`CaLife` holds what
a CA's life touches besides itself (the driver, the balancer, the CRL service,
the replica outages, the other CAs) and runs that life.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import simpy

from pkisim.driver import Instance
from pkisim.errors import AllocationError, ConfigError, DirectoryUnavailable
from pkisim.history.history import History, Op, OpType
from pkisim.ids.config import IdKind, IdSpaceConfig
from pkisim.ids.layout import CA
from pkisim.ids.repository import Repository
from pkisim.ids.subsystem import CaRepositories, master_configs
from pkisim.ids.tree import DogtagTree
from pkisim.seeding import Seeds
from pkisim.sim.config import CaSpec
from pkisim.sim.driver import Aborted, SimDriver
from pkisim.sim.lane import exact_delay, turn
from pkisim.sim.workload import CRL_FETCH, ENROLL, REVOKE, Draws

if TYPE_CHECKING:
    from pkisim.sim.balancer import Balancer
    from pkisim.sim.crl import CrlService
    from pkisim.sim.faults import ReplicaOutages

Process = Generator[simpy.Event, Any, Any]

#: How long a CA whose start-up failed waits before systemd starts it again.
RESTART_DELAY = 30.0
#: How often a clone installation polls for its donor to be up.
DONOR_POLL = 5.0
#: How often a planned stop checks that the last answers went out.
STOP_POLL = 0.001


class CaNode(Instance):
    """One CA instance: its repositories, its worker pool and its state.

    The worker pool is first-come first-served over ``workers`` threads and is
    computed, not simulated: ``free`` is a heap of the times each worker becomes
    free, so a request starts at ``max(arrival, free[0])``.  ``epoch`` counts
    crashes and stops; a request or operation started in an older epoch was
    aborted.
    """

    def __init__(self, spec: CaSpec, index: int, history: History, seeds: Seeds) -> None:
        super().__init__(spec.name, spec.replica, history.process(spec.name),
                         history.replica(spec.replica))
        self.spec = spec
        self.index = index
        self.serving = False
        self.installed = False
        self.gone = False  # decommissioned
        self.epoch = 0
        self.free = [0.0] * spec.workers
        self.outstanding = 0
        self.kra = spec.kra_connector
        self.crl_role = False
        self.crl_down = False
        self.service = {
            ENROLL: Draws(spec.enroll, seeds.numpy(f"ca/{self.name}/enroll")),
            REVOKE: Draws(spec.revoke, seeds.numpy(f"ca/{self.name}/revoke")),
            CRL_FETCH: Draws(spec.crl_fetch, seeds.numpy(f"ca/{self.name}/crl-fetch")),
        }
        self.crl_generation = Draws(spec.crl_generation, seeds.numpy(f"ca/{self.name}/crl"))
        self.store_latency = Draws(spec.directory_latency, seeds.numpy(f"ca/{self.name}/store"))
        self.ldap_latency = Draws(spec.directory_latency, seeds.numpy(f"ca/{self.name}/ldap"))
        self.crash_times: list[float] = []
        self.next_crash = math.inf
        self.stranded: dict[IdKind, int] = {}
        self.issued_certs = 0
        self.issued_requests = 0
        #: While the update task sleeps through runs that would change nothing:
        #: call it with the time something changed (``CaLife.update_task``).
        self.update_wake: Callable[[float], None] | None = None
        #: Meanwhile, per repository (request, certificate): the last number
        #: and the range end up to which ``check_due`` stays false
        #: (:func:`watch`); past either, the issuer asks ``check_due``.
        self.watch_request: tuple[float, int] = (-math.inf, 0)
        self.watch_cert: tuple[float, int] = (-math.inf, 0)

    def __repr__(self) -> str:
        return f"CaNode({self.name!r}, serving={self.serving})"

    @property
    def repos(self) -> CaRepositories | None:
        return self._repos

    @repos.setter
    def repos(self, repos: CaRepositories | None) -> None:
        self._repos = repos
        # the hot path's
        self.cert_repo: Repository | None = None if repos is None else repos.cert
        self.request_repo: Repository | None = None if repos is None else repos.request

    def issued(self, kind: IdKind) -> int:
        """Numbers of ``kind`` this CA handed out (certificates signed, requests created)."""
        return self.issued_certs if kind is IdKind.CERT else self.issued_requests

    def set_crash_times(self, times: list[float]) -> None:
        """The times this CA will crash (faults are planned before the run)."""
        self.crash_times = sorted(times)
        self.next_crash = self.crash_times[0] if self.crash_times else math.inf

    def crash_after(self, t: float) -> float:
        """The first planned crash strictly after ``t``."""
        while self.next_crash <= t:
            self.crash_times.pop(0)
            self.next_crash = self.crash_times[0] if self.crash_times else math.inf
        return self.next_crash

    @property
    def update_interval(self) -> float:
        assert self.repos is not None
        return self.repos.cert.config.update_interval


@dataclass(frozen=True, slots=True)
class CaLife:
    """What the life of the CAs of one run touches, and that life itself:
    installation, start-up, the update task, crashes, stops, decommissioning."""

    env: simpy.Environment
    clock: Callable[[], float]  # the current simulated time (the lane's, while it drains)
    driver: SimDriver
    history: History
    tree: DogtagTree
    seeds: Seeds
    strategy: str
    balancer: Balancer
    crl: CrlService
    outages: ReplicaOutages
    nodes: Mapping[str, CaNode]  # by name
    #: Called with each CA when it is first installed (the replica-ID ledger of
    #: pkisim.sim.topology, in a run with other subsystems).
    on_install: list[Callable[[CaNode], None]] = field(default_factory=list)
    #: The fast lane's ``limit`` (its drain stops before a time): with it, update
    #: task runs that would change nothing are skipped in closed form; ``None``
    #: steps every run (``Simulation(fast=False)``).
    limit: Callable[[float], None] | None = None

    def node(self, name: str) -> CaNode:
        return self.nodes[name]

    def note(self, node: CaNode, op: Op, type_: OpType, detail: str) -> None:
        self.driver.note(node, op, type_, detail)

    # ------------------------------------------------------------ configuration
    def own_configs(self, node: CaNode) -> Mapping[IdKind, IdSpaceConfig]:
        """A master's (or a clone's own) CS.cfg ID spaces; ``host`` defaults to the CA name."""
        spec = node.spec
        if spec.ids is None:
            return master_configs(self.strategy, host=node.name)
        configs = dict(spec.ids)
        for kind, config in configs.items():
            if config.host == "localhost":
                configs[kind] = config.evolve(host=node.name)
        missing = [k for k in CA.spaces if k not in configs]
        if missing:
            defaults = master_configs(self.strategy, host=node.name)
            for kind in missing:
                configs[kind] = defaults[kind]
        return configs

    def _attach(self, node: CaNode, configs: Mapping[IdKind, IdSpaceConfig],
                source: str) -> None:
        """Give ``node`` its repositories (their random streams from the run's seed)."""
        self.driver.attach(node, CaRepositories(node.name, configs, self.tree,
                                                streams=self.seeds.random, source=source))

    # ------------------------------------------------------------ installation
    def install_now(self, node: CaNode) -> None:
        """A CA that exists when the run begins: installed and started at time 0,
        with no simulated latency (the topology's history before the run)."""
        spec = node.spec
        try:
            if spec.donor is not None:
                donor = self.node(spec.donor)
                if not donor.serving:
                    raise ConfigError(f"ca.{node.name}.donor", spec.donor,
                                      "the donor must be created before its clone")
                assert donor.repos is not None
                configs = self.driver.run(donor, donor.repos.transfer_to_clone(host=node.name))
                wake_update(donor, self.clock())
                self._attach(node, configs, f"transfer:{donor.name}")
            else:
                self._attach(node, self.own_configs(node), "initial")
            assert node.repos is not None
            self.driver.run(node, node.repos.start())
        except AllocationError as err:
            raise ConfigError(f"ca.{node.name}", node.name,
                              f"cannot start at time 0: {err}") from None
        self._started(node)

    def install(self, node: CaNode) -> Process:
        """A clone created during the run: the donor's ``UpdateNumberRange`` (over
        the donor's replica), then the clone's own start-up."""
        spec, env = node.spec, self.env
        yield env.timeout(spec.created_at - env.now)
        if spec.donor is not None:
            donor = self.node(spec.donor)
            while True:
                while not donor.serving:
                    yield env.timeout(DONOR_POLL)
                assert donor.repos is not None
                mark = len(self.history.events)
                try:
                    configs = yield from self.driver.drive(donor, donor.repos.transfer_to_clone(
                        host=node.name))
                    wake_update(donor, self.clock())
                    break
                except Aborted:
                    self._slices_lost(node, donor, mark,
                                      "the donor went down during the transfer")
                    continue
                except AllocationError as err:
                    self._slices_lost(node, donor, mark, f"clone transfer failed: {err}")
                    return
            self._attach(node, configs, f"transfer:{donor.name}")
        else:
            self._attach(node, self.own_configs(node), "initial")
        yield from self.start(node, first=True)

    def _slices_lost(self, node: CaNode, donor: CaNode, mark: int, why: str) -> None:
        """A clone install that stopped half-way: the donor already cut some slices
        (Dogtag's UpdateNumberRange runs once per repository and gives nothing
        back), so those numbers belong to nobody.  Record each as a failed receipt
        of that slice, which the checkers count as stranded, not as a bad transfer."""
        history = self.history
        lost = [e for e in history.events[mark:]
                if e.op is Op.TRANSFER and e.process == donor.pid]
        for e in lost:
            history.note(self.clock(), node.pid, Op.RECEIVE, OpType.FAIL,
                         f"{why}; slice lost", replica=node.rid, kind=e.kind, begin=e.begin,
                         end=e.end)
        if not lost:
            self.note(node, Op.RECEIVE, OpType.FAIL, why)

    def _started(self, node: CaNode) -> None:
        node.serving = True
        self.balancer.wake()
        node.free = [self.clock()] * len(node.free)
        node.outstanding = 0
        if not node.installed:
            node.installed = True
            self.balancer.add(node, in_pool=self.env.now == 0)
            self.env.process(self.update_task(node))
            for hook in self.on_install:
                hook(node)
        self.crl.on_start(node)
        wake_update(node, self.clock())

    def start(self, node: CaNode, *, first: bool = False) -> Process:
        """Start-up: ``checkRanges`` for requests then certificates, which loads
        the cache from the CA's *own* replica.  A start that cannot read its
        directory fails (the core raises DirectoryUnavailable), and is tried again
        after :data:`RESTART_DELAY`."""
        assert node.repos is not None
        env = self.env
        while not node.gone:
            if self.outages.is_down(node.replica):
                yield env.timeout(RESTART_DELAY)
                continue
            node.repos.restart()
            epoch = node.epoch
            try:
                yield from self.driver.drive(node, node.repos.start())
            except Aborted:
                return
            except DirectoryUnavailable:
                if node.epoch != epoch:
                    return
                self.note(node, Op.RESTART, OpType.FAIL, "CA failed to start: directory down")
                yield env.timeout(RESTART_DELAY)
                continue
            except AllocationError as err:
                self.note(node, Op.RESTART, OpType.FAIL, f"CA failed to start: {err}")
                return
            if node.epoch != epoch:
                return
            self.note(node, Op.RESTART, OpType.OK, "installed" if first else "restarted")
            self._started(node)
            return

    def update_task(self, node: CaNode) -> Process:
        """``SerialNumberUpdateTask``: ``checkRanges`` every ``ca.serialNumberUpdateInterval``
        seconds (``<= 0`` disables it); failures are only logged (a failed claim
        as a range event, anything else as a note).

        With :attr:`limit`, runs that cannot change anything (the CA does not
        serve, or neither repository's ``check_due``) are not stepped: the task
        sleeps until :func:`wake_update` says something changed at ``t`` (an
        issuance crossed a threshold, a start-up, a transfer), and then runs at
        the first time of its own schedule after ``t``, computed by the same
        float additions as stepping (a run at ``t`` itself comes before the lane
        events at ``t``, and would have found nothing).  A run comes before
        every other event due at its time, and runs of several CAs due at once
        go in CA order (:func:`~pkisim.sim.lane.turn`): when a sleeping task
        was scheduled must not decide which CA's claim wins a race."""
        interval = node.update_interval
        if interval <= 0:
            return
        env, limit = self.env, self.limit
        while not node.gone:
            if limit is not None and _idle(node):
                anchor = env.now  # the last run (or the start)
                woken = env.event()

                def wake(t: float, anchor: float = anchor, woken: simpy.Event = woken) -> None:
                    node.update_wake = None
                    run = anchor
                    while run + interval <= t:
                        run = run + interval
                    run = run + interval
                    limit(run)
                    woken.succeed(run)

                node.update_wake = wake
                if node.repos is not None:
                    node.watch_request = watch(node.repos.request)
                    node.watch_cert = watch(node.repos.cert)
                at = yield woken
                yield turn(env, exact_delay(env.now, at), node.index, node)
            else:
                yield turn(env, interval, node.index, node)
            yield from self.driver.update_task_run(node)

    # ------------------------------------------------------------ failures
    def crash(self, node: CaNode) -> None:
        """The host dies: in-flight requests and operations are lost; the balancer
        does not know until its health checks fail."""
        if not node.serving and not node.installed:
            return
        self._down(node, "host crashed")

    def stop(self, node: CaNode) -> Process:
        """A planned stop: wait until the (drained) CA has answered every request."""
        env = self.env
        idle_at = max(node.free)
        if idle_at > env.now:
            yield env.timeout(idle_at - env.now)
        while node.outstanding > 0:  # completions due at this very instant come first
            yield env.timeout(STOP_POLL)
        self._down(node, "stopped")

    def _down(self, node: CaNode, why: str) -> None:
        """``node`` stops serving: what it was doing belongs to an older epoch."""
        node.serving = False
        self.balancer.wake()
        node.epoch += 1
        node.outstanding = 0
        self.note(node, Op.CRASH, OpType.INFO, why)

    def decommission(self, node: CaNode) -> Process:
        """Out of the balancer for good; what is left of its ranges is stranded."""
        env = self.env
        yield env.timeout(node.spec.decommissioned_at - env.now)  # type: ignore[operator]
        self.balancer.remove(node)
        yield from self.stop(node)
        node.gone = True
        if node.repos is not None:
            for kind in (IdKind.CERT, IdKind.REQUEST):
                repo = node.repos[kind]
                node.stranded[kind] = repo.remaining() if repo.ranged else 0
        self.note(node, Op.DECOMMISSION, OpType.INFO, "decommissioned")


def _idle(node: CaNode) -> bool:
    """Would every update task run change nothing until :func:`wake_update`?"""
    repos = node.repos
    return (not node.serving or repos is None
            or not (repos.cert.check_due() or repos.request.check_due()))


def watch(repo: Repository) -> tuple[float, int]:
    """``(last, end)``: while ``repo`` issues numbers up to ``last`` from a
    range ending at ``end``, its ``check_due`` stays false (Dogtag's sequential
    ``checkRanges``: ``end - last`` plus the next range's size against the
    low-water mark).  ``-inf`` when that is not known: ask every time."""
    cls = type(repo)
    if (cls.check_due is not Repository.check_due or cls.in_range is not Repository.in_range
            or not repo.serial_management or repo.last is None):
        return -math.inf, repo.end
    limit = repo.end + repo.state.next_size - repo.low_water_mark
    if repo.next_begin is not None:
        limit = min(limit, repo.end - repo.low_water_mark)
    return limit, repo.end


def wake_update(node: CaNode, t: float) -> None:
    """Something the update task looks at may have changed at ``t``."""
    wake = node.update_wake
    if wake is not None:
        wake(t)


__all__ = ["DONOR_POLL", "RESTART_DELAY", "STOP_POLL", "CaLife", "CaNode", "wake_update", "watch"]
