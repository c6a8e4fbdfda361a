"""Running sweeps: the same results for any number of workers, intervals that
match pkisim.analysis.stats, targets, failing runs (the command line: tests/cli)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from sweep_files import SCENARIOS, STEADY, tiny

from pkisim.analysis import (
    ProcessExecutor,
    SweepError,
    load_sweep,
    mean_ci,
    proportion_ci,
    run_seed,
    run_sweep,
    sweep_from_dict,
)
from pkisim.analysis import sweep as sweep_module
from pkisim.scenario import load_scenario
from pkisim.sim import simulate


@pytest.fixture(scope="module")
def pool() -> ProcessExecutor:
    with ProcessExecutor(2) as executor:
        yield executor


def test_the_tidy_frame_and_the_summary(tmp_path: Path) -> None:
    sweep = load_sweep(tiny(tmp_path, replications=3))
    result = run_sweep(sweep, progress=False)
    runs = result.runs
    assert list(runs.columns) == ["point", "workload.enroll_rate", "replication", "seed",
                                  "metric", "value"]
    assert runs[["point", "replication"]].drop_duplicates().shape[0] == 6
    assert set(runs["metric"].astype(str)) >= {"issued", "valid", "latency.enroll.p95",
                                                "requests.failed_fraction"}
    assert not any(m.startswith("claims") for m in runs["metric"].astype(str))
    # each run is the run pkisim run --seed would make: the seed is the documented one
    row = runs[(runs.point == 1) & (runs.replication == 2) & (runs.metric == "issued")].iloc[0]
    assert row["seed"] == run_seed(11, 1, 2) and row["workload.enroll_rate"] == "40000/day"
    scenario = load_scenario(STEADY, overrides={"duration": "10m",
                                                "workload.enroll_rate": "40000/day"})
    assert row["value"] == simulate(scenario, seed=int(row["seed"])).summary()["issued"]
    # the summary's interval is stats.mean_ci of the replications
    summary = result.summary
    assert list(summary.columns) == ["point", "workload.enroll_rate", "metric", "n", "mean",
                                     "std", "ci_low", "ci_high", "half_width"]
    for point in (0, 1):
        values = runs[(runs.point == point) & (runs.metric == "issued")]["value"]
        expected = mean_ci(values)
        got = summary[(summary.point == point) & (summary.metric == "issued")].iloc[0]
        assert got["n"] == 3 and got["mean"] == pytest.approx(expected.estimate)
        assert got["ci_low"] == pytest.approx(expected.low)
        assert got["ci_high"] == pytest.approx(expected.high)
        assert got["half_width"] == pytest.approx(expected.half_width)
    issued = result.metric("issued")["mean"].tolist()
    assert issued[1] > issued[0] > 0  # twice the rate issues more
    assert result.valid and result.invalid.empty


def test_results_are_identical_for_any_number_of_workers(tmp_path: Path,
                                                          pool: ProcessExecutor) -> None:
    sweep = load_sweep(tiny(tmp_path, replications=3))
    one = run_sweep(sweep, workers=1, progress=False)
    two = run_sweep(sweep, executor=pool, progress=False)
    pd.testing.assert_frame_equal(one.runs, two.runs)
    pd.testing.assert_frame_equal(one.summary, two.summary)


def test_a_target_adds_replications_to_the_points_that_need_them(tmp_path: Path,
                                                                  pool: ProcessExecutor) -> None:
    # issued varies from run to run; requests.timeout never does: its interval is met at once
    target = '[target]\nmetric = "{}"\nhalf_width = 0.001\nmax_replications = 7\nbatch = 2\n'
    wide = run_sweep(load_sweep(tiny(tmp_path, target.format("issued"))), executor=pool,
                     progress=False)
    counts = wide.runs.groupby("point")["replication"].nunique().tolist()
    assert counts == [7, 7]  # 2, then 4, 6, 7: capped by max_replications
    narrow = run_sweep(load_sweep(tiny(tmp_path, target.format("requests.timeout"))),
                       progress=False)
    assert narrow.runs.groupby("point")["replication"].nunique().tolist() == [2, 2]
    # valid never varies either, but it is a proportion: 2 valid runs of 2 do not make the
    # chance of a valid run 1 ± 0.001 (Wilson: [0.34, 1]), so the target asks for all 7
    assert narrow.metric("valid")[["ci_low", "ci_high"]].round(2).values.tolist() == [
        [0.34, 1.0], [0.34, 1.0]]
    # batches change nothing: the same runs as asking for 7 replications at once
    plain = run_sweep(load_sweep(tiny(tmp_path, replications=7)), executor=pool,
                      progress=False)
    pd.testing.assert_frame_equal(wide.runs, plain.runs)


def test_a_relative_target_stops_when_narrow_enough(tmp_path: Path) -> None:
    target = ('[target]\nmetric = "latency.enroll.p95"\nhalf_width = 0.5\nrelative = true\n'
              'max_replications = 20\n')
    result = run_sweep(load_sweep(tiny(tmp_path, target)), progress=False)
    p95 = result.metric("latency.enroll.p95")
    assert (p95["half_width"] <= 0.5 * p95["mean"].abs()).all()
    assert (p95["n"] < 20).all()


def test_a_failing_run_is_one_line_naming_point_and_replication(
        tmp_path: Path, pool: ProcessExecutor) -> None:
    (tmp_path / "data").mkdir()
    for name in ("a.csv", "b.csv"):
        (tmp_path / "data" / name).write_text((SCENARIOS / "data" / "trace.csv").read_text())
    (tmp_path / "replay.toml").write_text((SCENARIOS / "trace-replay.toml").read_text())
    path = tmp_path / "sweep.toml"
    path.write_text('scenario = "replay.toml"\n[overrides]\nduration = "10m"\n'
                    '[grid]\n"workload.trace" = ["data/a.csv", "data/b.csv"]\n')
    sweep = load_sweep(path)
    (tmp_path / "data" / "b.csv").unlink()  # gone after validation: the runs of point 1 fail
    for kwargs in ({"workers": 1}, {"executor": pool}):
        with pytest.raises(SweepError) as err:
            run_sweep(sweep, progress=False, **kwargs)
        message = str(err.value)
        assert message.startswith(f"{path}: point 1 (workload.trace='data/b.csv') "
                                  f"replication 0 (seed {run_seed(0, 1, 0)}): ConfigError: ")
        assert "b.csv" in message and "cannot read" in message and "\n" not in message
    # the pool survives a failed sweep
    assert run_sweep(load_sweep(tiny(tmp_path)), executor=pool, progress=False).valid


def test_the_python_api_builds_a_sweep_from_a_dict() -> None:
    sweep = sweep_from_dict({"scenario": STEADY, "replications": 2, "seed": 1,
                             "overrides": {"duration": "5m"},
                             "points": [{"strategy": "random"}, {"strategy": "legacy2"}],
                             "metrics": ["issued"]})
    result = run_sweep(sweep, progress=False)
    assert result.runs["metric"].astype(str).unique().tolist() == ["issued"]
    assert result.summary["strategy"].tolist() == ["random", "legacy2"]
    assert "strategy" in result.table() and "issued" in result.table()


def test_the_progress_bar_counts_every_run_as_chunks_come_back(
        tmp_path: Path, pool: ProcessExecutor, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, int]] = []

    class Recorder(sweep_module._Bar):
        def __init__(self, enabled: bool) -> None:
            super().__init__(enabled=False)
            calls.append(("enabled", int(enabled)))

        def grow(self, n: int) -> None:
            calls.append(("grow", n))

        def update(self, n: int) -> None:
            calls.append(("update", n))

    monkeypatch.setattr(sweep_module, "_Bar", Recorder)
    target = '[target]\nmetric = "issued"\nhalf_width = 0.001\nmax_replications = 5\nbatch = 1\n'
    run_sweep(load_sweep(tiny(tmp_path, target)), executor=pool)
    assert calls[0] == ("enabled", 1)
    assert [n for kind, n in calls if kind == "grow"] == [4, 2, 2, 2]  # 2 x 2, then 1 a point
    assert sum(n for kind, n in calls if kind == "update") == 10
    assert len([c for c in calls if c[0] == "update"]) >= 4  # one per chunk, as they finish


def test_a_worker_that_dies_is_a_one_line_error_not_a_hang(tmp_path: Path) -> None:
    sweep = load_sweep(tiny(tmp_path, replications=4), overrides={"duration": "2d"})
    with ProcessExecutor(2) as doomed:
        doomed.start()
        victim = next(iter(doomed.pool._processes))
        threading.Timer(0.3, os.kill, (victim, signal.SIGKILL)).start()
        started = time.monotonic()
        with pytest.raises(SweepError, match=r"^a worker failed running point \d replication \d"):
            run_sweep(sweep, executor=doomed, progress=False)
        assert time.monotonic() - started < 20


def test_a_failure_fraction_gets_a_wilson_interval_inside_zero_to_one(tmp_path: Path) -> None:
    # refill-race at a low water mark: some runs fail many enrollments, some few
    sweep = sweep_from_dict({
        "scenario": str(SCENARIOS / "refill-race.toml"), "replications": 3, "seed": 5,
        "metrics": ["requests.failed_fraction", "requests.attempts", "valid"],
        "overrides": {"duration": "40m", "defaults.ids.serialLowWaterMark": 64},
        "grid": {"workload.enroll_rate": ["0.5/s", "2/s"]}}, "fractions")
    result = run_sweep(sweep, progress=False)
    runs = result.runs.pivot_table(index=["point", "replication"], columns="metric",
                                   values="value", observed=True)
    for point, rows in runs.groupby(level="point"):
        expected = proportion_ci(rows["requests.failed_fraction"], rows["requests.attempts"])
        got = result.metric("requests.failed_fraction").iloc[point]
        assert (got["ci_low"], got["ci_high"]) == pytest.approx((expected.low, expected.high))
        assert 0.0 <= got["ci_low"] <= got["mean"] <= got["ci_high"] <= 1.0
        valid = result.metric("valid").iloc[point]
        assert valid["ci_high"] <= 1.0 and valid["ci_low"] >= 0.0
    assert result.metric("requests.failed_fraction")["mean"].max() > 0
    assert "[" in result.table(["requests.failed_fraction"])  # mean [low, high]
