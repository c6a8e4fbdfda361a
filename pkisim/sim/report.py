"""From a finished :class:`~pkisim.sim.world.Simulation` to its :class:`RunResult`:
the tables, the exhaustion forecast and the checkers' verdict."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pkisim.directory import protocol as p
from pkisim.history.history import History, Op, OpType
from pkisim.ids.config import RANGED_STRATEGIES, IdKind
from pkisim.sim import metrics as m
from pkisim.sim.config import DAY
from pkisim.sim.requests import DONE

if TYPE_CHECKING:
    from pkisim.sim.world import Simulation


def build_result(world: Simulation) -> m.RunResult:
    scenario = world.scenario
    rec = world.recorder
    requests = rec.requests_frame([node.name for node in world.nodes])
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
    in_flight = sum(1 for item in world._heap if item[2] == DONE)
    stats = {"lane_events": world.lane_events, "arrivals": world.flow.next_id,
             "in_flight_at_end": in_flight}
    return m.RunResult(
        scenario=scenario, seed=world.seed, requests=requests,
        throughput=m.throughput_frame(requests, scenario.throughput_bin, scenario.duration),
        failures=m.failures_frame(requests), claims=m.claims_frame(rec.claims),
        space=m.space_frame(rec.space), forecast=forecast_frame(world), crl=crl_frame,
        crl_staleness=staleness, faults=m.faults_frame(rec.faults), history=world.history,
        verdict=verdict(world.history, crl_frame), stats=stats)


def forecast_frame(world: Simulation) -> pd.DataFrame:
    """Per ID space: how long the configured space lasts at the run's mean rate.

    ``held`` is what live CAs still hold (current + next ranges); ``space`` adds
    what the shared ``nextRange`` counter can still hand out below the ceiling
    (RFC 5280's 20 octets for serials) when any CA manages ranges; with serial
    management off everywhere, ``held`` is all there is.
    """
    scenario = world.scenario
    strategy = scenario.strategy
    master = next(n for n in world.nodes if n.spec.role == "master")
    rows = []
    for kind in (IdKind.CERT, IdKind.REQUEST):
        live = [n for n in world.nodes if n.repos is not None and not n.gone]
        used = sum(n.issued(kind) for n in world.nodes)
        rate = used / scenario.duration * DAY
        counter: int | None = None
        if strategy in RANGED_STRATEGIES:
            ceiling = m.CEILINGS[kind.value]
            held = sum(n.repos[kind].remaining() for n in live)  # type: ignore[index]
            managed = any(n.repos[kind].serial_management for n in live)  # type: ignore[index]
            entry = world.directory.entry(master.replica,
                                          world.tree.counter_dn(kind, strategy),
                                          now=world.env.now)
            text = p.attr_first(entry, "nextRange")
            counter = int(text) if text is not None and text.isdigit() else None
            space = held + (max(0, ceiling - counter + 1) if managed and counter else 0)
        else:
            bits = max((n.repos[kind].config.id_length for n in live), default=128)  # type: ignore[index]
            ceiling = 2**bits - 1
            held = space = max(0, ceiling - used)
        days = space / rate if rate > 0 else math.inf
        rows.append({"kind": kind.value, "strategy": strategy, "ceiling": float(ceiling),
                     "counter": None if counter is None else float(counter),
                     "held": float(held), "space": float(space), "used": used,
                     "rate_per_day": rate, "days_to_exhaustion": days,
                     "forecast_date": m.forecast_date(scenario.start_date, days)})
    return pd.DataFrame(rows)


def _check_unique_fallback(history: History, op: Op) -> dict[str, Any]:
    """Certain and possible duplicates among issued values of ``op``."""
    c = history.columns()
    rows = np.flatnonzero((c.op == op) & ((c.type == OpType.OK) | (c.type == OpType.INFO)))
    ok = c.type[rows] == OpType.OK
    values = history.values(rows)
    seen: dict[int | None, int] = {}
    for value, certain in zip(values, ok, strict=True):
        if certain:
            seen[value] = seen.get(value, 0) + 1
    duplicated = {v: k for v, k in seen.items() if k > 1}
    possible = sum(1 for value, certain in zip(values, ok, strict=True)
                   if not certain and value in seen)
    return {"valid": not duplicated, "issued": int(ok.sum()),
            "duplicated_count": len(duplicated),
            "duplicated": dict(sorted(duplicated.items(), key=lambda kv: -kv[1])[:48]),
            "possible_duplicated_count": possible}


def verdict(history: History, crl: pd.DataFrame) -> dict[str, Any]:
    """The checkers' verdict on certificate serials and request IDs."""
    certs = _check_unique_fallback(history, Op.ISSUE_CERT)
    requests = _check_unique_fallback(history, Op.ISSUE_REQUEST)
    numbers = crl["number"].to_numpy()
    crl_ok = bool(np.all(np.diff(numbers) > 0))
    return {"valid": certs["valid"] and requests["valid"] and crl_ok,
            "issued": certs["issued"], "duplicated_count": certs["duplicated_count"],
            "duplicated": {str(k): v for k, v in certs["duplicated"].items()},
            "possible_duplicated_count": certs["possible_duplicated_count"],
            "range_violations": None,
            "request_ids": {k: v for k, v in requests.items() if k != "duplicated"},
            "crl_numbers_increasing": crl_ok}
