"""``pkisim run`` and ``pkisim check`` end to end: files, exit codes, determinism,
one-line errors, and an output directory that never loses anything."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from pkisim.cli import main
from pkisim.cli.util import parse_overrides
from pkisim.history.history import History

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"

TINY = """\
# tiny: a master and a clone for 20 minutes, a crash of the clone, small ranges
name = "tiny"
duration = "20m"
seed = 3
strategy = "legacy2"

[directory]
replicas = ["ds1", "ds2"]
lag = "1s"

[workload]
enroll_rate = "2/s"
revoke_rate = "10/min"
crl_fetch_rate = "2/min"

[crl]
auto_update_interval = "5m"

[defaults.ids]
beginSerialNumber = 1
endSerialNumber = 1000
serialIncrement = 1000
serialLowWaterMark = 300
serialCloneTransferNumber = 100
beginRequestNumber = 1
endRequestNumber = 2000
requestIncrement = 2000
requestLowWaterMark = 500
requestCloneTransferNumber = 200
serialNumberUpdateInterval = "2m"

[[ca]]
name = "ca1"
role = "master"
replica = "ds1"
crl_master = true

[[ca]]
name = "ca2"
replica = "ds2"
donor = "ca1"
created_at = "1m"

[[faults]]
kind = "crash"
target = "ca2"
at = "8m"
duration = "3m"
"""

PLOTS = ("timeline.png", "serial-space.png", "crl-staleness.png")
TABLES = {  # a few columns each table must have
    "requests": {"id", "kind", "arrival", "latency", "ca", "outcome", "cause"},
    "throughput": {"time", "kind", "ok", "failed"},
    "failures": {"cause", "kind", "count"},
    "claims": {"time", "ca", "kind", "event", "begin", "end"},
    "space": {"time", "ca", "kind", "issued", "remaining"},
    "forecast": {"kind", "used", "rate_per_day", "days_to_exhaustion", "forecast_date"},
    "crl": {"time", "ca", "number"},
    "crl_staleness": {"serial", "revoked_at", "staleness"},
    "faults": {"kind", "target", "start", "end"},
}


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return path


def digests(directory: Path) -> dict[str, str]:
    return {p.relative_to(directory).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def leftovers(parent: Path) -> list[str]:
    """Staging directories that were not cleaned up."""
    return [p.name for p in parent.iterdir() if p.name.startswith(".")]


def test_run_writes_a_complete_report(tiny: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "report"
    assert main(["run", str(tiny), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for words in ("VALID", "certificates issued", "latency", "p99", "exhaustion forecast",
                  "CRL staleness", "crash ca2"):
        assert words in printed

    text = (out / "summary.json").read_text()
    summary = json.loads(text)
    assert text == json.dumps(summary, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert summary["valid"] is True and summary["exit_status"] == 0
    assert summary["duplicated_count"] == 0 and summary["range_violations"] == 0
    assert 2000 < summary["issued"] <= summary["requests"]["ok"]
    assert summary["failures"].get("host down", 0) > 0  # the crash shows

    scenario = json.loads((out / "scenario.json").read_text())
    assert scenario["seed"] == 3 and scenario["strategy"] == "legacy2"
    assert scenario["scenario"]["name"] == "tiny" and len(scenario["scenario"]["cas"]) == 2
    assert scenario["command"][:3] == ["pkisim", "run", str(tiny)]
    assert len(scenario["code"]["pkisim_source_sha256"]) == 64

    history = History.load(out / "history.parquet")
    assert history.issued_count() == summary["issued"]
    for name, columns in TABLES.items():
        frame = pd.read_parquet(out / "tables" / f"{name}.parquet")
        assert columns <= set(frame.columns), name
    requests = pd.read_parquet(out / "tables" / "requests.parquet")
    assert len(requests) == summary["requests"]["attempts"]
    assert pd.read_csv(out / "tables" / "faults.csv")["kind"].tolist() == ["crash"]
    for name in PLOTS:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 30_000
    assert leftovers(tmp_path) == []


def test_same_seed_same_bytes_other_seed_other_bytes(tiny: Path, tmp_path: Path) -> None:
    runs = {}
    for label, seed in (("a", "5"), ("b", "5"), ("c", "6")):
        assert main(["run", str(tiny), "--seed", seed, "--out", str(tmp_path / label),
                     "--quiet"]) == 0
        runs[label] = digests(tmp_path / label)
    assert len(runs["a"]) == 3 + len(PLOTS) + len(TABLES) + 4  # + the CSV copies
    assert runs["a"] == runs["b"]
    changed = {name for name in runs["a"] if runs["a"][name] != runs["c"][name]}
    assert {"history.parquet", "summary.json", "scenario.json", "tables/requests.parquet",
            *PLOTS} <= changed


def test_set_overrides_and_default_output_directory(tiny: Path, tmp_path: Path,
                                                    monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["run", str(tiny), "--set", "duration=5m", "--set", "workload.enroll_rate=1.5",
            "--set", "crl.clone_mode='redirect'", "--no-plots", "--quiet"]
    assert main(args) == 0
    out = tmp_path / "runs" / "tiny-seed3"
    assert capsys.readouterr().out.strip() == "tiny seed 3 (legacy2): VALID -> runs/tiny-seed3"
    scenario = json.loads((out / "scenario.json").read_text())
    assert scenario["scenario"]["duration"] == 300.0
    assert scenario["scenario"]["workload"]["enroll_rate"] == 1.5
    assert scenario["scenario"]["crl"]["clone_mode"] == "redirect"
    assert scenario["overrides"] == {"duration": "5m", "workload.enroll_rate": 1.5,
                                     "crl.clone_mode": "redirect"}
    assert not list(out.glob("*.png"))


def test_parse_overrides_reads_toml_scalars() -> None:
    assert parse_overrides(["a=5", "b=0.5", "c=true", "d='x y'", "e=2h", "f=[1, 2]",
                            "g=2026-06-01"]) == {
        "a": 5, "b": 0.5, "c": True, "d": "x y", "e": "2h", "f": [1, 2],
        "g": dt.date(2026, 6, 1)}


def test_partition_claims_random_is_valid_and_legacy_is_not(tmp_path: Path, capsys) -> None:
    scenario = str(SCENARIOS / "partition-claims.toml")
    assert main(["run", scenario, "--strategy", "random", "--no-plots", "--quiet",
                 "--out", str(tmp_path / "random")]) == 0
    assert main(["run", scenario, "--strategy", "legacy", "--no-plots", "--quiet",
                 "--out", str(tmp_path / "legacy")]) == 1
    assert "INVALID" in capsys.readouterr().out
    random = json.loads((tmp_path / "random" / "summary.json").read_text())
    legacy = json.loads((tmp_path / "legacy" / "summary.json").read_text())
    assert random["strategy"] == "random" and random["duplicated_count"] == 0
    assert legacy["valid"] is False and legacy["duplicated_count"] > 0
    assert legacy["exit_status"] == 1


@pytest.mark.parametrize("run", ["in-process", "subprocess"])
def test_bad_scenario_is_one_line_naming_file_key_and_value(tiny: Path, tmp_path: Path,
                                                             capsys, run: str) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(TINY.replace('enroll_rate = "2/s"', 'enroll_rate = "fast"'))
    args = ["run", str(bad), "--out", str(tmp_path / "never")]
    if run == "in-process":
        status = main(args)
        err = capsys.readouterr().err
    else:
        done = subprocess.run([sys.executable, "-m", "pkisim.cli", *args], capture_output=True,
                              text=True, check=False)
        status, err = done.returncode, done.stderr
    assert status == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert str(bad) in err and "workload.enroll_rate" in err and "'fast'" in err
    assert not (tmp_path / "never").exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("args", [["--set", "nokey"], ["--set", "workload.enroll_ratee=3"],
                                  ["--strategy", "bogus"], ["--seed", "-1"]])
def test_bad_arguments_are_one_line_too(tiny: Path, tmp_path: Path, capsys,
                                        args: list[str]) -> None:
    assert main(["run", str(tiny), "--out", str(tmp_path / "x"), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_unrelated_output_directory_is_refused_and_left_intact(tiny: Path, tmp_path: Path,
                                                               capsys) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    assert main(["run", str(tiny), "--out", str(precious), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "summary.json" in err
    assert [p.name for p in precious.iterdir()] == ["thesis.tex"]
    assert (precious / "thesis.tex").read_text() == "years of work"
    assert leftovers(tmp_path) == []
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep")
    assert main(["run", str(tiny), "--out", str(a_file), "--quiet"]) == 2
    assert a_file.read_text() == "keep"


def test_previous_report_is_replaced_only_after_a_successful_run(tiny: Path, tmp_path: Path,
                                                                 monkeypatch, capsys) -> None:
    out = tmp_path / "report"
    assert main(["run", str(tiny), "--out", str(out), "--no-plots", "--quiet"]) == 0
    before = digests(out)

    import pkisim.report.plots as plots

    def broken(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(plots, "write_plots", broken)
    assert main(["run", str(tiny), "--seed", "9", "--out", str(out), "--quiet"]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert digests(out) == before and leftovers(tmp_path) == []

    monkeypatch.undo()
    (out / "stale.txt").write_text("from an older run")
    assert main(["run", str(tiny), "--seed", "9", "--out", str(out), "--no-plots",
                 "--quiet"]) == 0
    assert not (out / "stale.txt").exists()
    assert json.loads((out / "summary.json").read_text())["seed"] == 9
    assert leftovers(tmp_path) == []


def test_check_agrees_with_the_summary(tmp_path: Path, capsys) -> None:
    out = tmp_path / "legacy"
    assert main(["run", str(SCENARIOS / "partition-claims.toml"), "--set", "duration=4h",
                 "--no-plots", "--quiet", "--out", str(out)]) == 1
    summary = json.loads((out / "summary.json").read_text())
    for op, key in (("cert", "serials"), ("request", "request_ids")):
        verdict_file = tmp_path / f"{op}.json"
        status = main(["check", str(out / "history.parquet"), "--op", op,
                       "--json", str(verdict_file)])
        verdict = json.loads(verdict_file.read_text())
        expected = summary["verdict"][key]
        assert status == (0 if expected["valid"] else 1)
        for field in ("valid", "acknowledged_count", "duplicated_count",
                      "possible_duplicated_count"):
            assert verdict[field] == expected[field], field
    assert summary["issued"] == summary["verdict"]["serials"]["acknowledged_count"]
    assert summary["duplicated_count"] > 0
    capsys.readouterr()


def test_version_and_help(capsys) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("pkisim ")
    assert main(["run", "--help"]) == 0
    assert "--strategy" in capsys.readouterr().out
    assert main([]) == 2
