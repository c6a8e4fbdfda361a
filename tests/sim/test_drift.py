"""Configuration drift beyond the KRA connector (issue 16, item 5): a custom
profile added to the master after cloning, file-based versus LDAP-stored."""

from __future__ import annotations

import pandas as pd
import pytest

from pkisim.errors import ConfigError
from pkisim.scenario import scenario_from_dict
from pkisim.seeding import Seeds
from pkisim.sim import CaSpec, DirectorySpec, Scenario, Simulation, Workload
from pkisim.sim.drift import DriftSpec, ProfileDrift, ProfileSpec, has_profile
from pkisim.sim.metrics import RunResult

HOUR = 3600.0
CAUSE = "profile custom not found"


def _scenario(storage: str = "file", share: float = 0.2) -> Scenario:
    cas = (CaSpec("ca1", "ds1", role="master"),
           CaSpec("ca2", "ds1", donor="ca1", created_at=60.0),            # before the profile
           CaSpec("ca3", "ds1", donor="ca1", created_at=8 * HOUR),        # after, from ca1
           CaSpec("ca4", "ds1", donor="ca2", created_at=9 * HOUR))        # after, from ca2
    return Scenario("drift", duration=12 * HOUR, cas=cas, directory=DirectorySpec(("ds1",)),
                    workload=Workload(enroll_rate=0.5),
                    drift=DriftSpec((ProfileSpec("custom", 6 * HOUR, share,
                                                 storage),)))  # type: ignore[arg-type]


def _failures(result: RunResult) -> pd.DataFrame:
    req = result.requests
    return req[req["cause"] == CAUSE]


def test_which_cas_have_a_file_based_profile() -> None:
    scenario = _scenario()
    cas = {c.name: c for c in scenario.cas}
    profile = scenario.drift.profiles[0]  # type: ignore[union-attr]
    assert [has_profile(c, profile, cas) for c in scenario.cas] == [True, False, True, False]
    ldap = ProfileSpec("custom", 6 * HOUR, 0.2, "ldap")
    assert all(has_profile(c, ldap, cas) for c in scenario.cas)


def test_file_profile_fails_on_older_clones_only_after_it_was_added() -> None:
    result = Simulation(_scenario(), seed=3).run()
    failed = _failures(result)
    assert len(failed) > 20
    where = set(failed["ca"].astype(str))
    assert where == {"ca2", "ca4"}
    assert (failed["arrival"] >= 6 * HOUR - 60).all()
    assert result.summary()["failures"][CAUSE] == len(failed)
    assert result.failures.set_index("cause").loc[CAUSE, "count"].sum() == len(failed)


def test_ldap_profiles_replicate_no_failures() -> None:
    result = Simulation(_scenario("ldap"), seed=3).run()
    assert len(_failures(result)) == 0
    assert CAUSE not in result.summary()["failures"]


def test_a_request_keeps_its_profile_across_retries() -> None:
    drift = ProfileDrift(_scenario().drift, {}, Seeds(1))  # type: ignore[arg-type]
    picks = [drift.profile(i) for i in range(20_000)]
    assert picks == [drift.profile(i) for i in range(20_000)]
    share = sum(p is not None for p in picks) / len(picks)
    assert abs(share - 0.2) < 0.02


def test_batched_and_stepped_runs_agree_with_drift() -> None:
    fast = Simulation(_scenario(), seed=5).run()
    slow = Simulation(_scenario(), seed=5, fast=False).run()
    assert fast.summary() == slow.summary()


def test_scenario_file_reads_drift_profiles() -> None:
    doc = {"duration": "1d", "ca": [{"name": "ca1", "role": "master"}],
           "drift": {"profiles": [{"name": "custom", "added_at": "6h", "share": 0.1}]}}
    scenario = scenario_from_dict(doc)
    assert scenario.drift is not None
    assert scenario.drift.profiles[0] == ProfileSpec("custom", 6 * HOUR, 0.1, "file")
    doc["drift"]["profiles"][0]["storage"] = "nfs"  # type: ignore[index]
    with pytest.raises(ConfigError, match=r"drift\.profiles\[0\]\.storage"):
        scenario_from_dict(doc)
