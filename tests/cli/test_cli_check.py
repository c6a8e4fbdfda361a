"""pkisim check: exit codes 0/1/2, the printed verdict, the JSON verdict."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "history"))
from history_builders import clean_topology, replica_race

from pkisim.cli.check import main_check


def jsonl(path: Path, *ops: dict) -> Path:
    path.write_text("".join(json.dumps(op) + "\n" for op in ops))
    return path


def ok(process: int, value: object) -> dict:
    return {"process": process, "type": "ok", "f": "generate", "value": value}


def test_valid_history_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "clean.parquet"
    clean_topology().save(path)
    assert main_check([str(path)]) == 0
    out = capsys.readouterr().out
    assert "issue_cert: valid" in out and "acknowledged            25" in out


def test_duplicates_exit_1_with_witness_and_json(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path, verdict = tmp_path / "race.csv", tmp_path / "verdict.json"
    replica_race().save(path)
    assert main_check([str(path), "--json", str(verdict)]) == 1
    out = capsys.readouterr().out
    assert "issue_cert: INVALID" in out
    assert "two claims read the same nextRange on different replicas" in out
    data = json.loads(verdict.read_text())
    assert (data["verdict"], data["exit_status"], data["duplicated"]) == ("invalid", 1,
                                                                          {"16777221": 2})
    assert data["witnesses"][0].startswith("serial 0x1000005 issued by ca2")


def test_jepsen_history_with_possible_duplicates(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = jsonl(tmp_path / "h.jsonl", ok(0, 1), ok(1, "0x2"),
                 {"process": 2, "type": "info", "f": "generate", "value": "2"})
    assert main_check([str(path)]) == 0
    assert "possible duplicates (an info operation's outcome is unknown):" in \
        capsys.readouterr().out
    path = jsonl(tmp_path / "dup.jsonl", ok(0, 1), ok(1, "1"))
    assert main_check([str(path), "--json", str(tmp_path / "v.json")]) == 1


def test_request_ids(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "h.jsonl", {"process": 0, "type": "ok", "f": "issue_request",
                                        "value": 5}, ok(0, 5))
    assert main_check([str(path), "--op", "request"]) == 0


@pytest.mark.parametrize(("content", "message"), [
    ('{"process": 0, "type": "okay", "f": "generate", "value": 1}\n',
     "h.jsonl:1: \"type\" = 'okay': expected invoke, ok, fail or info"),
    ("", "h.jsonl: no issue_cert operations to check (Jepsen calls that valid: --format jepsen)"),
    ('{"process": 0, "type": "ok", "f": "read", "value": 1}\n',
     "h.jsonl: no issue_cert operations to check (Jepsen calls that valid: --format jepsen)"),
])
def test_could_not_check_exits_2_with_one_line(tmp_path: Path, content: str, message: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text(content)
    assert main_check([str(path)]) == 2
    err = capsys.readouterr().err
    assert err == str(tmp_path / message) + "\n"


def test_missing_file_and_bad_arguments(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main_check([str(tmp_path / "nope.parquet")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert main_check(["--op", "serial", "x"]) == 2
    assert main_check(["x", "--witnesses", "-1"]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 2 and all(e.startswith("pkisim check: argument --") for e in errors)
    assert "invalid choice: 'serial'" in errors[0] and "must be >= 0: -1" in errors[1]
    assert main_check(["--help"]) == 0


def test_never_overwrites_the_input(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "h.jsonl", ok(0, 1))
    before = path.read_bytes()
    assert main_check([str(path), "--json", str(path)]) == 2
    assert path.read_bytes() == before


def test_runs_as_a_module(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "h.jsonl", ok(0, 1), ok(1, 1))
    done = subprocess.run([sys.executable, "-m", "pkisim.cli.check", str(path)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 1 and "witnesses:" in done.stdout and done.stderr == ""
