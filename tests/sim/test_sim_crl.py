"""The CRL CA: staleness, an outage, a role move, clone revocations through replication."""

from __future__ import annotations

import numpy as np

from pkisim.sim import CaSpec, CrlSpec, DirectorySpec, Fault, Scenario, Workload, simulate


def crl_world(*faults: Fault, **crl: object) -> Scenario:
    cas = (CaSpec("ca1", "ds1", role="master", crl_master=True),
           CaSpec("ca2", "ds2", donor="ca1"), CaSpec("ca3", "ds2", donor="ca1"))
    spec = CrlSpec(**{"auto_update_interval": 60.0, **crl})  # type: ignore[arg-type]
    return Scenario("crl", duration=3000.0, cas=cas, directory=DirectorySpec(("ds1", "ds2"), 1.0),
                    workload=Workload(enroll_rate=5.0, revoke_rate=0.5, crl_fetch_rate=2.0),
                    crl=spec, faults=faults)


def test_revocations_reach_a_crl_within_an_update_interval():
    result = simulate(crl_world(), seed=2)
    stale = result.crl_staleness
    assert len(stale) > 1000 and set(stale["ca"]) == {"ca1", "ca2", "ca3"}
    done = stale.dropna(subset=["in_crl_at"])
    assert len(done) >= len(stale) - 60  # the last minute's revocations wait for the next CRL
    # at most one interval, plus replication lag and the generation time for clone revocations
    assert done["staleness"].max() <= 60.0 + 1.0 + 2.0 + 1e-9
    assert (done["served_staleness"].dropna() >= done["staleness"].dropna().min()).all()
    assert (result.crl["ca"] == "ca1").all() and len(result.crl) == 50
    assert result.summary()["crl"]["numbers_increasing"] is True


def test_crl_ca_down_makes_staleness_grow():
    base = simulate(crl_world(), seed=2).crl_staleness
    down = simulate(crl_world(Fault("crl-down", 1000.0, "ca1", duration=900.0)), seed=2)
    stale = down.crl_staleness
    assert stale["staleness"].max() > 800.0 > base["staleness"].max()
    during = stale[stale["revoked_at"].between(1000.0, 1900.0)]
    assert (during["in_crl_at"] >= 1900.0).all()
    assert not down.crl["time"].between(1000.0 + 2.0, 1900.0).any()  # no CRL while down
    assert down.faults.iloc[0].to_dict() == {"kind": "crl-down", "target": "ca1",
                                             "start": 1000.0, "end": 1900.0}


def test_crl_role_move_continues_numbering_from_the_replicated_record():
    result = simulate(crl_world(Fault("crl-move", 1500.0, "ca2")), seed=2)
    crl = result.crl
    assert set(crl[crl["time"] < 1500.0]["ca"]) == {"ca1"}
    assert set(crl[crl["time"] >= 1500.0]["ca"]) == {"ca2"}
    numbers = crl["number"].to_numpy()
    assert (np.diff(numbers) == 1).all()  # strictly increasing, no gap, across the move
    verdict = result.summary()["verdict"]
    assert verdict["crl"]["valid"] is True and verdict["valid"] is True


def test_crl_role_move_across_a_partition_makes_numbers_go_backwards():
    """Pagure 3085's fix reads the replicated CRL record; a new CRL CA whose
    replica has not seen the latest record still numbers from a stale one."""
    partition = Fault("partition", 100.0, (("ds1",), ("ds2",)), duration=1900.0)
    result = simulate(crl_world(partition, Fault("crl-move", 1500.0, "ca2")), seed=2)
    numbers = result.crl["number"].to_numpy()
    assert (np.diff(numbers) <= 0).any()
    verdict = result.summary()["verdict"]
    assert verdict["valid"] is False and verdict["duplicated_count"] == 0
    assert verdict["crl"]["violations"]["crl-number"] >= 1


def test_without_listening_clone_revocations_wait_for_a_cache_rebuild():
    result = simulate(crl_world(listen_to_clone_modifications=False), seed=2)
    stale = result.crl_staleness
    on_clones = stale[stale["ca"] != "ca1"]
    assert len(on_clones) > 500 and on_clones["in_crl_at"].isna().all()
    assert stale[stale["ca"] == "ca1"]["in_crl_at"].notna().sum() > 400
    rebuilt = simulate(crl_world(listen_to_clone_modifications=False,
                                 cache_rebuild_interval=1000.0), seed=2).crl_staleness
    late = rebuilt[(rebuilt["ca"] != "ca1") & (rebuilt["revoked_at"] < 900.0)]
    assert late["in_crl_at"].between(1000.0, 1100.0).all()


def test_redirect_mode_sends_crl_fetches_to_the_crl_ca():
    result = simulate(crl_world(clone_mode="redirect"), seed=2)
    fetches = result.requests[result.requests["kind"] == "crl"]
    assert len(fetches) > 4000 and (fetches["ca"] == "ca1").all()
