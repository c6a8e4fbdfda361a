"""The batched quiet windows (pkisim/sim/batch.py) against the event-by-event lane.

``Simulation(..., fast=False)`` handles every request event one by one; the
default computes quiet windows in one go.  Both must give identical histories,
request tables, every other table and the same summary, in scenarios where
the batch runs most of the time and in scenarios full of reasons to decline
(faults, retries, range switches, exhaustion, revocations, clones, partitions).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pkisim.scenario import load_scenario
from pkisim.sim import (
    Burst,
    CaSpec,
    CrlSpec,
    DirectorySpec,
    Distribution,
    Fault,
    LoadBalancer,
    RetryPolicy,
    RunResult,
    Scenario,
    Simulation,
    Workload,
)
from pkisim.sim import window as window_module
from pkisim.sim.workload import CHUNK, Draws, PoissonArrivals, TraceArrivals, Uniforms
from tests.sim.sim_builders import small_ranges

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def test_looking_ahead_does_not_change_the_draws() -> None:
    """``ahead`` then ``skip`` hands out exactly what ``next`` would, across chunks."""
    steps = [3, 0, CHUNK - 1, 2, CHUNK + 5, 1, 7]
    for make in (lambda: Draws(Distribution("lognormal", 0.25, 0.5), np.random.default_rng(1)),
                 lambda: Uniforms(np.random.default_rng(2), high=1000),
                 lambda: Uniforms(np.random.default_rng(3))):
        plain, ahead = make(), make()
        for n in steps:
            expected = [plain.next() for _ in range(n)]
            assert ahead.ahead(n) == expected
            ahead.skip(n)
            assert ahead.next() == plain.next()
    workload = Workload(enroll_rate=50.0, diurnal_amplitude=0.5)
    plain = PoissonArrivals(workload, 50.0, np.random.default_rng(4), until=900.0)
    ahead = PoissonArrivals(workload, 50.0, np.random.default_rng(4), until=900.0)
    for horizon in (0.5, 0.5, 10.0, 200.0, 200.1, 880.0, 2000.0):
        before, following = ahead.ahead(horizon)
        assert all(t < horizon for t in before)
        assert before == [plain.next() for _ in before]
        ahead.skip(len(before))
        assert following == (ahead.next() if following < np.inf else np.inf)
        assert following == plain.next()


def test_a_trace_looks_ahead_as_it_replays(tmp_path: Path) -> None:
    """A replayed trace (ties included) hands out through ``ahead``/``skip``
    what ``next`` would, so a window can take its arrivals."""
    trace = tmp_path / "trace.csv"
    trace.write_text("time\n" + "".join(f"{t}\n" for t in (3, 1, 1, 2.5, 7, 7, 7, 9, 12)))
    plain, ahead = TraceArrivals(str(trace), until=10.0), TraceArrivals(str(trace), until=10.0)
    for horizon in (0.5, 1.0, 2.0, 7.0, 7.0, 9.5, 100.0):
        before, following = ahead.ahead(horizon)
        assert all(t < horizon for t in before)
        assert before == [plain.next() for _ in before]
        ahead.skip(len(before))
        assert following == plain.next()
        assert following == (ahead.next() if following < np.inf else np.inf)


def both(scenario: Scenario, seed: int = 1) -> tuple[RunResult, RunResult, Simulation]:
    fast = Simulation(scenario, seed=seed)
    fast_result = fast.run()
    slow = Simulation(scenario, seed=seed, fast=False)
    return fast_result, slow.run(), fast


def batched(world: Simulation) -> float:
    """The share of lane events that batched windows stood for."""
    assert world.batch is not None
    return world.batch.batched_events / max(1, world.lane.events)


def assert_identical(fast: RunResult, slow: RunResult) -> None:
    pd.testing.assert_frame_equal(fast.history.to_frame(), slow.history.to_frame())
    pd.testing.assert_frame_equal(fast.history.events_frame(), slow.history.events_frame())
    slow_frames = slow.frames()
    assert fast.frames().keys() == slow_frames.keys()
    for name, frame in fast.frames().items():
        pd.testing.assert_frame_equal(frame, slow_frames[name], obj=name)
    assert fast.summary() == slow.summary()


def test_steady_state_is_computed_in_windows_and_identical(steady: Callable[..., Scenario]
                                                            ) -> None:
    fast, slow, world = both(steady(duration=1800.0, rate=40.0), seed=3)
    assert batched(world) > 0.8
    assert fast.summary()["issued"] > 60_000
    assert_identical(fast, slow)


@pytest.mark.parametrize("strategy", ["legacy", "naive", "random", "legacy-random", "dna"])
def test_other_strategies(steady: Callable[..., Scenario], strategy: str) -> None:
    """Sequential strategies are batched; random serials and DNA never are."""
    fast, slow, world = both(steady(duration=600.0, rate=40.0, strategy=strategy), seed=8)
    assert (batched(world) > 0.5) == (strategy in ("legacy", "naive"))
    assert_identical(fast, slow)


def test_diurnal_bursty_workload(steady: Callable[..., Scenario]) -> None:
    workload = Workload(enroll_rate=30.0, diurnal_amplitude=0.5,
                        bursts=(Burst(300.0, 120.0, 4.0),))
    fast, slow, world = both(steady(duration=1200.0, workload=workload), seed=5)
    assert batched(world) > 0.8
    assert_identical(fast, slow)


def test_faults_crash_maintenance_replica_down(steady: Callable[..., Scenario]) -> None:
    faults = (Fault("crash", 200.0, "ca2", duration=120.0),
              Fault("maintenance", 500.0, "ca3", duration=100.0),
              Fault("replica-down", 800.0, "ds1", duration=30.0))
    fast, slow, world = both(steady(duration=1200.0, rate=30.0, faults=faults), seed=7)
    assert slow.summary()["requests"]["timeout"] > 0  # the faults did something
    assert batched(world) > 0.5
    assert_identical(fast, slow)


def test_retries_and_clients_giving_up(steady: Callable[..., Scenario]) -> None:
    workload = Workload(enroll_rate=14.0, retry=RetryPolicy(max_retries=2, backoff=1.0,
                                                            timeout=0.8))
    cas = tuple(dataclasses.replace(ca, workers=2) for ca in steady().cas)
    fast, slow, world = both(steady(duration=1800.0, workload=workload, cas=cas), seed=2)
    assert slow.summary()["requests"]["info"] > 50  # gave up, then the CA signed
    assert (slow.requests["attempt"] > 0).sum() > 50  # and retried
    assert batched(world) > 0.01
    assert_identical(fast, slow)


def test_range_switches_claims_and_exhaustion(steady: Callable[..., Scenario]) -> None:
    """Tiny ranges: the update task claims, CAs switch to their next range,
    and with a slow update task some run out.  A window ends before the
    issuance that would switch, run out or make a claim due (the lane takes
    that one), so with a quick update task nearly everything is batched."""
    for interval, seed in ((30.0, 1), (3600.0, 2)):
        ids = small_ranges("legacy2", end=3000, increment=1500, low_water_mark=700,
                           clone_transfer_number=300, update_interval=interval)
        cas = (CaSpec("ca1", "ds1", role="master", ids=ids),
               *(CaSpec(f"ca{i}", "ds1", donor="ca1") for i in (2, 3)))
        fast, slow, world = both(steady(duration=900.0, rate=25.0, cas=cas), seed=seed)
        assert len(slow.claims) > 3
        if interval == 30.0:
            assert batched(world) > 0.9
        assert_identical(fast, slow)


def test_revocations_crl_fetches_and_clones_during_the_run(steady: Callable[..., Scenario]
                                                           ) -> None:
    cas = (CaSpec("ca1", "ds1", role="master", crl_master=True),
           CaSpec("ca2", "ds1", donor="ca1"),
           CaSpec("ca3", "ds1", donor="ca1", created_at=300.0),
           CaSpec("ca4", "ds1", donor="ca1", created_at=450.0, decommissioned_at=900.0,
                  enroll=Distribution("exponential", 0.2)))
    workload = Workload(enroll_rate=30.0, revoke_rate=0.03, crl_fetch_rate=0.03)
    fast, slow, world = both(steady(duration=1800.0, cas=cas, workload=workload), seed=4)
    assert slow.summary()["crl"]["revocations"] > 20
    assert batched(world) > 0.005
    assert_identical(fast, slow)


def test_replicated_windows_add_record_runs_with_crl_fetches_between(
        steady: Callable[..., Scenario]) -> None:
    """Four CAs on four replicas, a high rate, CRL fetches on every CA and
    rare revocations: most windows add their records as record runs, the
    fetches reading each clone's replica in between."""
    names = ("ds1", "ds2", "ds3", "ds4")
    cas = tuple(CaSpec(f"ca{i + 1}", names[i], role="master" if i == 0 else "clone",
                       donor=None if i == 0 else "ca1", crl_master=i == 0,
                       created_at=0.0 if i < 2 else 60.0 * i + 7.0) for i in range(4))
    workload = Workload(enroll_rate=20.0, revoke_rate=0.01, crl_fetch_rate=4.0)
    fast, slow, world = both(steady(duration=900.0, cas=cas, workload=workload,
                                    directory=DirectorySpec(names, lag=0.5)), seed=9)
    assert world.batch is not None and world.batch.windows > 10
    assert world.batch.record_runs > 0.8 * world.batch.windows
    # the share moves with where the windows fall among the clones' joins
    # (0.64, 0.72, 0.59, 0.78 for windows of 256, 512, 1024, 2048 requests)
    assert batched(world) > 0.55
    assert slow.summary()["requests"]["ok"] > 20_000
    assert_identical(fast, slow)


