"""One seed, one run: identical summaries and tables; another seed, another run."""

from __future__ import annotations

import json

import pandas as pd

from pkisim.sim import CrlSpec, Fault, RandomFaults, Simulation, Workload, simulate


def busy(steady):
    return steady(duration=900.0, workload=Workload(enroll_rate=15.0, revoke_rate=0.5,
                                                    crl_fetch_rate=1.0, diurnal_amplitude=0.5),
                  crl=CrlSpec(auto_update_interval=60.0),
                  faults=(Fault("crash", 200.0, "ca2", duration=120.0),),
                  random_faults=RandomFaults({"lag-spike": 50.0, "crash": 20.0},
                                             mean_duration=60.0))


def test_same_seed_same_everything(steady):
    scenario = busy(steady)
    first, second = simulate(scenario, seed=7), simulate(scenario, seed=7)
    assert json.dumps(first.summary()) == json.dumps(second.summary())
    for name, frame in first.frames().items():
        pd.testing.assert_frame_equal(frame, second.frames()[name], obj=name)
    pd.testing.assert_frame_equal(first.history.to_frame(), second.history.to_frame())
    pd.testing.assert_frame_equal(first.history.events_frame(), second.history.events_frame())


def test_other_seed_other_run(steady):
    scenario = busy(steady)
    assert simulate(scenario, seed=7).summary() != simulate(scenario, seed=8).summary()


def test_seed_defaults_to_the_scenario_and_progress_is_reported(steady):
    seen: list[float] = []
    scenario = steady(duration=300.0, seed=11)
    result = Simulation(scenario, progress=seen.append).run()
    assert result.seed == 11
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)
    assert result.summary() == simulate(scenario, seed=11).summary()
