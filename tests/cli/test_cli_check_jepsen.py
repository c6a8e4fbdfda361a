"""pkisim check on Jepsen's own files and conventions: history.edn, --format jepsen
(checked against a line-by-line transcription of jepsen.checker/unique-ids), IDs that
are no integers, --json to standard output and to special files, hostile EDN."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pkisim.cli.check import main_check
from pkisim.history import History, HistoryFormatError, check_unique, read_edn

ROOT = Path(__file__).resolve().parents[2]


def edn_op(index: int, kind: str, process: object, value: object, f: str = "generate") -> str:
    """One line as Jepsen's history.edn has it (prn of a jepsen.history.Op)."""
    return (f"{{:index {index}, :time {1000 * index}, :type :{kind}, :process {process}, "
            f":f :{f}, :value {value}}}\n")


def edn(value: object) -> str:
    if value is None:
        return "nil"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, tuple):
        return "[" + " ".join(edn(v) for v in value) + "]"
    if isinstance(value, uuid.UUID):
        return f'#uuid "{value}"'
    return str(value)


def jepsen_unique_ids(ops: list[dict]) -> dict:
    """jepsen.checker/unique-ids, transcribed: filter :f :generate; attempted = invokes;
    acks = the ok values; dups = (into (sorted-map) (filter #(< 1 (val %)) freqs));
    :duplicated = (->> dups (sort-by val) reverse (take 48) (into (sorted-map)));
    :range = (t/range acks), nil when empty."""
    generate = [op for op in ops if op["f"] == "generate"]
    acks = [op["value"] for op in generate if op["type"] == "ok"]
    dups = sorted((k, n) for k, n in Counter(acks).items() if n > 1)
    sample = sorted(list(reversed(sorted(dups, key=lambda kv: kv[1])))[:48])
    return {"valid?": not dups,
            "attempted-count": sum(op["type"] == "invoke" for op in generate),
            "acknowledged-count": len(acks), "duplicated-count": len(dups),
            "duplicated": {str(k): n for k, n in sample},
            "range": [min(acks), max(acks)] if acks else None}


def write_history(path: Path, ops: list[dict]) -> Path:
    path.write_text("".join(edn_op(i, op["type"], op["process"], edn(op["value"]), op["f"])
                            for i, op in enumerate(ops)))
    return path


def check_as_jepsen(path: Path, tmp_path: Path) -> tuple[int, dict]:
    out = tmp_path / "verdict.json"
    status = main_check([str(path), "--format", "jepsen", "--json", str(out)])
    return status, json.loads(out.read_text())


operations = st.lists(st.fixed_dictionaries({
    "process": st.integers(0, 4),
    "type": st.sampled_from(["invoke", "ok", "ok", "fail", "info"]),
    "f": st.sampled_from(["generate", "generate", "generate", "read"]),
    "value": st.integers(0, 60),
}).map(lambda op: {**op, "value": None if op["type"] == "invoke" else op["value"]}),
    max_size=80)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_format_jepsen_agrees_with_jepsens_checker_on_random_histories(ops, tmp_path) -> None:
    status, got = check_as_jepsen(write_history(tmp_path / "history.edn", ops), tmp_path)
    expected = jepsen_unique_ids(ops)
    assert got == expected
    assert status == (0 if expected["valid?"] else 1)


def test_jepsens_choices_for_the_sample_unmatched_oks_and_empty_histories(tmp_path) -> None:
    # 100 IDs acknowledged twice, one of them five times: Jepsen keeps 77 and the largest 47
    ops = [{"process": 0, "type": "ok", "f": "generate", "value": v}
           for v in range(100) for _ in range(2 + 3 * (v == 77))]
    status, got = check_as_jepsen(write_history(tmp_path / "h.edn", ops), tmp_path)
    assert status == 1 and got == jepsen_unique_ids(ops)
    assert sorted(map(int, got["duplicated"])) == [v for v in range(52, 100)]
    # an ok with no invoke is no attempt in Jepsen; pkisim's own format counts completions
    # when a history has no invokes (its simulations record only completions)
    oks = write_history(tmp_path / "oks.edn", ops[:3])
    assert check_as_jepsen(oks, tmp_path)[1]["attempted-count"] == 0
    assert main_check([str(oks), "--json", str(tmp_path / "p.json")]) == 1
    assert json.loads((tmp_path / "p.json").read_text())["attempted_count"] == 3
    # no generate operation: Jepsen says valid with zero counts; pkisim's format: error
    reads = write_history(tmp_path / "reads.edn", [
        {"process": 0, "type": "ok", "f": "read", "value": 3}])
    assert check_as_jepsen(reads, tmp_path) == (0, {
        "valid?": True, "attempted-count": 0, "acknowledged-count": 0, "duplicated-count": 0,
        "duplicated": {}, "range": None})
    assert main_check([str(reads)]) == 2