def test_windows_go_past_quiet_update_task_runs(steady: Callable[..., Scenario]) -> None:
    """Ranges small enough that the CAs spend much of the run below the
    low-water mark with a next range held: every update-task run looks for
    range conflicts (a search that finds none).  Windows go past those runs,
    which SimPy then steps after the window; until an issuance in a window
    would change what a run does (a switch, a claim due), which cuts the
    window before the runs.  A crash and a partition in between."""
    ids = small_ranges("legacy2", end=6000, increment=3000, low_water_mark=1500,
                       clone_transfer_number=500, update_interval=60.0)
    names = ("ds1", "ds2")
    cas = tuple(CaSpec(f"ca{i + 1}", names[i % 2], role="master" if i == 0 else "clone",
                       donor=None if i == 0 else "ca1", ids=ids if i == 0 else None,
                       crl_master=i == 0, created_at=0.0 if i == 0 else 13.0 * i)
                for i in range(3))
    faults = (Fault("crash", 700.0, "ca2", duration=60.0),
              Fault("partition", 1100.0, (("ds1",), ("ds2",)), duration=90.0))
    workload = Workload(enroll_rate=12.0, revoke_rate=0.05, crl_fetch_rate=1.0)
    fast, slow, world = both(steady(duration=1800.0, cas=cas, workload=workload, faults=faults,
                                    directory=DirectorySpec(names, lag=0.5)), seed=11)
    assert world.batch is not None and world.batch.past_runs > 10
    assert len(slow.claims) > 5
    assert_identical(fast, slow)


