"""A reusable Hypothesis state machine over the allocation core.

Hypothesis generates schedules of issuances, update-task runs (which it may
interleave command by command, or race two at once, so that CAs contend for
``nextRange``),
replication deliveries, partitions, crashes and process restarts, clone
installations, decommissions and the faults of :mod:`pkisim.testing.faults`
(directory outages, size-limited searches, a multi-valued ``nextRange``);
after every step the invariants check
that serials never overlap, that the ranges CAs hold are pairwise disjoint and
that ``nextRange`` never goes backwards.  When one fails, Hypothesis shrinks the
schedule and the failure message carries the checker's explanation, with the
radix of every number it shows stated.

The machine is parametrised by a :class:`MachineConfig` (strategy, replicas,
replication mode, planted bug) and by a directory backend factory, so the same
rules run against the in-memory model, one slapd, a slapd pair and a 389-DS
pair (:mod:`pkisim.testing.servers.backends`; as zarr runs one stateful suite
per store).  Named presets (:mod:`pkisim.testing.presets`) bind a topology,
its faults and the coverage goals a run must reach.  Build a test class with :func:`machine`::

    TestLegacy2 = machine(MachineConfig("legacy2")).TestCase
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any, ClassVar

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from pkisim.driver import Driver, Instance
from pkisim.errors import AllocationError, ConfigError, DirectoryUnavailable, RangeDepleted
from pkisim.history import History, Op, OpType
from pkisim.history.history import ISSUE_OP
from pkisim.ids import protocol as p
from pkisim.ids.config import IdKind, IdSpaceConfig
from pkisim.ids.events import ClaimFailed, RangeClaimed, RangeEvent, RangeTransferred
from pkisim.ids.strategies import STRATEGY
from pkisim.ids.subsystem import Streams, master_configs, repositories_class
from pkisim.ids.tree import DEFAULT_BASE, DogtagTree
from pkisim.seeding import Seeds
from pkisim.testing.config import MachineConfig
from pkisim.testing.explain import explain, explain_ranges, final_run
from pkisim.testing.faults import (
    Coverage,
    can_transfer,
    cscfg_spelling,
    label,
    numbers_note,
    show,
    stale_value,
)
from pkisim.testing.variants import VARIANTS

#: Commands an update-task step "to the end" may run (a run that spins, such
#: as a compare-and-swap retried forever, stays pending rather than hang).
RUN_TO_END = 64
#: How a liveness step begins (a second one in a row would check nothing new:
#: unbounded, they crowded Hypothesis's early examples and undid every fault).
LIVENESS = "liveness:"
#: Rules an example may switch off (swarm testing); issuing and the update task stay on.
SWARM_RULES = ("deliver", "partition", "crash", "clone", "decommission", "liveness", "outage",
               "size-limit", "race")


class CaNode(Instance):
    """A CA of the machine: an update-task run may be pending mid-way (the
    machine interleaves it command by command); ``live`` until decommissioned;
    ``running`` while its process runs (a CA that refused to start does not)."""

    def __init__(self, name: str, replica: str, pid: int, rid: int) -> None:
        super().__init__(name, replica, pid, rid)
        self.pending: p.Operation[Any] | None = None
        self.pending_command: p.Command | None = None
        self.live = True
        self.running = True
        self.refused = False  # its last start was refused
        self.starts = 1
        self.failed_claims: set[IdKind] = set()


class MachineDriver(Driver):
    """The one driver, at the machine's step clock; range events also go to the
    machine's range log (for explanations) and its coverage goals."""

    def __init__(self, machine: AllocationMachine) -> None:
        super().__init__(machine.directory, machine.history, lambda: machine.now)
        self.machine = machine

    def serves(self, ca: Instance) -> bool:
        return isinstance(ca, CaNode) and ca.live and ca.running and ca.repos is not None

    def record_event(self, ca: Instance, event: RangeEvent) -> None:
        super().record_event(ca, event)
        self.machine.range_log.append((self.machine.now, ca.name, ca.replica, event))
        coverage = self.machine.coverage
        if isinstance(event, RangeTransferred) and event.from_next:
            coverage.hit("transfer out of next range")
        if not isinstance(ca, CaNode):
            return
        if isinstance(event, RangeTransferred) and event.state.next_end is not None \
                and event.state.next_begin is not None \
                and event.state.next_end < event.state.next_begin:
            coverage.hit("next range overrun")
        if isinstance(event, ClaimFailed):
            ca.failed_claims.add(event.kind)
        elif isinstance(event, RangeClaimed) and event.kind in ca.failed_claims:
            ca.failed_claims.discard(event.kind)
            coverage.hit("claim failed and recovered")


