"""The fast paths against stepping everything, on random small topologies.

Hypothesis draws a topology (1-4 CAs on 1-3 replicas, clones installed during
the run, tiny ranges so that claims and switches happen), a workload
(enrollments, revocations, CRL fetches, a diurnal profile, key archival, tight
timeouts), a balancer (round-robin, sticky, least-outstanding) and a fault
schedule (crashes, maintenance, replica outages, partitions, lag spikes, CRL
outages and moves).  ``Simulation(..., fast=True)`` -- batched windows and their
prefixes, the update task and health checks in closed form -- must give the
same history, events, tables and summary as ``fast=False``.

CI runs the same 48 examples every time (derandomized).  A divergence can need
a hundred or more to show: ``PKISIM_RANDOM_TOPOLOGIES=500 python -m pytest
tests/sim/test_sim_fast_random.py`` runs that many fresh random ones (a nightly
job's knob; Hypothesis prints the failing example and its seed).
"""

from __future__ import annotations

import os
from unittest.mock import patch

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pkisim.sim import (
    CaSpec,
    CrlSpec,
    DirectorySpec,
    Distribution,
    Fault,
    LoadBalancer,
    RetryPolicy,
    Scenario,
    Workload,
)
from pkisim.sim import window as window_module
from tests.sim.sim_builders import small_ranges
from tests.sim.test_sim_fast import assert_identical, both

DURATION = 1500.0


@st.composite
def topologies(draw: st.DrawFn) -> Scenario:
    replicas = tuple(f"ds{i + 1}" for i in range(draw(st.integers(1, 3))))
    n = draw(st.integers(1, 4))
    ids = small_ranges("legacy2", end=draw(st.sampled_from([2500, 6000, 0x100000])),
                       increment=2000, low_water_mark=800, clone_transfer_number=400,
                       update_interval=draw(st.sampled_from([60.0, 600.0])))
    generation = draw(st.sampled_from([Distribution("constant", 2.0),
                                       Distribution("exponential", 5.0)]))
    cas = [CaSpec("ca1", replicas[0], role="master", ids=ids, crl_master=True,
                  workers=draw(st.sampled_from([2, 8])), crl_generation=generation)]
    for i in range(2, n + 1):
        created = draw(st.sampled_from([0.0, 0.0, 137.0, 420.5]))
        cas.append(CaSpec(f"ca{i}", draw(st.sampled_from(replicas)), donor="ca1",
                          created_at=created, workers=draw(st.sampled_from([2, 8])),
                          enroll=Distribution("lognormal", 0.25, 0.5),
                          crl_generation=generation))
    names = [ca.name for ca in cas]
    faults = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["crash", "maintenance", "replica-down", "partition",
                                     "lag-spike", "crl-down", "crl-move"]))
        at = draw(st.floats(50.0, DURATION - 100.0).map(lambda x: round(x, 1)))
        duration = draw(st.sampled_from([30.0, 200.0]))
        if kind in ("crash", "maintenance", "crl-down"):
            faults.append(Fault(kind, at, draw(st.sampled_from(names)), duration=duration))
        elif kind == "crl-move":
            faults.append(Fault(kind, at, draw(st.sampled_from(names))))
        elif kind == "replica-down":
            faults.append(Fault(kind, at, draw(st.sampled_from(replicas)), duration=duration))
        elif len(replicas) > 1 and kind == "partition":
            faults.append(Fault(kind, at, ((replicas[0],), replicas[1:]), duration=duration))
        elif len(replicas) > 1:
            faults.append(Fault("lag-spike", at, draw(st.sampled_from(replicas)),
                                duration=duration, lag=draw(st.sampled_from([5.0, 60.0]))))
    workload = Workload(
        enroll_rate=draw(st.sampled_from([5.0, 20.0])),
        revoke_rate=draw(st.sampled_from([0.0, 0.05, 1.0])),
        crl_fetch_rate=draw(st.sampled_from([0.0, 2.0])),
        diurnal_amplitude=draw(st.sampled_from([0.0, 0.5])),
        key_archival_fraction=draw(st.sampled_from([0.0, 0.0, 0.05])),
        clients=draw(st.sampled_from([20, 1000])),
        retry=RetryPolicy(max_retries=2, backoff=1.0,
                          timeout=draw(st.sampled_from([30.0, 1.5]))))
    return Scenario(
        "random", duration=DURATION, cas=tuple(cas),
        directory=DirectorySpec(replicas, lag=draw(st.sampled_from([0.0, 0.5]))),
        workload=workload, faults=tuple(faults),
        load_balancer=LoadBalancer(draw(st.sampled_from(["round-robin", "sticky",
                                                         "least-outstanding"]))),
        crl=CrlSpec(auto_update_interval=draw(st.sampled_from([300.0, 97.5])),
                    listen_to_clone_modifications=draw(st.sampled_from([True, True, False])),
                    cache_rebuild_interval=400.0,
                    clone_mode=draw(st.sampled_from(["replicated", "redirect"])),
                    always_update=draw(st.sampled_from([False, False, True]))))


def _examples() -> int | None:
    """``PKISIM_RANDOM_TOPOLOGIES``: how many fresh random examples (unset: CI's 48 fixed ones)."""
    value = os.environ.get("PKISIM_RANDOM_TOPOLOGIES")
    if value is None:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"PKISIM_RANDOM_TOPOLOGIES={value!r}: give a number of examples >= 1")
    return int(value)


EXAMPLES = _examples()


@settings(max_examples=EXAMPLES or 48, deadline=None, derandomize=EXAMPLES is None,
          database=None, suppress_health_check=[HealthCheck.too_slow])
@given(topologies(), st.integers(0, 2**16), st.sampled_from([0, window_module.MIN_RUN_ADDS]))
def test_fast_equals_stepped_on_random_topologies(scenario: Scenario, seed: int,
                                                  min_run_adds: int) -> None:
    """(``min_run_adds`` 0: a replicated window's records go as record runs
    however few there are between two revocations.)"""
    with (patch.object(window_module, "MIN_RUN_ADDS", min_run_adds),
          patch.object(window_module, "RUN_ADDS_PER_WRITE", min_run_adds)):
        fast, slow, _ = both(scenario, seed=seed)
    assert fast.summary() == slow.summary()
    assert_identical(fast, slow)
