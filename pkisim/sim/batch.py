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

With one directory replica a CA's records of the window are added as one
run (O(1)); with several, one by one in lane order, each after pulling in the
replication that arrived, as the lane's ``Add`` does.

It only runs when that is certain; otherwise it changes nothing and returns
``None``, and the lane handles the window event by event.  It declines when
anything but enrollments is due, when a client would give up, a CA would
crash, run out of its current range or switch ranges, when a record number of
the window is already anywhere in the directory or in flight (a duplicate:
the lane reports it), when the balancer is not round-robin, key archival is
on, or the strategy allocates through the directory (RSNv3, DNA); and, for
speed only, for windows of fewer than :data:`MIN_EVENTS` events, during heavy
replication backlogs, and for a few windows after one it declined.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial
from heapq import heapreplace
from typing import TYPE_CHECKING, Any

import numpy as np

from pkisim.history.history import History, Op, OpType
from pkisim.ids.config import IdKind
from pkisim.ids.repository import Repository
from pkisim.ids.tree import DogtagTree, record_attrs
from pkisim.sim.config import Scenario
from pkisim.sim.lane import Item, Lane
from pkisim.sim.metrics import OK, Recorder
from pkisim.sim.requests import ARRIVE, DONE, START, Request, RequestFlow
from pkisim.sim.workload import ENROLL, PoissonArrivals

if TYPE_CHECKING:
    from pkisim.directory.memory import ReplicatedDirectory
    from pkisim.sim.balancer import Balancer
    from pkisim.sim.ca import CaNode

_U64 = 1 << 63
#: Windows with fewer arrivals and due events than this go event by event.
MIN_EVENTS = 48
#: After a window that could not be batched, the next 1, 2, 4, ... (at most
#: this many) windows go event by event without trying (results never depend on it).
MAX_BACKOFF = 16
#: Replicated changes in flight above which a window is not batched.
MAX_IN_FLIGHT = 256


class Batch:
    """Computes quiet windows of ``lane`` for the requests of ``flow``.

    It reads the lane through its snapshot (:meth:`Lane.due`,
    :meth:`Lane.next_seq`) and writes it back with :meth:`Lane.commit`; it
    moves ``balancer``'s round-robin cursor, issues runs of numbers from the
    CAs' repositories (``nodes``, in index order), adds their records to
    ``directory`` and records them in ``history`` and ``recorder``.
    """

    def __init__(self, scenario: Scenario, flow: RequestFlow, *, lane: Lane, balancer: Balancer,
                 nodes: Sequence[CaNode], directory: ReplicatedDirectory, history: History,
                 recorder: Recorder, tree: DogtagTree) -> None:
        self.flow, self.lane, self.balancer, self.nodes = flow, lane, balancer, nodes
        self.directory, self.history, self.recorder = directory, history, recorder
        kind, source = flow.streams[0]
        self.stream = flow.streams[0]
        self.others = [s for s in flow.streams[1:]]
        self.enabled = (kind == ENROLL and isinstance(source, PoissonArrivals)
                        and scenario.load_balancer.policy == "round-robin"
                        and not flow.archival_fraction and not flow.on_demand)
        self.windows = 0  # windows computed here (for the benchmark)
        self.batched_events = 0  # lane events those windows stood for
        self.bases = (tree.records_dn(IdKind.REQUEST), tree.records_dn(IdKind.CERT))
        self.attrs = {self.bases[0]: partial(record_attrs, IdKind.REQUEST),
                      self.bases[1]: partial(record_attrs, IdKind.CERT)}
        self.one_replica = len(scenario.directory.replicas) == 1
        self._skip, self._backoff = 0, 1
        self._small = False

    # ------------------------------------------------------------ the window
    def window(self, horizon: float) -> int | None:
        """Process every lane event before ``horizon`` at once, or return
        ``None`` (having changed nothing) if that cannot be done exactly.
        Returns the number of lane events it stood for."""
        if not self.enabled:
            return None
        if self._skip:  # recent windows could not be batched: try again later
            self._skip -= 1
            return None
        self._small = False
        done = self._window(horizon)
        if done is not None:
            self._backoff = 1
        elif not self._small:  # a short window says nothing about the next ones
            self._skip, self._backoff = self._backoff, min(2 * self._backoff, MAX_BACKOFF)
        return done

    def _window(self, horizon: float) -> int | None:
        if not self.one_replica and self.directory.in_flight() > MAX_IN_FLIGHT:
            return None  # a partition or a lag spike: checking what is in flight costs too much
        due = self.lane.due(horizon)
        if not due:
            return None
        arrival_item = None
        old: list[Item] = []
        for item in due:
            code = item[2]
            if code == ARRIVE:
                if item[3] is not self.stream:
                    return None
                arrival_item = item
            elif code in (START, DONE):
                req = item[3]
                if (req.kind != ENROLL or req.gave_up or req.failed or req.archival
                        or req.ca is None or req.ca.epoch != req.epoch):
                    return None
                old.append(item)
            else:
                return None
        plan = _Plan(self, horizon, arrival_item, old)
        if not plan.feasible():
            self._small = plan.small
            return None
        plan.commit()
        self.windows += 1
        self.batched_events += plan.events
        return plan.events