class AllocationMachine(RuleBasedStateMachine):
    """The rules and invariants; :func:`machine` binds a configuration."""

    config: ClassVar[MachineConfig]
    coverage: ClassVar[Coverage]
    #: The steps of the most recent run (the shrunk one, after a failure).
    last_steps: ClassVar[list[str]] = []
    #: The history of the most recent run (the shrunk one, after a failure).
    last_history: ClassVar[History | None] = None

    def __init__(self) -> None:
        super().__init__()
        cfg = self.config
        self.directory = cfg.backend(cfg.replicas, cfg.sync)
        sub = cfg.subsystem
        #: The subsystem's main and request ID spaces (a CA's serials and request IDs).
        self.kinds = (sub.main, sub.request)
        self.note = numbers_note(sub)
        self.tree = DogtagTree(getattr(self.directory, "base", DEFAULT_BASE), sub)
        self.history = History()
        type(self).last_history = self.history
        self.now = 0.0
        self.driver = MachineDriver(self)
        self.cas: list[CaNode] = []
        self.issued: dict[tuple[IdKind, int], str] = {}
        self.duplicates: list[str] = []
        self.counters: dict[tuple[str, str], int] = {}
        self.initial_next: dict[str, int] = {}
        self.partitioned = False
        self.down: set[str] = set()
        self.size_limited = False
        self.multi_valued = False
        self.range_log: list[tuple[float, str, str, RangeEvent]] = []
        self.seed = 0
        self.off: frozenset[str] = frozenset()
        type(self).last_steps = []
        self.variant = VARIANTS.get(cfg.variant) if cfg.variant else None

    def teardown(self) -> None:
        """Stop a backend that holds resources (a real server): its ``close()``."""
        close = getattr(self.directory, "close", None)
        if close is not None:
            close()

    # ------------------------------------------------------------ plumbing
    def _step(self, text: str) -> None:
        self.now += 1.0
        self.last_steps.append(text)
        note(f"t={self.now:g} {text}")

    def _drive(self, op: p.Operation[Any], node: CaNode) -> Any:
        return self.driver.run(node, op)

    def _pick(self, index: int, *, running: bool = True) -> CaNode | None:
        nodes = [n for n in self.cas if n.live and (n.running or not running)]
        return nodes[index % len(nodes)] if nodes else None

    def _on(self, fault: str) -> bool:
        return fault in self.config.faults and fault not in self.off

    def _configs(self) -> dict[IdKind, IdSpaceConfig]:
        cfg = self.config
        return master_configs(cfg.strategy, host=self._name(1), serial_management=False,
                              overrides={k: cfg.ids(k) for k in IdKind}, subsystem=cfg.subsystem)

    def _name(self, number: int) -> str:
        return f"{self.config.subsystem.name}{number}"  # ca1, ca2, ... or kra1, kra2, ...

    def _streams(self, node: CaNode) -> Streams:
        """The random generators of this process start of ``node`` (a new
        process draws anew; the first start's streams are named after the CA)."""
        if node.starts == 1 or (self.variant is not None and self.variant.streams_by_name):
            return Seeds(self.seed).random
        return Seeds(self.seed).child(f"{node.name} start {node.starts}").random

    def _new_ca(self, name: str, configs: dict[IdKind, IdSpaceConfig], replica: str,
                source: str) -> CaNode:
        node = self.driver.add(CaNode(name, replica, self.history.process(name),
                                      self.history.replica(replica)))
        self.cas.append(node)
        repos = repositories_class(self.config.subsystem)(name, configs, self.tree, source=source,
                               streams=self._streams(node))
        if self.variant is not None:
            self.variant.apply(repos)
        self.driver.attach(node, repos)
        self._start(node)
        return node

    def _start(self, node: CaNode) -> None:
        """Start ``node``'s process: refused (not running) while its directory
        cannot answer the start-up searches."""
        try:
            self._drive(node.repos.start(), node)
        except DirectoryUnavailable as err:
            note(f"{node.name} refuses to start: {err}")
            node.running = False
            node.refused = True
            if node.replica in self.down:
                self.coverage.hit("restart during outage reached")
            if "SIZE_LIMIT" in str(err):
                self.coverage.hit("size-limited search at restart")
            return
        except AllocationError as err:
            note(f"{node.name} failed to start: {err}")
        node.running = True
        if node.refused:
            node.refused = False
            self.coverage.hit("started once the directory was back")

    def _commit(self, node: CaNode) -> None:
        """Dogtag writes CS.cfg after every range change; pkisim must read what
        Dogtag writes (a transfer may leave ``nextEnd`` below ``nextBegin``)."""
        try:
            node.repos.configs()
        except ConfigError as err:
            spelling = cscfg_spelling(self.config.strategy, self.config.subsystem)
            raise AssertionError(f"{node.name}: pkisim refuses the CS.cfg Dogtag writes: {err} "
                                 f"{spelling}") from None

    # ------------------------------------------------------------ set-up
    @initialize(seed=st.integers(0, 2**32 - 1),
                swarm=st.frozensets(st.sampled_from(SWARM_RULES)))
    def setup(self, seed: int, swarm: frozenset[str]) -> None:
        # Swarm testing (Groce et al.): each example switches some fault rules
        # off, so that schedules without, say, crashes or liveness phases, which
        # would reset a half-done claim, are common rather than rare.  The
        # faults the config asks for stay on: they are what it is about.
        self.off = (swarm - self.config.faults) | self.config.disabled
        # Serial draws come from real PRNG streams seeded through Hypothesis:
        # Hypothesis's own ``randoms()`` would hand every CA the same minimal
        # values, which no real RSNv3 generator does.
        self.seed = seed
        cfg = self.config
        configs = self._configs()
        self.directory.bootstrap(self.tree.bootstrap(list(configs.values())))
        for add in self.tree.bootstrap(list(configs.values())):
            if "nextrange" in add.attrs:
                self.initial_next[add.dn] = int(add.attrs["nextrange"][0])
        note(f"install master {self._name(1)}")
        self._new_ca(self._name(1), configs, cfg.replicas[0], "initial")
        for _ in range(cfg.initial_clones):
            self._clone(self.cas[0], step=False)
        if self._on("size-limit"):  # Dogtag binds as pkidbuser, not the directory manager
            note("the CAs bind as a non-root user: searches are size-limited")
            self.directory.limit_size(True)
            self.size_limited = True

    def _clone(self, donor: CaNode, *, step: bool = True) -> None:
        name = self._name(len(self.cas) + 1)
        bind = self.config.ca_replicas or self.config.replicas
        replica = bind[len(self.cas) % len(bind)]
        text = f"clone {name} from {donor.name} on {replica}"
        self._step(text) if step else note(text)
        try:
            configs = self._drive(donor.repos.transfer_to_clone(name), donor)
        except AllocationError as err:
            note(f"transfer refused: {err}")
            return
        self._commit(donor)
        self._new_ca(name, configs, replica, f"transfer:{donor.name}")

    # ------------------------------------------------------------ rules
    @rule(index=st.integers(0, 7), batches=st.integers(1, 16),
          space=st.sampled_from(["main", "request"]))
    def issue(self, index: int, batches: int, space: str) -> None:
        """Issue IDs of the subsystem's ``main`` space (serials, key IDs) or its requests."""
        node = self._pick(index)
        if node is None:
            return
        kind = self.kinds[space == "request"]
        count = batches * self.config.batch
        self._step(f"{node.name} issues {count} {label(kind)}s")
        for _ in range(count):
            if not self._issue(node, kind):
                return

    def _issue(self, node: CaNode, kind: IdKind) -> bool:
        """One issuance.  A record the directory refused (ENTRY_ALREADY_EXISTS)
        still counts: the certificate was signed before the store.  A record
        that could not be stored because the directory is unreachable fails
        the request: the number is wasted, never delivered (and the next
        request of the batch burns the next number)."""
        assert node.repos is not None
        repo = node.repos[kind]
        try:
            number = self.driver.take(node, repo)  # DNA extends on demand; Dogtag never does
        except AllocationError as err:
            self.coverage.hit("range exhausted")
            self.driver.note(node, ISSUE_OP[kind], OpType.FAIL, str(err))
            return False
        stored = self.driver.store(node, repo, number)
        if stored.code in p.UNREACHABLE:
            self.driver.record_issue(node, kind, number, OpType.FAIL)
            return True
        self.driver.record_issue(node, kind, number)
        self._remember(kind, number, node.name)
        return True

    def _remember(self, kind: IdKind, number: int, ca: str) -> None:
        first = self.issued.get((kind, number))
        if first is None:
            self.issued[(kind, number)] = ca
        else:
            self.duplicates.append(f"{label(kind)} {show(kind, number)} issued by {first} "
                                   f"and by {ca}")

    def _busy(self) -> list[CaNode]:
        """Running CAs whose update task would talk to the directory: one is running,
        or some repository is below its low-water mark (or must load its cache,
        or is DNA, which publishes every run).  A run with nothing to do is no
        step at all, so that shrinking never has to carry no-op runs around."""
        def busy(node: CaNode) -> bool:
            return node.pending is not None or any(
                node.repos[kind].check_due() for kind in self.kinds)
        return [n for n in self.cas if n.live and n.running and n.repos is not None and busy(n)]

    @precondition(lambda self: bool(self._busy()))
    @rule(index=st.integers(0, 7), steps=st.integers(0, 6))
    def update_task(self, index: int, steps: int) -> None:
        """Start (or continue) a run of the range-update task, ``steps`` directory
        commands at a time; 0 (where shrinking goes) runs it to the end, so a
        shrunk schedule splits a run only where the interleaving matters."""
        busy = self._busy()
        node = busy[index % len(busy)]
        what = f"{steps} directory commands" if steps else "to the end"
        if node.pending is None:
            self._step(f"{node.name} update task: {what}")
            self._begin_update(node)
        else:
            self._step(f"{node.name} update task (continued): {what}")
        for _ in range(steps or RUN_TO_END):
            if node.pending is None:
                break
            node.pending_command = self._advance(node, node.pending_command)

    @precondition(lambda self: "race" not in self.off
                  and sum(n.pending is None for n in self._busy()) > 1)
    @rule(first=st.integers(0, 7), second=st.integers(0, 7))
    def update_tasks_race(self, first: int, second: int) -> None:
        """Two CAs' update tasks run at once, their directory commands
        alternating (each reads ``nextRange`` before the other writes): the
        contention Dogtag's compare-and-swap exists for, as one step rather
        than an interleaving of partial runs that random schedules rarely hit."""
        idle = [n for n in self._busy() if n.pending is None]
        one = idle[first % len(idle)]
        others = [n for n in idle if n is not one]
        two = others[second % len(others)]
        self._step(f"{one.name} and {two.name} update tasks race")
        for node in (one, two):
            self._begin_update(node)
        for _ in range(RUN_TO_END):
            if one.pending is None and two.pending is None:
                break
            for node in (one, two):
                if node.pending is not None:
                    node.pending_command = self._advance(node, node.pending_command)

    def _begin_update(self, node: CaNode) -> None:
        """Start a run of ``node``'s update task, up to its first directory command."""
        node.pending = node.repos.update_task()
        node.pending_command = self._advance(node, None)

    def _advance(self, node: CaNode, command: p.Command | None) -> p.Command | None:
        assert node.pending is not None
        try:
            if command is None:
                return self.driver.begin(node, node.pending)
            if self.partitioned and isinstance(command, p.Modify):
                self.coverage.hit("claim during partition")
            return self.driver.resume(node, node.pending, self.driver.execute(node, command))
        except StopIteration:
            node.pending = node.pending_command = None
        except AllocationError as err:  # Dogtag's update task logs the exception and goes on
            note(f"{node.name} update task failed: {err}")
            node.pending = node.pending_command = None
        return None

    @precondition(lambda self: not self.config.sync and "deliver" not in self.off)
    @rule(count=st.one_of(st.none(), st.integers(1, 4)))
    def deliver(self, count: int | None) -> None:
        self._step(f"replication delivers {'all' if count is None else count} changes")
        self.directory.deliver(now=self.now, count=count)

    @precondition(lambda self: len(self.config.replicas) > 1
                  and "partition" not in self.off)
    @rule(split=st.integers(1, 3))
    def partition(self, split: int) -> None:
        replicas = self.config.replicas
        cut = split % (len(replicas) - 1) + 1
        groups = [list(replicas[:cut]), list(replicas[cut:])]
        self._step(f"partition {groups}")
        self.directory.partition(groups, now=self.now)
        self.partitioned = True

    @precondition(lambda self: self.partitioned)
    @rule()
    def heal(self) -> None:
        self._step("heal the partition")
        self.directory.heal_all(now=self.now)
        self.partitioned = False

    @precondition(lambda self: self._on("outage")
                  and len(self.down) < len(self.config.replicas))
    @rule(which=st.integers(0, 3))
    def directory_killed(self, which: int) -> None:
        """A directory server dies (SIGKILL): its CAs' commands go unanswered."""
        up = [r for r in self.config.replicas if r not in self.down]
        replica = up[which % len(up)]
        self._step(f"directory {replica} is killed (SIGKILL)")
        self.directory.kill(replica, now=self.now)
        self.down.add(replica)

    @precondition(lambda self: bool(self.down))
    @rule()
    def directory_restarted(self) -> None:
        self._step(f"directory {', '.join(sorted(self.down))} restarted on the same data")
        self._revive()

    def _revive(self) -> None:
        for replica in sorted(self.down):
            self.directory.revive(replica, now=self.now)
            self.coverage.hit("directory restarted")
        self.down.clear()

    @precondition(lambda self: self._on("size-limit"))
    @rule(lift=st.booleans())
    def size_limit(self, lift: bool) -> None:
        """The CAs bind as a non-root user whose searches are size-limited, or
        an administrator raises the limit (``lift``: the draw Hypothesis tries
        last, so that examples and shrunk schedules keep the fault on)."""
        if lift != self.size_limited:
            return
        self._step(("lift the limit on" if lift else "limit") + " the CAs' search size")
        self.directory.limit_size(not lift)
        self.size_limited = not lift

    @precondition(lambda self: self._on("multi-valued") and not self.multi_valued
                  and STRATEGY[self.config.strategy].compare_and_swap)
    @rule()
    def multi_valued_next_range(self) -> None:
        """A replication race leaves ``nextRange`` with its last value and the
        one before it (already claimed), the stale one first."""
        dn = self.tree.counter_dn(self.kinds[0], self.config.strategy)
        replica = self.config.replicas[0]
        if replica in self.down:
            return
        got = self.directory.execute(p.Read(dn), replica=replica, now=self.now)
        values = stale_value(got, self.config.increment, self.initial_next[dn])
        if values is None:
            return
        self._step(f"a replication race leaves nextRange {', '.join(values)} (decimal) on "
                   f"{replica}")
        self.directory.execute(p.Modify(dn, (p.Mod(p.ModOp.REPLACE, "nextRange", values),)),
                               replica=replica, now=self.now)
        self.multi_valued = True

    @precondition(lambda self: "crash" not in self.off)
    @rule(index=st.integers(0, 7))
    def crash_and_restart(self, index: int) -> None:
        """The CA process dies (losing its counter and any claim in flight) and
        restarts (a CA that refused to start is started again)."""
        node = self._pick(index, running=False)
        if node is None:
            return
        where = f" while directory {node.replica} is down" if node.replica in self.down else ""
        self._step(f"{node.name} {'crashes and restarts' if node.running else 'is started'}"
                   f"{where}")
        node.pending = node.pending_command = None
        main = node.repos.main
        if main.last is not None and main.begin <= main.last < main.end:
            self.coverage.hit("restart mid-range")
        if main.mode.full_length_random and any(
                ca == node.name for (kind, _), ca in self.issued.items() if kind is main.kind):
            self.coverage.hit("rsnv3 process restart")
        self._commit(node)
        self.driver.note(node, Op.RESTART, OpType.OK, "crash" if node.running else "start")
        node.starts += 1
        node.repos.restart(self._streams(node))
        own = node.replica
        if self.variant is not None:  # a planted bug may recover from another replica
            node.replica = self.variant.recovery_replica(own, self.config.replicas)
        try:
            self._start(node)
        finally:
            node.replica = own

    @precondition(lambda self: "clone" not in self.off)
    @rule(index=st.integers(0, 7))
    def add_clone(self, index: int) -> None:
        if sum(n.live for n in self.cas) >= self.config.max_cas:
            return
        donor = self._pick(index)
        if donor is None:
            return
        if self.config.guard_transfers and not can_transfer(donor.repos):
            note(f"{donor.name} has no {self.config.transfer} numbers to give: not cloned")
            return
        self._clone(donor)

    @precondition(lambda self: "decommission" not in self.off)
    @rule(index=st.integers(0, 7))
    def decommission(self, index: int) -> None:
        if sum(n.live for n in self.cas) <= 1:
            return
        node = self._pick(index, running=False)
        assert node is not None
        self._step(f"decommission {node.name}")
        node.live = False
        node.pending = None

    @precondition(lambda self: "liveness" not in self.off and not (
        self.last_steps and self.last_steps[-1].startswith(LIVENESS)))
    @rule()
    def liveness(self) -> None:
        """After the faults heal, every CA must issue again (FoundationDB's
        liveness phase): heal, restart the directories, lift the size limit,
        start the CAs that refused to, replicate, run the update task."""
        if STRATEGY[self.config.strategy].on_demand:
            return  # DNA has no global counter: a finite space may really run out
        self._step(f"{LIVENESS} heal, replicate, run every update task, issue one "
                   f"{label(self.kinds[0])} each")
        self.directory.heal_all(now=self.now)
        self.partitioned = False
        self._revive()
        if self.size_limited:
            self.directory.limit_size(False)
            self.size_limited = False
        self.directory.deliver(now=self.now)
        for node in [n for n in self.cas if n.live]:
            node.pending = node.pending_command = None
            if not node.running:
                self._start(node)
                if not node.running:
                    raise AssertionError(f"liveness: {node.name} still refuses to start after "
                                         f"healing {self.note}")
            self._live(node)

    def _live(self, node: CaNode) -> None:
        repo = node.repos.main
        try:
            for _ in range(3):
                self._drive(node.repos.update_task(), node)
                self.directory.deliver(now=self.now)
            number = self.driver.take(node, repo)
        except RangeDepleted:
            # Pagure 3055: transfers emptied this CA's range and it has no next
            # range; Dogtag cannot recover it without an administrator.
            self.coverage.hit("donor depleted by transfers")
            return
        except AllocationError as err:
            if not repo.serial_management:
                # Dogtag invariant 5: without serial management a CA never
                # claims and fails at its range end (a master with no clones).
                return
            if "left by a replication race" in str(err):
                # Dogtag reads the first of several nextRange values and its
                # compare-and-swap fails until an administrator leaves one: it
                # cannot recover alone, but it must say why.
                self.coverage.hit("multi-valued nextRange reported")
                return
            raise AssertionError(f"liveness: {node.name} cannot issue after healing: {err} "
                                 f"{self.note}") from None
        self.driver.record_issue(node, repo.kind, number)
        self.driver.store(node, repo, number)
        self._remember(repo.kind, number, node.name)

    # ------------------------------------------------------------ invariants
    @invariant()
    def serials_never_overlap(self) -> None:
        if self.duplicates:
            raise AssertionError(f"duplicate ids {self.note}: "
                                 + "; ".join(self.duplicates[:3]) + "\n"
                                 + (explain(self.history, self.kinds) if final_run() else ""))

    @invariant()
    def ranges_are_disjoint(self) -> None:
        for kind in self.kinds:
            held: list[tuple[int, int, str, str]] = []
            for node in self.cas:
                repo = node.repos[kind] if node.repos else None
                if repo is None or repo.mode.full_length_random:
                    continue  # RSNv3 holds no range
                state = repo.state
                if state.size:
                    held.append((state.begin, state.end, node.name, "current"))
                if state.next_size:
                    held.append((state.next_begin, state.next_end, node.name, "next"))  # type: ignore[arg-type]
            held.sort()
            for (b1, e1, ca1, w1), (b2, e2, ca2, w2) in pairwise(held):
                if b2 <= e1:
                    raise AssertionError(
                        f"{label(kind)} ranges overlap {self.note}: "
                        f"{ca1} {w1} {show(kind, b1)}-{show(kind, e1)} and {ca2} {w2} "
                        f"{show(kind, b2)}-{show(kind, e2)}\n"
                        + explain_ranges(self.range_log, kind, (ca1, ca2), (b2, min(e1, e2)),
                                         lambda n, k=kind: show(k, n)))

    @invariant()
    def failed_claims_are_retried(self) -> None:
        """Dogtag's update task runs ``checkRanges`` at every interval, whatever
        happened before: a CA below its low-water mark claims at the next run,
        also (above all) after a claim failed."""
        for node in self.cas:
            if not (node.live and node.running and node.repos is not None):
                continue
            for kind in self.kinds:
                repo = node.repos[kind]
                if not (repo.ranged and repo.serial_management and repo.loaded):
                    continue
                left = max(0, repo.in_range()) + repo.state.next_size
                if left < repo.low_water_mark and not repo.check_due():
                    failure = repo.claim_failure.reason if repo.claim_failure else "none"
                    raise AssertionError(
                        f"{node.name}'s {label(kind)} ranges hold {left} numbers, below the "
                        f"low-water mark {repo.low_water_mark} (decimal counts), yet its update "
                        f"task would not claim at its next run (last claim failure: {failure}) "
                        f"{self.note}")

    @invariant()
    def next_range_never_decreases(self) -> None:
        if not STRATEGY[self.config.strategy].shared_counter:
            return
        for kind in self.kinds:
            dn = self.tree.counter_dn(kind, self.config.strategy)
            for replica in self.config.replicas:
                got = self.directory.execute(p.Read(dn), replica=replica, now=self.now)
                values = [int(v) for v in (got.entry or {}).get("nextrange", ()) if v.isdigit()]
                if not values:
                    continue
                key = (replica, dn)
                top = max(values)
                if STRATEGY[self.config.strategy].compare_and_swap:  # naive overwrites blindly
                    assert top >= self.counters.get(key, 0), (
                        f"nextRange on {replica} went back from {self.counters[key]} to {top} "
                        "(decimal)")
                self.counters[key] = max(top, self.counters.get(key, 0))


def machine(config: MachineConfig) -> type[AllocationMachine]:
    """A state-machine class bound to ``config``; use its ``.TestCase`` in pytest."""
    name = f"Allocation_{config.strategy.replace('-', '_')}_{len(config.replicas)}r"
    return type(name, (AllocationMachine,), {"config": config, "coverage": Coverage(),
                                             "last_steps": []})
