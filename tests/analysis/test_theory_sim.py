"""The closed forms against the simulation.

* Erlang C: one CA, ``c`` worker threads, exponential service, Poisson
  enrollments, no retries or timeouts, at five loads from 0.3 to 0.95.  Waits
  inside one run are correlated, so each run gives one estimate after a
  warm-up (the fraction of requests that waited, their mean wait, the fraction
  that waited longer than ``1 / (c μ - λ)``), and the estimates of independent
  replications (one seed each) get Student's 99 % interval, which must contain
  Erlang C's value.  Runs are long enough that the warm-up bias and the skew of
  the mean wait near saturation stay well inside the interval (checked once
  with 100 replications at ρ = 0.95), and the seeds were fixed before the test
  was first run.
* The birthday bound: RSNv3 with 20- and 24-bit serials (pkisim accepts
  ``dbs.cert.id.length`` from 8 to 1024 bits; Dogtag checks nothing); a
  repeated serial fails when its record is added ("serial already in
  directory"), so collisions are those failures and draws are enrollments that
  reached signing.
* The low-water mark: the refill-race scenario at the recommended mark runs
  without exhaustion; at an eighth of it, it runs dry.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pkisim.analysis import (
    MMc,
    exhaustion_probability,
    expected_collisions,
    mean_ci,
    mgc_mean_wait,
    recommend_low_water_mark,
)
from pkisim.ids.config import IdKind
from pkisim.ids.subsystem import master_configs
from pkisim.scenario import load_scenario
from pkisim.sim import (
    CaSpec,
    Distribution,
    RetryPolicy,
    RunResult,
    Scenario,
    Workload,
    simulate,
)

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"

# --------------------------------------------------------------------------- Erlang C
SERVERS = 4
SERVICE_MEAN = 1.0  # seconds, exponential
REPLICATIONS = 12
WARM_UP = 0.2  # fraction of each run dropped at the start
#: Arrivals per replication at each utilisation: more near saturation, where
#: the queue relaxes slowly (about rho / (1 - sqrt(rho))**2 arrivals).
ARRIVALS = {0.3: 10_000, 0.5: 10_000, 0.7: 15_000, 0.85: 25_000, 0.95: 40_000}


def mmc_scenario(pool: MMc, duration: float) -> Scenario:
    """One master, ``c`` threads, exponential service; no store latency, no
    retries, no timeouts; the master's ranges never need a claim (serial
    management off, pkispawn's 0x10000000 serials)."""
    ca = CaSpec("ca1", "ds1", role="master", workers=pool.servers,
                enroll=Distribution("exponential", 1 / pool.service_rate),
                directory_latency=Distribution("constant", 0.0))
    return Scenario("mmc", duration=duration, cas=(ca,),
                    workload=Workload(enroll_rate=pool.arrival_rate,
                                      retry=RetryPolicy(max_retries=0, timeout=1e12)))


def waits(requests: pd.DataFrame, duration: float, tail: float) -> np.ndarray:
    """Waits of the requests that arrived after the warm-up and early enough
    to have finished before the end of the run (``tail`` seconds before it)."""
    keep = (requests["arrival"] > WARM_UP * duration) & (requests["arrival"] < duration - tail)
    chosen = requests[keep]
    return (chosen["start"] - chosen["arrival"]).to_numpy(dtype=np.float64)


@pytest.mark.parametrize("level, rho", enumerate(ARRIVALS))
def test_simulated_wait_matches_erlang_c(level, rho):
    pool = MMc.at_utilisation(SERVERS, rho, SERVICE_MEAN)
    duration = ARRIVALS[rho] / pool.arrival_rate
    # a request arriving `tail` seconds before the end waits and is served in
    # time unless one of two exponentials exceeds 25 of its means (~1e-11)
    tail = 25 / min(pool.drain_rate, pool.service_rate)
    scenario = mmc_scenario(pool, duration)
    t_mean = 1 / pool.drain_rate  # the mean wait of a request that waits: P(W > t) = C / e
    p_wait, mean_wait, p_tail = [], [], []
    for replication in range(REPLICATIONS):
        result = simulate(scenario, seed=20_000 + 1000 * level + replication)
        assert result.summary()["requests"]["ok"] == len(result.requests)  # nothing failed
        assert not (result.claims["event"] == "claimed").any()  # no claim touched service
        w = waits(result.requests, duration, tail)
        assert len(w) > 0.7 * ARRIVALS[rho]
        p_wait.append(float((w > 0).mean()))
        mean_wait.append(float(w.mean()))
        p_tail.append(float((w > t_mean).mean()))
    p = mean_ci(p_wait, level=0.99)
    wq = mean_ci(mean_wait, level=0.99)
    tail_interval = mean_ci(p_tail, level=0.99)
    assert pool.wait_probability in p, (rho, pool.wait_probability, p)
    assert pool.mean_wait in wq, (rho, pool.mean_wait, wq)
    assert pool.wait_tail(t_mean) in tail_interval, (rho, pool.wait_tail(t_mean), tail_interval)
    # and the intervals are tight enough to mean something
    assert p.half_width < 0.2 * pool.wait_probability, p
    assert wq.half_width < 0.4 * pool.mean_wait, wq


