"""TKS clones, and what every subsystem beside the CAs shares: a master and
clones, each on a directory replica, with a replica-ID range and nothing else
ranged (RHCS planning guide 2.7.5: "there is no real operational difference
between replicated TKSs"; 2.7.8: replica IDs).

A subsystem has its own database suffix (``o=pki-tomcat-TKS`` by default), so
its own ``ou=replica`` counter and ``ou=replica,ou=ranges`` records, in the
same replicated directory as the CAs.  Its master is installed at time 0 with
pkispawn's replica-ID range (``[tks.replica_ids]`` overrides it); each clone's
installation runs, on its donor, ``checkRanges`` then the ``replicaId``
``UpdateNumberRange`` (:meth:`~pkisim.ids.repository.Repository.clone_transfer`,
through the :class:`~pkisim.sim.driver.SimDriver`, one directory round trip
per command) and enables replication with IDs taken from the slice it received
(the :class:`~pkisim.history.replica_ids.ReplicaIdLedger`).  A donor that
cannot give a slice leaves the clone uninstalled (the range is exhausted).

A subsystem instance goes down and comes back with a ``down`` fault of its
section (``[[tks.faults]]``, ``[[ocsp.faults]]``).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import simpy

from pkisim.driver import Instance
from pkisim.errors import AllocationError, ConfigError
from pkisim.history.history import History, Op, OpType
from pkisim.history.replica_ids import ReplicaIdLedger
from pkisim.ids import protocol as p
from pkisim.ids.config import IdKind, IdSpaceConfig, pkispawn_defaults
from pkisim.ids.events import RangeEvent
from pkisim.ids.repository import Repository
from pkisim.ids.subsystem import new_repository, replica_strategy
from pkisim.ids.tree import DogtagTree
from pkisim.seeding import Seeds
from pkisim.sim.config import Distribution
from pkisim.sim.driver import Aborted, SimDriver
from pkisim.sim.workload import Draws

if TYPE_CHECKING:
    from pkisim.directory.memory import ReplicatedDirectory
    from pkisim.sim.lane import Lane
    from pkisim.sim.metrics import Recorder

Process = Generator[simpy.Event, Any, Any]

#: How often a clone installation polls for its donor to be up.
DONOR_POLL = 5.0
#: One directory round trip of a subsystem instance.
LDAP_LATENCY = Distribution("constant", 0.002)


@dataclass(frozen=True, slots=True)
class InstanceSpec:
    """One instance of a subsystem: ``role`` master (exactly one) or clone of ``donor``."""

    name: str
    replica: str
    role: Literal["master", "clone"] = "clone"
    donor: str | None = None
    created_at: float = 0.0


@dataclass(frozen=True, slots=True)
class OutageSpec:
    """A subsystem's fault from ``at`` for ``duration`` seconds (``None``: for
    good): ``down`` (instance ``target`` stops serving) or, for the OCSP,
    ``publish-fail`` (:class:`~pkisim.sim.ocsp.OcspSpec` ``publish_fail``)."""

    kind: str
    target: str
    at: float
    duration: float | None = None


@dataclass(frozen=True, slots=True)
class SubsystemSpec:
    """A replicated subsystem: its instances, its database's base DN (``suffix``,
    default ``o=pki-tomcat-<kind>``), the replicated suffix whose replication
    topology it joins (``topology``, default its own base DN; ``o=pki-tomcat``
    to share the CAs', with ``suffix = "o=ocsp,o=pki-tomcat"``), replica-ID
    configuration (``IdSpaceConfig`` fields over pkispawn's: ``begin``, ``end``,
    ``increment``, ``low_water_mark``, ``clone_transfer_number``) and faults."""

    kind: str
    instances: tuple[InstanceSpec, ...]
    suffix: str = ""
    topology: str = ""
    replica_ids: Mapping[str, object] = field(default_factory=dict)
    directory_latency: Distribution = LDAP_LATENCY
    faults: tuple[OutageSpec, ...] = ()

    def __post_init__(self) -> None:
        key = self.kind.lower()
        names = [i.name for i in self.instances]
        if len(set(names)) != len(names):
            raise ConfigError(f"{key}.instances", names, "instance names must be unique")
        masters = [i.name for i in self.instances if i.role == "master"]
        if len(masters) != 1:
            raise ConfigError(f"{key}.instances", masters, "exactly one must be the master")
        for inst in self.instances:
            if inst.role == "clone" and inst.donor not in names:
                raise ConfigError(f"{key}.instances.{inst.name}.donor", inst.donor,
                                  f"a clone needs a donor among {names}")

    @property
    def base(self) -> str:
        return self.suffix or f"o=pki-tomcat-{self.kind}"

    @property
    def replicated_suffix(self) -> str:
        return self.topology or self.base

    def replica_config(self, strategy: str, host: str) -> IdSpaceConfig:
        return pkispawn_defaults(IdKind.REPLICA, replica_strategy(strategy), host=host,
                                 **dict(self.replica_ids))


class ReplicaIds:
    """An instance's replica-ID repository, shaped as the driver wants
    repositories (an outbox, events taken out, indexed by ID space)."""

    def __init__(self, repo: Repository, outbox: list[RangeEvent]) -> None:
        self.repo, self.outbox = repo, outbox

    def take_events(self) -> list[RangeEvent]:
        events = self.outbox[:]
        self.outbox.clear()
        return events

    def __getitem__(self, kind: IdKind) -> Repository:
        if kind is not IdKind.REPLICA:
            raise KeyError(kind)
        return self.repo

    def __iter__(self) -> Iterator[Repository]:
        return iter((self.repo,))


class SubsystemNode(Instance):
    """One instance of a subsystem (TKS, OCSP): whether it serves, its epoch
    (outages), and its replica-ID repository once installed."""

    def __init__(self, spec: InstanceSpec, index: int, subsystem: SubsystemSpec,
                 history: History, seeds: Seeds) -> None:
        super().__init__(spec.name, spec.replica, history.process(spec.name),
                         history.replica(spec.replica))
        self.spec, self.index, self.subsystem = spec, index, subsystem.kind
        self.serving = False
        self.installed = False
        self.down = False  # an outage holds it
        self.epoch = 0
        self.outstanding = 0  # the balancer's least-outstanding policy reads it
        self.ldap_latency = Draws(subsystem.directory_latency,
                                  seeds.numpy(f"{subsystem.kind.lower()}/{spec.name}/ldap"))
        self.repos: ReplicaIds | None = None  # type: ignore[assignment]
        self.changes: list[tuple[float, bool]] = []  # (time, serving)

    def __repr__(self) -> str:
        return f"{self.subsystem}Node({self.name!r}, serving={self.serving})"


class Subsystem:
    """The instances of one subsystem in a run, their installation and outages.

    ``on_serving`` hooks (called with the node) let a service (the OCSP's
    balancer) follow who serves."""

    def __init__(self, spec: SubsystemSpec, *, lane: Lane, directory: ReplicatedDirectory,
                 seeds: Seeds, ledger: ReplicaIdLedger, strategy: str,
                 recorder: Recorder) -> None:
        self.spec, self.env, self.directory = spec, lane.env, directory
        #: The subsystem's own history: its replica-ID space is its own (another
        #: suffix), so its ranges are checked apart from the CAs'.
        self.history = history = History()
        self.driver = SimDriver(lane.env, directory, history, lane.now, lane.call_at)
        self.seeds, self.ledger, self.strategy = seeds, ledger, strategy
        self.recorder = recorder
        self.tree = DogtagTree(spec.base)
        self.nodes = {inst.name: SubsystemNode(inst, i, spec, history, seeds)
                      for i, inst in enumerate(spec.instances)}
        self.on_serving: list[Any] = []
        #: Called before a live replica-ID assignment (the ledger reads the CAs' first).
        self.catch_up: Callable[[], object] | None = None

    def node(self, name: str) -> SubsystemNode:
        return self.nodes[name]

    # ------------------------------------------------------------ installation
    def start(self) -> None:
        """Bootstrap the subsystem's tree, install the instances of time 0
        (master first, then clones in order), start the others' installation
        and the outages."""
        master = next(n for n in self.nodes.values() if n.spec.role == "master")
        config = self.spec.replica_config(self.strategy, master.name)
        self.directory.bootstrap(self.tree.bootstrap([config]), now=self.env.now)
        self._attach(master, config, "initial")
        self._serve(master, True)
        master.installed = True
        for node in self.nodes.values():
            if node is master:
                continue
            if node.spec.created_at == 0:
                self.driver_run_install(node)
                self.directory.settle(now=self.env.now)
            else:
                self.env.process(self.install(node))
        for fault in self.spec.faults:
            self.env.process(self.outage(fault))

    def driver_run_install(self, node: SubsystemNode) -> None:
        """A clone that exists when the run begins: installed at once."""
        donor = self.node(node.spec.donor)  # type: ignore[arg-type]
        if not donor.serving:
            raise ConfigError(f"{self.spec.kind.lower()}.instances.{node.name}.donor",
                              donor.name, "the donor must be created before its clone")
        try:
            begin, end = self.driver.run(donor, self._transfer(donor))
        except AllocationError as err:
            self._failed(node, f"clone transfer failed: {err}")
            return
        self._installed(node, donor, begin, end)

    def install(self, node: SubsystemNode) -> Process:
        """A clone created during the run: the donor's replica-ID transfer over
        the donor's replica, then replication enabled and the clone serving."""
        env = self.env
        yield env.timeout(node.spec.created_at - env.now)
        donor = self.node(node.spec.donor)  # type: ignore[arg-type]
        while True:
            while not donor.serving:
                yield env.timeout(DONOR_POLL)
            try:
                begin, end = yield from self.driver.drive(donor, self._transfer(donor))
                break
            except Aborted:
                continue
            except AllocationError as err:
                self._failed(node, f"clone transfer failed: {err}")
                return
        self._installed(node, donor, begin, end)

    def _transfer(self, donor: SubsystemNode) -> p.Operation[tuple[int, int]]:
        """``UpdateNumberRange`` for ``replicaId`` on the donor: ``checkRanges``
        first, then the slice; serving it turns the donor's serial management on."""
        assert donor.repos is not None
        repo = donor.repos.repo
        yield from repo.check_ranges()
        begin, end = yield from repo.clone_transfer()
        repo.serial_management = True
        return begin, end

    def _installed(self, node: SubsystemNode, donor: SubsystemNode, begin: int,
                   end: int) -> None:
        assert donor.repos is not None
        config = donor.repos.repo.config.evolve(
            begin=begin, end=end, host=node.name, serial_management=True, next_begin=None,
            next_end=None)
        self._attach(node, config, f"transfer:{donor.name}")
        if self.catch_up is not None:
            self.catch_up()
        try:
            self.ledger.enable(self.env.now, self.spec.kind, node.name,
                               (donor.replica, node.replica), self.spec.replicated_suffix,
                               lambda: self._take(node))
        except AllocationError as err:
            self._failed(node, f"no replica ID left: {err}")
            return
        node.installed = True
        if not node.down:
            self._serve(node, True)

    def _take(self, node: SubsystemNode) -> int:
        assert node.repos is not None
        repo = node.repos.repo
        number = self.driver.take(node, repo)  # kept in memory and CS.cfg: no record
        self.driver.record_issue(node, IdKind.REPLICA, number, OpType.OK)
        return number

    def _failed(self, node: SubsystemNode, why: str) -> None:
        self.driver.note(node, Op.RECEIVE, OpType.FAIL, why)
        self.ledger.failed(self.env.now, self.spec.kind, node.name, node.replica,
                           self.spec.replicated_suffix, why)

    def _attach(self, node: SubsystemNode, config: IdSpaceConfig, source: str) -> None:
        outbox: list[RangeEvent] = []
        repo = new_repository(config, self.tree, outbox=outbox, source=source,
                              rng=self.seeds.random(f"{node.name}/replica"))
        self.driver.attach(node, ReplicaIds(repo, outbox))  # type: ignore[arg-type]

    # ------------------------------------------------------------ outages
    def _serve(self, node: SubsystemNode, serving: bool) -> None:
        if node.serving == serving:
            return
        node.serving = serving
        if not serving:
            node.epoch += 1
        node.changes.append((self.env.now, serving))
        for hook in self.on_serving:
            hook(node)

    def outage(self, fault: OutageSpec) -> Process:
        env = self.env
        yield env.timeout(fault.at - env.now)
        node = self.node(fault.target)
        if fault.kind != "down" or node.down:
            return
        end = float("nan") if fault.duration is None else fault.at + fault.duration
        self.recorder.faults.append((f"{self.spec.kind.lower()}-down", node.name, fault.at, end))
        node.down = True
        self._serve(node, False)
        if fault.duration is not None:
            yield env.timeout(fault.duration)
            node.down = False
            if node.installed:
                self._serve(node, True)


__all__ = ["InstanceSpec", "OutageSpec", "ReplicaIds", "Subsystem", "SubsystemNode",
           "SubsystemSpec"]
