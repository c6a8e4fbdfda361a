"""``pkisim sweep``: byte-identical files for any number of workers, exit status 1
naming the invalid points, one-line errors, and a previous sweep never lost."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analysis"))
from sweep_files import SCENARIOS, tiny

from pkisim.cli import main

FILES = ("runs.parquet", "summary.parquet", "summary.csv", "sweep.json")


def test_the_command_writes_byte_identical_files_with_1_and_2_workers(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tiny(tmp_path)
    for workers in (1, 2):
        status = main(["sweep", str(path), "--workers", str(workers), "--out",
                             str(tmp_path / f"w{workers}")])
        assert status == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].split() == ["point", "workload.enroll_rate", "runs", "issued", "valid"]
    assert printed[1].split()[:3] == ["0", "20000/day", "2"]
    assert printed[-1].endswith(f"2 points, 4 runs: VALID -> {tmp_path / 'w2'}")
    for name in FILES:
        assert (tmp_path / "w1" / name).read_bytes() == (tmp_path / "w2" / name).read_bytes()
    runs = pd.read_parquet(tmp_path / "w1" / "runs.parquet")
    assert len(runs) and set(runs["replication"]) == {0, 1}
    assert (tmp_path / "w1" / "summary.csv").read_text().startswith(
        "point,workload.enroll_rate,metric,n,mean,std,ci_low,ci_high,half_width\n")


def test_invalid_runs_exit_1_and_name_their_points(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "race.toml"
    path.write_text(f"""
scenario = {str(SCENARIOS / "partition-claims.toml")!r}
replications = 1
metrics = ["valid", "duplicated_count"]
[overrides]
duration = "3h"
[grid]
strategy = ["random", "legacy"]
""")
    status = main(["sweep", str(path), "--out", str(tmp_path / "out"), "--quiet"])
    out = capsys.readouterr().out
    assert status == 1
    assert "INVALID at points 1 ->" in out
    written = (tmp_path / "out" / "sweep.json").read_text()
    assert '"valid": false' in written and '"point": 1' in written
    summary = pd.read_parquet(tmp_path / "out" / "summary.parquet")
    dup = summary[summary.metric == "duplicated_count"].set_index("strategy")["mean"]
    assert dup["legacy"] > 0 and dup["random"] == 0


def test_a_shipped_sweep_runs_end_to_end(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["sweep", str(SCENARIOS / "sweeps" / "low-water-mark.toml"), "--workers", "2",
                         "--replications", "1", "--set", "duration=5m",
                         "--out", str(tmp_path / "lwm")])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "defaults.ids.serialLowWaterMark" in out.splitlines()[0]
    summary = pd.read_parquet(tmp_path / "lwm" / "summary.parquet")
    assert summary["point"].nunique() == 12
    assert set(summary["metric"]) >= {"requests.failed_fraction", "issued"}
    issued = summary[summary.metric == "issued"]
    assert issued["half_width"].map(math.isinf).all()  # one replication: no interval
    failed = summary[summary.metric == "requests.failed_fraction"]  # Wilson's: inside [0, 1]
    assert ((failed["ci_low"] >= 0) & (failed["ci_high"] <= 1)).all()


@pytest.mark.parametrize("args, expected", [
    (["missing.toml"], "file = 'missing.toml': cannot be read"),
    (["{sweep}", "--workers", "0"], "--workers: must be >= 1: 0"),
    (["{sweep}", "--set", "duration"], "--set = 'duration': expected KEY=VALUE"),
    (["{sweep}", "--set", "workload.enroll_rate=fast"],
     "overrides.workload.enroll_rate = 'fast': is also a swept parameter"),
    (["{sweep}", "--set", "duration=soon"], "overrides: duration = 'soon': rejected by the "
                                            "scenario"),
    (["{sweep}", "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"],
     "give --workers or --scheduler, not both"),
    (["{sweep}", "--out", "{notes}"], "is not a pkisim output (no sweep.json)"),
])
def test_command_errors_are_one_line_and_exit_2(tmp_path: Path, args: list[str], expected: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "keep.txt").write_text("mine")
    values = {"sweep": str(tiny(tmp_path)), "notes": str(notes)}
    status = main(["sweep", *(a.format(**values) for a in args)])
    err = capsys.readouterr().err
    assert status == 2
    assert expected in err and len(err.strip().splitlines()) == 1, err
    assert (notes / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes", "tiny.toml"]


def test_a_previous_sweep_is_replaced_and_nothing_is_lost_on_failure(tmp_path: Path) -> None:
    path, out = tiny(tmp_path), tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--quiet"]) == 0
    before = {name: (out / name).read_bytes() for name in FILES}
    assert main(["sweep", str(path), "--out", str(out), "--quiet", "--seed", "12"]) == 0
    assert (out / "runs.parquet").read_bytes() != before["runs.parquet"]
    after = {name: (out / name).read_bytes() for name in FILES}
    assert main(["sweep", str(path), "--out", str(out), "--quiet", "--set", "duration=x"]) == 2
    assert {name: (out / name).read_bytes() for name in FILES} == after
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "tiny.toml"]


def test_without_dask_a_scheduler_is_a_one_line_error(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    status = main(["sweep", str(tiny(tmp_path)), "--scheduler", "tcp://127.0.0.1:8786",
                         "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == 2
    assert err == ("--scheduler tcp://127.0.0.1:8786: Dask is not installed; "
                   "pip install 'pkisim[dask]'\n")
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_sweep_stops_its_workers_and_writes_nothing(tmp_path: Path,
                                                                   sig: signal.Signals) -> None:
    path = tmp_path / "sweep.toml"
    path.write_text(f'scenario = "{SCENARIOS / "steady-state.toml"}"\nreplications = 8\n'
                    '[grid]\n"workload.enroll_rate" = ["20000/day", "40000/day"]\n')
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [sys.executable, "-m", "pkisim.cli", "sweep", str(path), "--workers", "2", "--out",
         str(tmp_path / "out"), "--quiet"], env={**os.environ, "PYTHONPATH": str(root)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while len(_descendants(process.pid)) < 2:  # the pool's worker processes run
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    workers = _descendants(process.pid)
    time.sleep(0.5)
    process.send_signal(sig)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 128 + sig, err
    assert err == f"pkisim sweep: interrupted by {sig.name}\n"
    assert not (tmp_path / "out").exists()
    time.sleep(0.5)
    assert [pid for pid in workers if Path(f"/proc/{pid}").exists()
            and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]] == []


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except OSError:
            continue
        out += [int(c) for c in children]
        todo += [int(c) for c in children]
    return [p for p in out if p != pid]
