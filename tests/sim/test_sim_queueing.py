"""A quick M/M/c sanity check: one CA, c workers, exponential service.

One long run, cut into batches: the simulated mean wait must fall within a
batch-means confidence interval of Erlang C's.  (tests/analysis/test_theory_sim.py
does it properly, over independent replications and five loads.)"""

from __future__ import annotations

import numpy as np

from pkisim.analysis import MMc, mean_ci
from pkisim.sim import CaSpec, Distribution, RetryPolicy, Scenario, Workload, simulate


def test_mean_wait_matches_erlang_c():
    servers, arrival, service = 4, 3.0, 1.0
    ca = CaSpec("ca1", "ds1", role="master", workers=servers,
                enroll=Distribution("exponential", service))
    scenario = Scenario("mmc", duration=40_000.0, cas=(ca,),
                        workload=Workload(enroll_rate=arrival, retry=RetryPolicy(timeout=1e9)))
    req = simulate(scenario, seed=5).requests
    req = req[req["arrival"] > 1000.0].sort_values("arrival")  # drop the warm-up
    waits = (req["start"] - req["arrival"]).to_numpy()
    interval = mean_ci([b.mean() for b in np.array_split(waits, 30)], level=0.99)
    expected = MMc(servers, arrival, 1 / service).mean_wait
    assert expected in interval, (interval, expected)
    assert interval.half_width < 0.25 * expected  # tight enough to mean something