class _Plan:
    """One window, computed without side effects, then committed."""

    def __init__(self, batch: Batch, horizon: float, arrival_item: Any,
                 old: list[tuple[float, int, int, Request]]) -> None:
        self.batch = batch
        self.flow = batch.flow
        self.horizon = horizon
        self.arrival_item = arrival_item
        self.old = old
        self.events = 0
        self.small = False  # declined only because the window is short

    def feasible(self) -> bool:
        batch, flow, horizon = self.batch, self.flow, self.horizon
        lb = batch.balancer
        pool = lb.pool
        source = self.batch.stream[1]
        if self.arrival_item is not None:
            rest, following = source.ahead(horizon)
            arrivals = [self.arrival_item[0], *rest]
            if not pool:
                return False
        else:
            arrivals, following = [], math.inf
        m = len(arrivals)
        if m + len(self.old) < MIN_EVENTS:
            self.small = True
            return False  # not worth it: numpy's fixed costs would dominate
        self.m, self.following = m, following
        nodes: dict[int, CaNode] = {node.index: node for node in pool}
        for item in self.old:
            nodes[item[3].ca.index] = item[3].ca
        for node in nodes.values():
            cert, request = node.cert_repo, node.request_repo
            if (not node.serving or cert is None or request is None
                    or not (_sequential(cert) and _sequential(request))):
                return False
        self.nodes = nodes
        # arrivals: clients, routing, each CA's worker pool (on copies)
        timeout = flow.timeout
        clients = flow.clients.ahead(m)
        n = len(pool)
        i0 = lb.cursor
        node_of = [pool[(i0 + k) % n] for k in range(min(m, n))]
        st = np.empty(m, dtype=np.float64)
        en = np.empty(m, dtype=np.float64)
        frees: dict[int, list[float]] = {}
        served: dict[int, int] = {}
        for j, node in enumerate(node_of):
            mine = arrivals[j::n]
            service = node.service[ENROLL].ahead(len(mine))
            free = node.free.copy()
            starts: list[float] = []
            keep = starts.append
            for t, s in zip(mine, service, strict=True):  # Kiefer-Wolfowitz
                first = free[0]
                if first > t:
                    t = first
                heapreplace(free, t + s)
                keep(t)
            st[j::n] = starts
            en[j::n] = service
            frees[node.index] = free
            served[node.index] = len(mine)
        en += st  # the same additions as in the loop
        a = np.array(arrivals, dtype=np.float64)
        if m and (en - a > timeout).any():
            return False  # a client gives up: the lane handles that
        self.clients, self.node_of, self.i0, self.frees, self.served = (
            clients, node_of, i0, frees, served)
        # the lane's sequence numbers for the new events
        waits = st != a
        has_next = np.ones(m, dtype=np.int64)
        if m and following == math.inf:
            has_next[-1] = 0
        seq0 = batch.lane.next_seq()
        inc = has_next + waits + 1
        c = seq0 + np.concatenate(([0], np.cumsum(inc)[:-1])) if m else np.zeros(0, np.int64)
        seq_arrive = np.empty(m, dtype=np.int64)
        if m:
            seq_arrive[0] = self.arrival_item[1]
            seq_arrive[1:] = c[:-1]
        seq_start = c + has_next
        seq_done = seq_start + waits
        self.seq_end = int(c[-1] + inc[-1]) if m else seq0
        self.seq_arrive, self.seq_start, self.seq_done = seq_arrive, seq_start, seq_done
        self.a, self.st, self.en, self.waits = a, st, en, waits
        ca_new = np.array([node.index for node in node_of], dtype=np.int64)
        ca_new = np.resize(ca_new, m) if m else np.zeros(0, np.int64)
        self.ca_new = ca_new
        # every begin and completion before the horizon, in lane order
        old = self.old
        old_start = np.array([item[2] == START for item in old], dtype=bool)
        old_t = np.array([item[0] for item in old], dtype=np.float64)
        old_seq = np.array([item[1] for item in old], dtype=np.int64)
        old_ca = np.array([item[3].ca.index for item in old], dtype=np.int64)
        begins = st < horizon
        dones = en < horizon
        b_seq = np.where(waits, seq_start, seq_arrive)
        # rows: [new begins][new dones][old items]; request index: new k, old m + i
        idx_new = np.arange(m)
        times = np.concatenate((st[begins], en[dones], old_t))
        seqs = np.concatenate((b_seq[begins], seq_done[dones], old_seq))
        is_done = np.concatenate((np.zeros(begins.sum(), bool), np.ones(dones.sum(), bool),
                                  ~old_start))
        who = np.concatenate((idx_new[begins], idx_new[dones], m + np.arange(len(old))))
        cas = np.concatenate((ca_new[begins], ca_new[dones], old_ca))
        order = np.lexsort((seqs, times))
        self.times, self.is_done, self.who, self.cas = (times[order], is_done[order],
                                                        who[order], cas[order])
        # old START items still complete later (their DONE stays in the lane, or is due)
        self.events = m + int((waits & begins).sum()) + len(old) + int(dones.sum())
        bases = self.batch.bases
        # numbers, store latencies, crash and directory checks: one group per
        # (CA, begin or completion), in lane order within the group
        times = self.times
        total = len(times)
        key = self.cas * 2 + self.is_done
        grouped = np.argsort(key, kind="stable")
        counts = np.bincount(key, minlength=2 * len(batch.nodes))
        stops = np.cumsum(counts)
        rank = np.empty(total, np.int64)
        rank[grouped] = np.arange(total) - np.repeat(stops - counts, counts)
        firsts = np.zeros(len(counts), np.int64)
        latency = np.zeros(total, np.float64)
        self.per_node: list[tuple[CaNode, int, int, float, float]] = []
        runs: list[tuple[str, str, int, int]] = []
        lasts = times[grouped[stops - 1]] if total else times
        for index, node in nodes.items():
            done_group = 2 * index + 1
            for group, repo in ((done_group - 1, node.request_repo), (done_group, node.cert_repo)):
                k = int(counts[group])
                if k and not repo.run_fits(k):
                    return False  # a switch or exhaustion: the lane handles it
                firsts[group] = repo.last + 1
                if k and node.update_wake is not None and _wakes(repo, k):
                    return False  # the update task would run mid-window: the lane's
            k = int(counts[done_group])
            if k:
                rows = grouped[stops[done_group] - k:stops[done_group]]
                draws = node.store_latency
                latency[rows] = draws.constant if draws.constant is not None else draws.ahead(k)
                if node.next_crash < float((times[rows] + latency[rows]).max()):
                    return False  # a crash could lose a certificate: the lane handles it
            n_begin, n_done = int(counts[done_group - 1]), k
            for group, size, base in ((done_group - 1, n_begin, bases[0]),
                                      (done_group, n_done, bases[1])):
                if size:
                    first = int(firsts[group])
                    runs.append((node.replica, base, first, first + size - 1))
            self.per_node.append((
                node, n_begin, n_done,
                float(lasts[done_group - 1]) if n_begin else 0.0,
                float(lasts[done_group]) if n_done else 0.0))
        if runs and not batch.directory.can_add_records(runs, batch.attrs):
            return False
        self.numbers = firsts[key] + rank
        self.replies = times + latency
        return True

    def commit(self) -> None:
        batch, flow, m = self.batch, self.flow, self.m
        horizon = self.horizon
        # the streams
        if m:
            batch.stream[1].skip(m)
            flow.clients.skip(m)
            batch.balancer.advance(m)
        for node in self.node_of:
            node.service[ENROLL].skip(self.served[node.index])
            node.free = self.frees[node.index]
        first_id = flow.next_id
        flow.next_id += m
        # the CAs: numbers, records, counters
        directory = batch.directory
        bases = batch.bases
        one_replica = batch.one_replica
        for node, n_begin, n_done, last_begin, last_done in self.per_node:
            if n_begin:
                first = node.request_repo.issue_run(n_begin)
                if one_replica:
                    directory.add_records(node.replica, bases[0], first, first + n_begin - 1,
                                          last_begin)
                node.issued_requests += n_begin
            if n_done:
                first = node.cert_repo.issue_run(n_done)
                if one_replica:
                    directory.add_records(node.replica, bases[1], first, first + n_done - 1,
                                          last_done)
                node.issued_certs += n_done
                node.store_latency.skip(n_done)
            node.outstanding += self.served.get(node.index, 0) - n_done
        if not one_replica:  # replicated: each add in lane order, as the lane would
            replicas = [node.replica for node in batch.nodes]
            directory.add_record_sequence(
                (replicas[ca], bases[done], n, t) for ca, done, n, t in zip(
                    self.cas.tolist(), self.is_done.tolist(), self.numbers.tolist(),
                    self.times.tolist(), strict=True))
        # the history, in lane order
        pids = np.array([node.pid for node in batch.nodes], dtype=np.int64)
        rids = np.array([node.rid for node in batch.nodes], dtype=np.int64)
        is_done = self.is_done
        batch.history.issue_block(
            self.times, pids[self.cas], np.where(is_done, int(Op.ISSUE_CERT),
                                                 int(Op.ISSUE_REQUEST)),
            self.numbers, np.full(len(self.times), int(OpType.OK)), rids[self.cas])
        # the request rows of the completions, in lane order
        done_rows = np.flatnonzero(is_done)
        who = self.who[done_rows]
        old = [item[3] for item in self.old]
        ids = first_id + np.arange(m)
        clients = np.array(self.clients, dtype=np.int64)
        attempts = np.zeros(m, np.int64)
        arrivals, starts = self.a, self.st
        if old:
            ids = np.concatenate((ids, [req.id for req in old]))
            clients = np.concatenate((clients, [req.client for req in old]))
            attempts = np.concatenate((attempts, [req.attempt for req in old]))
            arrivals = np.concatenate((arrivals, [req.arrival for req in old]))
            starts = np.concatenate((starts, [req.start for req in old]))
        if len(who):
            batch.recorder.request_block(
                ids[who], clients[who], ENROLL, attempts[who], arrivals[who], starts[who],
                self.replies[done_rows], self.cas[done_rows], OK)
        if flow.track_serials:
            flow.issued_serials.extend(self.numbers[done_rows].tolist())
        # what the window leaves in the lane: new starts and completions, the next arrival
        added: list[Item] = []
        later = np.flatnonzero(self.en >= horizon)
        if len(later):
            st, en = self.st, self.en
            for k in later.tolist():
                node = self.node_of[k % len(self.node_of)]
                req = Request(first_id + k, self.clients[k], ENROLL, 0, float(self.a[k]))
                req.ca, req.epoch, req.start = node, node.epoch, float(st[k])
                if st[k] >= horizon:
                    added.append((float(st[k]), int(self.seq_start[k]), START, req))
                added.append((float(en[k]), int(self.seq_done[k]), DONE, req))
        if m and self.following < math.inf:  # pushed while the last arrival was processed
            added.append((self.following, int(self.seq_start[m - 1]) - 1, ARRIVE,
                         batch.stream))
        batch.lane.commit(horizon, added, self.seq_end)


def _wakes(repo: Repository, count: int) -> bool:
    """Would ``count`` more numbers from ``repo`` make its update task due
    (``check_due``), waking an update task that sleeps (:mod:`pkisim.sim.ca`)?"""
    last = repo.last
    assert last is not None
    repo.last = last + count
    try:
        return repo.check_due()
    finally:
        repo.last = last


def _sequential(repo: Repository) -> bool:
    """Does ``repo`` hand out ``last + 1, last + 2, ...`` without I/O (Dogtag's
    sequential ``getNextSerialNumber``, not RSNv1/RSNv3), loaded, 64-bit?"""
    return repo.run_fits(0) and repo.end < _U64


__all__ = ["Batch"]
