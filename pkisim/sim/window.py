"""One batched window: what the lane would do with every event due before a
horizon, planned without side effects, then committed.

:class:`~pkisim.sim.batch.Batch` decides where windows go and how far (the
module text there says what a window computes and when it declines);
:class:`WindowPlan` is the computation: the arrivals of every stream, the
routes, each CA's worker pool, the lane sequence numbers, the IDs, the
revocations' picks, the checks that make it exact, and the commit that moves
streams, repositories, the directory, the history and the lane.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Iterator
from functools import partial
from heapq import heapify, heappop, heappush, heapreplace
from typing import TYPE_CHECKING

import numpy as np

from pkisim.directory.runs import Read, Write
from pkisim.history.history import Op, OpType
from pkisim.ids.config import IdKind
from pkisim.ids.repository import Repository
from pkisim.sim.lane import Item
from pkisim.sim.metrics import OK
from pkisim.sim.requests import ARRIVE, DONE, START, Request
from pkisim.sim.workload import CRL_FETCH, ENROLL, REVOKE

if TYPE_CHECKING:
    from pkisim.sim.batch import Batch
    from pkisim.sim.ca import CaNode
    from pkisim.sim.crl import GenerationLoop

_U64 = 1 << 63
#: A replicated stretch with fewer adds than MIN_RUN_ADDS plus RUN_ADDS_PER_WRITE
#: per revocation goes one by one: record runs cost more than they save there.
MIN_RUN_ADDS, RUN_ADDS_PER_WRITE = 96, 24


class WindowPlan:
    """One window of :class:`~pkisim.sim.batch.Batch`, computed without side
    effects (:meth:`feasible`), then committed (:meth:`commit`)."""

    def __init__(self, batch: Batch, horizon: float, arrival_items: list[Item],
                 old: list[Item]) -> None:
        self.batch = batch
        self.flow = batch.flow
        self.horizon = horizon
        self.arrival_items = arrival_items
        self.old = old
        self.events = 0
        self.small = False  # declined only because the window is short
        self.stop = horizon  # declined because of an event at this time: the window before it

    def _arrivals(self) -> bool:
        """The window's arrivals of every stream, merged in lane order: times,
        kinds, stream of each, the lane sequence number of each stream's first
        and what follows each stream.  False on a tie between streams."""
        times: list[float] = []
        stream_of: list[int] = []
        self.firsts: list[tuple[int, int]] = []  # (stream, seq of its ARRIVE item)
        self.following: dict[int, float] = {}
        for item in self.arrival_items:
            index = self.batch.streams.index(item[3])
            rest, following = item[3][1].ahead(self.horizon)
            self.firsts.append((index, item[1]))
            self.following[index] = following
            times += [item[0], *rest]
            stream_of += [index] * (1 + len(rest))
        a = np.array(times, dtype=np.float64)
        streams = np.array(stream_of, dtype=np.int64)
        if len(self.arrival_items) > 1:
            order = np.argsort(a, kind="stable")
            a, streams = a[order], streams[order]
            if (np.diff(a) == 0).any():
                return False  # a tie between streams: their order is the lane's sequence's
        self.a, self.stream_of = a, streams
        self.kind = np.array([s[0] for s in self.batch.streams], dtype=np.int64)[streams]
        return True

    def _route(self, clients: list[int]) -> tuple[list[int], int, dict[int, CaNode]]:
        """Each arrival's host (its index in the pool), the round-robin picks
        made and the sticky assignments made, as the balancer would."""
        lb = self.batch.balancer
        pool = lb.pool
        n = len(pool)
        i0 = lb.cursor
        if not self.batch.sticky:
            return [(i0 + k) % n for k in range(len(clients))], len(clients), {}
        where = {id(node): j for j, node in enumerate(pool)}
        sticky = lb.sticky
        made: dict[int, CaNode] = {}
        route, picks = [], 0
        for client in clients:
            node = made.get(client)
            if node is None:
                node = sticky.get(client)
            j = where.get(id(node)) if node is not None else None
            if j is None:
                j = (i0 + picks) % n
                picks += 1
                made[client] = pool[j]
            route.append(j)
        return route, picks, made

    def _serve(self, route: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                 dict[int, list[float]], dict[int, dict[int, int]]]:
        """Each CA's worker pool (on copies), first come first served, for the
        arrivals routed to it: start times, service times, the pools after
        them and the service draws taken per kind."""
        a, kind, pool = self.a, self.kind, self.batch.balancer.pool
        st = np.empty(self.m, dtype=np.float64)
        en = np.empty(self.m, dtype=np.float64)
        frees: dict[int, list[float]] = {}
        served: dict[int, dict[int, int]] = {}
        for j in set(route.tolist()):
            node = pool[j]
            mine = np.flatnonzero(route == j)
            kinds = kind[mine].tolist()
            counts = {k: kinds.count(k) for k in self.batch.kinds}
            draws = {k: iter(node.service[k].ahead(c)) for k, c in counts.items()}
            service = [next(draws[k]) for k in kinds]
            free = node.free.copy()
            starts: list[float] = []
            keep = starts.append
            for t, s in zip(a[mine].tolist(), service, strict=True):  # Kiefer-Wolfowitz
                first = free[0]
                if first > t:
                    t = first
                heapreplace(free, t + s)
                keep(t)
            st[mine] = starts
            en[mine] = service
            frees[node.index] = free
            served[node.index] = counts
        return st, en, frees, served

    def _route_by_load(self) -> tuple[list[int], np.ndarray, np.ndarray, dict[int, list[float]],
                                      dict[int, dict[int, int]]] | None:
        """Least-outstanding routing and the worker pools together, as the lane
        does them: each arrival goes to the host with the fewest requests in
        progress (completions before it counted off; ties from the rotating
        start), then waits for a worker there.  ``None`` when a completion
        falls at the very time of an arrival (their order is the lane's
        sequence numbers')."""
        batch = self.batch
        pool = batch.balancer.pool
        n = len(pool)
        where = {id(node): j for j, node in enumerate(pool)}
        out = [node.outstanding for node in pool]
        pending = [(item[0], where[id(item[3].ca)]) for item in self.old
                   if item[2] == DONE and id(item[3].ca) in where]
        heapify(pending)
        frees: dict[int, list[float]] = {}
        draws: dict[tuple[int, int], Iterator[float]] = {}
        used: dict[tuple[int, int], int] = {}
        route: list[int] = []
        starts: list[float] = []
        service: list[float] = []
        cursor, m = batch.balancer.rotation, self.m
        for k, (t, kind) in enumerate(zip(self.a.tolist(), self.kind.tolist(), strict=True)):
            while pending and pending[0][0] <= t:
                done, j = heappop(pending)
                if done == t:
                    return None
                out[j] -= 1
            best = first = (cursor + k) % n
            for step in range(1, n):
                j = (first + step) % n
                if out[j] < out[best]:
                    best = j
            out[best] += 1
            free = frees.get(best)
            if free is None:
                free = frees[best] = pool[best].free.copy()
            key = (best, kind)
            draw = draws.get(key)
            if draw is None:
                draw = draws[key] = iter(pool[best].service[kind].ahead(m))
            s = next(draw)
            used[key] = used.get(key, 0) + 1
            begin = free[0]
            if begin < t:
                begin = t
            end = begin + s
            heapreplace(free, end)
            heappush(pending, (end, best))
            route.append(best)
            starts.append(begin)
            service.append(s)
        served = {pool[j].index: {kind: used.get((j, kind), 0) for kind in batch.kinds}
                  for j in frees}
        return (route, np.array(starts, dtype=np.float64), np.array(service, dtype=np.float64),
                {pool[j].index: free for j, free in frees.items()}, served)

    def feasible(self) -> bool:
        batch, flow, horizon = self.batch, self.flow, self.horizon
        lb = batch.balancer
        pool = lb.pool
        if self.arrival_items and not pool:
            return False
        count = len(self.old) + sum(1 + len(item[3][1].ahead(horizon)[0])
                                    for item in self.arrival_items)
        if count < batch.min_events:
            self.small = True
            return False  # not worth it: numpy's fixed costs would dominate
        if not self._arrivals():
            return False
        a, kind = self.a, self.kind
        m = len(a)
        self.m = m
        clients = flow.clients.ahead(m)
        if batch.least_outstanding:
            routed = self._route_by_load()
            if routed is None:
                return False
            route, st, en, frees, served = routed
            self.picks, self.made = m, {}
        else:
            route, self.picks, self.made = self._route(clients)
        route_a = np.array(route, dtype=np.int64)
        nodes: dict[int, CaNode] = {}
        for j in set(route):
            nodes[pool[j].index] = pool[j]
        for item in self.old:
            nodes[item[3].ca.index] = item[3].ca
        for node in nodes.values():
            cert, request = node.cert_repo, node.request_repo
            if (not node.serving or cert is None or request is None
                    or not (_sequential(cert) and _sequential(request))):
                return False
        self.nodes = nodes
        if not batch.least_outstanding:
            st, en, frees, served = self._serve(route_a)
        en += st  # the same additions as in the loop
        if m and (en - a > flow.timeout).any():
            return False  # a client gives up: the lane handles that
        self.clients, self.route, self.frees, self.served = clients, route_a, frees, served
        ca_new = np.array([node.index for node in pool], dtype=np.int64)[route_a] if m else \
            np.zeros(0, np.int64)
        self.ca_new = ca_new
        # the lane's sequence numbers for the new events: an arrival pushes the
        # next one of its stream, then a start if the request waits, then its completion
        waits = st != a
        has_next = np.ones(m, dtype=np.int64)
        seq_arrive = np.empty(m, dtype=np.int64)
        lasts: dict[int, int] = {}
        for index, _ in self.firsts:
            mine = np.flatnonzero(self.stream_of == index)
            lasts[index] = int(mine[-1])
            if self.following[index] == math.inf:
                has_next[mine[-1]] = 0
        seq0 = batch.lane.next_seq()
        inc = has_next + waits + 1
        c = seq0 + np.concatenate(([0], np.cumsum(inc)[:-1])) if m else np.zeros(0, np.int64)
        for index, seq in self.firsts:
            mine = np.flatnonzero(self.stream_of == index)
            seq_arrive[mine[0]] = seq
            seq_arrive[mine[1:]] = c[mine[:-1]]
        self.lasts = {index: int(c[k]) for index, k in lasts.items()}
        seq_start = c + has_next
        seq_done = seq_start + waits
        self.seq_end = int(c[-1] + inc[-1]) if m else seq0
        self.seq_start, self.seq_done = seq_start, seq_done
        self.st, self.en, self.waits = st, en, waits
        # every begin and completion before the horizon, in lane order
        old = self.old
        old_start = np.array([item[2] == START for item in old], dtype=bool)
        old_t = np.array([item[0] for item in old], dtype=np.float64)
        old_seq = np.array([item[1] for item in old], dtype=np.int64)
        old_ca = np.array([item[3].ca.index for item in old], dtype=np.int64)
        old_kind = np.array([item[3].kind for item in old], dtype=np.int64)
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
        kinds = np.concatenate((kind[begins], kind[dones], old_kind))
        order = np.lexsort((seqs, times))
        times, seqs, is_done, who, cas, kinds = (times[order], seqs[order], is_done[order],
                                                 who[order], cas[order], kinds[order])
        self.times, self.seqs, self.is_done, self.who, self.cas, self.kinds = (
            times, seqs, is_done, who, cas, kinds)
        self.seq_arrive = seq_arrive
        # old START items still complete later (their DONE stays in the lane, or is due)
        self.events = m + int((waits & begins).sum()) + len(old) + int(dones.sum())
        if not (self._crl_fetches() and self._revocations()):
            return False
        # numbers, store latencies, crash and directory checks: one group per
        # (CA, begin or completion) of the rows that take a number (the begins
        # of enrollments and revocations take request IDs, the completions of
        # enrollments serials), in lane order within the group
        takers = np.flatnonzero((kinds == ENROLL) | ((kinds == REVOKE) & ~is_done))
        self.takers = takers
        key = cas[takers] * 2 + is_done[takers]
        total = len(takers)
        grouped = np.argsort(key, kind="stable")
        counts = np.bincount(key, minlength=2 * len(batch.nodes))
        stops = np.cumsum(counts)
        rank = np.empty(total, np.int64)
        rank[grouped] = np.arange(total) - np.repeat(stops - counts, counts)
        firsts = np.zeros(len(counts), np.int64)
        latency = np.zeros(len(times), np.float64)
        self.per_node: list[tuple[CaNode, int, int, float, float]] = []
        runs: list[tuple[str, str, int, int]] = []
        e_times = times[takers]
        lasts_t = e_times[grouped[stops - 1]] if total else e_times
        bases = batch.bases
        for index, node in nodes.items():
            done_group = 2 * index + 1
            for group, repo in ((done_group - 1, node.request_repo), (done_group, node.cert_repo)):
                k = int(counts[group])
                # the window ends before the issuance that would switch ranges or run
                # out, or change what the CA's update task does (wake it if it sleeps,
                # make its runs the window goes past do something): the lane's
                if k and not repo.run_fits(k):
                    c = _first(lambda c, repo=repo: not repo.run_fits(c), k)
                elif k and (node.update_wake is not None or node.index in batch.passed) \
                        and replans(repo, k):
                    c = _first(lambda c, repo=repo: replans(repo, c), k)
                else:
                    firsts[group] = repo.last + 1
                    continue
                self.stop = float(times[takers[grouped[stops[group] - k + c - 1]]])
                return False
            k = int(counts[done_group])
            if k:
                rows = takers[grouped[stops[done_group] - k:stops[done_group]]]
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
                float(lasts_t[done_group - 1]) if n_begin else 0.0,
                float(lasts_t[done_group]) if n_done else 0.0))
        if runs and not batch.directory.can_add_records(runs, batch.attrs):
            return False
        numbers = np.full(len(times), -1, np.int64)
        numbers[takers] = firsts[key] + rank
        self.numbers = numbers
        self.replies = times + latency
        return True

    def _crl_fetches(self) -> bool:
        """Will every CRL fetch completing in the window get a CRL (none fails)?
        The CRL CA serves its latest generation (there is one now, so there is
        one later); the others the record in their replica, which once there
        stays."""
        fetches = self.kinds == CRL_FETCH
        self.fetches = np.flatnonzero(fetches & self.is_done)
        if not len(self.fetches):
            return True
        crl = self.flow.crl
        for index in set(self.cas[self.fetches].tolist()):
            node = self.batch.nodes[index]
            if node is crl.holder:
                if crl.latest is None:
                    return False
            elif self.batch.directory.entry(node.replica, crl.dn) is None:
                return False
        return True

    def _revocations(self) -> bool:
        """The serial each revocation arriving in the window revokes, and will
        every revocation completing in the window succeed?

        A revocation picks, when it arrives, one of the serials signed before
        it in lane order.  A window takes only picks among the serials signed
        before it began (the others' records may not have replicated to the
        revoking CA yet) and only completions whose certificate record is
        already in the revoking CA's replica: the lane would see none fail."""
        flow, m = self.flow, self.m
        self.serials = serials = np.full(m, -1, np.int64)
        new = np.flatnonzero(self.kind == REVOKE).tolist() if m else []
        if new:
            issued = flow.issued_serials
            before = len(issued)
            if not before:
                return False  # the lane's arrival finds nothing to revoke: no request at all
            signed = (self.kinds == ENROLL) & self.is_done
            keys = list(zip(self.times[signed].tolist(), self.seqs[signed].tolist(),
                            strict=True))
            a, seq = self.a, self.seq_arrive
            for k, u in zip(new, flow.picks.ahead(len(new)), strict=True):
                index = int(u * (before + bisect_left(keys, (float(a[k]), int(seq[k])))))
                if index >= before:
                    self.stop = float(a[k])
                    return False
                serials[k] = issued[index]
        self.revocations = len(new)
        self.revokes = np.flatnonzero((self.kinds == REVOKE) & self.is_done)
        directory, base, nodes = self.batch.directory, self.batch.bases[1], self.batch.nodes
        for i in self.revokes.tolist():
            if not directory.has_record(nodes[int(self.cas[i])].replica, base, self._serial(i)):
                self.stop = float(self.times[i])
                return False
        return True

    def _serial(self, row: int) -> int:
        """The serial the revocation of merged row ``row`` revokes."""
        who = int(self.who[row])
        return int(self.serials[who]) if who < self.m else self.old[who - self.m][3].serial

    def commit(self) -> None:
        batch, flow, m = self.batch, self.flow, self.m
        horizon = self.horizon
        self._samples()
        # the streams
        for index, _ in self.firsts:
            batch.streams[index][1].skip(int((self.stream_of == index).sum()))
        if m:
            flow.clients.skip(m)
            if batch.least_outstanding:
                batch.balancer.rotate(m)
            else:
                batch.balancer.advance(self.picks, self.made)
            if flow.archival_fraction:
                flow.archival.skip(int((self.kind == ENROLL).sum()))
            flow.picks.skip(self.revocations)
        pool = batch.balancer.pool
        for j in set(self.route.tolist()):
            node = pool[j]
            for kind, count in self.served[node.index].items():
                node.service[kind].skip(count)
            node.free = self.frees[node.index]
        first_id = flow.next_id
        flow.next_id += m
        # the CAs: numbers, records, counters
        directory = batch.directory
        bases = batch.bases
        one_replica = batch.one_replica
        for node, n_begin, n_done, last_begin, last_done in self.per_node:
            for count, repo, base, last in ((n_begin, node.request_repo, bases[0], last_begin),
                                            (n_done, node.cert_repo, bases[1], last_done)):
                if count:
                    first = repo.issue_run(count)
                    if one_replica:
                        directory.add_records(node.replica, base, first, first + count - 1, last)
            node.issued_requests += n_begin
            node.issued_certs += n_done
            node.store_latency.skip(n_done)
        dones = np.bincount(self.cas[self.is_done], minlength=len(batch.nodes))
        arrived = np.bincount(self.ca_new, minlength=len(batch.nodes))
        for node in self.nodes.values():
            node.outstanding += int(arrived[node.index]) - int(dones[node.index])
        # the issue rows first, so that the notes made in lane order below
        # (revocations, CRL generations) go after the issue rows before them
        position = batch.history.position
        self._record_issues()
        takes = np.zeros(len(self.times), np.int64)
        takes[self.takers] = 1
        self.before = position + np.cumsum(takes) - takes
        issue_times = self.times[self.takers]
        self.gens = [(t, loop, position + int(np.searchsorted(issue_times, t)))
                     for t, loop in batch.generations if t < horizon]
        if one_replica:
            self._completions()
        else:
            self._replicated()
        # the request rows of the completions, in lane order
        done_rows = np.flatnonzero(self.is_done)
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
                ids[who], clients[who], self.kinds[done_rows], attempts[who], arrivals[who],
                starts[who], self.replies[done_rows], self.cas[done_rows], OK)
        if flow.track_serials:
            signed = done_rows[self.kinds[done_rows] == ENROLL]
            flow.issued_serials.extend(self.numbers[signed].tolist())
        # what the window leaves in the lane: new starts and completions, the next arrivals
        added: list[Item] = []
        later = np.flatnonzero(self.en >= horizon)
        if len(later):
            st, en, kind, a = self.st, self.en, self.kind, self.a
            for k in later.tolist():
                node = pool[int(self.route[k])]
                req = Request(first_id + k, self.clients[k], int(kind[k]), 0, float(a[k]))
                req.ca, req.epoch, req.start = node, node.epoch, float(st[k])
                req.serial = int(self.serials[k])
                if st[k] >= horizon:
                    added.append((float(st[k]), int(self.seq_start[k]), START, req))
                added.append((float(en[k]), int(self.seq_done[k]), DONE, req))
        for index, _ in self.firsts:  # pushed while each stream's last arrival was processed
            following = self.following[index]
            if following < math.inf:
                added.append((following, self.lasts[index], ARRIVE, batch.streams[index]))
        batch.lane.commit(horizon, added, self.seq_end)

    def _samples(self) -> None:
        """Tell the space sampler, for each sample the window goes past, how
        many numbers each CA issued at or after its time (SimPy steps the
        sample after the window, and a sample comes before the lane's events
        at its time)."""
        batch = self.batch
        samples = [t for t in batch.samples if t < self.horizon]
        if not samples:
            return
        assert batch.sampler is not None
        rows = self.takers
        times, key = self.times[rows], self.cas[rows] * 2 + self.is_done[rows]
        kinds = (IdKind.REQUEST, IdKind.CERT)
        for t in samples:
            late = np.bincount(key[times >= t], minlength=2 * len(batch.nodes))
            batch.sampler.behind(t, {(int(g) // 2, kinds[int(g) % 2]): int(late[g])
                                     for g in np.flatnonzero(late)})

    def _record_issues(self) -> None:
        """The window's issuances (request IDs and serials) into the history, in
        lane order: one run per CA and begin or completion."""
        batch = self.batch
        rows = self.takers
        cas, is_done = self.cas[rows], self.is_done[rows]
        pids = np.array([node.pid for node in batch.nodes], dtype=np.int64)
        rids = np.array([node.rid for node in batch.nodes], dtype=np.int64)
        groups, at, which = np.unique(cas * 2 + is_done, return_index=True, return_inverse=True)
        batch.history.issue_runs(
            self.times[rows], which, pids[groups // 2],
            np.where(groups % 2, int(Op.ISSUE_CERT), int(Op.ISSUE_REQUEST)),
            self.numbers[rows][at].tolist(), np.full(len(groups), int(OpType.OK)),
            rids[groups // 2])

    def _completions(self) -> None:
        """The CRL fetches, revocations and CRL generations of the window, in lane order."""
        rows = np.union1d(self.fetches, self.revokes).tolist()
        gens = self.gens
        if rows or gens:
            serve, nodes = self.flow.crl.serve, self.batch.nodes
            g = 0
            for i, index, kind, t in zip(rows, self.cas[rows].tolist(),
                                         self.kinds[rows].tolist(), self.times[rows].tolist(),
                                         strict=True):
                while g < len(gens) and gens[g][0] <= t:
                    self._generate(*gens[g])
                    g += 1
                if kind == REVOKE:
                    self._revoke(nodes[index], i, t)
                else:
                    serve(nodes[index], t)
            for gen in gens[g:]:
                self._generate(*gen)

    def _revoke(self, node: CaNode, row: int, t: float) -> None:
        """The lane's revocation of merged row ``row`` at ``t`` (it succeeds:
        :meth:`_revocations`), and its history row after the issue rows before it."""
        serial = self._serial(row)
        result = self.flow.mark_revoked(node, serial, t)
        assert result.ok, result
        self.flow.crl.on_revoke(node, serial, t)
        self.flow.driver.note(node, Op.REVOKE, OpType.OK, str(serial), time=t,
                              position=int(self.before[row]))

    def _generate(self, t: float, loop: GenerationLoop, position: int) -> None:
        """A CRL generation the window goes past, made at its place (before the
        lane's events at its time); SimPy skips it when its timeout comes."""
        loop.made.append(t)
        self.flow.crl.generate_now(loop.node, t, position=position)

    def _replicated(self) -> None:
        """A replicated directory: the window's adds as record runs, each CRL
        fetch reading its replica at its place between them (as the lane's,
        which pulls the replication that arrived there), each revocation of a
        settled record (on every replica, nothing in flight touches it)
        writing there too.  A revocation of a record that is not settled
        stops the runs before it; it is made as the lane makes it, then the
        rest; so does a CRL generation.  A stretch of fewer adds than
        :data:`MIN_RUN_ADDS` plus :data:`RUN_ADDS_PER_WRITE` per revocation
        goes one by one (record runs cost more than they save there)."""
        nodes, bases = self.batch.nodes, self.batch.bases
        settled = self.batch.directory.settled
        numbers, kinds = self.numbers, self.kinds
        rows = np.flatnonzero((numbers >= 0) | (self.is_done & (kinds == CRL_FETCH))
                              | (kinds == REVOKE))  # adds, fetches and completed revocations
        times = self.times[rows]
        gens = self.gens
        cuts = np.searchsorted(times, [gen[0] for gen in gens]).tolist()  # a generation's place
        revokes = np.flatnonzero((kinds[rows] == REVOKE) & (numbers[rows] < 0)).tolist()
        start, g = 0, 0
        for k in [*revokes, len(rows)]:  # then the rest of the rows
            while g < len(gens) and cuts[g] <= k:  # the generations before row ``k``
                self._stretch(rows[start:max(start, cuts[g])])
                start = max(start, cuts[g])
                self._generate(*gens[g])
                g += 1
            if k == len(rows):
                break
            i = int(rows[k])
            if not settled(bases[1], self._serial(i)):
                self._stretch(rows[start:k])
                self._revoke(nodes[int(self.cas[i])], i, float(self.times[i]))
                start = k + 1
        self._stretch(rows[start:])
        for gen in gens[g:]:
            self._generate(*gen)

    def _stretch(self, rows: np.ndarray) -> None:
        """Adds, CRL fetches and revocations of settled records (merged
        ``rows`` in lane order) with no other write between them."""
        if not len(rows):
            return
        directory, nodes, bases = self.batch.directory, self.batch.nodes, self.batch.bases
        serve, holder = self.flow.crl.serve, self.flow.crl.holder
        replicas = [node.replica for node in nodes]
        numbers, cas, done, kinds = (self.numbers[rows], self.cas[rows], self.is_done[rows],
                                     self.kinds[rows])
        is_add = numbers >= 0
        times = self.times[rows].tolist()
        writes_in = int(((kinds == REVOKE) & ~is_add).sum())
        if int(is_add.sum()) < MIN_RUN_ADDS + RUN_ADDS_PER_WRITE * writes_in:
            def one_by_one() -> Iterator[tuple[str, str, int, float]]:
                for row, ca, d, kind, n, t in zip(rows.tolist(), cas.tolist(), done.tolist(),
                                                  kinds.tolist(), numbers.tolist(), times,
                                                  strict=True):
                    if n >= 0:
                        yield replicas[ca], bases[d], n, t
                    elif kind == REVOKE:
                        self._revoke(nodes[ca], row, t)
                    else:
                        serve(nodes[ca], t)

            directory.add_record_sequence(one_by_one())
            return
        adds = np.flatnonzero(is_add)
        group = cas[adds] * 2 + done[adds]
        order = np.argsort(group, kind="stable")
        labels, firsts = np.unique(group[order], return_index=True)
        runs = [(replicas[label // 2], bases[label % 2], int(numbers[adds[order[f]]]), positions)
                for label, f, positions in zip(labels.tolist(), firsts.tolist(),
                                               np.split(adds[order], firsts[1:]), strict=True)]
        reads: list[Read] = []
        writes: list[Write] = []
        others = np.flatnonzero(~is_add)
        for position, ca, kind, row in zip(others.tolist(), cas[others].tolist(),
                                           kinds[others].tolist(), rows[others].tolist(),
                                           strict=True):
            node, t = nodes[ca], times[position]
            if kind == REVOKE:
                writes.append((position, node.replica, partial(self._revoke, node, row, t),
                               bases[1], self._serial(row)))
            else:
                reads.append((position, None if node is holder else node.replica,
                              partial(serve, node, t, pull=False), False))
        directory.add_record_runs(runs, times, reads, writes)
        self.batch.record_runs += 1
        self.batch.run_writes += len(writes)


def replans(repo: Repository, count: int) -> bool:
    """Would ``count`` more numbers from ``repo`` change what its update task
    does?  (For a task that sleeps, :mod:`pkisim.sim.ca`: would they make it
    due and wake it?)"""
    last = repo.last
    assert last is not None
    before = repo.plan()
    repo.last = last + count
    try:
        return repo.plan() != before
    finally:
        repo.last = last


def _first(changes: Callable[[int], bool], k: int) -> int:
    """The first count in ``1..k`` for which ``changes`` holds (it holds for ``k``)."""
    return next(c for c in range(1, k + 1) if changes(c))


def _sequential(repo: Repository) -> bool:
    """Does ``repo`` hand out ``last + 1, last + 2, ...`` without I/O (Dogtag's
    sequential ``getNextSerialNumber``, not RSNv1/RSNv3), loaded, 64-bit?"""
    return repo.run_fits(0) and repo.end < _U64


__all__ = ["MIN_RUN_ADDS", "RUN_ADDS_PER_WRITE", "WindowPlan"]
