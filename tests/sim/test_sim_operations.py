"""Planned operations, the balancer's policies, directory faults and workload shapes."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from pkisim.sim import (
    Burst,
    CaSpec,
    DirectorySpec,
    Distribution,
    Fault,
    LoadBalancer,
    Scenario,
    Workload,
    simulate,
)


def test_maintenance_is_drained_first_but_a_crash_is_not(steady):
    planned = simulate(steady(faults=(Fault("maintenance", 100.0, "ca2", duration=200.0),)),
                       seed=4)
    crashed = simulate(steady(faults=(Fault("crash", 100.0, "ca2", duration=200.0),)), seed=4)
    assert planned.summary()["failures"] == {}
    assert crashed.summary()["failures"].get("host down", 0) > 0
    req = planned.requests
    away = req[(req["ca"] == "ca2") & req["arrival"].between(100.0, 300.0)]
    assert away.empty  # out of rotation for the whole window
    assert (req[req["arrival"] > 320.0]["ca"] == "ca2").sum() > 100  # back after a good check


def test_decommissioned_clone_leaves_the_balancer_and_strands_its_range():
    cas = (CaSpec("ca1", "ds1", role="master"), CaSpec("ca2", "ds1", donor="ca1"),
           CaSpec("ca3", "ds1", donor="ca1", decommissioned_at=200.0))
    result = simulate(Scenario("retire", duration=600.0, cas=cas,
                               workload=Workload(enroll_rate=10.0)), seed=1)
    req = result.requests
    assert (req[req["ca"] == "ca3"]["arrival"] < 200.0).all()
    assert result.summary()["failures"] == {}
    space = result.space[(result.space["ca"] == "ca3") & (result.space["kind"] == "cert")]
    last = space.iloc[-1]
    assert last["remaining"] == 0 and last["stranded"] > 0x10000000 // 2
    assert result.history.events_frame()["detail"].str.contains("decommissioned").any()


def test_replica_down_fails_the_requests_of_the_ca_bound_to_it():
    cas = (CaSpec("ca1", "ds1", role="master"), CaSpec("ca2", "ds2", donor="ca1"))
    scenario = Scenario("ds-down", duration=600.0, cas=cas,
                        directory=DirectorySpec(("ds1", "ds2"), lag=0.5),
                        workload=Workload(enroll_rate=10.0),
                        faults=(Fault("replica-down", 100.0, "ds2", duration=100.0),))
    result = simulate(scenario, seed=1)
    bad = result.requests[result.requests["cause"] == "directory down"]
    assert len(bad) > 100 and set(bad["ca"].astype(str)) == {"ca2"}
    assert bad["arrival"].between(95.0, 200.0).all()
    assert result.summary()["valid"] is True


def test_sticky_tls_keeps_each_client_on_one_host(steady):
    result = simulate(steady(load_balancer=LoadBalancer("sticky"),
                             workload=Workload(enroll_rate=20.0, clients=50)), seed=1)
    hosts = result.requests.groupby("client")["ca"].nunique()
    assert (hosts == 1).all() and len(hosts) == 50


def test_least_outstanding_avoids_a_slow_host():
    slow = Distribution("constant", 1.0)
    cas = (CaSpec("ca1", "ds1", role="master"), CaSpec("ca2", "ds1", donor="ca1", enroll=slow))
    share = {}
    for policy in ("round-robin", "least-outstanding"):
        result = simulate(Scenario("lo", duration=600.0, cas=cas,
                                   workload=Workload(enroll_rate=4.0),
                                   load_balancer=LoadBalancer(policy)), seed=1)
        share[policy] = (result.requests["ca"] == "ca2").mean()
    assert share["round-robin"] == pytest.approx(0.5, abs=0.01)
    assert share["least-outstanding"] < 0.4


def test_bursts_and_diurnal_profile_shape_the_arrivals(steady):
    burst = Workload(enroll_rate=5.0, bursts=(Burst(200.0, 100.0, 4.0),))
    arrivals = simulate(steady(workload=burst), seed=1).requests["arrival"].to_numpy()
    inside = np.count_nonzero((arrivals >= 200.0) & (arrivals < 300.0))
    before = np.count_nonzero(arrivals < 200.0)
    assert inside / 100.0 == pytest.approx(20.0, rel=0.15)
    assert before / 200.0 == pytest.approx(5.0, rel=0.15)
    day = Workload(enroll_rate=0.5, diurnal_amplitude=0.8, peak_hour=12.0)
    arrivals = simulate(steady(duration=86_400.0, workload=day), seed=1).requests["arrival"]
    hours = (arrivals // 3600).value_counts()
    assert hours.loc[11:13].mean() > 3 * hours.loc[[0, 1, 23]].mean()


def test_trace_replay_uses_the_timestamps(steady, tmp_path):
    times = [0.5, 1.25, 7.0, 7.0, 100.0, 599.0, 700.0]
    trace = tmp_path / "trace.csv"
    trace.write_text("time,client\n" + "".join(f"{t},x\n" for t in times))
    result = simulate(steady(workload=Workload(trace=str(trace))), seed=1)
    assert sorted(result.requests["arrival"]) == times[:-1]  # 700 s is after the run
    assert (result.requests["outcome"] == "ok").all()


def test_forecast_of_a_lone_master_without_serial_management():
    """No clone ever asked the master for a range, so it never claims: the
    range it holds is all the space there is."""
    scenario = Scenario("alone", duration=3600.0, cas=(CaSpec("ca1", "ds1", role="master"),),
                        workload=Workload(enroll_rate=2.0), start_date="2026-03-01")
    result = simulate(scenario, seed=1)
    cert = result.forecast.set_index("kind").loc["cert"]
    used = result.summary()["issued"]
    assert cert["used"] == used and cert["held"] == 0x10000000 - used
    assert cert["space"] == cert["held"] and cert["days_to_exhaustion"] == cert["held_days"]
    assert cert["rate_per_day"] == pytest.approx(used * 24)
    days = cert["held"] / cert["rate_per_day"]
    # counted from the end of the run, when that much space is left
    expected = (dt.date(2026, 3, 1) + dt.timedelta(days=3600 / 86400 + days)).isoformat()
    assert cert["forecast_date"] == expected
    assert result.summary()["forecast"][0]["forecast_date"] == expected
