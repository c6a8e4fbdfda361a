"""OCSP master and clones: CRLs published to one OCSP, replicated to the
others, and how stale each clone's answers are (RHCS planning guide 2.7.5:
"only one replicated OCSP receives CRL updates, and then the published CRLs
are replicated to the clones").

The model:

* Each CRL the CRL CA generates (:class:`~pkisim.sim.crl.CrlService`) is
  published, ``publish_latency`` seconds later, to the OCSP master, which
  stores it in its CRL issuing point record (the OCSP subsystem's own suffix,
  ``cn=MasterCRL,ou=crlIssuingPoints,ou=ocsp,o=pki-tomcat-OCSP``) on its
  directory replica.  The record replicates to the clones' replicas like any write
  (lag, partitions, replica outages and lag spikes all apply).  A CA whose
  CS.cfg has no OCSP publisher (``publishing_cas``: the publishing point is
  configured on the master CA only, planning guide 2.7.9) publishes nothing;
  nor does any CA while a ``publish-fail`` fault lasts, nor to an OCSP master
  that is down.  A failed publication is not retried: the next CRL, which is
  cumulative, carries the revocations.
* An OCSP instance answers from the CRL record in its own replica at the
  time of the request: a certificate is ``revoked`` once a CRL listing it has
  arrived there.  While that replica is down (a ``replica-down`` fault) it
  answers ``tryLater`` (counted as ``directory_down``).  When the record
  arrived is found by reading the replica when it is due (``publish + lag``)
  and then every :data:`PROBE` seconds until it is there.
* OCSP requests arrive as a Poisson stream (``request_rate``) and are spread
  round-robin over the OCSP instances in the balancer's pool (health checks as
  for the CAs); one sent to an instance that is down times out.  A share
  ``revoked_share`` asks about a certificate revoked in the last
  ``revoked_for`` seconds (uniformly: their holders still present them), the
  others about good certificates.  Answers do not change the PKI, so they are computed after the
  run from the recorded timelines (who was in the pool, who served, which CRL
  each replica held), with numpy, in one go.

Measured per revocation and OCSP instance: ``visible_at`` (the first CRL
listing it reached the instance's replica), ``answered_at`` (the first
``revoked`` answer from that instance), ``staleness = answered_at -
revoked_at``, and ``stale_answers``: ``good`` answers the instance gave for the
certificate after its revocation.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import simpy

from pkisim.errors import ConfigError
from pkisim.ids import protocol as p
from pkisim.seeding import Seeds
from pkisim.sim.balancer import Balancer
from pkisim.sim.config import LoadBalancer
from pkisim.sim.tks import Subsystem, SubsystemNode, SubsystemSpec

if TYPE_CHECKING:
    from pkisim.directory.memory import ReplicatedDirectory
    from pkisim.sim.ca import CaNode
    from pkisim.sim.crl import CrlService
    from pkisim.sim.lane import Lane

Process = Generator[simpy.Event, Any, Any]

#: How often (simulated seconds) a replica is read again for a CRL that is late.
PROBE = 1.0
_RECORD_CLASSES = ("top", "crlIssuingPointRecord")


@dataclass(frozen=True, slots=True)
class OcspSpec:
    """``[ocsp]``: the OCSP instances (a :class:`SubsystemSpec` of kind OCSP)
    and their clients.  ``publishing_cas`` (``None``: the CRL CA at the start)
    are the CAs whose CS.cfg has the OCSP publisher; ``publish_fail`` are
    windows ``(start, end)`` in which publishing fails."""

    subsystem: SubsystemSpec
    request_rate: float = 1.0
    revoked_share: float = 0.5
    revoked_for: float = 86400.0
    publish_latency: float = 0.5
    publishing_cas: tuple[str, ...] | None = None
    publish_fail: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        if not (math.isfinite(self.request_rate) and self.request_rate >= 0):
            raise ConfigError("ocsp.request_rate", self.request_rate, "must be a rate >= 0")
        if not 0 <= self.revoked_share <= 1:
            raise ConfigError("ocsp.revoked_share", self.revoked_share, "must be in [0, 1]")
        if not self.revoked_for > 0:
            raise ConfigError("ocsp.revoked_for", self.revoked_for, "must be > 0 seconds")
        if not self.publish_latency >= 0:
            raise ConfigError("ocsp.publish_latency", self.publish_latency, "must be >= 0")


class _Pool(Balancer):
    """The OCSP's balancer, which logs its pool: ``(time, names in rotation)``."""

    def __init__(self, spec: LoadBalancer, env: simpy.Environment) -> None:
        self.env = env
        self.log: list[tuple[float, tuple[int, ...]]] = []
        super().__init__(spec)

    def _rebuild(self) -> None:
        super()._rebuild()
        pool = tuple(node.index for node in self.pool)
        if self.log and self.log[-1][0] == self.env.now:
            self.log[-1] = (self.env.now, pool)
        else:
            self.log.append((self.env.now, pool))


