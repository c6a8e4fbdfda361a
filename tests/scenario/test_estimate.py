"""The work estimate: close to what a run does, part by part, and a budget that
names the key behind a huge run and the option that allows it."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from pkisim.errors import ConfigError
from pkisim.scenario import load_scenario
from pkisim.scenario.estimate import DEFAULT_MAX_EVENTS, Budget, estimate
from pkisim.sim import simulate

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.toml")), ids=lambda p: p.stem)
def test_every_shipped_scenario_is_within_the_default_budget(path: Path) -> None:
    work = estimate(load_scenario(path))
    assert work.events < DEFAULT_MAX_EVENTS / 3  # headroom for what-ifs
    Budget().check(work)


def test_the_requests_estimated_are_the_requests_simulated() -> None:
    scenario = load_scenario(SCENARIOS / "refill-race.toml",
                             overrides={"duration": "2h", "workload.revoke_rate": "20/min",
                                        "workload.crl_fetch_rate": "30/min"})
    parts = {p.key: p.events for p in estimate(scenario).parts}
    summary = simulate(scenario, seed=4).summary()
    enrollments = parts["workload.enroll_rate"] + sum(
        v for k, v in parts.items() if k.startswith("workload.bursts"))
    total = enrollments + parts["workload.revoke_rate"] + parts["workload.crl_fetch_rate"]
    attempts = summary["requests"]["attempts"]
    assert 0.8 < attempts / total < 1.25, (attempts, total)


def test_a_huge_run_names_its_key_and_the_option() -> None:
    scenario = load_scenario(SCENARIOS / "steady-state.toml",
                             overrides={"workload.crl_fetch_rate": 1e9})
    with pytest.raises(ConfigError) as info:
        Budget(max_events=1e9).check(estimate(scenario))
    err = info.value
    assert err.key == "workload.crl_fetch_rate" and err.value == 1e9
    assert "CRL fetches over 14 days" in err.reason and "--max-events 1.3e+15" in err.reason
    Budget(max_events=2e15, max_memory=math.inf).check(estimate(scenario))  # allowed


def test_memory_names_its_key_and_the_option() -> None:
    scenario = load_scenario(SCENARIOS / "steady-state.toml", overrides={"throughput_bin": 1e-3})
    work = estimate(scenario)
    with pytest.raises(ConfigError) as info:
        Budget(max_memory=1e9).check(work)
    assert info.value.key == "throughput_bin"
    assert "of memory, over the limit of 954 MB: allow it with --max-memory" in info.value.reason
    with pytest.raises(ConfigError, match="x 4 runs at once"):
        Budget(max_memory=work.memory * 3).check(work, at_once=4)


def test_update_task_runs_are_counted_per_ca() -> None:
    scenario = load_scenario(SCENARIOS / "steady-state.toml",
                             overrides={"defaults.ids.serialNumberUpdateInterval": 1e-6})
    part = estimate(scenario).biggest("events")
    assert part.key.endswith(".ids.serialNumberUpdateInterval") and part.value == 1e-6
    assert part.events == pytest.approx(14 * 86400 / 1e-6)