@pytest.mark.parametrize(("replicas", "generation"), [
    (1, Distribution("constant", 2.0)), (3, Distribution("constant", 2.0)),
    (3, Distribution("exponential", 3.0))])
def test_windows_go_past_space_samples_and_make_crl_generations(
        steady: Callable[..., Scenario], replicas: int, generation: Distribution) -> None:
    """A low rate, a CRL every 45 s and a space sample every 10 s: a window
    between two of them would be too short to batch.  Windows go past both:
    they tell the sampler what they issued after each sample's time (SimPy
    steps the sample later, and its row is what it was then), and make each
    CRL generation at its place among the request events (its directory
    write between the record runs, its history row between the issue rows,
    the CRL fetches after it serving it); SimPy skips the generation when its
    timeout comes.  A CRL outage and a role move bound the windows."""
    names = tuple(f"ds{i + 1}" for i in range(replicas))
    cas = tuple(CaSpec(f"ca{i + 1}", names[i % replicas], role="master" if i == 0 else "clone",
                       donor=None if i == 0 else "ca1", crl_master=i == 0,
                       crl_generation=generation) for i in range(3))
    faults = (Fault("crl-down", 1500.0, "ca1", duration=200.0), Fault("crl-move", 3000.0, "ca2"))
    workload = Workload(enroll_rate=3.0, revoke_rate=0.2, crl_fetch_rate=0.5)
    scenario = steady(duration=5000.0, cas=cas, workload=workload, faults=faults,
                      throughput_bin=10.0, crl=CrlSpec(auto_update_interval=45.0),
                      directory=DirectorySpec(names, lag=0.5))
    fast, slow, world = both(scenario, seed=4)
    assert world.batch is not None
    assert world.batch.generations_made > 50 and world.batch.samples_passed > 200
    assert batched(world) > 0.5
    assert slow.summary()["crl"]["generated"] > 100
    assert_identical(fast, slow)


