"""Quiet windows of the fast lane, computed in one go.

Between two SimPy events (faults, update-task runs, health checks, samples, ...)
the request path of a healthy topology is a fixed recursion: enrollments
arrive, the round-robin balancer hands them out in turn, each CA's worker pool
is first-come first-served (Kiefer-Wolfowitz: a request starts at
``max(arrival, earliest free worker)``), the request ID is taken when a worker
picks the request up and the serial when it signs.  :meth:`Batch.window` does
that for every request of the window with one tight loop per CA and numpy for
the rest, and produces *exactly* what the event-by-event lane would have:

* the same draws from the same streams, in the same order per stream;
* every lane event's place in time order, including ties: the lane orders
  events by ``(time, sequence number)``, and the window hands out the sequence
  numbers the lane's pushes would have had (an arrival pushes the next arrival,
  then a start if the request waits, then its completion);
* the same IDs (consecutive numbers per CA, in start and completion order),
  history rows, request rows, directory records, counters, and the same events
  left in the lane for after the window (requests still waiting or in service).

CRL fetches take a worker like enrollments and are served at their
completion, in lane order (the CRL CA's latest generation; another CA reads the
record in its replica, with the replication that arrived there).  A revocation
picks, when it arrives, one of the serials signed before it, takes a request ID
when a worker picks it up and marks the certificate record revoked at its
completion.  Routing is round-robin, sticky (a client keeps its host while it
is in rotation) or least-outstanding (each arrival goes to the host with the
fewest requests in progress, completions counted off in time order: one
sequential loop over the window's arrivals).  Arrivals are Poisson (diurnal,
bursts) or a replayed trace.

The window's records are added as runs (one per CA and container): with one
directory replica in O(1); with several as record runs
(:meth:`~pkisim.directory.runs.RecordRuns.add_record_runs`), each CRL fetch
reading its replica at its place between the adds.  A revocation writes to its
replica: of a settled record (on every replica, nothing in flight touches it),
at its place between the adds too, its change travelling between the runs'
records; of any other, the runs stop before it, it is made as the lane makes
it, and the runs go on after it.

A window is bounded by the next SimPy event, except the events of periodic
tasks it can go past; SimPy steps those after it, at their own times:

* update-task runs that are *quiet*: the CA serves with its cache loaded, no
  claim is due, so a run does nothing or searches for range-conflict entries,
  and none can be found (none was made, no entry other than records is being
  added or deleted in flight), as long as the window's issuances leave every
  such run doing the same (the same draws, the same searches, nothing recorded);
* the space sampler's runs (:mod:`pkisim.sim.space`): the window tells it what
  it issued at or after each sample's time, and the row is what it was then;
* observers that read nothing a window changes (the KRAs' space table, the
  progress callback);
* the periodic CRL generations (:class:`~pkisim.sim.crl.GenerationLoop`): the
  window makes each one at its place among the request events (its directory
  write between the record runs, its history row between the issue rows; the
  CRL fetches after it serve it), looking at the generation-time draws without
  taking them; SimPy skips it when its timeout comes.  Not with an OCSP
  publisher or cache rebuilds (they start SimPy work).

A run that would change, or any other SimPy event, bounds the window; a window
past SimPy events that cannot be taken whole is tried again up to the first of
them.

It only runs when that is certain; otherwise it changes nothing and returns
``None``, and the lane handles the window event by event.  An event it cannot
take (a retry, an enrollment with key archival, a request of a crashed CA, a
revocation that picks a serial signed in the window or whose record has not
reached its replica, an issuance that would switch ranges, run out or change
what the CA's update task does) ends the window early: it processes the events
before it and the lane handles that one before asking again.  It declines when a
client would give up, a CA would crash, when a record number of the window is
already anywhere in the directory or in flight (a duplicate: the lane reports
it), when a CRL fetch would find no CRL, when a completion falls at the very
time of an arrival under least-outstanding routing, or the strategy allocates
through the directory (RSNv3, DNA); and, for speed only, for windows of fewer
than :data:`MIN_EVENTS` events (:data:`MIN_EVENTS_REPLICATED` on a replicated
directory), during heavy replication backlogs, and for a few windows after one
it declined.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING

from pkisim.history.history import History
from pkisim.ids.config import IdKind
from pkisim.ids.tree import DogtagTree, record_attrs
from pkisim.sim.config import Scenario
from pkisim.sim.crl import GenerationLoop
from pkisim.sim.lane import OBSERVER, Item, Lane
from pkisim.sim.metrics import Recorder
from pkisim.sim.requests import ARRIVE, DONE, START, RequestFlow
from pkisim.sim.window import WindowPlan
from pkisim.sim.workload import CRL_FETCH, ENROLL, REVOKE, PoissonArrivals, TraceArrivals

if TYPE_CHECKING:
    from pkisim.directory.memory import ReplicatedDirectory
    from pkisim.sim.balancer import Balancer
    from pkisim.sim.ca import CaNode
    from pkisim.sim.space import SpaceSampler

#: Windows with fewer arrivals and due events than this go event by event.
MIN_EVENTS = 16
#: The same on a replicated directory, where a window adds its records one by
#: one like the lane (measured: shorter windows cost more than they save).
MIN_EVENTS_REPLICATED = 64
#: After a window that could not be batched, the next 1, 2, 4, ... (at most
#: this many) windows go event by event without trying (results never depend on it).
MAX_BACKOFF = 16
#: Short prefixes in a row after which the batch backs off too.
MAX_SHORT = 8
#: Replicated changes in flight above which a window is not batched.
MAX_IN_FLIGHT = 256


class Batch:
    """Computes quiet windows of ``lane`` for the requests of ``flow``.

    It reads the lane through its snapshot (:meth:`Lane.due`,
    :meth:`Lane.next_seq`) and writes it back with :meth:`Lane.commit`; it
    moves ``balancer``'s cursor (and sticky assignments), issues runs of
    numbers from the CAs' repositories (``nodes``, in index order), adds their
    records to ``directory``, serves CRLs through the flow's CRL service and
    records everything in ``history`` and ``recorder``.
    """

    def __init__(self, scenario: Scenario, flow: RequestFlow, *, lane: Lane, balancer: Balancer,
                 nodes: Sequence[CaNode], directory: ReplicatedDirectory, history: History,
                 recorder: Recorder, tree: DogtagTree,
                 sampler: SpaceSampler | None = None) -> None:
        self.flow, self.lane, self.balancer, self.nodes = flow, lane, balancer, nodes
        self.sampler = sampler
        self.directory, self.history, self.recorder = directory, history, recorder
        kind, source = flow.streams[0]
        self.stream = flow.streams[0]
        #: the streams a window takes: enrollments, revocations (unless each one
        #: starts a CRL generation) and CRL fetches (unless redirected)
        self.streams = [self.stream] + [
            s for s in flow.streams[1:]
            if (s[0] == CRL_FETCH and not flow.redirect)
            or (s[0] == REVOKE and not scenario.crl.always_update)]
        self.kinds = {s[0] for s in self.streams}
        self.sticky = scenario.load_balancer.policy == "sticky"
        self.least_outstanding = scenario.load_balancer.policy == "least-outstanding"
        self.enabled = (kind == ENROLL and isinstance(source, PoissonArrivals | TraceArrivals)
                        and not flow.on_demand and flow.refuse is None)
        self.windows = 0  # windows computed here (for the benchmark)
        self.batched_events = 0  # lane events those windows stood for
        self.revoked = 0  # revocations those windows completed
        self.record_runs = 0  # stretches of a replicated window added as record runs
        self.run_writes = 0  # revocations written between the adds of record runs
        self.past_runs = 0  # windows that went past SimPy events
        self.generations_made = 0  # CRL generations those windows made
        self.samples_passed = 0  # space samples they went past
        self.bases = (tree.records_dn(IdKind.REQUEST), tree.records_dn(IdKind.CERT))
        self.attrs = {self.bases[0]: partial(record_attrs, IdKind.REQUEST),
                      self.bases[1]: partial(record_attrs, IdKind.CERT)}
        self.one_replica = len(scenario.directory.replicas) == 1
        self.min_events = MIN_EVENTS if self.one_replica else MIN_EVENTS_REPLICATED
        self._skip, self._backoff, self._shorts = 0, 1, 0
        self._cut = math.inf  # where the last window stopped
        self._small = False
        self.passed: set[int] = set()  # CAs whose quiet update-task runs a window passes
        self.samples: list[float] = []  # the space samples it passes (their times)
        #: the CRL generations it makes: (time, loop), in time order
        self.generations: list[tuple[float, GenerationLoop]] = []
        self.near = math.inf  # the next SimPy event when the window began
        self._conflict_free: bool | None = None

    # ------------------------------------------------------------ the window
    def window(self, horizon: float) -> tuple[int, float] | None:
        """Process every lane event before ``horizon`` at once, or return
        ``None`` (having changed nothing) if that cannot be done exactly.
        Returns the number of lane events it stood for and the time up to
        which the lane handles events itself: when an event it cannot take is
        due, it processes only the events before it (maybe none), and the lane
        handles that one (and any others at its time) before asking again."""
        if not self.enabled:
            return None
        if self._skip:  # recent windows could not be batched: try again later
            self._skip -= 1
            return None
        self._small = False
        far = self._reach(horizon)
        self._cut = far
        done = self._window(far, horizon)
        if done:
            self._backoff, self._shorts = 1, 0
        elif done == 0 and self._shorts < MAX_SHORT:
            # only a short prefix before an event the lane takes (a revocation
            # that cannot be taken, a retry): ask again right after it, since
            # skipping would leave the rest of the drain to the lane event by
            # event; but not for ever (a burst of retries would scan the lane's
            # events once per event)
            self._shorts += 1
        elif done == 0 or not self._small:  # declined, or short again and again: back off
            self._skip, self._backoff = self._backoff, min(2 * self._backoff, MAX_BACKOFF)
            self._shorts = 0
        return None if done is None else (done, self._cut)

    def _reach(self, horizon: float) -> float:
        """How far a window may go: past ``horizon`` (the next SimPy event)
        up to the first SimPy event it cannot go past (:meth:`_passable`), at
        most the lane's cap.  :attr:`passed` holds the CAs whose update-task
        runs it passes (a window past them must not change what their runs
        do: :func:`~pkisim.sim.window.replans`), :attr:`samples` the times of
        the space samples it passes."""
        self.passed: set[int] = set()
        self.samples = []
        self.generations = []
        self._conflict_free = None
        cap = self.lane.cap
        if horizon >= cap:
            return horizon
        events = self.lane.ahead(cap)
        quiet: dict[int, bool] = {}
        generations: list[tuple[float, GenerationLoop]] = []
        far = cap
        for when, owner in events:
            if when < far:
                key = id(owner)
                ok = quiet.get(key)
                if ok is None:
                    if isinstance(owner, GenerationLoop):
                        made = self.flow.crl.ahead(owner, when, cap)
                        if made is not None:
                            generations += [(t, owner) for t in made[0]]
                            far = min(far, made[1])
                        ok = made is not None
                    else:
                        ok = self._passable(owner)
                    quiet[key] = ok
                if not ok:
                    far = when
        if far <= horizon:
            return horizon
        cas = {id(node) for node in self.nodes}
        self.passed = {owner.index for when, owner in events  # type: ignore[union-attr]
                       if when < far and id(owner) in cas}
        self.generations = sorted((g for g in generations if g[0] < far), key=lambda g: g[0])
        if self.sampler is not None:
            first = min((when for when, owner in events if owner is self.sampler), default=far)
            self.samples = self.sampler.runs(first, far)
        return far

    def _passable(self, owner: object) -> bool:
        """May a window go past the runs of ``owner``'s periodic task?  Those
        of the space sampler (the window tells it what it issued after each
        sample's time), of an :data:`~pkisim.sim.lane.OBSERVER`, and of a CA's
        update task when they are quiet (:meth:`_quiet`)."""
        if owner is None:
            return False
        if owner is OBSERVER or owner is self.sampler:
            return True
        return self._quiet(owner)

    def _quiet(self, owner: object) -> bool:
        """Is ``owner`` one of the CAs whose update-task runs change nothing,
        whenever they run in a window?  It serves with its cache loaded and no
        claim due (a run only looks for range conflicts, or does nothing), no
        window issuance may change that (:func:`~pkisim.sim.window.replans`), and no range
        conflict entry can be found: none was made, none can be being made
        (no entry other than records added or deleted in flight)."""
        nodes = self.nodes
        index = getattr(owner, "index", None)
        if index is None or index >= len(nodes) or nodes[index] is not owner:
            return False
        node = nodes[index]
        repos = node.repos
        if not node.serving or repos is None:
            return False
        if any(repo.plan()[:2] != (False, False) for repo in (repos.cert, repos.request)):
            return False
        if self._conflict_free is None:
            directory = self.directory
            self._conflict_free = (not directory.conflicts
                                   and directory.in_flight() <= MAX_IN_FLIGHT
                                   and not directory.entry_writes_in_flight())
        return self._conflict_free

    def _takes(self, item: Item) -> bool:
        """Can a window handle this lane event?"""
        code = item[2]
        if code == ARRIVE:
            return item[3] in self.streams
        if code in (START, DONE):
            req = item[3]
            return not (req.kind not in self.kinds or req.gave_up or req.failed or req.archival
                        or req.ca is None or req.ca.epoch != req.epoch)
        return False

    def _window(self, horizon: float, near: float) -> int | None:
        """A window up to ``horizon``; ``near`` is the next SimPy event (a
        window past it goes past quiet update-task runs only)."""
        if not self.one_replica and self.directory.in_flight() > MAX_IN_FLIGHT:
            return None  # a partition or a lag spike: checking what is in flight costs too much
        self.near = near
        due = self.lane.due(horizon)
        if not due:
            return None
        whole = horizon
        # a prefix of the window: everything before the first event the batch
        # cannot take (a retry, an enrollment with key archival, a revocation
        # when each one starts a CRL generation, ...), which the lane then
        # handles on its own before the next window
        for item in due:
            if item[0] < horizon and not self._takes(item):
                horizon = item[0]
        flow = self.flow
        if flow.archival_fraction:
            for item in due:
                if item[2] == ARRIVE and item[3] is self.stream and item[0] < horizon:
                    rest = self.stream[1].ahead(horizon)[0]
                    draws = flow.archival.ahead(1 + len(rest))
                    for t, u in zip([item[0], *rest], draws, strict=True):
                        if u < flow.archival_fraction:
                            horizon = min(horizon, t)
                            break
        while True:
            arrivals: list[Item] = []
            old: list[Item] = []
            for item in due:
                if item[0] >= horizon:
                    continue
                if item[2] == ARRIVE:
                    arrivals.append(item)
                else:
                    old.append(item)
            self._cut = horizon
            plan = WindowPlan(self, horizon, arrivals, old)
            if plan.feasible():
                break
            if plan.small and horizon < whole:
                return 0  # a short prefix: the lane takes the next event, then a window again
            if plan.stop < horizon or horizon > near:
                # a revocation the lane must take: the window before it; or a
                # window past SimPy events that cannot be taken whole: the
                # window up to the first of them
                horizon = plan.stop if plan.stop < horizon else near
                if horizon <= near:
                    self.passed = set()
                continue
            self._small = plan.small
            return None
        plan.commit()
        self.past_runs += horizon > near
        self.windows += 1
        self.batched_events += plan.events
        self.revoked += len(plan.revokes)
        self.generations_made += len(plan.gens)
        self.samples_passed += sum(1 for t in self.samples if t < horizon)
        return plan.events


__all__ = ["Batch"]
