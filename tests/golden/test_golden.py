"""Golden outputs: every shipped scenario, as shipped, gives the checked-in bytes.

A refactoring must not change what a run measures.  Each directory here holds
one scenario's ``summary.json``, its small CSV tables and a digest of its
history (issue table and event table); the test runs the scenario through
``pkisim run`` and compares byte for byte.

A change that is *meant* to change results regenerates them with
``PKISIM_REGOLD=1 python -m pytest tests/golden`` and names the changed
scenarios, and why, in its commit message.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from pkisim.cli import main
from pkisim.history import History

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SCENARIOS = sorted((ROOT / "scenarios").glob("*.toml"))
TABLES = ("claims.csv", "failures.csv", "faults.csv", "forecast.csv", "ocsp.csv",
          "replica_ids.csv")
#: Scenarios too long for a test run as shipped: their first stretch.
SHORTENED = {"year-at-scale": ["--set", "duration=1d"]}


def history_digest(path: Path) -> str:
    """SHA-256 of a history's content (independent of the Parquet writer)."""
    history = History.load(path)
    digest = hashlib.sha256()
    frame = history.to_frame()
    digest.update(frame.drop(columns=["value"]).to_csv(index=False).encode())
    digest.update(history.events_frame().to_csv(index=False).encode())
    return digest.hexdigest() + "\n"


def outputs(report: Path) -> dict[str, bytes]:
    out = {"summary.json": (report / "summary.json").read_bytes(),
           "history.sha256": history_digest(report / "history.parquet").encode()}
    for name in TABLES:
        table = report / "tables" / name
        if table.exists():
            out[name] = table.read_bytes()
    return out


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.stem)
def test_shipped_scenario_matches_its_golden_outputs(scenario: Path, tmp_path: Path) -> None:
    report = tmp_path / "report"
    status = main(["run", str(scenario), "--out", str(report), "--no-plots", "--quiet",
                   *SHORTENED.get(scenario.stem, [])])
    assert status in (0, 1)
    got = outputs(report)
    golden = HERE / scenario.stem
    if os.environ.get("PKISIM_REGOLD"):
        shutil.rmtree(golden, ignore_errors=True)
        golden.mkdir()
        for name, data in got.items():
            (golden / name).write_bytes(data)
    expected = {p.name: p.read_bytes() for p in sorted(golden.iterdir())}
    assert sorted(got) == sorted(expected)
    for name, data in expected.items():
        assert got[name] == data, f"{scenario.stem}: {name} differs from tests/golden"