def test_ids_of_any_comparable_kind(tmp_path, capsys) -> None:
    first, second = uuid.UUID(int=5), uuid.UUID(int=2**120)
    cases = [
        (("a", "b", "a", "c"), {'"a"': 2}, ["a", "c"], {"a": 2}),
        ((first, second, first), {f'#uuid "{first}"': 2}, [str(first), str(second)],
         {str(first): 2}),
        (((1, 7), (2, 3), (1, 7), (1, 2, 0)), {"[1 7]": 2}, [[1, 7], [1, 2, 0]],
         {"[1 7]": 2}),  # vectors: by length first, as Clojure compares them
    ]
    for values, pkisim_dups, jepsen_range, jepsen_dups in cases:
        ops = [{"process": i, "type": "ok", "f": "generate", "value": v}
               for i, v in enumerate(values)]
        path = write_history(tmp_path / "ids.edn", ops)
        status, got = check_as_jepsen(path, tmp_path)
        assert status == 1 and got["range"] == jepsen_range and got["duplicated"] == jepsen_dups
        assert main_check([str(path), "--json", str(tmp_path / "p.json")]) == 1
        assert json.loads((tmp_path / "p.json").read_text())["duplicated"] == pkisim_dups
    keyword = write_history(tmp_path / "kw.edn", [
        {"process": 0, "type": "ok", "f": "generate", "value": v} for v in ("KW", "KW")])
    keyword.write_text(keyword.read_text().replace('"KW"', ":n1/x"))
    assert check_as_jepsen(keyword, tmp_path)[1]["duplicated"] == {"n1/x": 2}
    capsys.readouterr()
    # strings and integers cannot be compared (Clojure throws): no range, still checked
    mixed = write_history(tmp_path / "mixed.edn", [
        {"process": 0, "type": "ok", "f": "generate", "value": v} for v in (1, "1", 1)])
    status, got = check_as_jepsen(mixed, tmp_path)
    assert status == 1 and got["range"] is None and got["duplicated"] == {"1": 2}
    # the range checkers need integers; a history of string IDs is not saved as pkisim's
    history = read_edn(tmp_path / "ids.edn")
    assert not history.integer_ids
    with pytest.raises(ValueError, match="not all integers"):
        history.save(tmp_path / "x.parquet")


def test_history_edn_as_jepsen_writes_it_with_a_witness(tmp_path, capsys) -> None:
    path = tmp_path / "history.edn"
    path.write_text(
        edn_op(0, "invoke", 0, "nil") + edn_op(1, "ok", 0, 17)
        + "#jepsen.history.Op" + edn_op(2, "invoke", 1, "nil")
        + edn_op(3, "info", ":nemesis", "nil", f="start")
        + edn_op(4, "ok", 1, 17) + edn_op(5, "invoke", 2, "nil") + edn_op(6, "info", 2, "nil"))
    assert main_check([str(path)]) == 1
    out = capsys.readouterr().out
    assert "issue_cert: INVALID" in out and "attempted                3" in out
    assert "serial 0x11 issued by process 0 at t=1e-06 and process 1 at t=4e-06" in out
    history = History.load(path)  # History.load knows Jepsen's history.edn too
    assert check_unique(history).duplicated == {17: 2}


def run_check(*args: str, **kwargs: object) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "pkisim.cli.check", *args], env=env,
                          text=True, check=False, **kwargs)  # type: ignore[call-overload]


