"""Every allocation strategy runs in the world: the fast path (sequential
ranges, RSNv3), the directory path (RSNv1 checks each serial against its
replica) and DNA's peer-to-peer range requests."""

from __future__ import annotations

import pytest
from sim_builders import small_ranges

from pkisim.sim import CaSpec, DirectorySpec, Scenario, Workload, simulate


def two_replicas(strategy: str) -> Scenario:
    cas = (CaSpec("ca1", "ds1", role="master", ids=small_ranges(strategy)),
           CaSpec("ca2", "ds1", donor="ca1"), CaSpec("ca3", "ds2", donor="ca1"))
    return Scenario("strategies", duration=500.0, cas=cas, strategy=strategy,
                    directory=DirectorySpec(("ds1", "ds2"), lag=0.5),
                    workload=Workload(enroll_rate=6.0))


@pytest.mark.parametrize("strategy", ["legacy", "legacy2", "legacy-random", "random", "naive",
                                      "dna"])
def test_strategy_runs_and_stays_unique_before_the_first_update_run(strategy):
    result = simulate(two_replicas(strategy), seed=1)
    summary = result.summary()
    assert summary["issued"] > 2800
    assert summary["valid"] is True and summary["range_violations"] == 0
    served = result.requests.groupby("ca", observed=True).size()
    assert set(served.index) == {"ca1", "ca2", "ca3"}


def test_dna_clones_get_their_ranges_from_a_peer():
    claims = simulate(two_replicas("dna"), seed=1).claims
    received = claims[(claims["event"] == "received") & (claims["kind"] == "cert")
                      & claims["ca"].isin(["ca2", "ca3"])]
    empty = received[received["outcome"] == "initial"]  # a DNA clone starts with nothing
    assert (empty["end"] < empty["begin"]).all() and len(empty) == 2
    given = received[received["outcome"] == "dna:ca1"]
    assert sorted(given["ca"]) == ["ca2", "ca3"] and (given["end"] > given["begin"]).all()
