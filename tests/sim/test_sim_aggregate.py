"""``[metrics] requests = "aggregate"``: rows only for attempts that did not end
ok; the summary, throughput and failure tables exactly as with every row."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pandas as pd
import pytest

from pkisim.errors import ConfigError
from pkisim.scenario import scenario_from_dict
from pkisim.sim import Fault, RetryPolicy, Scenario, Workload, simulate


def test_aggregate_keeps_what_the_summary_needs(steady: Callable[..., Scenario]) -> None:
    faults = (Fault("crash", 200.0, "ca2", duration=120.0),
              Fault("replica-down", 600.0, "ds1", duration=30.0))
    workload = Workload(enroll_rate=25.0, revoke_rate=0.5, crl_fetch_rate=0.5,
                        retry=RetryPolicy(timeout=1.0))
    full_scenario = steady(duration=1200.0, faults=faults, workload=workload)
    full = simulate(full_scenario, seed=3)
    agg = simulate(dataclasses.replace(full_scenario, requests_table="aggregate"), seed=3)
    assert full.ok_totals is None and agg.ok_totals is not None
    bad = full.requests[full.requests["outcome"] != "ok"].reset_index(drop=True)
    assert len(bad) > 100 and len(agg.requests) == len(bad)
    pd.testing.assert_frame_equal(agg.requests, bad)
    pd.testing.assert_frame_equal(agg.throughput, full.throughput)
    pd.testing.assert_frame_equal(agg.failures, full.failures)
    assert agg.summary() == full.summary()
    assert agg.ok_totals.count == (full.requests["outcome"] == "ok").sum()
    pd.testing.assert_frame_equal(agg.history.to_frame(), full.history.to_frame())


def _document(requests: object) -> dict:
    return {"name": "x", "duration": "1h", "metrics": {"requests": requests},
            "ca": [{"name": "ca1", "role": "master", "replica": "ds1"}]}


def test_the_scenario_key() -> None:
    assert scenario_from_dict(_document("aggregate")).requests_table == "aggregate"
    assert scenario_from_dict({**_document("full"), "metrics": {}}).requests_table == "full"
    with pytest.raises(ConfigError, match=r"metrics\.requests"):
        scenario_from_dict(_document("sampled"))


def test_the_timeline_of_an_aggregate_run_draws_ok_throughput_from_the_counts(
        steady: Callable[..., Scenario]) -> None:
    from pkisim.report.timeline import timeline_figure

    scenario = steady(duration=600.0, rate=10.0, requests_table="aggregate",
                      faults=(Fault("crash", 200.0, "ca2", duration=60.0),))
    result = simulate(scenario, seed=1)
    figure = timeline_figure(result)
    throughput = figure.axes[1]
    lines = {line.get_label(): line for line in throughput.get_lines()}
    ok = lines["enroll ok (bins of 1 min)"]
    rate = ok.get_ydata()  # per second: ten bins of a minute at ~10 enrollments/s
    assert len(rate) == 10 and 9 < rate.mean() < 11
    assert "aggregated" in figure.axes[0].get_title(loc="left")  # the report style: left