def test_json_to_standard_output_and_to_special_files(tmp_path) -> None:
    path = write_history(tmp_path / "h.edn", [
        {"process": 0, "type": "ok", "f": "generate", "value": v} for v in (1, 1)])
    # --json -: the verdict alone on stdout (the table on stderr), no file named "-"
    done = run_check(str(path), "--json", "-", "--format", "jepsen", capture_output=True,
                     cwd=tmp_path)
    assert done.returncode == 1 and json.loads(done.stdout)["valid?"] is False
    assert "issue_cert: INVALID" in done.stderr and not (tmp_path / "-").exists()
    # /dev/stdout into a pipe, and into a file the shell opened: written in place
    done = run_check(str(path), "--json", "/dev/stdout", capture_output=True)
    assert json.loads(done.stdout)["verdict"] == "invalid"
    redirected = tmp_path / "out.json"
    with redirected.open("w") as out:
        inode = os.fstat(out.fileno()).st_ino
        run_check(str(path), "--json", "/dev/stdout", stdout=out, stderr=subprocess.PIPE)
    assert json.loads(redirected.read_text())["verdict"] == "invalid"
    assert redirected.stat().st_ino == inode  # the same file, not a replacement
    # a FIFO is written, not replaced by a regular file
    fifo = tmp_path / "verdict.fifo"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    assert run_check(str(path), "--json", str(fifo), capture_output=True).returncode == 1
    reader.join(timeout=60)
    assert json.loads(received[0])["exit_status"] == 1 and fifo.is_fifo()
    # a symbolic link keeps pointing at the file, which is replaced atomically
    target, link = tmp_path / "real.json", tmp_path / "link.json"
    target.write_text("old")
    link.symlink_to(target)
    assert main_check([str(path), "--json", str(link)]) == 1
    assert link.is_symlink() and json.loads(target.read_text())["verdict"] == "invalid"


@pytest.mark.parametrize(("line", "message"), [
    ("{:type :ok, :process 0, :f :generate, :value -3}",
     "h.edn:2: :value = -3: an ID cannot be negative"),
    ("{:type :ok, :process 0, :f :generate, :value " + "9" * 101 + "}",
     "h.edn:2: :value = '99999999999999999999...': an ID has at most 100 digits"),
    ("{:type :ok, :process 0, :f :generate, :value " + "[" * 9 + "1" + "]" * 9 + "}",
     "h.edn:2: :value: an ID nests vectors at most 8 deep"),
    ("{:type :ok, :process 0, :f :generate, :value 1.5}",
     "h.edn:2: :value = '1.5': an ID is an integer, a string, a keyword, a UUID or a vector "
     "of these, not float"),
    ("{:type :ok, :process 0, :f :generate, :value nil}",
     "h.edn:2: :value = None: an ok generate must carry the ID it acknowledges"),
    ("{:type :okay, :process 0, :f :generate, :value 1}",
     "h.edn:2: :type = ':okay': expected :invoke, :ok, :fail or :info"),
    ("{:type :ok, :f :generate, :value 1}", "h.edn:2: :process: missing"),
    ("{:type :ok, :process 0, :f :generate, :value 1} {:type :ok}",
     "h.edn:2: expected one EDN map per line, found 2 forms"),
    ("[:type :ok]", "h.edn:2: expected one EDN map per line, found ImmutableList"),
    ("{:type :ok, :process 0, :f :generate, :value 1", "h.edn:2: invalid EDN (EOF Reached)"),
    ("{:type :ok, :process 0, :f :generate, :value " + "9" * 5000 + "}",
     "h.edn:2: a number of 5,000 digits: numbers have at most 309 (1024 bits)"),
])
def test_hostile_edn_is_one_line_naming_file_and_line(tmp_path, capsys, line: str,
                                                      message: str) -> None:
    path = tmp_path / "h.edn"
    path.write_text("{:type :ok, :process 0, :f :generate, :value 1}\n" + line + "\n")
    assert main_check([str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(str(tmp_path / message)) and err.count("\n") == 1, err


def test_a_missing_edn_reader_is_one_line(tmp_path, monkeypatch) -> None:
    path = write_history(tmp_path / "h.edn", [
        {"process": 0, "type": "ok", "f": "generate", "value": 1}])
    monkeypatch.setitem(sys.modules, "edn_format", None)  # import edn_format fails
    with pytest.raises(HistoryFormatError) as err:
        read_edn(path)
    assert str(err.value) == (f"{path}: reading Jepsen's EDN needs the edn-format package: "
                              "pip install 'pkisim[jepsen]'")
