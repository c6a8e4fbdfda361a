"""The CRL CA (``ca.crl.MasterCRL.enableCRLUpdates``), revocations and CRL staleness.

dogtag-ranges.md section 6.  Exactly one CA generates CRLs, every
``auto_update_interval`` (and, with ``always_update``, right after each
revocation it processes itself).  A revocation processed on another CA only
changes the certificate record in that CA's replica; the CRL CA learns of it
when the change has replicated to *its* replica and it looks: at each
generation with ``listen_to_clone_modifications`` (a persistent search), else
only at a cache rebuild every ``cache_rebuild_interval``.  Each generation is
written to the replicated record ``cn=MasterCRL,ou=crlIssuingPoints,ou=ca``;
a CA taking over the role continues numbering from that record as it sees it
in its own replica (Dogtag's fix for Pagure 3085), so a lagging or partitioned
replica can still make numbers go backwards.

Staleness is measured per revocation: ``in_crl_at`` is the first generation
that contains it, ``served_at`` the first time any CA serves a CRL that does.
A served CRL is taken to contain every revocation that first appeared in a
generation up to it (generations are cumulative; after a role move to a CA
whose replica lacks some revocations this slightly overstates what was served).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import simpy

from pkisim.history.history import Op, OpType
from pkisim.ids import protocol as p
from pkisim.ids.config import IdKind
from pkisim.ids.tree import DogtagTree
from pkisim.sim.config import CrlSpec
from pkisim.sim.lane import Tick

if TYPE_CHECKING:
    from pkisim.directory.memory import ReplicatedDirectory
    from pkisim.sim.ca import CaNode
    from pkisim.sim.driver import SimDriver
    from pkisim.sim.lane import Lane

Process = Generator[simpy.Event, Any, Any]

_RECORD_CLASSES = ("top", "crlIssuingPointRecord")


#: The most generations of one loop a batched window makes.
MAX_GENERATIONS = 64


class GenerationLoop:
    """The periodic generations of ``node`` in role epoch ``epoch``: ticks at
    ``start + k * interval``, each starting a generation that ends
    ``crl_generation`` later.  It owns the loop's SimPy timeouts, so a batched
    window can go past them (:meth:`CrlService.ahead`) and make the
    generations at their places itself (:attr:`made`)."""

    def __init__(self, node: CaNode, epoch: int, start: float, interval: float) -> None:
        self.node, self.epoch, self.start, self.interval = node, epoch, start, interval
        self.k = 1  # the next tick's index
        self.due: float | None = None  # a generation in progress ends then
        self.started_in = node.epoch  # the CA's epoch when it started (a restart drops it)
        self.made: list[float] = []  # generations a window made, to be skipped

    def delay(self, now: float, k: int) -> float:
        """The timeout from ``now`` to tick ``k`` (at once if it is past)."""
        return max(0.0, self.start + k * self.interval - now)


class CrlService:
    """The CRL role, the revocation log and the CRL generations of one run.

    Time and SimPy come from ``lane`` (a generation after a revocation starts
    from the fast lane), records from ``directory``, notes go through ``driver``.
    """

    def __init__(self, spec: CrlSpec, *, env: simpy.Environment, lane: Lane,
                 directory: ReplicatedDirectory, tree: DogtagTree, driver: SimDriver) -> None:
        self.spec = spec
        self.env, self.lane, self.directory, self.tree, self.driver = (env, lane, directory,
                                                                      tree, driver)
        self.dn = tree.crl_record_dn
        self.holder: CaNode | None = None
        self.role_epoch = 0
        self._loops_for = -1  # the role epoch whose generation loop runs
        self.crl_numbers: dict[str, int] = {}  # each CA's in-memory CRL number
        self.role_log: list[tuple[float, str, str]] = []  # (time, ca, "enable"/"disable")
        # generations (gid = row index)
        self.gen_time: list[float] = []
        self.gen_ca: list[str] = []
        self.gen_number: list[int] = []
        self.gen_size: list[int] = []
        self.latest: int | None = None
        # revocations (index = row)
        self.rev_serial: list[int] = []
        self.rev_ca: list[str] = []
        self.rev_time: list[float] = []
        self.rev_in_crl: list[float] = []
        self.rev_served: list[float] = []
        self.rev_gen: list[int] = []
        self.revoked: dict[int, int] = {}
        self.known = 0  # revocations in the CRL CA's cache
        self.pending: list[int] = []  # not yet known to the CRL CA
        self.fresh: list[int] = []  # known, in no CRL yet
        self.by_gen: dict[int, list[int]] = {}
        self.served_upto = -1
        #: Called with (CRL CA, generation, time) after each generation is stored
        #: (the OCSP publisher, :mod:`pkisim.sim.ocsp`).
        self.on_generate: list[Callable[[CaNode, int, float], None]] = []

    # ------------------------------------------------------------ the role
    def assign(self, node: CaNode) -> None:
        """Give ``node`` the CRL role (at the start, or a ``crl-move`` fault)."""
        now = self.lane.now()
        if self.holder is not None:
            self.holder.crl_role = False
            self.role_log.append((now, self.holder.name, "disable"))
        self.role_log.append((now, node.name, "enable"))
        self.holder = node
        node.crl_role = True
        self.role_epoch += 1
        if node.serving:
            self._take_role(node)

    def on_start(self, node: CaNode) -> None:
        """A CA (re)started: the CRL CA re-reads its record and rebuilds its cache."""
        if node is self.holder:
            self._take_role(node)

    def _take_role(self, node: CaNode) -> None:
        now = self.lane.now()
        entry = self.directory.entry(node.replica, self.dn, now=now)
        number = p.attr_first(entry, "crlNumber")
        if number is not None:
            self.crl_numbers[node.name] = int(number)
        self._rebuild(node, now)
        epoch = self.role_epoch
        if self._loops_for != epoch:
            self._loops_for = epoch
            self.env.process(self._generations(node, epoch))
            if not self.spec.listen_to_clone_modifications:
                self.env.process(self._cache_rebuilds(node, epoch))
        if self.latest is None or self.gen_ca[self.latest] != node.name:
            self.generate_now(node, now)

    def _current(self, node: CaNode, epoch: int) -> bool:
        return self.holder is node and self.role_epoch == epoch

    def _generations(self, node: CaNode, epoch: int) -> Process:
        env = self.env
        loop = GenerationLoop(node, epoch, env.now, self.spec.auto_update_interval)
        while self._current(node, epoch):
            yield Tick(env, loop.delay(env.now, loop.k), loop)  # a fixed schedule
            loop.k += 1
            if self._current(node, epoch) and node.serving and not node.crl_down:
                yield from self.generate(node, loop)

    def _cache_rebuilds(self, node: CaNode, epoch: int) -> Process:
        env = self.env
        while self._current(node, epoch):
            yield env.timeout(self.spec.cache_rebuild_interval)
            if self._current(node, epoch) and node.serving:
                self._learn(node, self.lane.now())

    # ------------------------------------------------------------ generation
    def generate(self, node: CaNode, loop: GenerationLoop | None = None) -> Process:
        """One CRL generation on the CRL CA (takes ``crl_generation`` seconds);
        ``loop``: the periodic one (a batched window may have made it already)."""
        epoch, role_epoch = node.epoch, self.role_epoch
        delay = node.crl_generation.next()
        if loop is None:
            yield self.env.timeout(delay)
        else:
            loop.due, loop.started_in = self.env.now + delay, epoch
            yield Tick(self.env, delay, loop)
            loop.due = None
            if loop.made and loop.made[0] == self.env.now:
                loop.made.pop(0)
                return  # a window went past it and made it at its place
        if node.epoch == epoch and self._current(node, role_epoch) and not node.crl_down:
            self.generate_now(node, self.lane.now())

    def ahead(self, loop: GenerationLoop, first: float,
              limit: float) -> tuple[list[float], float] | None:
        """What ``loop`` does before ``limit`` from its timeout due at ``first``
        on, if nothing but a batched window happens until then (no fault: the
        role, the CA and its CRL stay as they are): the times of the
        generations it makes, and how far that is known (``limit``, or the
        tick whose duration draw is not looked at).  ``None`` if a window
        cannot make its generations (an OCSP publisher or cache rebuilds would
        start SimPy work, or none would be made)."""
        node = loop.node
        if (self.on_generate or not self.spec.listen_to_clone_modifications
                or not self._current(node, loop.epoch) or not node.serving or node.crl_down
                or (loop.due is not None and loop.started_in != node.epoch)):
            return None
        times: list[float] = []
        k = loop.k
        due, tick = (first, first) if loop.due is not None else (None, first)
        draws = iter(node.crl_generation.ahead(MAX_GENERATIONS))
        while True:
            if due is None:  # the tick: the next generation starts
                if tick >= limit:
                    return times, limit
                delay = next(draws, None)
                if delay is None:
                    return times, tick
                k += 1
                due = tick + delay
            if due >= limit:
                return times, limit
            times.append(due)
            tick, due = due + loop.delay(due, k), None

    def generate_now(self, node: CaNode, now: float, position: int | None = None) -> None:
        directory = self.directory
        if self.spec.listen_to_clone_modifications:
            self._learn(node, now)
        number = self.crl_numbers.get(node.name, 0) + 1
        gid = len(self.gen_time)
        mods = (p.Mod(p.ModOp.REPLACE, "crlNumber", (str(number),)),
                p.Mod(p.ModOp.REPLACE, "description", (str(gid),)))
        result = directory.execute(p.Modify(self.dn, mods), replica=node.replica, now=now)
        if result.code is p.ResultCode.NO_SUCH_OBJECT:
            attrs = p.normalize_attrs({"objectClass": _RECORD_CLASSES, "cn": "MasterCRL",
                                       "crlNumber": number, "description": gid})
            result = directory.execute(p.Add(self.dn, attrs), replica=node.replica, now=now)
        if not result.ok:
            self.driver.note(node, Op.CRL, OpType.FAIL,
                             f"CRL {number} not stored: {result.code.name}", time=now,
                             position=position)
            return
        self.crl_numbers[node.name] = number
        self.gen_time.append(now)
        self.gen_ca.append(node.name)
        self.gen_number.append(number)
        self.gen_size.append(self.known)
        for idx in self.fresh:
            self.rev_gen[idx] = gid
            self.rev_in_crl[idx] = now
        self.by_gen[gid] = self.fresh
        self.fresh = []
        self.latest = gid
        self.driver.note(node, Op.CRL, OpType.OK, str(number), time=now, position=position)
        for hook in self.on_generate:
            hook(node, gid, now)

    # ------------------------------------------------------------ revocations
    def on_revoke(self, node: CaNode, serial: int, now: float) -> None:
        """``node`` marked ``serial`` revoked in its replica at ``now``."""
        if serial in self.revoked:
            return
        idx = len(self.rev_serial)
        self.revoked[serial] = idx
        self.rev_serial.append(serial)
        self.rev_ca.append(node.name)
        self.rev_time.append(now)
        self.rev_in_crl.append(math.nan)
        self.rev_served.append(math.nan)
        self.rev_gen.append(-1)
        if node is self.holder:
            self.known += 1
            self.fresh.append(idx)
            if self.spec.always_update and not node.crl_down:
                self.lane.call_at(now, lambda: self.env.process(self.generate(node)))
        else:
            self.pending.append(idx)

    def _visible(self, node: CaNode, idx: int, now: float) -> bool:
        dn = self.tree.record_dn(IdKind.CERT, self.rev_serial[idx])
        entry = self.directory.entry(node.replica, dn, now=now)
        return p.attr_first(entry, "certStatus") == "REVOKED"

    def _learn(self, node: CaNode, now: float) -> None:
        """Pick up revocations whose record change has reached ``node``'s replica."""
        if not self.pending:
            return
        still = []
        for idx in self.pending:
            if self._visible(node, idx, now):
                self.known += 1
                self.fresh.append(idx)
            else:
                still.append(idx)
        self.pending = still

    def _rebuild(self, node: CaNode, now: float) -> None:
        """Cache recovery on the (new) CRL CA: every revocation not yet in a CRL
        is known only if its record change is visible in this CA's replica."""
        waiting = sorted(self.pending + self.fresh)
        self.known -= len(self.fresh)
        self.pending, self.fresh = waiting, []
        self._learn(node, now)

    # ------------------------------------------------------------ serving
    def serve(self, node: CaNode, now: float, *, pull: bool = True) -> int | None:
        """The CRL generation ``node`` serves at ``now`` (``None``: none yet).

        The CRL CA serves its own latest CRL; another CA serves the record it
        finds in its replica (``clone_mode = "replicated"``), after pulling the
        replication that arrived there (``pull=False``: a batched window's
        read, which has every change to the record that arrived applied).
        A fetch that finds the generation the last one of its CA found does
        nothing (``served_upto`` covers it), so a window makes only the first
        of those (a repeatable read of :meth:`~pkisim.directory.runs.
        RecordRuns.add_record_runs`).
        """
        if node is self.holder:
            gid = self.latest
        else:
            values = self.directory.values(node.replica, self.dn, "description",
                                           now=now if pull else None)
            text = values[0] if values else None
            gid = int(text) if text is not None else None
        if gid is not None and gid > self.served_upto:
            for g in range(self.served_upto + 1, gid + 1):
                for idx in self.by_gen.get(g, ()):
                    if math.isnan(self.rev_served[idx]):
                        self.rev_served[idx] = now
            self.served_upto = gid
        return gid


__all__ = ["MAX_GENERATIONS", "CrlService", "GenerationLoop"]
