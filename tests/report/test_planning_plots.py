"""The planning plots: each draws a PNG from small inputs, the same inputs give
the same bytes, what it marks is where the closed forms put it, and bad input
is one ValueError line naming the column."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import matplotlib.dates as mdates
import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from pkisim.analysis import (
    MMc,
    days_to_exhaustion,
    exhaustion_probability,
    mgc_mean_wait,
    run_sweep,
    sweep_from_dict,
)
from pkisim.ids.config import IdKind
from pkisim.ids.subsystem import master_configs
from pkisim.report.planning import (
    plot_failure_heatmap,
    plot_latency_vs_load,
    plot_space_remaining,
    write_png,
)
from pkisim.sim import CaSpec, RunResult, Scenario, Workload, simulate

ROOT = Path(__file__).resolve().parents[2]
LWM = "defaults.ids.serialLowWaterMark"
RATE = "workload.enroll_rate"


@pytest.fixture(scope="module")
def small_space() -> RunResult:
    """Two days at 0.05/s on a 20,000-serial master: it runs out ~2.7 days later."""
    ids = master_configs("legacy2", overrides={IdKind.CERT: dict(
        end=20_000, increment=20_000, low_water_mark=100, clone_transfer_number=100)})
    scenario = Scenario("small-space", duration=2 * 86400.0, start_date="2026-03-01",
                        cas=(CaSpec("ca1", "ds1", role="master", ids=ids),),
                        workload=Workload(enroll_rate=0.05))
    return simulate(scenario, seed=4)


def space_figure(result: RunResult, **kwargs: object) -> Figure:
    return plot_space_remaining(result.forecast, space=result.space,
                                duration=result.scenario.duration,
                                start_date=result.scenario.start_date, **kwargs)


def heatmap_summary() -> pd.DataFrame:
    """A sweep summary as pkisim.analysis.sweep writes it (rates as written)."""
    rows = []
    for i, (mark, rate) in enumerate((m, r) for m in (128, 256, 512) for r in ("0.5/s", "1/s")):
        for metric, mean in (("requests.failed_fraction", 0.1 / (i + 1)), ("claims", 10.0 + i)):
            rows.append({"point": i, LWM: mark, RATE: rate, "metric": metric, "n": 3,
                         "mean": mean, "std": 0.01, "ci_low": mean - 0.02, "ci_high": mean + 0.02,
                         "half_width": 0.02})
    return pd.DataFrame(rows)


def latency_points() -> pd.DataFrame:
    rows = []
    for rho in (0.3, 0.5, 0.7, 0.9):
        pool = MMc.at_utilisation(4, rho, 0.5)
        mean = pool.mean_response * 1.02
        rows.append({RATE: pool.arrival_rate, "metric": "latency.enroll.mean", "mean": mean,
                     "ci_low": mean * 0.95, "ci_high": mean * 1.05})
    return pd.DataFrame(rows)


def draw_all(result: RunResult) -> dict[str, Figure]:
    return {
        "space": space_figure(result),
        "heatmap": plot_failure_heatmap(heatmap_summary(), x=LWM, y=RATE,
                                        metric="requests.failed_fraction",
                                        update_interval=600.0, cas=2),
        "latency": plot_latency_vs_load(latency_points(), servers=4, service_mean=0.5),
        "wait": plot_latency_vs_load(latency_points().assign(
            mean=lambda f: f["mean"] - 0.5, ci_low=lambda f: f["ci_low"] - 0.5,
            ci_high=lambda f: f["ci_high"] - 0.5), servers=4, service_mean=0.5,
            quantity="wait"),
    }


def test_each_plot_writes_a_png_and_the_same_inputs_give_the_same_bytes(small_space, tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    for directory in (first, second):
        for name, fig in draw_all(small_space).items():
            assert write_png(fig, directory / f"{name}.png") == directory / f"{name}.png"
    for name in ("space", "heatmap", "latency", "wait"):
        data = (first / f"{name}.png").read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert data == (second / f"{name}.png").read_bytes(), name
        pixels = matplotlib.image.imread(first / f"{name}.png")
        assert pixels.shape[0] > 300 and pixels.shape[1] > 500
        assert (pixels[..., :3] < 0.5).mean() > 0.002  # something was drawn
    assert sorted(p.name for p in first.iterdir()) == [
        "heatmap.png", "latency.png", "space.png", "wait.png"]  # no temporary files left


def test_write_png_replaces_a_previous_file(small_space, tmp_path):
    path = tmp_path / "space.png"
    path.write_bytes(b"old")
    write_png(space_figure(small_space), path)
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert path.stat().st_mode & 0o777 == 0o644


def test_write_png_to_a_missing_directory_is_one_line(small_space, tmp_path):
    with pytest.raises(ValueError, match=r"write_png: cannot write .*nowhere") as err:
        write_png(space_figure(small_space), tmp_path / "nowhere" / "space.png")
    assert "\n" not in str(err.value)


def test_space_plot_marks_the_closed_form_exhaustion_date(small_space):
    fig = space_figure(small_space)
    ax = fig.axes[0]
    row = small_space.forecast.set_index("kind").loc["cert"]
    days = 2 + days_to_exhaustion(row["space"], row["rate_per_day"])
    assert 4 < days < 5  # 20,000 serials, ~4,300 a day
    start = mdates.date2num(dt.datetime(2026, 3, 1))
    red = [line for line in ax.get_lines() if line.get_color() == "#d62728"]
    assert [line.get_xdata()[0] for line in red] == [pytest.approx(start + days)]
    when = (dt.date(2026, 3, 1) + dt.timedelta(days=days)).isoformat()
    assert any(when in text.get_text() for text in ax.texts)
    # the run's curve ends where the extrapolation begins
    run, future = ax.get_lines()[0], ax.get_lines()[1]
    assert run.get_ydata()[-1] == pytest.approx(future.get_ydata()[0])
    assert run.get_ydata()[0] == pytest.approx(20_000)  # nothing issued at the start


def test_space_plot_of_a_space_that_outlasts_the_horizon(small_space):
    fig = space_figure(small_space, kind="request", horizon_days=400.0)
    ax = fig.axes[0]
    assert not [line for line in ax.get_lines() if line.get_color() == "#d62728"]
    assert any("after the horizon" in text.get_text() for text in ax.texts)
    never = plot_space_remaining(small_space.forecast.assign(rate_per_day=0.0),
                                 duration=86400.0, start_date="2026-01-01")
    assert any("never" in text.get_text() for text in never.axes[0].texts)


def test_heatmap_cells_carry_the_closed_form_probability():
    fig = plot_failure_heatmap(heatmap_summary(), x=LWM, y=RATE,
                               metric="requests.failed_fraction", update_interval=600.0, cas=2)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["128", "256", "512"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0.5/s", "1/s"]
    texts = {(round(t.get_position()[0]), round(t.get_position()[1])): t.get_text()
             for t in ax.texts}
    # 256 at 1/s over 2 CAs: 300 enrollments per CA per 600-s interval
    p = exhaustion_probability(256, 0.5, 600.0)
    assert 0.9 < p < 1
    assert texts[(1, 1)].splitlines() == ["0.025±0.02", f"P={p:.2f}"]
    assert texts[(2, 0)].splitlines()[1] == f"P={exhaustion_probability(512, 0.25, 600.0):.0e}"


def test_heatmap_from_a_real_sweep():
    sweep = sweep_from_dict({
        "scenario": "scenarios/refill-race.toml", "replications": 2, "seed": 11,
        "metrics": ["requests.failed_fraction"], "overrides": {"duration": "40m"},
        "grid": {LWM: [64, 384], RATE: ["0.5/s", "2/s"]}}, base_dir=ROOT)
    summary = run_sweep(sweep, workers=1, progress=False).summary
    fig = plot_failure_heatmap(summary, x=LWM, y=RATE, metric="requests.failed_fraction",
                               update_interval=600.0, cas=2)
    cells = np.asarray(fig.axes[0].collections[0].get_array()).reshape(2, 2)
    rows = summary[summary["metric"] == "requests.failed_fraction"]
    means = rows.pivot(index=RATE, columns=LWM, values="mean")
    assert np.allclose(cells, means.loc[["0.5/s", "2/s"], [64, 384]].to_numpy())
    assert cells[1, 0] > cells[0, 1]  # a low mark at a high rate fails more


def test_latency_plot_draws_erlang_c_under_the_points():
    fig = plot_latency_vs_load(latency_points(), servers=4, service_mean=0.5, metric=None)
    ax = fig.axes[0]
    curve = ax.get_lines()[0]
    rho, value = curve.get_xdata(), curve.get_ydata()
    for i in (0, 100, 250):
        assert value[i] == pytest.approx(MMc.at_utilisation(4, rho[i], 0.5).mean_response)
    assert rho.max() == pytest.approx(0.92)
    points = next(c for c in ax.containers)  # the error bars
    x, y = points.lines[0].get_data()
    assert list(np.round(x, 6)) == [0.3, 0.5, 0.7, 0.9]
    assert y[-1] == pytest.approx(MMc.at_utilisation(4, 0.9, 0.5).mean_response * 1.02)
    # store latency on top of the curve; rates written as in a sweep file
    shifted = plot_latency_vs_load(latency_points().assign(**{RATE: ["2.4/s", "4/s", "5.6/s",
                                                                     "7.2/s"]}),
                                   servers=4, service_mean=0.5, extra=0.002)
    assert shifted.axes[0].get_lines()[0].get_ydata()[0] == pytest.approx(0.502)
    # lognormal service: Allen and Cunneen's curve
    general = plot_latency_vs_load(latency_points(), servers=4, service_mean=0.5,
                                   service_cv=0.5).axes[0].get_lines()[0]
    pool = MMc.at_utilisation(4, general.get_xdata()[200], 0.5)
    assert general.get_ydata()[200] == pytest.approx(mgc_mean_wait(pool, 0.5) + 0.5)
    assert general.get_label().startswith("Allen-Cunneen, M/G/4")


@pytest.mark.parametrize("draw, column", [
    (lambda r: plot_space_remaining(r.forecast.drop(columns="rate_per_day"), duration=1.0,
                                    start_date="2026-01-01"), "rate_per_day"),
    (lambda r: plot_space_remaining(r.forecast, space=r.space.drop(columns="issued"),
                                    duration=1.0, start_date="2026-01-01"), "issued"),
    (lambda r: plot_failure_heatmap(heatmap_summary().drop(columns=LWM), x=LWM, y=RATE,
                                    metric="claims"), LWM),
    (lambda r: plot_failure_heatmap(heatmap_summary(), x=LWM, y=RATE, metric="claims",
                                    value="median"), "median"),
    (lambda r: plot_latency_vs_load(latency_points().drop(columns="ci_high"), servers=4,
                                    service_mean=0.5), "ci_high"),
    (lambda r: plot_latency_vs_load(latency_points().drop(columns="metric"), servers=4,
                                    service_mean=0.5, metric="latency.enroll.mean"), "metric"),
])
def test_missing_column_is_one_line_naming_it(small_space, draw, column):
    with pytest.raises(ValueError, match=f"has no column '{column}'") as err:
        draw(small_space)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("draw, words", [
    (lambda r: plot_failure_heatmap(heatmap_summary(), x=LWM, y=RATE, metric="nope"),
     "no rows for metric 'nope'"),
    (lambda r: plot_failure_heatmap(pd.concat([heatmap_summary()] * 2), x=LWM, y=RATE,
                                    metric="claims"), "several rows per"),
    (lambda r: plot_failure_heatmap(heatmap_summary().replace({RATE: {"1/s": "fast"}}), x=LWM,
                                    y=RATE, metric="claims"), "workload.enroll_rate = 'fast'"),
    (lambda r: plot_latency_vs_load(latency_points(), servers=2, service_mean=0.5),
     "utilisation must be in [0, 1)"),
    (lambda r: plot_latency_vs_load(latency_points(), servers=4, service_mean=0.5,
                                    quantity="p99"), "quantity = 'p99'"),
    (lambda r: plot_latency_vs_load(pd.concat([latency_points(), latency_points().assign(
        metric="requests.fail")]), servers=4, service_mean=0.5),
     "several metrics (latency.enroll.mean, requests.fail): choose the latency one"),
    (lambda r: space_figure(r, kind="replica"), "no row for kind 'replica'"),
    (lambda r: space_figure(r, measure="left"), "measure = 'left'"),
    (lambda r: plot_space_remaining(r.forecast, duration=86400.0, start_date="March"),
     "start_date = 'March'"),
    (lambda r: space_figure(r, horizon_days=1.0), "horizon_days = 1.0"),
    (lambda r: plot_space_remaining([], duration=1.0, start_date="2026-01-01"),
     "must be a pandas DataFrame"),
])
def test_bad_input_is_one_line(small_space, draw, words):
    with pytest.raises(ValueError) as err:
        draw(small_space)
    assert words in str(err.value) and "\n" not in str(err.value)
