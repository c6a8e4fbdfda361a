"""The request path: clients, the balancer, a CA's worker pool, allocation, retries.

This is the hot path.  A request costs one arrival and one completion in the
*fast lane* (a plain heap drained between SimPy events, see
:mod:`pkisim.sim.lane`), plus a start event only when it had to queue.

An enrollment takes a request ID when a worker picks it up (Dogtag creates
the request record then) and a serial just before signing, at the end of its
service; the certificate record is stored right after.  A failure to get a
serial leaves the request ID consumed, as in Dogtag.  Clients see:

``ok``       the answer arrived;
``fail``     an error arrived (exhausted, key archival refused, ...);
``timeout``  no answer and nothing was issued (host down, crash before signing);
``info``     no answer, but a serial was issued: a crash between signing and
             storing/replying, or a client that gave up on a slow request.
             The history records such issuances as ``INFO`` (Jepsen semantics).

Failed and timed-out attempts are retried after the policy's backoff (from
the error, or from the client's deadline), as new rows with the same ``id``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from heapq import heapreplace
from typing import TYPE_CHECKING

from pkisim.errors import AllocationError, SerialNumbersExhausted
from pkisim.history.history import Op, OpType
from pkisim.ids import protocol as p
from pkisim.ids.config import IdKind
from pkisim.ids.strategies import STRATEGY
from pkisim.ids.tree import DogtagTree
from pkisim.seeding import Seeds
from pkisim.sim.config import Scenario
from pkisim.sim.metrics import FAIL, INFO, OK, TIMEOUT, Recorder
from pkisim.sim.workload import (
    CRL_FETCH,
    ENROLL,
    REVOKE,
    PoissonArrivals,
    TraceArrivals,
    Uniforms,
)

if TYPE_CHECKING:
    from pkisim.directory.memory import ReplicatedDirectory
    from pkisim.sim.balancer import Balancer
    from pkisim.sim.ca import CaNode
    from pkisim.sim.crl import CrlService
    from pkisim.sim.driver import SimDriver
    from pkisim.sim.kra import KraService
    from pkisim.sim.lane import Lane

# fast-lane event codes
ARRIVE, RETRY, START, DONE = 0, 1, 2, 3

_REVOKED = (p.Mod(p.ModOp.REPLACE, "certStatus", ("REVOKED",)),)
_CERT, _REQUEST, _OK, _FAIL = IdKind.CERT, IdKind.REQUEST, OpType.OK, OpType.FAIL


class Request:
    """One attempt of one client request."""

    __slots__ = ("archival", "arrival", "attempt", "ca", "client", "epoch", "failed", "gave_up",
                 "id", "kind", "serial", "start")

    def __init__(self, rid: int, client: int, kind: int, attempt: int, arrival: float) -> None:
        self.id, self.client, self.kind, self.attempt, self.arrival = (rid, client, kind, attempt,
                                                                       arrival)
        self.ca: CaNode | None = None
        self.epoch = 0
        self.start = math.nan
        self.failed = ""
        self.gave_up = False
        self.serial = -1  # revocations: the serial to revoke
        self.archival = False  # enrollments: with key archival (needs the KRA connector)


class RequestFlow:
    """Arrival streams, routing, the worker pools and what happens at completion.

    Its events go into ``lane`` (:attr:`handlers` handles them); requests are
    routed by ``balancer``, numbers taken and records stored through
    ``driver``, revocations written to ``directory`` and reported to ``crl``,
    and every attempt recorded by ``recorder``.  The draws come from ``seeds``.
    """

    def __init__(self, scenario: Scenario, seeds: Seeds, *, lane: Lane, balancer: Balancer,
                 driver: SimDriver, directory: ReplicatedDirectory, tree: DogtagTree,
                 recorder: Recorder, crl: CrlService) -> None:
        workload = scenario.workload
        self.timeout = workload.retry.timeout
        self.backoff = workload.retry.backoff
        self.max_retries = workload.retry.max_retries
        self.route = balancer.route
        self.clients = Uniforms(seeds.numpy("workload/clients"), high=workload.clients)
        self.archival_fraction = workload.key_archival_fraction
        self.archival = Uniforms(seeds.numpy("workload/key-archival"))
        self.picks = Uniforms(seeds.numpy("workload/revoke-pick"))
        self.redirect = scenario.crl.clone_mode == "redirect"
        self.track_serials = workload.revoke_rate > 0
        self.issued_serials: list[int] = []
        self.next_id = 0
        self.recorder = recorder
        self.directory = directory
        self.crl = crl
        # bound once: the hot path calls these for every request
        self.push = lane.push
        self.cert_base = tree.records_dn(IdKind.CERT)
        self.on_demand = STRATEGY[scenario.strategy].on_demand
        self.driver = driver
        self.take = driver.take
        self.store = driver.store
        self.record = driver.record_issue
        #: The run's KRAs, if any (set by the world): archivals go there.
        self.kra: KraService | None = None
        until = scenario.duration
        self.streams: list[tuple[int, PoissonArrivals | TraceArrivals]] = []
        if workload.trace is not None:
            self.streams.append((ENROLL, TraceArrivals(workload.trace, until)))
        else:
            self.streams.append((ENROLL, PoissonArrivals(
                workload, workload.enroll_rate, seeds.numpy("workload/enroll"), until)))
        self.streams.append((REVOKE, PoissonArrivals(
            workload, workload.revoke_rate, seeds.numpy("workload/revoke"), until)))
        self.streams.append((CRL_FETCH, PoissonArrivals(
            workload, workload.crl_fetch_rate, seeds.numpy("workload/crl-fetch"), until)))
        self.handlers = (self.arrive, self.retry, self.begin, self.done)
        #: Configuration drift (:mod:`pkisim.sim.drift`): the failure cause of an
        #: enrollment on a CA, '' if none; ``None``: no drift to check.
        self.refuse: Callable[[Request, CaNode, float], str] | None = None

    def prime(self) -> None:
        """Put each stream's first arrival in the lane."""
        for stream in self.streams:
            t = stream[1].next()
            if t < math.inf:
                self.push(t, ARRIVE, stream)

    # ------------------------------------------------------------ arrivals
    def arrive(self, stream: tuple[int, PoissonArrivals | TraceArrivals], t: float) -> None:
        kind, source = stream
        following = source.next()
        if following < math.inf:
            self.push(following, ARRIVE, stream)
        req = Request(self.next_id, self.clients.next(), kind, 0, t)
        if kind == ENROLL:
            if self.archival_fraction and self.archival.next() < self.archival_fraction:
                req.archival = True
        elif kind == REVOKE:
            issued = self.issued_serials
            if not issued:
                return  # nothing to revoke yet: the client has nothing to do
            req.serial = issued[int(self.picks.next() * len(issued))]
        self.next_id += 1
        self.submit(req, t)

    def retry(self, old: Request, t: float) -> None:
        req = Request(old.id, old.client, old.kind, old.attempt + 1, t)
        req.serial, req.archival = old.serial, old.archival
        self.submit(req, t)

    def submit(self, req: Request, t: float) -> None:
        node = self.route(req.client)
        if node is None:
            self.finish(req, t, None, FAIL, "no host available")
            return
        if req.kind == CRL_FETCH and self.redirect and not node.crl_role:
            node = self.crl.holder  # redirected to the CRL CA
            if node is None or not node.serving:
                self.finish(req, t + self.timeout, node, TIMEOUT, "crl ca down")
                return
        if not node.serving:
            self.finish(req, t + self.timeout, node, TIMEOUT, "host down")
            return
        node.outstanding += 1
        free = node.free
        first = free[0]
        start = t if first <= t else first
        end = start + node.service[req.kind].next()
        heapreplace(free, end)
        req.ca = node
        req.epoch = node.epoch
        req.start = start
        if end - t > self.timeout:  # the client gives up before the answer comes
            req.gave_up = True
            self.schedule_retry(req, t + self.timeout)
        if start == t:
            self.begin(req, t)
        else:
            self.push(start, START, req)
        self.push(end, DONE, req)

    # ------------------------------------------------------------ service
    def begin(self, req: Request, t: float) -> None:
        """A worker picks the request up: enrollments and revocations create a
        request record, which takes a request ID."""
        node = req.ca
        assert node is not None
        if node.epoch != req.epoch or req.kind == CRL_FETCH:
            return
        repo = node.request_repo
        assert repo is not None
        try:
            number = self.take(node, repo)
        except SerialNumbersExhausted:
            req.failed = "request ids exhausted"
            self.driver.note(node, Op.ISSUE_REQUEST, OpType.FAIL, req.failed, time=t)
            return
        except AllocationError as err:
            req.failed = "allocation error"
            self.driver.note(node, Op.ISSUE_REQUEST, OpType.FAIL, str(err), time=t)
            return
        if node.update_wake is not None:
            last, end = node.watch_request
            if (number > last or repo.end != end) and repo.check_due():
                node.update_wake(t)
        added = self.store(node, repo, number)
        if added.ok:
            self.record(node, _REQUEST, number, _OK, t)
            node.issued_requests += 1
        else:
            req.failed = "directory down" if added.code is p.ResultCode.SERVER_DOWN else \
                "request record exists"
            self.record(node, _REQUEST, number, _FAIL, t)

    def done(self, req: Request, t: float) -> None:
        node = req.ca
        assert node is not None
        if node.epoch != req.epoch:
            self.finish(req, req.arrival + self.timeout, node, TIMEOUT, "ca crashed")
            return
        node.outstanding -= 1
        if req.failed:
            self.finish(req, t, node, FAIL, req.failed)
        elif req.kind == ENROLL:
            self.sign(req, node, t)
        elif req.kind == REVOKE:
            self.revoke(req, node, t)
        else:
            gid = self.crl.serve(node, t)
            if gid is None:
                self.finish(req, t, node, FAIL, "no crl")
            else:
                self.finish(req, t, node, OK, "")

    def sign(self, req: Request, node: CaNode, t: float) -> None:
        """Take a serial, sign, store the certificate record, reply."""
        if req.archival and not node.kra:
            self.finish(req, t, node, FAIL, "key archival refused")
            return
        if self.refuse is not None:
            cause = self.refuse(req, node, t)
            if cause:
                self.finish(req, t, node, FAIL, cause)
                return
        if req.archival and self.kra is not None:  # over the connector, before signing
            cause = self.kra.archive(req.id, t)
            if cause:
                self.finish(req, t, node, FAIL, cause)
                return
        repo = node.cert_repo
        assert repo is not None
        try:
            serial = self.take(node, repo)
        except SerialNumbersExhausted:
            self.driver.note(node, Op.ISSUE_CERT, OpType.FAIL, "serial numbers exhausted", time=t)
            self.finish(req, t, node, FAIL, "serial numbers exhausted")
            return
        except AllocationError as err:
            self.driver.note(node, Op.ISSUE_CERT, OpType.FAIL, str(err), time=t)
            self.finish(req, t, node, FAIL, "allocation error")
            return
        if node.update_wake is not None:
            last, end = node.watch_cert
            if (serial > last or repo.end != end) and repo.check_due():
                node.update_wake(t)
        reply = t + node.store_latency.next()
        lost = node.next_crash < reply and node.crash_after(t) < reply
        if not lost:  # the CA crashes after signing, before storing: nothing is stored
            added = self.store(node, repo, serial)
            if not added.ok:
                cause = ("directory down" if added.code is p.ResultCode.SERVER_DOWN
                         else "serial already in directory")
                self.record(node, _CERT, serial, _FAIL, t)
                self.finish(req, t, node, FAIL, cause)
                return
        node.issued_certs += 1
        if lost or req.gave_up:
            self.record(node, _CERT, serial, OpType.INFO, t)
            self.finish(req, req.arrival + self.timeout, node, INFO,
                        "ca crashed" if lost else "timeout")
            return
        self.record(node, _CERT, serial, _OK, t)
        if self.track_serials:
            self.issued_serials.append(serial)
        self.finish(req, reply, node, OK, "")

    def mark_revoked(self, node: CaNode, serial: int, t: float) -> p.Result:
        """The directory write of a revocation: ``certStatus: REVOKED`` on the
        certificate record, in ``node``'s replica at ``t``."""
        return self.directory.execute(p.Modify(f"cn={serial},{self.cert_base}", _REVOKED),
                                      replica=node.replica, now=t)

    def revoke(self, req: Request, node: CaNode, t: float) -> None:
        """Mark the certificate record revoked in this CA's replica."""
        serial = req.serial
        result = self.mark_revoked(node, serial, t)
        if not result.ok:
            cause = ("directory down" if result.code is p.ResultCode.SERVER_DOWN
                     else "certificate not found")
            self.driver.note(node, Op.REVOKE, OpType.FAIL, f"{serial}: {cause}", time=t)
            self.finish(req, t, node, FAIL, cause)
            return
        self.driver.note(node, Op.REVOKE, OpType.OK, str(serial), time=t)
        self.crl.on_revoke(node, serial, t)
        self.finish(req, t, node, OK, "")

    # ------------------------------------------------------------ outcomes
    def finish(self, req: Request, end: float, node: CaNode | None, outcome: int,
               cause: str) -> None:
        """Record the attempt; retry a failure or a timeout while attempts remain.

        A client that gave up saw only its own timeout, whatever the CA did:
        ``info`` if the CA changed something (a certificate, a revocation),
        ``timeout`` otherwise.
        """
        if req.gave_up:
            end = req.arrival + self.timeout
            if outcome == OK and req.kind == REVOKE:
                outcome, cause = INFO, "timeout"
            elif outcome != INFO:
                outcome, cause = TIMEOUT, "timeout"
        self.recorder.request(req.id, req.client, req.kind, req.attempt, req.arrival, req.start,
                              end, -1 if node is None else node.index, outcome, cause)
        if outcome != OK and not req.gave_up:
            self.schedule_retry(req, end)

    def schedule_retry(self, req: Request, end: float) -> None:
        if req.attempt < self.max_retries:
            self.push(end + self.backoff, RETRY, req)


__all__ = ["Request", "RequestFlow"]
