"""The issue's scenarios, small: steady state, a partition during claims,
issuance faster than refill, failover, a clone added under load, the KRA connector."""

from __future__ import annotations

import numpy as np
from sim_builders import small_ranges

from pkisim.history import History, check_ranges, waste_report
from pkisim.sim import (
    CaSpec,
    DirectorySpec,
    Distribution,
    Fault,
    LoadBalancer,
    RetryPolicy,
    Scenario,
    Workload,
    simulate,
)


def test_steady_state_is_valid(steady):
    result = simulate(steady(), seed=1)
    summary = result.summary()
    assert summary["valid"] is True
    assert summary["duplicated_count"] == 0
    assert summary["issued"] > 10_000
    assert summary["failures"] == {}
    assert summary["range_violations"] == 0 and summary["verdict"]["ranges"]["checked"] > 20_000
    assert set(result.requests["ca"].astype(str)) == {"ca1", "ca2", "ca3", "ca4"}
    # every clone got a slice from the master and claimed a full range at start-up
    claims = result.claims
    claimed = claims[(claims["event"] == "claimed") & (claims["kind"] == "cert")]
    assert sorted(claimed["ca"]) == ["ca2", "ca3", "ca4"]


def partition_during_claims(strategy: str) -> Scenario:
    """Two clones on two replicas; the replicas are partitioned when both
    clones' update tasks claim their next range (t = 600 s)."""
    cas = (CaSpec("ca1", "ds1", role="master", ids=small_ranges(strategy)),
           CaSpec("ca2", "ds1", donor="ca1"), CaSpec("ca3", "ds2", donor="ca1"))
    return Scenario("partition", duration=1200.0, cas=cas, strategy=strategy,
                    directory=DirectorySpec(("ds1", "ds2"), lag=0.0),
                    workload=Workload(enroll_rate=9.0),
                    faults=(Fault("partition", 100.0, (("ds1",), ("ds2",)), duration=900.0),))


def test_partition_during_claims_duplicates_under_legacy():
    result = simulate(partition_during_claims("legacy"), seed=3)
    summary = result.summary()
    assert summary["valid"] is False
    assert summary["duplicated_count"] > 100
    claims = result.claims
    during = claims[(claims["event"] == "claimed") & (claims["kind"] == "cert")
                    & claims["time"].between(100.0, 1000.0)]
    # the two claims that went through different replicas got the same range
    assert sorted(during["ca"]) == ["ca2", "ca3"]
    assert during["begin"].nunique() == 1 and during["counter"].nunique() == 1
    assert set(during["replica"]) == {"ds1", "ds2"}
    lo, hi = int(during["begin"].iloc[0]), int(during["end"].iloc[0])
    verdict = summary["verdict"]
    assert all(lo <= int(v) <= hi for v in verdict["serials"]["duplicated"])
    # the checker names the two claims and the replicas they went through
    why = verdict["explanations"][0]
    assert "ca2" in why and "ca3" in why and "on ds1" in why and "on ds2" in why
    assert "two claims read the same nextRange on different replicas" in why
    assert verdict["ranges"]["violations"]["overlap"] >= 1


def test_partition_during_claims_is_harmless_under_random():
    summary = simulate(partition_during_claims("random"), seed=3).summary()
    assert summary["valid"] is True
    assert summary["duplicated_count"] == 0
    assert summary["issued"] > 8_000


def test_issuance_faster_than_refill_exhausts_between_update_runs():
    ids = small_ranges("legacy2", increment=1000, low_water_mark=500)
    cas = (CaSpec("ca1", "ds1", role="master", ids=ids), CaSpec("ca2", "ds1", donor="ca1"))
    result = simulate(Scenario("refill", duration=1500.0, cas=cas,
                               workload=Workload(enroll_rate=10.0)), seed=1)
    failed = result.requests[result.requests["cause"] == "serial numbers exhausted"]
    assert len(failed) > 1000 and set(failed["ca"].astype(str)) == {"ca2"}
    claims = result.claims
    runs = claims[(claims["ca"] == "ca2") & (claims["event"] == "claimed")
                  & (claims["kind"] == "cert")]["time"].to_numpy()
    assert np.allclose(runs, [600.0, 1200.0], atol=1.0)  # claims wait for the update task
    # failures come in bursts that end at each update run, and never right after one
    ends = failed["end"].to_numpy()
    assert ((ends < runs[0]) | ((ends > runs[0] + 60) & (ends < runs[1]))
            | (ends > runs[1] + 60)).all()
    assert result.history.events_frame()["detail"].str.contains("exhausted").any()
    assert result.summary()["valid"] is True  # failing is not duplicating


def test_master_crash_fails_over_after_the_detection_window(steady):
    scenario = steady(duration=600.0, load_balancer=LoadBalancer("round-robin", 10.0, 3),
                      faults=(Fault("crash", 100.0, "ca1", duration=300.0),))
    result = simulate(scenario, seed=1)
    req = result.requests
    bad = req[req["outcome"] != "ok"]
    assert len(bad) > 0 and set(bad["ca"].astype(str)) == {"ca1"}
    window = 3 * 10.0 + 10.0  # threshold x interval, plus the phase of the first check
    assert bad["arrival"].between(100.0, 100.0 + window).all()
    after = req[req["arrival"].between(100.0 + window, 400.0)]
    assert (after["outcome"] == "ok").all() and "ca1" not in set(after["ca"].astype(str))
    # every failed client got its certificate on a retry
    retried = req[req["id"].isin(bad["id"]) & (req["attempt"] > 0)]
    assert (retried.groupby("id")["outcome"].apply(lambda s: (s == "ok").any())).all()
    # the repaired master is brought back
    assert (req[req["arrival"] > 450]["ca"] == "ca1").sum() > 100
    assert result.summary()["valid"] is True