class OcspService:
    """The OCSP instances of one run, the CRLs published to them and where
    those CRLs arrived; :meth:`tables` measures the answers after the run."""

    def __init__(self, spec: OcspSpec, subsystem: Subsystem, *, lane: Lane,
                 directory: ReplicatedDirectory, crl: CrlService, seeds: Seeds,
                 balancer: LoadBalancer, lag: float, duration: float, crl_ca: str) -> None:
        self.spec, self.subsystem, self.lane = spec, subsystem, lane
        self.env = subsystem.env
        self.directory, self.crl, self.seeds, self.lag = directory, crl, seeds, lag
        self.duration = duration
        tree = subsystem.tree
        self.containers = (tree.dn("ou=ocsp"), tree.dn("ou=crlIssuingPoints,ou=ocsp"))
        self.dn = f"cn=MasterCRL,{self.containers[1]}"
        self.nodes = list(subsystem.nodes.values())
        self.master = next(n for n in self.nodes if n.spec.role == "master")
        self.pool = _Pool(balancer, self.env)
        subsystem.on_serving.append(self._serving)
        crl.on_generate.append(self.publish)
        self.publishers = spec.publishing_cas if spec.publishing_cas is not None else (crl_ca,)
        # publications: (time, ca, gid, outcome, cause)
        self.published: list[tuple[float, str, int, str, str]] = []
        # per replica: the CRL generations that arrived there, in time order
        self.arrived: dict[str, list[tuple[float, int]]] = {n.replica: [] for n in self.nodes}
        self._probing: dict[str, int] = {}  # the newest generation a replica is probed for

    def start(self) -> None:
        """After the subsystem's tree is bootstrapped: the OCSP's containers."""
        self.directory.bootstrap(
            [p.Add(dn, p.normalize_attrs({"objectClass": ("top", "organizationalUnit"),
                                          "ou": dn.split(",", 1)[0].split("=", 1)[1]}))
             for dn in self.containers], now=self.env.now)
        self.env.process(self.pool.health_checks(self.env))
        for a, b in self.spec.publish_fail:
            self.subsystem.recorder.faults.append(
                ("ocsp-publish-fail", "all CAs", a, b if math.isfinite(b) else math.nan))

    def _serving(self, node: SubsystemNode) -> None:
        if self.pool.member(node) is None:
            self.pool.add(node, in_pool=self.env.now == 0)
        else:
            self.pool.wake()

    # ------------------------------------------------------------ publishing
    def publish(self, ca: CaNode, gid: int, now: float) -> None:
        """The CRL CA generated CRL ``gid``: publish it to the OCSP master."""
        if ca.name not in self.publishers:
            self.published.append((now, ca.name, gid, "fail",
                                   f"no OCSP publisher on {ca.name} (configured on "
                                   f"{', '.join(self.publishers) or 'no CA'} only)"))
            return
        if any(a <= now < b for a, b in self.spec.publish_fail):
            self.published.append((now, ca.name, gid, "fail", "publishing failed"))
            return
        self.lane.call_at(now, lambda: self.env.process(self._deliver(ca.name, gid)))

    def _deliver(self, ca: str, gid: int) -> Process:
        env = self.env
        if self.spec.publish_latency:
            yield env.timeout(self.spec.publish_latency)
        now = env.now
        master = self.master
        if not master.serving:
            self.published.append((now, ca, gid, "fail", "OCSP master down"))
            return
        mods = (p.Mod(p.ModOp.REPLACE, "description", (str(gid),)),)
        result = self.directory.execute(p.Modify(self.dn, mods), replica=master.replica, now=now)
        if result.code is p.ResultCode.NO_SUCH_OBJECT:
            attrs = p.normalize_attrs({"objectClass": _RECORD_CLASSES, "cn": "MasterCRL",
                                       "description": gid})
            result = self.directory.execute(p.Add(self.dn, attrs), replica=master.replica,
                                            now=now)
        if not result.ok:
            self.published.append((now, ca, gid, "fail", f"not stored: {result.code.name}"))
            return
        self.published.append((now, ca, gid, "ok", ""))
        self._arrive(master.replica, gid, now)
        for replica in self.arrived:
            if replica != master.replica and self._probing.get(replica, -1) < gid:
                self._probing[replica] = gid
                env.process(self._probe(replica, gid, now + self.lag))

    def _arrive(self, replica: str, gid: int, now: float) -> None:
        arrived = self.arrived[replica]
        if not arrived or arrived[-1][1] < gid:
            arrived.append((now, gid))

    def _probe(self, replica: str, gid: int, at: float) -> Process:
        """Read ``replica`` at ``at``, then every :data:`PROBE` seconds, until a
        generation >= ``gid`` is there (or a newer one is being probed for)."""
        env = self.env
        yield env.timeout(max(0.0, at - env.now))
        while self._probing.get(replica) == gid:
            entry = self.directory.entry(replica, self.dn, now=env.now)
            text = p.attr_first(entry, "description")
            seen = int(text) if text is not None else -1
            if seen >= 0:
                self._arrive(replica, seen, env.now)
            if seen >= gid:
                return
            yield env.timeout(PROBE)

    # ------------------------------------------------------------ measuring
    def tables(self) -> dict[str, pd.DataFrame]:
        """``ocsp`` (per instance: requests, timeouts, ``tryLater`` answers,
        ``good`` answers about revoked certificates, staleness quantiles in
        seconds), ``ocsp_staleness``
        (per revocation and instance) and ``ocsp_publish`` (per publication)."""
        crl = self.crl
        rng = self.seeds.numpy("ocsp/requests")
        count = int(rng.poisson(self.spec.request_rate * self.duration))
        times = np.sort(rng.uniform(0.0, self.duration, count))
        target = self._route(times)
        serving = self._serving_at(times, target)
        rev_time = np.asarray(crl.rev_time, dtype=float)
        rev_gen = np.asarray(crl.rev_gen, dtype=np.int64)
        order = np.argsort(rev_time, kind="stable")
        ordered = rev_time[order]
        hi = np.searchsorted(ordered, times, side="right")  # revoked up to t
        lo = np.searchsorted(ordered, times - self.spec.revoked_for, side="right")
        asks = rng.uniform(size=count) < self.spec.revoked_share
        picks = rng.uniform(size=count)
        asks &= hi > lo
        which = np.minimum(lo + (picks * (hi - lo)).astype(np.int64), hi - 1)
        rev = np.where(asks, order[np.clip(which, 0, None)] if len(order) else -1, -1)
        held = self._held(times, target)
        down = self._directory_down(times, target)
        answered_ = asks & serving & ~down
        revoked = answered_ & (rev_gen[rev] >= 0) & (held >= rev_gen[rev]) if len(rev_gen) \
            else answered_ & False
        stale = answered_ & ~revoked
        names = [n.name for n in self.nodes]
        staleness = self._staleness(times, target, rev, revoked, stale, names)
        rows = []
        for k, node in enumerate(self.nodes):
            mine = target == k
            of = staleness[staleness["ocsp"] == node.name]
            answered = of["staleness"].dropna().to_numpy(dtype=float)
            visible = of["visible_staleness"].dropna().to_numpy(dtype=float)
            rows.append({"ocsp": node.name, "role": node.spec.role, "replica": node.replica,
                         "requests": int(mine.sum()), "timeouts": int((mine & ~serving).sum()),
                         "directory_down": int((mine & serving & down).sum()),
                         "about_revoked": int((mine & answered_).sum()),
                         "revoked_answers": int((mine & revoked).sum()),
                         "stale_good_answers": int((mine & stale).sum()),
                         "staleness_p50": _q(answered, 0.5), "staleness_p95": _q(answered, 0.95),
                         "staleness_max": _q(answered, 1.0), "visible_p50": _q(visible, 0.5),
                         "visible_max": _q(visible, 1.0),
                         "never_answered_revoked": int(of["answered_at"].isna().sum())})
        per_instance = pd.DataFrame(rows)
        publish = pd.DataFrame(self.published, columns=["time", "ca", "crl", "outcome", "cause"])
        return {"ocsp": per_instance, "ocsp_staleness": staleness, "ocsp_publish": publish}

    def _route(self, times: np.ndarray) -> np.ndarray:
        """The instance index each request goes to (-1: none in the pool), round-robin."""
        target = np.full(len(times), -1, dtype=np.int64)
        log = self.pool.log or [(0.0, ())]
        starts = np.searchsorted(times, [t for t, _ in log], side="left")
        cursor = 0
        for (_, pool), a, b in zip(log, starts, [*starts[1:], len(times)], strict=True):
            n = len(pool)
            if not n or b <= a:
                continue
            first = cursor if cursor < n else 0
            picks = (first + np.arange(b - a)) % n
            target[a:b] = np.asarray(pool)[picks]
            cursor = int(picks[-1]) + 1
        return target

    def _serving_at(self, times: np.ndarray, target: np.ndarray) -> np.ndarray:
        out = np.zeros(len(times), dtype=bool)
        for k, node in enumerate(self.nodes):
            mine = target == k
            if not mine.any() or not node.changes:
                continue
            at = np.asarray([t for t, _ in node.changes])
            state = np.asarray([s for _, s in node.changes])
            i = np.searchsorted(at, times[mine], side="right") - 1
            out[mine] = np.where(i >= 0, state[np.clip(i, 0, None)], False)
        return out

    def _directory_down(self, times: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Requests to an instance whose directory replica is down (a
        ``replica-down`` fault): it cannot read its CRL and answers ``tryLater``."""
        out = np.zeros(len(times), dtype=bool)
        windows = [(target_, start, end) for kind, target_, start, end
                   in self.subsystem.recorder.faults if kind == "replica-down"]
        for k, node in enumerate(self.nodes):
            for replica, start, end in windows:
                if replica == node.replica:
                    stop = self.duration if math.isnan(end) else end
                    out |= (target == k) & (times >= start) & (times < stop)
        return out

    def _held(self, times: np.ndarray, target: np.ndarray) -> np.ndarray:
        """The newest CRL generation in the replica of each request's instance."""
        out = np.full(len(times), -1, dtype=np.int64)
        for k, node in enumerate(self.nodes):
            mine = target == k
            arrived = self.arrived[node.replica]
            if not mine.any() or not arrived:
                continue
            at = np.asarray([t for t, _ in arrived])
            gids = np.asarray([g for _, g in arrived], dtype=np.int64)
            i = np.searchsorted(at, times[mine], side="right") - 1
            out[mine] = np.where(i >= 0, gids[np.clip(i, 0, None)], -1)
        return out

    def _staleness(self, times: np.ndarray, target: np.ndarray, rev: np.ndarray,
                   revoked: np.ndarray, stale: np.ndarray, names: list[str]) -> pd.DataFrame:
        crl = self.crl
        columns = ["serial", "ocsp", "revoked_at", "in_crl_at", "visible_at", "answered_at",
                   "visible_staleness", "staleness", "stale_answers"]
        if not crl.rev_time:
            return pd.DataFrame({c: pd.Series(dtype=float) for c in columns})
        n_rev, n_node = len(crl.rev_time), len(self.nodes)
        first = np.full(n_rev * n_node, np.inf)
        key = rev * n_node + target
        np.minimum.at(first, key[revoked], times[revoked])
        stale_count = np.bincount(key[stale], minlength=n_rev * n_node)
        rev_time = np.repeat(np.asarray(crl.rev_time, dtype=float), n_node)
        rev_gen = np.repeat(np.asarray(crl.rev_gen, dtype=np.int64), n_node)
        node = np.tile(np.arange(n_node), n_rev)
        visible = np.full(n_rev * n_node, np.nan)
        for k, inst in enumerate(self.nodes):
            arrived = self.arrived[inst.replica]
            if not arrived:
                continue
            at = np.asarray([t for t, _ in arrived])
            gids = np.asarray([g for _, g in arrived], dtype=np.int64)
            mine = (node == k) & (rev_gen >= 0)
            i = np.searchsorted(gids, rev_gen[mine], side="left")  # gids increase
            visible[mine] = np.where(i < len(gids), at[np.clip(i, 0, len(at) - 1)], np.nan)
        answered = np.where(np.isinf(first), np.nan, first)
        return pd.DataFrame({
            "serial": pd.Series(np.repeat(np.asarray(crl.rev_serial, dtype=object), n_node),
                                dtype=object),
            "ocsp": pd.Categorical.from_codes(node, names),
            "revoked_at": rev_time,
            "in_crl_at": np.repeat(np.asarray(crl.rev_in_crl, dtype=float), n_node),
            "visible_at": visible, "answered_at": answered,
            "visible_staleness": visible - rev_time, "staleness": answered - rev_time,
            "stale_answers": stale_count})


def _q(values: np.ndarray, p: float) -> float:
    return float(np.quantile(values, p)) if len(values) else math.nan


def ocsp_summary(tables: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """The OCSP part of ``summary.json``: the per-instance table, publications."""
    out = {str(row["ocsp"]): {k: (None if isinstance(v, float) and math.isnan(v) else v)
                              for k, v in row.items() if k != "ocsp"}
           for row in tables["ocsp"].to_dict(orient="records")}
    publish = tables["ocsp_publish"]
    failed = publish[publish["outcome"] == "fail"]
    return {"instances": out, "published": int((publish["outcome"] == "ok").sum()),
            "publish_failures": {str(k): int(v) for k, v in
                                 failed.groupby("cause").size().sort_index().items()}}


__all__ = ["PROBE", "OcspService", "OcspSpec", "ocsp_summary"]
