"""Sweep files: loading, validation errors, seeds and metric names."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest

from pkisim.analysis import (
    Sweep,
    load_sweep,
    run_seed,
    run_sweep,
    summary_metrics,
    sweep_from_dict,
)
from pkisim.analysis.sweepfile import METRIC_SECTIONS
from pkisim.errors import ConfigError
from pkisim.scenario import load_scenario
from pkisim.seeding import Seeds
from pkisim.sim import simulate

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
STEADY = str(SCENARIOS / "steady-state.toml")


def write(tmp_path: Path, text: str, name: str = "sweep.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def from_dict(**data: object) -> Sweep:
    return sweep_from_dict({"scenario": STEADY, **data}, "s.toml")


@pytest.mark.parametrize("name, points", [("steady-state-rate", 4), ("low-water-mark", 12),
                                          ("strategies", 4)])
def test_shipped_sweep_files_load_and_validate(name: str, points: int) -> None:
    sweep = load_sweep(SCENARIOS / "sweeps" / f"{name}.toml")
    assert len(sweep.points) == points
    assert [p.index for p in sweep.points] == list(range(points))
    for point in sweep.points:  # every override reached its scenario
        for key, value in point.params:
            if key == "strategy":
                assert point.scenario.strategy == value
    assert sweep.replications >= 1 and sweep.seed >= 0


def test_grid_is_the_cartesian_product_in_file_order(tmp_path: Path) -> None:
    path = write(tmp_path, f"""
scenario = {STEADY!r}
replications = 2
[overrides]
duration = "1h"
[grid]
workload.enroll_rate = ["1000/day", "2000/day", "3000/day"]
strategy = ["legacy2", "random"]
""")
    sweep = load_sweep(path)
    assert sweep.parameters == ("workload.enroll_rate", "strategy")
    assert [dict(p.params) for p in sweep.points][:3] == [
        {"workload.enroll_rate": "1000/day", "strategy": "legacy2"},
        {"workload.enroll_rate": "1000/day", "strategy": "random"},
        {"workload.enroll_rate": "2000/day", "strategy": "legacy2"}]
    assert len(sweep.points) == 6 and sweep.runs == 12
    last = sweep.points[-1].scenario
    assert last.strategy == "random" and last.duration == 3600.0
    assert last.workload.enroll_rate == pytest.approx(3000 / 86400)


def test_bare_and_quoted_dotted_keys_are_the_same_parameter(tmp_path: Path) -> None:
    bare = load_sweep(write(tmp_path, f'scenario = {STEADY!r}\n[grid]\n'
                                      'workload.enroll_rate = [1, 2]\n', "a.toml"))
    quoted = load_sweep(write(tmp_path, f'scenario = {STEADY!r}\n[grid]\n'
                                        '"workload.enroll_rate" = [1, 2]\n', "b.toml"))
    assert bare.parameters == quoted.parameters == ("workload.enroll_rate",)
    assert [p.params for p in bare.points] == [p.params for p in quoted.points]


def test_points_are_combined_with_the_grid() -> None:
    sweep = from_dict(points=[{"strategy": "legacy2"}, {"strategy": "random",
                                                        "workload": {"clients": 10}}],
                      grid={"workload.enroll_rate": [1, 2]})
    assert sweep.parameters == ("strategy", "workload.enroll_rate", "workload.clients")
    assert [dict(p.params) for p in sweep.points] == [
        {"strategy": "legacy2", "workload.enroll_rate": 1},
        {"strategy": "legacy2", "workload.enroll_rate": 2},
        {"strategy": "random", "workload.clients": 10, "workload.enroll_rate": 1},
        {"strategy": "random", "workload.clients": 10, "workload.enroll_rate": 2}]
    assert sweep.points[3].scenario.workload.clients == 10


def test_a_point_may_name_another_scenario_file_relative_to_the_sweep(tmp_path: Path) -> None:
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "race.toml").write_text(
        (SCENARIOS / "refill-race.toml").read_text())
    (tmp_path / "sweeps").mkdir()
    path = write(tmp_path, f"""