def test_crash_between_signing_and_storing_gives_info_and_possible_duplicates():
    slow_store = Distribution("constant", 0.5)  # a wide window between signing and storing
    cas = (CaSpec("ca1", "ds1", role="master", directory_latency=slow_store, workers=16),
           CaSpec("ca2", "ds1", donor="ca1", workers=16))
    scenario = Scenario("lost", duration=300.0, cas=cas, workload=Workload(enroll_rate=30.0),
                        faults=(Fault("crash", 100.0, "ca1", duration=30.0),))
    result = simulate(scenario, seed=2)
    summary = result.summary()
    info = result.requests[result.requests["outcome"] == "info"]
    assert len(info) > 0 and set(info["cause"].astype(str)) == {"ca crashed"}
    # the restarted master resumed after the highest *stored* serial: it re-issued the lost ones
    assert summary["duplicated_count"] == 0 and summary["valid"] is True
    assert summary["possible_duplicated_count"] == len(info)


def test_clone_added_under_load_gets_a_slice_then_claims_a_full_range():
    cas = (CaSpec("ca1", "ds1", role="master"), CaSpec("ca2", "ds1", donor="ca1"),
           CaSpec("ca3", "ds1", donor="ca1", created_at=300.0))
    result = simulate(Scenario("grow", duration=900.0, cas=cas,
                               workload=Workload(enroll_rate=20.0)), seed=1)
    events = result.claims[(result.claims["ca"] == "ca3") & (result.claims["kind"] == "cert")]
    received = events[events["event"] == "received"].iloc[0]
    assert received["outcome"] == "transfer:ca1" and received["time"] >= 300.0
    assert received["end"] - received["begin"] + 1 == 0x10000  # dbs.serialCloneTransferNumber
    claimed = events[events["event"] == "claimed"].iloc[0]
    assert 300.0 <= claimed["time"] < 301.0  # its first checkRanges, at start-up
    assert claimed["end"] - claimed["begin"] + 1 == 0x10000000  # dbs.serialIncrement
    served = result.requests[result.requests["ca"] == "ca3"]
    assert len(served) > 1000 and served["arrival"].min() > 300.0
    assert result.summary()["valid"] is True


def test_key_archival_refused_on_a_clone_without_the_kra_connector():
    cas = (CaSpec("ca1", "ds1", role="master"),
           CaSpec("ca2", "ds1", donor="ca1", kra_connector=False))
    workload = Workload(enroll_rate=10.0, key_archival_fraction=0.3,
                        retry=RetryPolicy(max_retries=0))
    result = simulate(Scenario("kra", duration=600.0, cas=cas, workload=workload), seed=1)
    req = result.requests
    refused = req[req["cause"] == "key archival refused"]
    assert set(refused["ca"].astype(str)) == {"ca2"}
    share = len(refused) / (req["ca"] == "ca2").sum()
    assert 0.25 < share < 0.35
    assert (req[req["ca"] == "ca1"]["outcome"] == "ok").all()
    assert result.failures.set_index("cause").loc["key archival refused", "count"] == len(refused)


def test_a_clone_install_that_fails_half_way_strands_the_slices_already_cut(tmp_path):
    """The master's serial range is used up before the clone is installed: the
    request slice is cut (UpdateNumberRange runs per repository), the serial
    one fails, the install stops.  The request slice belongs to nobody: waste,
    accounted as stranded, not a bad transfer."""
    ids = small_ranges("legacy2", end=200, increment=200, low_water_mark=50,
                       clone_transfer_number=20)
    cas = (CaSpec("ca1", "ds1", role="master", ids=ids),
           CaSpec("ca2", "ds1", donor="ca1", created_at=300.0))
    result = simulate(Scenario("half-install", duration=500.0, cas=cas,
                               workload=Workload(enroll_rate=1.0)), seed=1)
    summary = result.summary()
    assert summary["valid"] is True and summary["range_violations"] == 0
    events = result.history.events_frame()
    lost = events[(events["f"] == "receive") & (events["type"] == "fail")]
    assert lost["process"].astype(str).tolist() == ["ca2"]
    assert lost["kind"].astype(str).tolist() == ["request"]
    assert "depleted" in lost["detail"].iloc[0] and "slice lost" in lost["detail"].iloc[0]
    waste = waste_report(result.history)
    row = waste[waste["source"] == "install failed"].iloc[0]
    assert (row["process"], row["kind"], row["status"]) == ("ca2", "request", "burned")
    assert row["stranded"] == row["end"] - row["begin"] + 1 == lost["end"].iloc[0] - lost[
        "begin"].iloc[0] + 1
    donor = waste[(waste["process"] == "ca1") & (waste["kind"] == "request")].iloc[0]
    assert donor["transferred"] == row["stranded"]
    result.history.save(tmp_path / "h.parquet")  # the lost slice survives the file
    assert check_ranges(History.load(tmp_path / "h.parquet")).valid
