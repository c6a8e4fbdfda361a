"""One seed, one run: identical summaries and tables; another seed, another run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

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


def test_same_seed_same_summary_across_processes(tmp_path):
    """String hashing is randomised per process: nothing may depend on it."""
    script = tmp_path / "run.py"
    script.write_text(
        "import json, sys\n"
        "from pkisim.sim import CaSpec, CrlSpec, DirectorySpec, Fault, Scenario, Workload\n"
        "from pkisim.sim import simulate\n"
        "cas = (CaSpec('ca1', 'ds1', role='master'), CaSpec('ca2', 'ds2', donor='ca1'))\n"
        "s = Scenario('x', duration=400.0, cas=cas, directory=DirectorySpec(('ds1', 'ds2')),\n"
        "             workload=Workload(enroll_rate=5.0, revoke_rate=0.5, crl_fetch_rate=1.0),\n"
        "             crl=CrlSpec(auto_update_interval=60.0),\n"
        "             faults=(Fault('crash', 100.0, 'ca2', duration=60.0),\n"
        "                     Fault('replica-down', 250.0, 'ds1', duration=30.0)))\n"
        "r = simulate(s, seed=3)\n"
        "print(json.dumps(r.summary()))\n"
        "print(r.requests.to_csv(index=False))\n"
        "print(list(r.requests['cause'].cat.categories))\n")
    outputs = set()
    for hash_seed in ("1", "2"):
        done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                              check=True, env={**os.environ, "PYTHONHASHSEED": hash_seed})
        outputs.add(done.stdout)
    assert len(outputs) == 1
