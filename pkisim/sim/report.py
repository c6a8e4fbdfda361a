"""From a finished :class:`~pkisim.sim.world.Simulation` to its :class:`RunResult`:
the tables, the exhaustion forecast and the checkers' verdict."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

import pkisim.sim.metrics as m
from pkisim.history import (
    CrlAction,
    CrlEvent,
    Revocation,
    check_crl,
    check_ranges,
    check_unique,
    explain_duplicates,
)
from pkisim.history.history import Op
from pkisim.ids import protocol as p
from pkisim.ids.config import IdKind
from pkisim.ids.strategies import STRATEGY
from pkisim.ids.tree import DogtagTree
from pkisim.sim.config import DAY
from pkisim.sim.kra import kra_verdict
from pkisim.sim.requests import DONE

if TYPE_CHECKING:
    from pkisim.sim.world import Simulation


def build_result(world: Simulation) -> m.RunResult:
    scenario = world.scenario
    rec = world.recorder
    requests = rec.requests_frame([node.name for node in world.nodes])
    totals = rec.ok_totals()
    crl = world.crl
    crl_frame = pd.DataFrame({"time": crl.gen_time, "ca": crl.gen_ca, "number": crl.gen_number,
                              "size": crl.gen_size})
    revoked_at = np.asarray(crl.rev_time, dtype=float)
    in_crl = np.asarray(crl.rev_in_crl, dtype=float)
    served = np.asarray(crl.rev_served, dtype=float)
    staleness = pd.DataFrame({"serial": pd.Series(crl.rev_serial, dtype=object),
                              "ca": crl.rev_ca, "revoked_at": revoked_at,
                              "in_crl_at": in_crl, "served_at": served,
                              "staleness": in_crl - revoked_at,
                              "served_staleness": served - revoked_at})
    extra, extra_summary = world.pki.collect()
    checked = verdict(world)
    if extra_summary.get("replica_ids", {}).get("valid") is False:
        checked["valid"] = False  # two servers of one replication topology share an ID
    stats = {"lane_events": world.lane.events, "arrivals": world.flow.next_id,
             "in_flight_at_end": world.lane.pending(DONE)}
    return m.RunResult(
        scenario=scenario, seed=world.seed, requests=requests,
        throughput=m.throughput_frame(requests, scenario.throughput_bin, scenario.duration,
                                      totals),
        failures=m.failures_frame(requests), claims=m.claims_frame(world.history),
        space=m.space_frame(rec.space), forecast=forecast_frame(world), crl=crl_frame,
        crl_staleness=staleness, faults=m.faults_frame(rec.faults), history=world.history,
        verdict=checked, stats=stats, ok_totals=totals, extra=extra,
        extra_summary=extra_summary)


def forecast_frame(world: Simulation) -> pd.DataFrame:
    """Per ID space: how long the configured space lasts at the run's mean rate.

    ``held`` is what live CAs still hold (current + next ranges), and
    ``held_days`` how long that lasts if no claim succeeds any more; ``space`` adds
    what the shared ``nextRange`` counter can still hand out below the ceiling
    (RFC 5280's 20 octets for serials) when any CA manages ranges; with serial
    management off everywhere, ``held`` is all there is.
    """
    master = next(n for n in world.nodes if n.spec.role == "master")
    live = [n for n in world.nodes if n.repos is not None and not n.gone]
    rows = [_forecast_row(world, kind, live, sum(n.issued(kind) for n in world.nodes),
                          master.replica, world.tree) for kind in (IdKind.CERT, IdKind.REQUEST)]
    kra = world.kra
    if kra is not None:  # the KRAs' key IDs and request IDs, in their own database
        rows += [_forecast_row(world, kind, kra.nodes, kra.issued(kind), kra.master_replica,
                               kra.tree) for kind in (IdKind.KEY, IdKind.KEY_REQUEST)]
    return pd.DataFrame(rows)


def _forecast_row(world: Simulation, kind: IdKind, live: Sequence[Any], used: int,
                  replica: str, tree: DogtagTree) -> dict[str, Any]:
    """One ID space's row of :func:`forecast_frame`: ``live`` instances hold it,
    ``used`` numbers were issued, its ``nextRange`` is read on ``replica``."""
    scenario = world.scenario
    live = [n for n in live if n.repos is not None]
    # a KRA under legacy-random runs SSNv1 (its repositories say so)
    strategy = live[0].repos[kind].strategy if live else scenario.strategy
    mode = STRATEGY[strategy]
    rate = used / scenario.duration * DAY
    counter: int | None = None
    if mode.ranged:
        ceiling = m.CEILINGS[kind.value]
        held = sum(n.repos[kind].remaining() for n in live)  # type: ignore[index]
        managed = any(n.repos[kind].serial_management for n in live)  # type: ignore[index]
        entry = world.directory.entry(replica, tree.counter_dn(kind, strategy),
                                      now=world.env.now)
        text = p.attr_first(entry, "nextRange")
        counter = int(text) if text is not None and text.isdigit() else None
        space = held + (max(0, ceiling - counter + 1) if managed and counter else 0)
    elif mode.on_demand:  # DNA: no shared counter, the servers' ranges are all there is
        held = space = sum(n.repos[kind].remaining() for n in live)  # type: ignore[index]
        ceiling = held
    else:  # RSNv3: the whole 2**bits space, less what was used
        bits = max((n.repos[kind].config.id_length for n in live), default=128)  # type: ignore[index]
        ceiling = 2**bits - 1
        held = space = max(0, ceiling - used)
    days = space / rate if rate > 0 else math.inf
    return {"kind": kind.value, "strategy": strategy, "ceiling": float(ceiling),
            "counter": None if counter is None else float(counter),
            "held": float(held), "space": float(space), "used": used,
            "rate_per_day": rate,
            "held_days": held / rate if rate > 0 else math.inf,
            "days_to_exhaustion": days,
            # the space left is what remains at the END of the run
            "forecast_date": m.forecast_date(scenario.start_date,
                                             scenario.duration / DAY + days)}


def crl_events(world: Simulation) -> list[CrlEvent]:
    """The CRL role changes and generations, for :func:`check_crl`.  A
    generation lists the revocations it was the first CRL to contain (CRLs are
    cumulative; the checker looks for each serial's first listing)."""
    crl = world.crl
    events = [CrlEvent(t, ca, CrlAction(action)) for t, ca, action in crl.role_log]
    for gid, (t, ca, number) in enumerate(zip(crl.gen_time, crl.gen_ca, crl.gen_number,
                                             strict=True)):
        serials = frozenset(crl.rev_serial[i] for i in crl.by_gen.get(gid, ()))
        events.append(CrlEvent(t, ca, CrlAction.GENERATE, number, serials))
    return events


def verdict(world: Simulation) -> dict[str, Any]:
    """The checkers' verdict.  ``valid``: no certain duplicate serial or request
    ID, and CRL numbers strictly increasing with one generator at a time.
    Range-invariant violations and late CRL listings are reported beside it."""
    history = world.history
    scenario = world.scenario
    certs = check_unique(history, Op.ISSUE_CERT)
    requests = check_unique(history, Op.ISSUE_REQUEST)
    # numbers increase within a range, except where they are drawn at random (RSNv1)
    ranges = check_ranges(history, sequential=STRATEGY[scenario.strategy].sequential)
    crl = world.crl
    revocations = [Revocation(t, ca, serial) for t, ca, serial
                   in zip(crl.rev_time, crl.rev_ca, crl.rev_serial, strict=True)]
    bound = scenario.crl.auto_update_interval + 60.0
    crl_result = check_crl(crl_events(world), revocations, bound, end_time=scenario.duration)
    crl_rules = Counter(v.rule for v in crl_result.violations)
    crl_ok = not (crl_rules["crl-number"] or crl_rules["two-generators"] or crl_rules["no-role"])
    witnesses = explain_duplicates(history, certs, limit=10)
    witnesses += explain_duplicates(history, requests, limit=10)
    out = {
        "valid": certs.valid and requests.valid and crl_ok,
        "issued": certs.acknowledged_count,
        "duplicated_count": certs.duplicated_count,
        "possible_duplicated_count": certs.possible_duplicated_count,
        "range_violations": sum(ranges.counts().values()),
        "serials": certs.to_dict(),
        "request_ids": requests.to_dict(),
        "ranges": {"valid": ranges.valid, "checked": ranges.checked_count,
                   "violations": ranges.counts(),
                   "first": [str(v) for v in ranges.violations[:10]]},
        "crl": {"valid": crl_ok, "violations": dict(sorted(crl_rules.items())),
                "listed": len(crl_result.latencies), "pending": len(crl_result.pending),
                "bound": bound},
        "explanations": [str(w) for w in witnesses],
    }
    if world.kra is not None:  # key IDs, KRA request IDs, recovered keys
        out["kra"] = kra_verdict(world.kra, history)
        out["valid"] = out["valid"] and out["kra"]["valid"]
        out["explanations"] += out["kra"]["explanations"]
    return out
