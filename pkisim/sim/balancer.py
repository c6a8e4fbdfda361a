"""The load balancer in front of the CAs (RHCS planning guide, 2.7.1).

The balancer only knows what its health checks told it: a host that crashed
stays in rotation until ``failure_threshold`` checks ``health_interval`` seconds
apart have failed, and requests routed there in the meantime time out (the
failover gap).  A host is back in rotation after one good check.  Maintenance
drains a host first (planned); decommissioning removes it for good.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING

import simpy

from pkisim.sim.config import LoadBalancer
from pkisim.sim.lane import exact_delay

if TYPE_CHECKING:
    from pkisim.sim.ca import CaNode


class Member:
    """What the balancer believes about one host."""

    __slots__ = ("drained", "failures", "in_pool", "node")

    def __init__(self, node: CaNode, in_pool: bool) -> None:
        self.node = node
        self.in_pool = in_pool
        self.failures = 0
        self.drained = False


class Balancer:
    """Routes each request to a host: ``round-robin``, ``sticky`` (sticky TLS) or
    ``least-outstanding``."""

    def __init__(self, spec: LoadBalancer) -> None:
        self.spec = spec
        self.members: list[Member] = []
        self.pool: list[CaNode] = []  # hosts in rotation, in member order
        self._next = 0
        self._sticky: dict[int, CaNode] = {}
        self._wake: simpy.Event | None = None  # the sleeping health-check process's
        policy = spec.policy
        self.route = (self._round_robin if policy == "round-robin" else
                      self._sticky_tls if policy == "sticky" else self._least_outstanding)

    # ------------------------------------------------------------ membership
    def add(self, node: CaNode, *, in_pool: bool) -> None:
        """A new host behind the balancer (in rotation at once, or after a good check)."""
        self.members.append(Member(node, in_pool))
        self._rebuild()
        self.wake()

    def member(self, node: CaNode) -> Member | None:
        for member in self.members:
            if member.node is node:
                return member
        return None

    def drain(self, node: CaNode) -> None:
        """Take a host out of rotation before planned maintenance."""
        member = self.member(node)
        if member is not None:
            member.drained = True
            member.in_pool = False
            self._rebuild()
            self.wake()

    def undrain(self, node: CaNode) -> None:
        """After maintenance: back in rotation at the next good health check."""
        member = self.member(node)
        if member is not None:
            member.drained = False
            self.wake()

    def remove(self, node: CaNode) -> None:
        self.members = [m for m in self.members if m.node is not node]
        self._rebuild()
        self.wake()

    def _rebuild(self) -> None:
        self.pool = [m.node for m in self.members if m.in_pool]

    # ------------------------------------------------------------ health checks
    def health_checks(self, env: simpy.Environment, *, skip_settled: bool = True,
                      ) -> Generator[simpy.Event, None, None]:
        """Every ``health_interval``: a host is out after ``failure_threshold``
        failed checks in a row, in again after one good check.  While no check
        can change anything (:meth:`settled`), sleep until :meth:`wake`."""
        interval = self.spec.health_interval
        last = env.now  # the time of the last check, stepped or not
        while True:
            if skip_settled:
                while self.settled():
                    self._wake = env.event()
                    yield self._wake
                    self._wake = None
                now = env.now
                while last + interval < now:  # the checks that would have found nothing
                    last += interval
                yield env.timeout(exact_delay(now, last + interval))
            else:
                yield env.timeout(interval)
            last = env.now
            self.check()

    def check(self) -> None:
        """One round of health checks."""
        threshold = self.spec.failure_threshold
        changed = False
        for member in self.members:
            if member.drained:
                continue
            if member.node.serving:
                member.failures = 0
                if not member.in_pool:
                    member.in_pool = changed = True
            else:
                member.failures += 1
                if member.in_pool and member.failures >= threshold:
                    member.in_pool = False
                    changed = True
        if changed:
            self._rebuild()

    def settled(self) -> bool:
        """Would a health check change nothing, now and until :meth:`wake`?  Every
        host in rotation serves with no failure counted, every other one (not
        drained) does not serve: its failure count only grows, and no one reads
        it until the host serves again, which wakes the checks."""
        for member in self.members:
            if member.drained:
                continue
            if member.node.serving:
                if not member.in_pool or member.failures:
                    return False
            elif member.in_pool:
                return False
        return True

    def wake(self) -> None:
        """Something a health check looks at changed: resume the checks."""
        wake = self._wake
        if wake is not None and not wake.triggered:
            wake.succeed()

    # ------------------------------------------------------------ round-robin
    @property
    def cursor(self) -> int:
        """The index in :attr:`pool` of the host the next round-robin pick gets."""
        return self._next if self._next < len(self.pool) else 0

    @property
    def rotation(self) -> int:
        """The index in :attr:`pool` where the next least-outstanding pick
        starts looking (ties go to the first from there)."""
        return self._next % len(self.pool) if self.pool else 0

    def rotate(self, n: int) -> None:
        """Move the least-outstanding rotation as ``n`` picks would (the pool unchanged)."""
        if n > 0:
            self._next = (self.rotation + n - 1) % len(self.pool) + 1

    @property
    def sticky(self) -> dict[int, CaNode]:
        """The host each client of ``sticky`` routing sticks to (read only)."""
        return self._sticky

    def advance(self, n: int, sticky: dict[int, CaNode] | None = None) -> None:
        """Move the round-robin cursor as ``n`` picks would (the pool unchanged),
        and make the ``sticky`` assignments those picks made."""
        if sticky:
            self._sticky.update(sticky)
        if n > 0:
            self._next = (self.cursor + n - 1) % len(self.pool) + 1

    # ------------------------------------------------------------ policies
    def _round_robin(self, client: int) -> CaNode | None:
        pool = self.pool
        if not pool:
            return None
        i = self._next
        if i >= len(pool):
            i = 0
        self._next = i + 1
        return pool[i]

    def _sticky_tls(self, client: int) -> CaNode | None:
        node = self._sticky.get(client)
        if node is not None and node in self.pool:
            return node
        node = self._round_robin(client)
        if node is not None:
            self._sticky[client] = node
        return node

    def _least_outstanding(self, client: int) -> CaNode | None:
        """The host with the fewest requests in progress; ties go round-robin."""
        pool = self.pool
        n = len(pool)
        if not n:
            return None
        start = self._next % n
        self._next = start + 1
        best = pool[start]
        for k in range(1, n):
            node = pool[(start + k) % n]
            if node.outstanding < best.outstanding:
                best = node
        return best
