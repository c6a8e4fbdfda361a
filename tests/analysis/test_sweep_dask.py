"""A sweep on a Dask cluster gives exactly the process pool's results."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest

from pkisim.analysis import SweepError, load_sweep, run_sweep
from pkisim.cli import main

distributed = pytest.importorskip("distributed", reason="the extra 'dask' is not installed")

STEADY = str(Path(__file__).resolve().parents[2] / "scenarios" / "steady-state.toml")


def test_a_local_dask_cluster_gives_the_process_pools_results(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "sweep.toml"
    path.write_text(f"""
scenario = {STEADY!r}
replications = 3
seed = 5
[overrides]
duration = "10m"
[grid]
strategy = ["legacy2", "random"]
"workload.enroll_rate" = ["20000/day", "40000/day"]
""")
    sweep = load_sweep(path)
    pool = run_sweep(sweep, workers=2, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=40) as cluster:
        dask = run_sweep(sweep, scheduler=cluster.scheduler_address, progress=False)
        status = main(["sweep", str(path), "--scheduler", cluster.scheduler_address,
                             "--out", str(tmp_path / "dask"), "--quiet"])
    assert status == 0, capsys.readouterr().err
    pd.testing.assert_frame_equal(pool.runs, dask.runs)
    pd.testing.assert_frame_equal(pool.summary, dask.summary)
    assert len(dask.runs) and dask.runs["point"].nunique() == 4
    assert main(["sweep", str(path), "--workers", "2", "--out", str(tmp_path / "pool"),
                       "--quiet"]) == 0
    for name in ("runs.parquet", "summary.parquet", "summary.csv", "sweep.json"):
        assert (tmp_path / "dask" / name).read_bytes() == (tmp_path / "pool" / name).read_bytes()


def test_an_unreachable_scheduler_is_one_line() -> None:
    sweep = load_sweep(Path(__file__).resolve().parents[2] / "scenarios" / "sweeps" /
                       "strategies.toml")
    with pytest.raises(SweepError, match=r"^--scheduler tcp://127\.0\.0\.1:9: cannot connect"):
        run_sweep(sweep, scheduler="tcp://127.0.0.1:9", progress=False)


def test_a_scheduler_without_workers_fails_after_the_timeout(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "sweep.toml"
    path.write_text(f"scenario = {STEADY!r}\n[overrides]\nduration = \"10m\"\n")
    with distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=None,
                                  silence_logs=40) as cluster:
        start = time.monotonic()
        status = main(["sweep", str(path), "--scheduler", cluster.scheduler_address,
                       "--scheduler-timeout", "2", "--out", str(tmp_path / "out"), "--quiet"])
        waited = time.monotonic() - start
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1, err
    assert f"--scheduler {cluster.scheduler_address}: no worker joined the scheduler within 2 s" \
        in err
    assert 2 <= waited < 30 and not (tmp_path / "out").exists()
