"""KRA master and clones in the simulation (pkisim.sim.kra): archival over a
CA's connector, archived keys on every replica, asynchronous versus
synchronous key recovery under load-balanced approvals and a KRA outage,
wrong-key recoveries as violations."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pkisim.errors import ConfigError
from pkisim.history.history import Op
from pkisim.ids.config import IdKind
from pkisim.scenario import load_scenario, scenario_from_dict
from pkisim.sim import Simulation

ROOT = Path(__file__).resolve().parents[2]


def document(**kra: Any) -> dict[str, Any]:
    """Two CAs and two KRAs on two replicas, every enrollment archiving its key."""
    base: dict[str, Any] = {
        "recovery_agents": 2, "recovery_rate": "2/min", "approval_delay": "20s",
        "recovery_timeout": "10m", "update_interval": "1m",
        "instance": [{"name": "kra1", "replica": "ds1"},
                     {"name": "kra2", "replica": "ds2", "donor": "kra1"}]}
    base.update(kra)
    return {"name": "kra-test", "duration": "30m", "seed": 3, "strategy": "legacy2",
            "directory": {"replicas": ["ds1", "ds2"], "lag": "1s"},
            "workload": {"enroll_rate": "1/s", "key_archival_fraction": 1.0},
            "ca": [{"name": "ca1", "role": "master", "replica": "ds1"},
                   {"name": "ca2", "replica": "ds2", "donor": "ca1"}],
            "kra": base}


def run(data: dict[str, Any]) -> Simulation:
    world = Simulation(scenario_from_dict(data))
    world.result = world.run()  # type: ignore[attr-defined]
    return world


def test_archived_keys_reach_every_kra_clone() -> None:
    world = run(document(recovery_rate=0))
    kra = world.kra
    assert kra is not None
    enrolled = (world.result.requests["outcome"] == "ok").sum()  # type: ignore[attr-defined]
    keys = [k for k, _ in kra.archived]
    assert len(keys) == len(set(keys)) > 1000
    assert all(node.archived > 100 for node in kra.nodes)  # round-robin over the clones
    world.directory.settle(now=world.now())
    for replica in ("ds1", "ds2"):
        assert set(world.directory.numbers(replica, kra.tree.records_dn(IdKind.KEY))) \
            >= set(keys)
    assert enrolled == len(keys)  # every answered enrollment archived its key
    assert world.history.issued_count(Op.ISSUE_KEY) == len(keys)


def test_a_ca_without_a_kra_connector_refuses_archival() -> None:
    data = document(recovery_rate=0)
    data["ca"][1]["kra_connector"] = False
    world = run(data)
    causes = Counter(world.result.requests["cause"])  # type: ignore[attr-defined]
    assert causes["key archival refused"] > 100
    assert world.kra is not None and len(world.kra.archived) > 100  # ca1's went through


def outcomes(world: Simulation) -> tuple[Counter[str], Counter[str]]:
    assert world.kra is not None
    return (Counter(r.outcome for r in world.kra.recoveries),
            Counter(r.cause for r in world.kra.recoveries if r.outcome == "fail"))


def test_async_recovery_completes_with_approvals_on_any_clone() -> None:
    done, failed = outcomes(run(document(recovery="async")))
    assert done["ok"] > 30 and not done["wrong-key"]
    assert "approval reached another KRA" not in failed


def test_sync_recovery_fails_when_an_approval_reaches_another_kra() -> None:
    done, failed = outcomes(run(document(recovery="sync")))
    # two approvals, round-robin over two KRAs: most land on the wrong one
    assert failed["approval reached another KRA"] > done["ok"]


def test_a_kra_outage_fails_pending_sync_recoveries_only() -> None:
    outage = [{"target": "kra1", "at": "10m", "duration": "5m"}]
    sticky = {"load_balancer": "sticky", "outage": outage}
    sync_done, sync_failed = outcomes(run(document(recovery="sync", **sticky)))
    async_done, async_failed = outcomes(run(document(recovery="async", **sticky)))
    assert sync_failed["initiating KRA went down"] > 0
    assert "initiating KRA went down" not in async_failed
    assert async_done["ok"] > sync_done["ok"]


def test_a_recovery_of_a_duplicated_key_id_is_a_violation() -> None:
    world = Simulation(load_scenario(ROOT / "scenarios" / "kra-clones.toml"))
    result = world.run()
    kra = result.verdict["kra"]
    assert kra["key_ids"]["duplicated_count"] > 0
    assert kra["recovery"]["wrong_keys"] >= 1
    assert not kra["valid"] and not result.verdict["valid"]
    assert any("key ID" in e for e in result.verdict["explanations"])
    space = result.space
    assert {"key", "key-request"} <= set(space["kind"])  # the report's tables cover key IDs


def test_random_key_ids_make_the_same_run_valid() -> None:
    scenario = load_scenario(ROOT / "scenarios" / "kra-clones.toml", strategy="random")
    result = Simulation(scenario).run()
    assert result.verdict["kra"]["valid"] and result.verdict["valid"]
    assert result.verdict["kra"]["recovery"]["wrong_keys"] == 0


def test_same_seed_same_kra_outcomes() -> None:
    a, b = run(document()), run(document())
    assert a.kra is not None and b.kra is not None
    assert a.kra.recoveries == b.kra.recoveries and a.kra.archived == b.kra.archived


@pytest.mark.parametrize(("change", "message"), [
    ({"colour": "blue"}, "kra.colour"),
    ({"recovery": "eventually"}, "kra.recovery"),
    ({"recovery_agents": 0}, "noOfRequiredRecoveryAgents"),
    ({"instance": [{"name": "kra1", "replica": "ds9"}]}, r"kra.instance\[0\].replica"),
    ({"instance": [{"name": "kra1", "replica": "ds1"},
                   {"name": "kra2", "replica": "ds1", "donor": "kra7"}]}, "kra.instance.kra2"),
    ({"outage": [{"target": "kra5", "at": 1, "duration": 1}]}, r"kra.outage\[0\].target"),
])
def test_bad_kra_tables_are_one_line_errors(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        scenario_from_dict(document(**change))
    assert "\n" not in str(err.value)


def test_pkisim_check_reads_key_ids_from_a_saved_history(tmp_path: Path) -> None:
    """The saved history of the legacy kra-clones run: ``pkisim check --op key``
    exits 1 (duplicated key IDs), as for serials; ``--op cert`` exits 0."""
    from pkisim.cli import main

    report = tmp_path / "report"
    assert main(["run", str(ROOT / "scenarios" / "kra-clones.toml"), "--out", str(report),
                 "--no-plots", "--quiet"]) == 1
    history = report / "history.parquet"
    assert main(["check", str(history), "--op", "key"]) == 1
    assert main(["check", str(history), "--op", "cert"]) == 0
