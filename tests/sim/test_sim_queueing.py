"""A quick M/M/c sanity check: one CA, c workers, exponential service.

The simulated mean wait must fall within a batch-means confidence interval of
Erlang C's (a later issue does the theory checks properly)."""

from __future__ import annotations

import math

import numpy as np

from pkisim.sim import CaSpec, Distribution, RetryPolicy, Scenario, Workload, simulate


def erlang_c_wait(servers: int, arrival: float, service_mean: float) -> float:
    a = arrival * service_mean
    below = sum(a**k / math.factorial(k) for k in range(servers))
    top = a**servers / math.factorial(servers) * servers / (servers - a)
    return top / (below + top) / (servers / service_mean - arrival)


def test_mean_wait_matches_erlang_c():
    servers, arrival, service = 4, 3.0, 1.0
    ca = CaSpec("ca1", "ds1", role="master", workers=servers,
                enroll=Distribution("exponential", service))
    scenario = Scenario("mmc", duration=40_000.0, cas=(ca,),
                        workload=Workload(enroll_rate=arrival, retry=RetryPolicy(timeout=1e9)))
    req = simulate(scenario, seed=5).requests
    req = req[req["arrival"] > 1000.0].sort_values("arrival")  # drop the warm-up
    waits = (req["start"] - req["arrival"]).to_numpy()
    batches = np.array([b.mean() for b in np.array_split(waits, 30)])
    t_995 = 2.756  # Student's t, 29 degrees of freedom, two-sided 99 %
    half = t_995 * batches.std(ddof=1) / math.sqrt(len(batches))
    expected = erlang_c_wait(servers, arrival, service)
    assert abs(batches.mean() - expected) < half, (batches.mean(), expected, half)
    assert half < 0.25 * expected  # the interval is tight enough to mean something