def test_simulated_wait_with_lognormal_service_matches_allen_cunneen():
    """A CA's default enrollment time is lognormal (cv 0.5), not exponential:
    Erlang C overstates the wait by 60 %; Allen and Cunneen's M/G/c
    approximation is within 15 % (an approximation: no exact interval test)."""
    pool = MMc.at_utilisation(8, 0.85, 0.25)
    duration = 40_000 / pool.arrival_rate
    ca = CaSpec("ca1", "ds1", role="master", workers=8,
                enroll=Distribution("lognormal", 0.25, 0.5),
                directory_latency=Distribution("constant", 0.0))
    scenario = Scenario("mgc", duration=duration, cas=(ca,),
                        workload=Workload(enroll_rate=pool.arrival_rate,
                                          retry=RetryPolicy(max_retries=0, timeout=1e12)))
    tail = 25 / pool.drain_rate
    mean_wait = [float(waits(simulate(scenario, seed=40_000 + r).requests, duration, tail).mean())
                 for r in range(8)]
    interval = mean_ci(mean_wait, level=0.99)
    approx = mgc_mean_wait(pool, 0.5)
    # the approximation is within 15 % of a value the interval allows
    assert interval.low < 1.15 * approx and interval.high > 0.85 * approx, (approx, interval)
    assert interval.half_width < 0.2 * approx
    assert pool.mean_wait not in interval


# --------------------------------------------------------------------------- birthday bound
#: Enrollments per run: enough for hundreds of repeats (~424 at 20 bits, ~107 at 24).
DRAWS = {20: 30_000, 24: 60_000}
BIRTHDAY_REPLICATIONS = 6


def random_serials(bits: int, draws: int) -> Scenario:
    ids = master_configs("random", overrides={IdKind.CERT: {"id_length": bits}})
    ca = CaSpec("ca1", "ds1", role="master", workers=4, ids=ids,
                enroll=Distribution("constant", 0.001))
    rate = 100.0
    return Scenario("rsnv3", duration=draws / rate, cas=(ca,), strategy="random",
                    workload=Workload(enroll_rate=rate, retry=RetryPolicy(max_retries=0)))


def cert_serials(result: RunResult) -> np.ndarray:
    """Every serial drawn, in issuance order (stored or refused)."""
    history = result.history.to_frame()
    rows = history[history["f"].astype(str) == "issue_cert"]
    return np.array([int(v) for v in rows["value"]], dtype=np.int64)


@pytest.mark.parametrize("bits", sorted(DRAWS))
def test_random_serial_collisions_match_the_birthday_bound(bits):
    scenario = random_serials(bits, DRAWS[bits])
    residuals, counts = [], []
    for replication in range(BIRTHDAY_REPLICATIONS):
        result = simulate(scenario, seed=30_000 + 100 * bits + replication)
        summary = result.summary()
        collisions = summary["failures"].get("serial already in directory", 0)
        draws = summary["requests"]["ok"] + collisions
        assert draws == summary["requests"]["attempts"]  # no other failure
        assert summary["duplicated_count"] == 0  # one replica: a repeat is refused, not stored
        serials = cert_serials(result)
        consecutive = int((np.diff(serials) == 1).sum())  # about draws / 2**bits if random
        assert consecutive < 5, f"{consecutive} of {len(serials)} serials follow their " \
                                "predecessor: RSNv3 serials must be uniform random draws"
        counts.append(collisions)
        residuals.append(collisions - expected_collisions(draws, 2**bits))
    interval = mean_ci(residuals, level=0.99)
    assert 0.0 in interval, (bits, counts, interval)
    expected = expected_collisions(DRAWS[bits], 2**bits)
    assert interval.half_width < 0.25 * expected, interval
    assert min(counts) > 50


# --------------------------------------------------------------------------- low-water mark
def refill_race(low_water_mark: int, increment: int) -> Scenario:
    return load_scenario(SCENARIOS / "refill-race.toml", overrides={
        "defaults.ids.serialLowWaterMark": low_water_mark,
        "defaults.ids.serialIncrement": increment})


def test_recommended_low_water_mark_prevents_exhaustion():
    base = load_scenario(SCENARIOS / "refill-race.toml")
    workload = base.workload
    master = base.cas[0].ids[IdKind.CERT]  # type: ignore[index]
    interval = master.update_interval
    # the peak rate each CA sees: the 3x burst, shared by round-robin over the CAs
    # (more than the master's 1/s alone before its clone joins); the master also
    # hands its clone a transfer slice between two runs
    peak = workload.enroll_rate * workload.peak_factor() / len(base.cas)
    mark, increment = recommend_low_water_mark(
        peak, interval, 1e-4, clone_transfer_number=master.clone_transfer_number or 0)
    assert 900 + 0x40 < mark < 1100 + 0x40  # 900 enrollments per CA per interval at the peak
    for seed in (1, 2):
        safe = simulate(refill_race(mark, increment), seed=seed).summary()
        assert safe["failures"].get("serial numbers exhausted", 0) == 0, safe["failures"]
        assert safe["claims"] > 10 and safe["valid"]
    small = mark // 8
    # the closed form: at an eighth of the mark a CA runs dry in most intervals
    assert exhaustion_probability(small, workload.enroll_rate / len(base.cas), interval) > 0.99
    for seed in (1, 2):
        dry = simulate(refill_race(small, increment), seed=seed).summary()
        assert dry["failures"].get("serial numbers exhausted", 0) > 1000, dry["failures"]