scenario = {STEADY!r}
[[points]]
strategy = "legacy2"
[[points]]
scenario = "../scenarios/race.toml"
""", "sweeps/s.toml")
    sweep = load_sweep(path)
    assert [p.scenario.name for p in sweep.points] == ["steady-state", "refill-race"]
    assert sweep.parameters == ("strategy", "scenario")
    assert sweep.points[1].scenario_file == tmp_path / "sweeps" / "../scenarios/race.toml"
    short = dataclasses.replace(sweep, points=tuple(dataclasses.replace(
        p, scenario=dataclasses.replace(p.scenario, duration=60.0)) for p in sweep.points))
    hashes = run_sweep(short, progress=False).provenance()["scenario_files_sha256"]
    assert hashes == {str(p): hashlib.sha256(Path(p).read_bytes()).hexdigest()
                      for p in sorted([Path(STEADY), sweep.points[1].scenario_file])}
    with pytest.raises(ConfigError, match=r"point 0: scenario = 'gone.toml': no such scenario"):
        sweep_from_dict({"scenario": STEADY, "points": [{"scenario": "gone.toml"}]}, "s.toml")


def test_no_grid_no_points_is_one_point_of_the_scenario_as_written() -> None:
    sweep = from_dict(replications=3)
    assert len(sweep.points) == 1 and sweep.points[0].params == () and sweep.runs == 3
    assert sweep.points[0].label == "defaults"


@pytest.mark.parametrize("data, expected", [
    ({"replication": 2}, "replication = 2: unknown key"),
    ({"replications": 0}, "replications = 0: must be an integer >= 1"),
    ({"seed": -1}, "seed = -1: must be an integer from 0 to 2**63 - 1"),
    ({"grid": {"workload.enroll_rate": []}}, "grid.workload.enroll_rate = []: must be a "
                                             "non-empty list"),
    ({"grid": {"workload.enroll_rate": 5}}, "grid.workload.enroll_rate = 5: must be a"),
    ({"grid": {"seed": [1, 2]}}, "grid.seed = [1, 2]: cannot be swept"),
    ({"points": {"strategy": "random"}}, "points = {'strategy': 'random'}: must be a non-empty "
                                         "array of tables"),
    ({"grid": {"strategy": ["legacy2"]}, "points": [{"strategy": "random"}]},
     "points[0].strategy = 'random': is also a [grid] key"),
    ({"grid": {"workload.clients": [1]}, "overrides": {"workload.clients": 3}},
     "overrides.workload.clients = 3: is also a swept parameter"),
    ({"overrides": {"seed": 3}}, "overrides.seed = 3: cannot be set here"),
    ({"metrics": []}, "metrics = []: must be a non-empty list"),
    ({"metrics": ["latncy.enroll.p95"]}, "metrics = 'latncy.enroll.p95': is not a metric"),
    ({"target": {"metric": "issued"}}, "target.half_width = None: must be a finite number > 0"),
    ({"metrics": ["issued"], "target": {"metric": "claims", "half_width": 1}},
     "target.metric = 'claims': is not among the sweep's metrics"),
    ({"target": {"metric": "latency.*", "half_width": 1}}, "must be one metric, not a pattern"),
    ({"replications": 5, "target": {"metric": "issued", "half_width": 1,
                                    "max_replications": 4}},
     "target.max_replications = 4: is below replications (5)"),
    ({"target": {"metric": "issued", "half_width": 1, "width": 2}},
     "target.width = 2: unknown key"),
])
def test_bad_sweep_keys_are_one_line_naming_file_key_and_value(data: dict[str, object],
                                                              expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        from_dict(**data)
    message = str(err.value)
    assert message.startswith("s.toml: ") and expected in message and "\n" not in message


def test_a_value_the_scenario_rejects_names_the_point_key_value_and_the_scenario_error(
        tmp_path: Path) -> None:
    path = write(tmp_path, f"""