def test_least_outstanding_routing_in_windows(steady: Callable[..., Scenario]) -> None:
    """Least-outstanding routing depends on the completions before each
    arrival: a window routes its arrivals in one sequential loop with the
    worker pools, completions (of its own requests and of those in service
    before it) counted off in time order.  CAs of different sizes, so the
    choice is not round-robin; a crash and a maintenance window in between."""
    cas = tuple(CaSpec(f"ca{i + 1}", "ds1", role="master" if i == 0 else "clone",
                       donor=None if i == 0 else "ca1", crl_master=i == 0,
                       workers=(2, 4, 8)[i]) for i in range(3))
    faults = (Fault("crash", 300.0, "ca2", duration=60.0),
              Fault("maintenance", 700.0, "ca3", duration=100.0))
    workload = Workload(enroll_rate=20.0, revoke_rate=0.5, crl_fetch_rate=4.0)
    fast, slow, world = both(steady(duration=1200.0, cas=cas, workload=workload, faults=faults,
                                    load_balancer=LoadBalancer("least-outstanding")), seed=12)
    assert batched(world) > 0.6
    routed = slow.requests.groupby("ca").size()
    assert routed.max() < 3 * routed.min()  # the small CA gets less, not nothing
    assert_identical(fast, slow)


def test_update_tasks_due_at_once_race_in_the_same_order() -> None:
    """Three CAs installed at once share one update-task grid: at 600 s all
    three claim, and the first to run wins the CAS.  A task that slept (its
    runs skipped in closed form) was scheduled later than one that stepped,
    which once let a different CA win; runs due at once now go in CA order
    either way (found by the random differential: 2,000 history rows apart)."""
    ids = small_ranges("legacy2", end=2500, increment=2000, low_water_mark=800,
                       clone_transfer_number=400, update_interval=600.0)
    cas = (CaSpec("ca1", "ds1", role="master", ids=ids, crl_master=True, workers=2),
           *(CaSpec(f"ca{i}", "ds1", donor="ca1", workers=2,
                    enroll=Distribution("lognormal", 0.25, 0.5)) for i in (2, 3)))
    scenario = Scenario("race", duration=1500.0, cas=cas,
                        directory=DirectorySpec(("ds1", "ds2"), lag=0.0),
                        workload=Workload(enroll_rate=20.0, clients=20))
    fast, slow, _ = both(scenario, seed=0)
    assert len(slow.claims) > 4
    assert_identical(fast, slow)


