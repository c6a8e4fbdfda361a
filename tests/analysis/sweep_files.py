"""Sweep files for the sweep tests, here and in tests/cli (which puts this folder on sys.path)."""

from __future__ import annotations

from pathlib import Path

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
STEADY = str(SCENARIOS / "steady-state.toml")


def tiny(tmp_path: Path, extra: str = "", replications: int = 2) -> Path:
    """2 points x ``replications`` runs of ten simulated minutes (~20 ms each)."""
    path = tmp_path / "tiny.toml"
    path.write_text(f"""
scenario = {STEADY!r}
replications = {replications}
seed = 11
metrics = ["issued", "valid", "latency.enroll.*", "requests.*", "failures.*"]
[overrides]
duration = "10m"
[grid]
"workload.enroll_rate" = ["20000/day", "40000/day"]
{extra}""")
    return path