scenario = {STEADY!r}
[grid]
"workload.enroll_rate" = ["5/s", "fast"]
""")
    with pytest.raises(ConfigError) as err:
        load_sweep(path)
    message = str(err.value)
    assert message.startswith(f"{path}: point 1: workload.enroll_rate = 'fast': ")
    assert "steady-state.toml (override): workload.enroll_rate = 'fast': is not a rate" in message
    assert "\n" not in message


def test_a_bad_strategy_names_the_point_and_the_value() -> None:
    with pytest.raises(ConfigError, match=r"^s\.toml: point 1: strategy = 'ssnv9': .*ssnv9"):
        from_dict(grid={"strategy": ["random", "ssnv9"]})


def test_an_override_the_scenario_rejects_is_named_as_an_override() -> None:
    with pytest.raises(ConfigError, match=r"^s\.toml: overrides: duration = 'soon': "):
        from_dict(overrides={"duration": "soon"}, grid={"strategy": ["random"]})


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.toml.*cannot be read"):
        load_sweep(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match=r"sweep\.toml:1: scenario = .*TOML syntax error"):
        load_sweep(write(tmp_path, "scenario = [\n"))
    with pytest.raises(ConfigError, match=r"scenario = 'nope.toml': no such scenario file"):
        load_sweep(write(tmp_path, 'scenario = "nope.toml"\n'))
    with pytest.raises(ConfigError, match=r"scenario = None: is required"):
        load_sweep(write(tmp_path, "replications = 2\n"))


def test_load_sweep_arguments_replace_the_files_values(tmp_path: Path) -> None:
    path = write(tmp_path, f'scenario = {STEADY!r}\nreplications = 4\nseed = 9\n'
                           '[overrides]\nduration = "1h"\n')
    sweep = load_sweep(path, overrides={"workload.clients": 7}, replications=2, seed=3)
    assert (sweep.replications, sweep.seed) == (2, 3)
    assert dict(sweep.overrides) == {"duration": "1h", "workload.clients": 7}
    assert sweep.points[0].scenario.workload.clients == 7


def test_metric_patterns_select_names() -> None:
    sweep = from_dict(metrics=["latency.*.p95", "issued"])
    assert sweep.keeps("latency.enroll.p95") and sweep.keeps("issued")
    assert not sweep.keeps("latency.enroll.p50") and not sweep.keeps("claims")
    assert from_dict().keeps("anything")


def test_run_seeds_depend_only_on_root_point_and_replication() -> None:
    seeds = {(i, j): run_seed(7, i, j) for i in range(20) for j in range(20)}
    assert len(set(seeds.values())) == 400  # all different
    assert all(0 <= s < 2**63 for s in seeds.values())  # fit int64 and pkisim run --seed
    assert run_seed(7, 3, 5) == seeds[(3, 5)]  # no hidden state: order does not matter
    assert run_seed(8, 3, 5) != seeds[(3, 5)]
    assert run_seed(7, 3, 5) == Seeds(7).child("point 3/replication 5").seed  # like a run's


def test_summary_metrics_are_the_numeric_leaves_of_a_real_summary() -> None:
    scenario = load_scenario(STEADY, overrides={"duration": "10m"})
    summary = simulate(scenario).summary()
    metrics = summary_metrics(summary)
    assert all(isinstance(v, float) for v in metrics.values())
    assert metrics["valid"] == 1.0 and metrics["crl.numbers_increasing"] == 1.0
    assert metrics["issued"] == summary["issued"]
    assert metrics["latency.enroll.p95"] == summary["latency"]["enroll"]["p95"]
    assert metrics["requests.attempts"] == summary["requests"]["attempts"]
    cert = next(f for f in summary["forecast"] if f["kind"] == "cert")
    assert metrics["forecast.cert.days_to_exhaustion"] == cert["days_to_exhaustion"]
    assert metrics["verdict.ranges.violations.overlap"] == 0.0
    assert metrics["requests.failed_fraction"] == 0.0
    for left_out in ("seed", "duration", "scenario", "strategy", "verdict.valid",
                     "verdict.serials.duplicated_count", "forecast.cert.forecast_date"):
        assert left_out not in metrics
    # every name starts with a section the sweep file's metrics = [...] accepts
    assert {name.split(".")[0] for name in metrics} <= set(METRIC_SECTIONS)
    assert set(METRIC_SECTIONS) - {"failures"} <= {name.split(".")[0] for name in metrics}