@pytest.mark.parametrize(("replicas", "min_run_adds"), [(1, 96), (3, 96), (3, 0)])
def test_revocations_in_windows(steady: Callable[..., Scenario], replicas: int,
                                min_run_adds: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Revocations arrive, pick a serial, take a request ID and mark the
    record revoked inside batched windows (one replica: after the window's
    record runs; several: between the adds, which go as record runs, or one
    by one in stretches too short for runs), with the CRL fetches reading
    their replicas in between; the history notes land between the issue rows
    where the lane puts them.  A pick among the window's own serials is left
    to the lane.  A revocation of a settled record (on every replica, not in
    flight) writes inside the record runs; one of a record still replicating
    ends them."""
    monkeypatch.setattr(window_module, "MIN_RUN_ADDS", min_run_adds)
    monkeypatch.setattr(window_module, "RUN_ADDS_PER_WRITE", min_run_adds)
    names = tuple(f"ds{i + 1}" for i in range(replicas))
    cas = tuple(CaSpec(f"ca{i + 1}", names[i % replicas], role="master" if i == 0 else "clone",
                       donor=None if i == 0 else "ca1", crl_master=i == 0) for i in range(4))
    workload = Workload(enroll_rate=30.0, revoke_rate=1.5, crl_fetch_rate=3.0)
    fast, slow, world = both(steady(duration=900.0, cas=cas, workload=workload,
                                    directory=DirectorySpec(names, lag=0.5)), seed=6)
    assert world.batch is not None and world.batch.revoked > 200
    if replicas > 1 and not min_run_adds:  # every stretch as runs, most revocations inside
        assert world.batch.run_writes > 0.8 * world.batch.revoked
        assert world.batch.record_runs < world.batch.revoked - world.batch.run_writes + 100
    assert slow.summary()["crl"]["revocations"] > 1000
    assert batched(world) > 0.5
    assert_identical(fast, slow)


def test_a_certificate_revoked_twice_in_one_window(steady: Callable[..., Scenario],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Half as many revocations as enrollments, each picking among the
    certificates signed so far: windows revoke one serial twice, often from
    two replicas (every stretch as record runs, each revocation inside them
    pulling nothing): the same bytes as the lane's.  (Revocations replace one
    value, so here the order of two of one record shows nothing;
    tests/directory/test_runs.py pins a pair that does.)"""
    monkeypatch.setattr(window_module, "MIN_RUN_ADDS", 0)
    monkeypatch.setattr(window_module, "RUN_ADDS_PER_WRITE", 0)
    names = ("ds1", "ds2", "ds3")
    cas = tuple(CaSpec(f"ca{i + 1}", names[i % 3], role="master" if i == 0 else "clone",
                       donor=None if i == 0 else "ca1", crl_master=i == 0) for i in range(4))
    workload = Workload(enroll_rate=30.0, revoke_rate=15.0, crl_fetch_rate=3.0)
    fast, slow, world = both(steady(duration=600.0, cas=cas, workload=workload,
                                    directory=DirectorySpec(names, lag=0.5)), seed=8)
    assert world.batch is not None and world.batch.run_writes > 2000
    events = slow.history.events_frame()
    revoked = events.loc[(events["f"] == "revoke") & (events["type"] == "ok"), "detail"].tolist()
    assert len(revoked) - len(set(revoked)) > 100  # serials revoked more than once
    assert_identical(fast, slow)


def test_replicated_directory_partition_and_lag_spike(steady: Callable[..., Scenario]) -> None:
    """Each CA on its own replica: the batch adds records one by one in lane
    order (replication pulled in before each, as the lane does); a partition
    and a lag spike in between."""
    cas = tuple(dataclasses.replace(ca, replica=f"ds{i + 1}") for i, ca in enumerate(steady().cas))
    faults = (Fault("partition", 300.0, (("ds1", "ds2"), ("ds3", "ds4")), duration=200.0),
              Fault("lag-spike", 700.0, "ds2", duration=100.0, lag=20.0))
    scenario = steady(duration=1200.0, rate=40.0, cas=cas, faults=faults,
                      directory=DirectorySpec(("ds1", "ds2", "ds3", "ds4"), lag=0.5))
    fast, slow, world = both(scenario, seed=6)
    assert batched(world) > 0.2
    assert_identical(fast, slow)


def test_duplicate_claims_under_a_partition_are_left_to_the_lane(
        steady: Callable[..., Scenario]) -> None:
    """Two CAs on two replicas claim the same ranges during a partition and
    issue the same serials: the batch must never take a window whose records
    collide (the lane reports them: duplicates, "serial already in directory")."""
    ids = small_ranges("legacy2", end=3000, increment=3000, low_water_mark=1500,
                       clone_transfer_number=300, update_interval=30.0)
    cas = (CaSpec("ca1", "ds1", role="master", ids=ids),
           CaSpec("ca2", "ds2", donor="ca1", created_at=7.0))
    scenario = steady(duration=1500.0, rate=20.0, cas=cas,
                      directory=DirectorySpec(("ds1", "ds2"), lag=0.5),
                      faults=(Fault("partition", 200.0, (("ds1",), ("ds2",)), duration=800.0),))
    fast, slow, world = both(scenario, seed=4)
    summary = slow.summary()
    assert summary["duplicated_count"] > 1000
    assert summary["failures"]["serial already in directory"] > 1000
    assert batched(world) > 0.15
    assert_identical(fast, slow)


#: How much of each shipped scenario the differential runs (simulated seconds).
SHORTENED = {"capacity-year": 30 * 86400.0, "year-at-scale": 3 * 3600.0}


@pytest.mark.parametrize("name", sorted(p.stem for p in SCENARIOS.glob("*.toml")))
def test_scenario_files(name: str) -> None:
    """Every shipped scenario, shortened: the batch's windows and the update
    task's skipped runs (:func:`pkisim.sim.ca.CaLife.update_task`) against
    stepping everything."""
    scenario = load_scenario(SCENARIOS / f"{name}.toml")
    scenario = dataclasses.replace(scenario, duration=min(scenario.duration,
                                                          SHORTENED.get(name, 4 * 3600.0)))
    fast, slow, _ = both(scenario)
    assert_identical(fast, slow)


@pytest.mark.parametrize("strategy", ["legacy", "legacy2", "legacy-random", "random", "dna",
                                      "naive"])
def test_every_strategy_on_one_replica(steady: Callable[..., Scenario], strategy: str) -> None:
    """One replica and round-robin: the batch's home ground.  It must decline the
    strategies whose serials are not the next number of a held range (RSNv1 and
    RSNv3 draw them, DNA allocates through the directory) and give the same
    tables as the event lane for all of them."""
    fast, slow, _ = both(steady(duration=300.0, rate=30.0, strategy=strategy), seed=2)
    assert fast.summary()["issued"] > 8_000
    assert_identical(fast, slow)
