"""OCSP master and clones: CRLs published to the master, replicated to the
clones, staleness per clone (issue 16, item 2)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pkisim.errors import ConfigError
from pkisim.scenario import scenario_from_dict
from pkisim.sim import CaSpec, CrlSpec, DirectorySpec, Fault, Scenario, Simulation, Workload
from pkisim.sim.metrics import RunResult
from pkisim.sim.ocsp import OcspSpec
from pkisim.sim.tks import InstanceSpec, OutageSpec, SubsystemSpec

HOUR = 3600.0
DAY = 86400.0


def _scenario(*, lag: float = 0.5, ocsp_faults: tuple[OutageSpec, ...] = (),
              publish_fail: tuple[tuple[float, float], ...] = (),
              faults: tuple[Fault, ...] = (), publishing: tuple[str, ...] | None = None,
              ) -> Scenario:
    cas = (CaSpec("ca1", "ds1", role="master", crl_master=True),
           CaSpec("ca2", "ds2", donor="ca1", created_at=60.0))
    ocsp = OcspSpec(SubsystemSpec("OCSP", (InstanceSpec("ocsp1", "ds1", role="master"),
                                           InstanceSpec("ocsp2", "ds2", donor="ocsp1"),
                                           InstanceSpec("ocsp3", "ds3", donor="ocsp2")),
                                  faults=ocsp_faults),
                    request_rate=3.0, publish_fail=publish_fail, publishing_cas=publishing)
    return Scenario("ocsp-test", duration=DAY, cas=cas,
                    directory=DirectorySpec(("ds1", "ds2", "ds3"), lag=lag),
                    workload=Workload(enroll_rate=0.05, revoke_rate=0.005),
                    crl=CrlSpec(auto_update_interval=HOUR), ocsp=ocsp, faults=faults)


def _run(scenario: Scenario, seed: int = 4) -> RunResult:
    return Simulation(scenario, seed=seed).run()


def _stale(result: RunResult, name: str) -> pd.DataFrame:
    frame = result.extra["ocsp_staleness"]
    return frame[frame["ocsp"] == name].reset_index(drop=True)


def test_healthy_clones_answer_revoked_within_one_crl_interval_plus_lag() -> None:
    result = _run(_scenario())
    assert result.summary()["ocsp"]["publish_failures"] == {}
    for name in ("ocsp1", "ocsp2", "ocsp3"):
        mine = _stale(result, name)
        listed = mine.dropna(subset=["visible_at"])
        assert len(listed) > 50
        # the CRL reaches the clone's replica once it is generated, published and replicated
        delay = listed["visible_at"] - listed["in_crl_at"]
        expected = 0.5 if name == "ocsp1" else 1.0  # publish latency (+ replication lag)
        assert np.allclose(delay, expected)
        assert (listed["visible_staleness"] <= HOUR + 1.0).all()
        answered = mine.dropna(subset=["answered_at"])
        assert (answered["answered_at"] >= answered["visible_at"]).all()
    table = result.extra["ocsp"].set_index("ocsp")
    assert table["timeouts"].sum() == 0
    # round-robin: every instance gets a third of the requests
    assert (abs(table["requests"] / table["requests"].sum() - 1 / 3) < 0.01).all()


def test_an_ocsp_master_outage_makes_every_clone_stale_until_it_returns() -> None:
    down = OutageSpec("down", "ocsp1", 8 * HOUR, 5 * HOUR)
    result = _run(_scenario(ocsp_faults=(down,)))
    publish = result.extra["ocsp_publish"]
    failed = publish[publish["outcome"] == "fail"]
    assert set(failed["cause"]) == {"OCSP master down"}
    assert len(failed) == 5  # the hourly CRLs of the outage
    assert failed["time"].between(8 * HOUR, 13 * HOUR).all()
    for name in ("ocsp2", "ocsp3"):
        mine = _stale(result, name)
        during = mine[mine["in_crl_at"].between(8 * HOUR, 13 * HOUR)]
        assert len(during)
        # first published after the outage (the next CRL carries them)
        assert (during["visible_at"] > 13 * HOUR).all()
        assert during["stale_answers"].sum() > 0
    table = result.extra["ocsp"].set_index("ocsp")
    assert table.loc["ocsp1", "timeouts"] > 0  # until the health checks take it out
    assert table.loc[["ocsp2", "ocsp3"], "timeouts"].sum() == 0
    assert ("ocsp-down", "ocsp1") in set(zip(result.faults["kind"], result.faults["target"],
                                             strict=True))


def test_a_publishing_failure_loses_the_crls_of_its_window() -> None:
    result = _run(_scenario(publish_fail=((6 * HOUR, 9 * HOUR),)))
    failed = result.extra["ocsp_publish"].query("outcome == 'fail'")
    assert set(failed["cause"]) == {"publishing failed"} and len(failed) == 3
    mine = _stale(result, "ocsp3")
    during = mine[mine["in_crl_at"].between(6 * HOUR, 9 * HOUR, inclusive="left")]
    assert len(during) and (during["visible_at"] >= 9 * HOUR).all()


def test_replication_lag_delays_the_clones_not_the_master() -> None:
    result = _run(_scenario(lag=300.0))
    master = _stale(result, "ocsp1").dropna(subset=["visible_at"])
    clone = _stale(result, "ocsp2").dropna(subset=["visible_at"])
    assert np.allclose(master["visible_at"] - master["in_crl_at"], 0.5)
    assert np.allclose(clone["visible_at"] - clone["in_crl_at"], 300.5)


def test_a_crl_ca_outage_delays_the_crls_not_the_publishing() -> None:
    fault = Fault("crl-down", 6 * HOUR, "ca1", 4 * HOUR)
    result = _run(_scenario(faults=(fault,)))
    assert result.summary()["ocsp"]["publish_failures"] == {}
    mine = _stale(result, "ocsp2")
    revoked_during = mine[mine["revoked_at"].between(6 * HOUR, 10 * HOUR)]
    assert len(revoked_during)
    assert (revoked_during["in_crl_at"] >= 10 * HOUR).all()


def test_the_crl_role_on_a_ca_without_publisher_is_drift() -> None:
    move = Fault("crl-move", 6 * HOUR, "ca2")
    result = _run(_scenario(faults=(move,)))
    failed = result.extra["ocsp_publish"].query("outcome == 'fail'")
    assert len(failed) >= 17
    assert set(failed["cause"]) == {"no OCSP publisher on ca2 (configured on ca1 only)"}
    mine = _stale(result, "ocsp2")
    later = mine[mine["in_crl_at"] > 6 * HOUR + 1]
    assert len(later) and later["visible_at"].isna().all()
    # the publisher configured on ca2 as well: no drift
    fixed = _run(_scenario(faults=(move,), publishing=("ca1", "ca2")))
    assert fixed.summary()["ocsp"]["publish_failures"] == {}


def test_same_seed_same_answers() -> None:
    a, b = (_run(_scenario(ocsp_faults=(OutageSpec("down", "ocsp2", HOUR, HOUR),)))
            for _ in range(2))
    for name in ("ocsp", "ocsp_staleness", "ocsp_publish"):
        pd.testing.assert_frame_equal(a.extra[name], b.extra[name])


def _document(**ocsp: object) -> dict[str, object]:
    return {"duration": "1h", "directory": {"replicas": ["ds1", "ds2"]},
            "ca": [{"name": "ca1", "role": "master", "replica": "ds1"}],
            "ocsp": {"instance": [{"name": "o1", "role": "master", "replica": "ds1"},
                                  {"name": "o2", "replica": "ds2", "donor": "o1"}], **ocsp}}


def test_the_scenario_file_reads_ocsp_and_names_bad_keys() -> None:
    scenario = scenario_from_dict(_document(request_rate="5/s", revoked_for="2h",
                                            faults=[{"kind": "down", "target": "o1",
                                                     "at": "10m", "duration": "5m"}]))
    assert scenario.ocsp is not None and scenario.ocsp.request_rate == 5.0
    assert scenario.ocsp.subsystem.faults[0].at == 600.0
    bad = _document()
    bad["ocsp"]["instance"][1]["donor"] = "o9"  # type: ignore[index]
    with pytest.raises(ConfigError, match=r"ocsp\.instance\[1\]\.donor"):
        scenario_from_dict(bad)
    with pytest.raises(ConfigError, match=r"ocsp\.revoked_share"):
        scenario_from_dict(_document(revoked_share=2))
    with pytest.raises(ConfigError, match=r"ocsp\.replica_ids\.serialIncrement"):
        scenario_from_dict(_document(replica_ids={"serialIncrement": 5}))
    with pytest.raises(ConfigError, match=r"ocsp\.publishing_cas\[0\]"):
        scenario_from_dict(_document(publishing_cas=["ca7"]))


def test_an_instance_whose_replica_is_down_answers_try_later() -> None:
    fault = Fault("replica-down", 4 * HOUR, "ds3", HOUR)
    result = _run(_scenario(faults=(fault,)))
    table = result.extra["ocsp"].set_index("ocsp")
    # a third of 3/s for an hour, give or take
    assert 2500 < table.loc["ocsp3", "directory_down"] < 4700
    assert table.loc[["ocsp1", "ocsp2"], "directory_down"].sum() == 0
    # what was published meanwhile reaches ds3 when it is back
    mine = _stale(result, "ocsp3")
    during = mine[mine["in_crl_at"].between(4 * HOUR, 5 * HOUR, inclusive="left")]
    assert len(during) and (during["visible_at"] >= 5 * HOUR).all()
