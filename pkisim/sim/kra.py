"""The KRAs of a run: master and clones behind their own load balancer, key
archival, asynchronous and synchronous key recovery, KRA outages.

A KRA is one more driver of the same core: its key IDs and request IDs come
from a :class:`~pkisim.ids.subsystem.KraRepositories` (installation, clone
transfer, start-up, the update task every ``kra.keyStatusUpdateInterval``,
restart recovery) through the run's :class:`~pkisim.sim.driver.SimDriver`, in
the KRA's own database (``o=pki-tomcat-KRA``) on the directory replicas of the
run, so its records replicate as the CAs' do (rhcs-cloning.md 2.7.4).

* **Archival.**  An enrollment with key archival that reaches a CA with a KRA
  connector (a CA without one refuses, :mod:`pkisim.sim.requests`) is sent by
  the CA to a KRA picked by the KRA balancer, at the moment it is signed.  The
  KRA takes a request ID and a key ID and stores the key record
  (``cn=<key id>,ou=keyRepository,ou=kra``, owner in ``description``) on its
  replica; replication carries it to every clone.  No KRA in rotation, or one
  that cannot take an ID or store the record: the enrollment fails.
* **Asynchronous recovery** (recommended).  Initiated on any KRA (the
  balancer's pick), which takes a request ID and stores the recovery request
  record.  Each of ``kra.noOfRequiredRecoveryAgents`` agents approves after a
  delay, on whichever KRA the balancer picks: the approval is a modify of the
  request record on that KRA's replica, so it fails (and the agent tries again
  a little later) until the record has replicated there.  The recovery
  completes on the KRA of the last approval once its replica shows every
  approval; it then reads the key record on that replica.
* **Synchronous recovery** (deprecated).  The recovery lives in the memory of
  the KRA that initiated it: an approval the balancer sends elsewhere, or that
  KRA going down before the last approval, fails the recovery.
* **Wrong key.**  A recovered key record whose owner is not the requester (two
  KRAs handed out one key ID; replication kept the earlier record under the
  DN) is a violation (:func:`kra_verdict`).

Every draw comes from the run's seed (streams ``kra/...``).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, NamedTuple

import simpy

from pkisim.driver import Instance
from pkisim.errors import AllocationError, DirectoryUnavailable
from pkisim.history.history import History, Op, OpType
from pkisim.history.uniqueness import check_unique
from pkisim.history.witness import explain_duplicates
from pkisim.ids import protocol as p
from pkisim.ids.config import IdKind
from pkisim.ids.layout import KRA
from pkisim.ids.subsystem import KraRepositories, master_configs
from pkisim.ids.tree import DogtagTree
from pkisim.seeding import Seeds
from pkisim.sim.balancer import Balancer
from pkisim.sim.driver import SimDriver
from pkisim.sim.kra_config import KraInstance, KraSpec
from pkisim.sim.lane import OBSERVER, Tick

if TYPE_CHECKING:
    from pkisim.directory.memory import ReplicatedDirectory
    from pkisim.sim.metrics import Recorder

Process = Generator[simpy.Event, Any, Any]

KEY, KEY_REQUEST = IdKind.KEY, IdKind.KEY_REQUEST
#: How long an agent waits before trying an approval again that found no
#: request record on its KRA's replica (not replicated yet, or that KRA down).
APPROVAL_RETRY = 5.0
#: How soon the requester first asks the KRA of the last approval whether all
#: approvals arrived; each further look waits twice as long, up to a minute.
COMPLETION_POLL = 1.0
MAX_POLL = 60.0
#: How long a KRA whose start failed waits before it is started again.
RESTART_DELAY = 30.0


class _Constant:
    """A latency that is always the same (the KRA's directory round trip)."""

    __slots__ = ("value",)

    def __init__(self, value: float) -> None:
        self.value = value

    def next(self) -> float:
        return self.value


class KraNode(Instance):
    """One KRA instance: its repositories, whether it serves, its epoch (crashes)."""

    def __init__(self, spec: KraInstance, index: int, history: History, latency: float) -> None:
        super().__init__(spec.name, spec.replica, history.process(spec.name),
                         history.replica(spec.replica))
        self.spec, self.index = spec, index
        self.serving = False
        self.epoch = 0
        self.outstanding = 0  # the balancer's least-outstanding policy reads it
        self.ldap_latency = _Constant(latency)
        self.archived = 0


class Recovery(NamedTuple):
    """One key recovery, as measured."""

    start: float
    end: float
    mode: str
    outcome: str  # ok, fail, wrong-key
    cause: str
    key: int
    initiated_on: str
    completed_on: str
    approval_retries: int


class KraService:
    """The KRAs of one run; see the module text."""

    def __init__(self, spec: KraSpec, *, env: simpy.Environment, clock: Callable[[], float],
                 driver: SimDriver, directory: ReplicatedDirectory, history: History,
                 seeds: Seeds, strategy: str, recorder: Recorder, duration: float) -> None:
        self.spec, self.env, self.clock, self.driver = spec, env, clock, driver
        self.directory, self.history, self.seeds = directory, history, seeds
        self.strategy, self.recorder, self.duration = strategy, recorder, duration
        self.tree = DogtagTree(KRA.base, KRA)
        self.nodes = [driver.add(KraNode(s, i, history, spec.directory_latency))
                      for i, s in enumerate(spec.instances)]
        self.by_name = {n.name: n for n in self.nodes}
        self.balancer = Balancer(spec.load_balancer)
        self.archived: list[tuple[int, int]] = []  # (key ID, owner): what clients were told
        self.archive_failures: dict[str, int] = {}
        self.recoveries: list[Recovery] = []
        self._arrivals = seeds.numpy("kra/recoveries")
        self._picks = seeds.numpy("kra/recovery-pick")
        self._approvals = seeds.numpy("kra/approvals")
        self._requests = 0
        self.requests_issued = 0  # KRA request IDs taken (archivals and recoveries)

    @property
    def master_replica(self) -> str:
        """The replica of the KRA master (where the forecast reads ``nextRange``)."""
        return self.spec.master.replica

    def issued(self, kind: IdKind) -> int:
        """Key IDs (archived keys) or KRA request IDs handed out so far."""
        return sum(n.archived for n in self.nodes) if kind is KEY else self.requests_issued

    # ------------------------------------------------------------ installation
    def install(self) -> None:
        """Every KRA exists when the run begins: the master's database, then
        each clone's range transfer from its donor and its start-up."""
        spec = self.spec
        overrides = spec.id_overrides()
        master = self.by_name[spec.master.name]
        configs = master_configs(self.strategy, host=master.name, subsystem=KRA,
                                 overrides={KEY: overrides, KEY_REQUEST: overrides})
        self.directory.bootstrap(self.tree.bootstrap(list(configs.values())))
        for node in self.nodes:
            source = "initial"
            if node.spec.donor is not None:
                donor = self.by_name[node.spec.donor]
                assert donor.repos is not None
                configs = self.driver.run(donor, donor.repos.transfer_to_clone(host=node.name))
                source = f"transfer:{donor.name}"
            self.driver.attach(node, KraRepositories(node.name, configs, self.tree,
                                                     streams=self.seeds.random, source=source))
            assert node.repos is not None
            self.driver.run(node, node.repos.start())
            self.directory.settle(now=0.0)
            node.serving = True
            self.balancer.add(node, in_pool=True)
            self.driver.note(node, Op.RESTART, OpType.OK, "KRA installed")

    def start(self) -> None:
        """The SimPy processes: update tasks, health checks, outages, recoveries."""
        env = self.env
        for node in self.nodes:
            env.process(self.update_task(node))
        env.process(self.balancer.health_checks(env))
        for outage in self.spec.outages:
            env.process(self.outage(self.by_name[outage.target], outage.at, outage.duration))
        if self.spec.recovery_rate > 0:
            env.process(self.recovery_arrivals())
        env.process(self.sample_space())

    def update_task(self, node: KraNode) -> Process:
        """The key-status update task: ``checkRanges`` for keys and requests every
        ``kra.keyStatusUpdateInterval`` seconds; failures are only logged."""
        interval = self.spec.update_interval
        if interval <= 0:
            return
        while True:
            yield self.env.timeout(interval)
            yield from self.driver.update_task_run(node)

    def outage(self, node: KraNode, at: float, duration: float) -> Process:
        """``node`` goes down at ``at`` (in-memory state lost) and restarts after
        ``duration``: its cache is reloaded from its own replica."""
        yield self.env.timeout(at - self.env.now)
        node.serving = False
        node.epoch += 1
        self.balancer.wake()
        self.driver.note(node, Op.CRASH, OpType.INFO, "KRA down")
        yield self.env.timeout(duration)
        assert node.repos is not None
        while True:
            node.repos.restart()  # the same generators go on (as a CA restarted by CaLife)
            try:
                yield from self.driver.drive(node, node.repos.start())
                break
            except (DirectoryUnavailable, AllocationError) as err:
                self.driver.note(node, Op.RESTART, OpType.FAIL, f"KRA failed to start: {err}")
                yield self.env.timeout(RESTART_DELAY)
        node.serving = True
        self.balancer.wake()
        self.driver.note(node, Op.RESTART, OpType.OK, "KRA restarted")

    # ------------------------------------------------------------ archival
    def archive(self, owner: int, t: float) -> str:
        """A CA forwards the key of enrollment ``owner`` over its connector:
        ``""`` when archived, else why it failed."""
        node = self.balancer.route(owner)
        if node is None or not node.serving or node.repos is None:
            return self._archive_failed("kra unavailable")
        try:
            request = self.driver.take(node, node.repos.request)
            stored = self.driver.store(node, node.repos.request, request)
            self.requests_issued += 1
            self.driver.record_issue(node, KEY_REQUEST, request,
                                     OpType.OK if stored.ok else OpType.FAIL, t)
            if not stored.ok:
                return self._archive_failed("kra request record exists")
            key = self.driver.take(node, node.repos.key)
        except AllocationError as err:
            self.driver.note(node, Op.ISSUE_KEY, OpType.FAIL, str(err), time=t)
            return self._archive_failed("key ids exhausted")
        added = self.directory.execute(self._key_record(key, owner), replica=node.replica, now=t)
        self.driver.record_issue(node, KEY, key, OpType.OK if added.ok else OpType.FAIL, t)
        if not added.ok:
            return self._archive_failed("key record exists" if added.code is
                                        p.ResultCode.ENTRY_ALREADY_EXISTS else "directory down")
        node.archived += 1
        self.archived.append((key, owner))
        return ""

    def _key_record(self, key: int, owner: int) -> p.Add:
        add = self.tree.record_add(KEY, key)
        return p.Add(add.dn, {**add.attrs, "description": (f"owner {owner}",)})

    def _archive_failed(self, cause: str) -> str:
        self.archive_failures[cause] = self.archive_failures.get(cause, 0) + 1
        return cause

    # ------------------------------------------------------------ recovery
    def recovery_arrivals(self) -> Process:
        """Recoveries arrive at ``recovery_rate`` for keys archived before."""
        rate = self.spec.recovery_rate
        while True:
            yield self.env.timeout(float(self._arrivals.exponential(1.0 / rate)))
            if self.env.now >= self.duration:
                return
            if not self.archived:
                continue
            key, owner = self.archived[int(self._picks.random() * len(self.archived))]
            self.env.process(self.recover(key, owner))

    def recover(self, key: int, owner: int) -> Process:
        """One recovery of ``key`` for ``owner``, asynchronous or synchronous."""
        spec, t0 = self.spec, self.env.now
        self._requests += 1
        client = -self._requests  # the requesting agent's own session
        node = self.balancer.route(client)
        if node is None or not node.serving or node.repos is None:
            self._done(t0, "fail", "no kra in rotation", key, None, None, 0)
            return
        try:
            rid = self.driver.take(node, node.repos.request)
        except AllocationError:
            self._done(t0, "fail", "request ids exhausted", key, node, None, 0)
            return
        self.requests_issued += 1
        self.driver.record_issue(node, KEY_REQUEST, rid, OpType.OK, t0)
        dn = self.tree.record_dn(KEY_REQUEST, rid)
        if spec.recovery == "sync":
            yield from self._recover_sync(t0, key, owner, node, rid, dn)
        else:
            yield from self._recover_async(t0, key, owner, node, rid, dn)

    def _agents(self, client: int) -> list[tuple[float, int]]:
        """Each agent's approval delay and balancer session."""
        delays = self._approvals.exponential(self.spec.approval_delay, self.spec.recovery_agents)
        return [(float(d), client * 1000 - i) for i, d in enumerate(delays)]

    def _recover_sync(self, t0: float, key: int, owner: int, node: KraNode, rid: int,
                      dn: str) -> Process:
        epoch = node.epoch
        for delay, session in self._agents(-rid):
            yield self.env.timeout(delay)
            if node.epoch != epoch or not node.serving:
                self._done(t0, "fail", "initiating KRA went down", key, node, None, 0)
                return
            target = self.balancer.route(session)
            if target is not node:
                self._done(t0, "fail", "approval reached another KRA", key, node, target, 0)
                return
        # the recovery is written to the directory only now, all approvals in
        self.directory.execute(p.Add(dn, self._request_attrs(rid, key, "complete")),
                               replica=node.replica, now=self.clock())
        self._finish(t0, key, owner, node, node, 0)

    def _recover_async(self, t0: float, key: int, owner: int, node: KraNode, rid: int,
                       dn: str) -> Process:
        stored = self.directory.execute(p.Add(dn, self._request_attrs(rid, key, "pending")),
                                        replica=node.replica, now=self.clock())
        if not stored.ok:
            self._done(t0, "fail", "recovery request record not stored", key, node, None, 0)
            return
        deadline = t0 + self.spec.recovery_timeout
        retries = 0
        last: KraNode | None = None
        for i, (delay, session) in enumerate(self._agents(-rid)):
            yield self.env.timeout(delay)
            while True:
                target = self.balancer.route(session)
                if target is not None and target.serving:
                    approved = self.directory.execute(
                        p.Modify(dn, (p.Mod(p.ModOp.ADD, "approvedBy", (f"agent{i + 1}",)),)),
                        replica=target.replica, now=self.clock())
                    if approved.ok:
                        last = target
                        break
                retries += 1
                if self.env.now + APPROVAL_RETRY > deadline:
                    self._done(t0, "fail", "approval found no request record", key, node,
                               target, retries)
                    return
                yield self.env.timeout(APPROVAL_RETRY)
        assert last is not None
        need = self.spec.recovery_agents
        poll = COMPLETION_POLL
        while True:  # the KRA of the last approval completes once every approval is there
            if last.serving:
                entry = self.directory.execute(p.Read(dn), replica=last.replica,
                                               now=self.clock()).entry
                if entry is not None and len(entry.get("approvedby", ())) >= need:
                    break
            if self.env.now >= deadline:
                self._done(t0, "fail", "approvals did not replicate in time", key, node, last,
                           retries)
                return
            yield self.env.timeout(min(poll, deadline - self.env.now))
            poll = min(2 * poll, MAX_POLL)
        self.directory.execute(p.Modify(dn, (p.Mod(p.ModOp.REPLACE, "requestState",
                                                   ("complete",)),)),
                               replica=last.replica, now=self.clock())
        self._finish(t0, key, owner, node, last, retries)

    def _request_attrs(self, rid: int, key: int, state: str) -> dict[str, tuple[str, ...]]:
        return {"objectclass": ("top", "request"), "cn": (str(rid),),
                "requestState": (state,), "description": (f"recovery of key {key}",)}

    def _finish(self, t0: float, key: int, owner: int, initiated: KraNode, completing: KraNode,
                retries: int) -> None:
        """Read the key record on the completing KRA's replica: its owner must be
        the requester."""
        found = self.directory.execute(p.Read(self.tree.record_dn(KEY, key)),
                                       replica=completing.replica, now=self.clock())
        got = p.attr_first(found.entry, "description")
        if got is None:
            self._done(t0, "fail", "key record not on this replica", key, initiated, completing,
                       retries)
        elif got != f"owner {owner}":
            self.driver.note(completing, Op.OTHER, OpType.FAIL,
                             f"key recovery returned the wrong key: key ID {hex(key)} of "
                             f"{got}, asked by owner {owner}")
            self._done(t0, "wrong-key", f"key {hex(key)} belongs to {got}", key, initiated,
                       completing, retries)
        else:
            self._done(t0, "ok", "", key, initiated, completing, retries)

    def _done(self, t0: float, outcome: str, cause: str, key: int, initiated: KraNode | None,
              completing: KraNode | None, retries: int) -> None:
        self.recoveries.append(Recovery(
            t0, self.env.now, self.spec.recovery, outcome, cause, key,
            "" if initiated is None else initiated.name,
            "" if completing is None else completing.name, retries))

    # ------------------------------------------------------------ the ID space table
    def sample_space(self) -> Process:
        """Rows of the run's space table for the KRAs' key and request IDs."""
        interval = max(60.0, self.duration / 500)
        while True:
            self.record_space()
            yield Tick(self.env, interval, OBSERVER)  # reads only what no window changes

    def record_space(self) -> None:
        t = self.clock()
        for node in self.nodes:
            if node.repos is None:
                continue
            for kind in (KEY, KEY_REQUEST):
                repo = node.repos[kind]
                state = repo.state
                issued = node.archived if kind is KEY else 0
                self.recorder.space.append((t, node.name, kind.value, issued,
                                            float(repo.remaining()), 0, state.begin, state.end,
                                            state.next_begin, state.next_end))


def kra_verdict(kra: KraService, history: History) -> dict[str, Any]:
    """The KRA checkers: key IDs and KRA request IDs unique, and no recovery
    returned someone else's key.  Range invariants of key IDs are checked with
    every other ID space's (:func:`pkisim.history.check_ranges`)."""
    keys = check_unique(history, Op.ISSUE_KEY)
    requests = check_unique(history, Op.ISSUE_KEY_REQUEST)
    outcomes: dict[str, int] = {}
    causes: dict[str, int] = {}
    latencies = sorted(r.end - r.start for r in kra.recoveries if r.outcome == "ok")
    for r in kra.recoveries:
        outcomes[r.outcome] = outcomes.get(r.outcome, 0) + 1
        if r.cause and r.outcome == "fail":
            causes[r.cause] = causes.get(r.cause, 0) + 1
    wrong = outcomes.get("wrong-key", 0)
    return {
        "valid": keys.valid and requests.valid and not wrong,
        "explanations": [str(w) for w in explain_duplicates(history, keys, limit=10)],
        "key_ids": keys.to_dict(),
        "request_ids": requests.to_dict(),
        "archived": len(kra.archived),
        "archive_failures": dict(sorted(kra.archive_failures.items())),
        "recovery": {"mode": kra.spec.recovery, "agents": kra.spec.recovery_agents,
                     "outcomes": dict(sorted(outcomes.items())),
                     "failures": dict(sorted(causes.items())),
                     "wrong_keys": wrong,
                     "latency_median": latencies[len(latencies) // 2] if latencies else None,
                     "latency_max": latencies[-1] if latencies else None},
    }


__all__ = ["APPROVAL_RETRY", "COMPLETION_POLL", "MAX_POLL", "KraNode", "KraService", "Recovery",
           "kra_verdict"]
