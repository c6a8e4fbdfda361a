"""The report commit never loses data: the old report or a complete new one is in
place whatever happens (an error, SIGINT, SIGTERM, SIGKILL at any moment), and
the next run cleans up after a dead one."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pkisim.report import output as out

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = """\
name = "tiny"
duration = "10m"
seed = 3
[workload]
enroll_rate = "1/s"
[[ca]]
name = "ca1"
role = "master"
"""


def report(directory: Path, text: str) -> None:
    directory.mkdir()
    (directory / "summary.json").write_text(text)
    (directory / "tables").mkdir()
    (directory / "tables" / "a.csv").write_text(text * 3)


def digests(directory: Path) -> dict[str, str]:
    return {p.relative_to(directory).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="renameat2 is Linux's")
def test_exchange_swaps_two_directories_in_one_step(tmp_path: Path) -> None:
    report(tmp_path / "a", "old")
    report(tmp_path / "b", "new")
    assert out.exchange(tmp_path / "a", tmp_path / "b")
    assert (tmp_path / "a" / "summary.json").read_text() == "new"
    assert (tmp_path / "b" / "summary.json").read_text() == "old"
    with pytest.raises(FileNotFoundError):
        out.exchange(tmp_path / "a", tmp_path / "missing")


@pytest.mark.parametrize("swap", ["exchange", "journal"])
def test_commit_replaces_a_previous_report_and_leaves_nothing(tmp_path: Path, monkeypatch,
                                                              swap: str) -> None:
    if swap == "journal":
        monkeypatch.setattr(out, "exchange", lambda a, b: False)
    dest = tmp_path / "report"
    report(dest, "old")
    staging = out.Staging(dest)
    (staging.path / "summary.json").write_text("new")
    assert leftovers(tmp_path) != []  # the lock and the staging directory, while it runs
    staging.commit()
    assert (dest / "summary.json").read_text() == "new"
    assert not (dest / "tables").exists()
    assert leftovers(tmp_path) == []


class Stop(BaseException):
    pass


@pytest.mark.parametrize("swap", ["exchange", "journal"])
def test_a_signal_during_the_commit_waits_for_it_and_says_the_report_is_in_place(
        tmp_path: Path, monkeypatch, swap: str) -> None:
    """SIGTERM in the middle of the commit: the commit finishes (a complete new
    report), then the signal is handled, with a note saying where the report is."""
    real = out.exchange

    def exchange(a: Path, b: Path) -> bool:
        os.kill(os.getpid(), signal.SIGTERM)  # noted, not handled yet
        return real(a, b) if swap == "exchange" else False

    def stop(signum: int, frame: object) -> None:
        raise Stop(signum)

    monkeypatch.setattr(out, "exchange", exchange)
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        dest = tmp_path / "report"
        report(dest, "old")
        staging = out.Staging(dest)
        (staging.path / "summary.json").write_text("new")
        with pytest.raises(Stop) as caught:
            staging.commit()
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert (dest / "summary.json").read_text() == "new"
    assert caught.value.__notes__ == [f"the new report is in place in {dest}"]
    assert leftovers(tmp_path) == []


def test_a_failed_run_leaves_the_old_report(tmp_path: Path) -> None:
    dest = tmp_path / "report"
    report(dest, "old")
    before = digests(dest)
    staging = out.Staging(dest)
    (staging.path / "summary.json").write_text("half")
    staging.discard()
    assert digests(dest) == before and leftovers(tmp_path) == []


_DIE = """
import os, signal, sys
from pathlib import Path
import pkisim.report.output as output
dest, when = Path(sys.argv[1]), sys.argv[2]
if when != "exchange":
    output.exchange = lambda a, b: False  # a platform without renameat2: the journal
real = os.rename
def rename(src, dst):
    real(src, dst)
    if when == "between" and Path(dst).name.endswith(".old"):
        os.kill(os.getpid(), signal.SIGKILL)
output.os.rename = rename
real_rmtree = output.shutil.rmtree
def rmtree(path, **kw):
    if when in ("exchange", "after") and Path(path).name.endswith((".tmp", ".old")):
        os.kill(os.getpid(), signal.SIGKILL)
    real_rmtree(path, **kw)
output.shutil.rmtree = rmtree
staging = output.Staging(dest)
(staging.path / "summary.json").write_text("new")
if when == "staged":
    os.kill(os.getpid(), signal.SIGKILL)
staging.commit()
"""


@pytest.mark.parametrize(("when", "expected"), [
    ("staged", "old"),      # killed while writing: the old report stays
    ("between", "old"),     # journal commit killed between its renames: the old one comes back
    ("after", "new"),       # killed after the second rename: the new one stays
    ("exchange", "new"),    # killed right after the atomic swap (Linux)
])
def test_a_run_killed_at_any_point_of_the_commit(tmp_path: Path, when: str,
                                                 expected: str) -> None:
    if when == "exchange" and not sys.platform.startswith("linux"):
        pytest.skip("renameat2 is Linux's")
    dest = tmp_path / "report"
    report(dest, "old")
    done = subprocess.run([sys.executable, "-c", _DIE, str(dest), when], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert leftovers(tmp_path) != []  # a dead run's files, its lock released
    if when == "between":
        assert not dest.exists()  # until the next run looks
    removed = out.clean_up(dest)  # the next run's first step
    assert removed and leftovers(tmp_path) == []
    assert (dest / "summary.json").read_text() == expected


def test_the_files_of_a_live_run_are_not_cleaned_up(tmp_path: Path) -> None:
    dest = tmp_path / "report"
    live = out.Staging(dest)
    assert out.clean_up(dest) == []
    assert live.path.is_dir()
    other = out.Staging(dest)  # a second run beside it cleans nothing of the first
    assert live.path.is_dir()
    other.discard()
    live.discard()
    assert leftovers(tmp_path) == []


def started(folder: Path, process: subprocess.Popen) -> None:
    """Wait until ``pkisim`` runs its own code: its report's lock file is there
    (before that, the interpreter itself is starting, and Python's own
    KeyboardInterrupt is all there is)."""
    deadline = time.monotonic() + 120
    while not any(p.suffix == ".lock" for p in folder.iterdir()):
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.005)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_exits_128_plus_the_signal_with_one_line(tmp_path: Path,
                                                                    sig: signal.Signals) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text(SCENARIO)
    dest = tmp_path / "report"
    args = [sys.executable, "-m", "pkisim.cli", "run", str(scenario), "--out", str(dest),
            "--quiet", "--no-plots"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run(args, env=env, check=True, capture_output=True)
    before = digests(dest)
    rng = random.Random(sig)
    for delay in (0.0, 0.05, *(rng.uniform(0.1, 2.0) for _ in range(2))):
        process = subprocess.Popen([*args, "--seed", "5"], env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        started(tmp_path, process)
        time.sleep(delay)
        process.send_signal(sig)
        _, err = process.communicate(timeout=120)
        if process.returncode == 0:  # it finished first: a complete new report
            assert set(digests(dest)) == set(before)
            before = digests(dest)
            continue
        assert process.returncode == 128 + sig, err
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert err.startswith("pkisim run: interrupted by") and sig.name in err
        if "the new report is in place" in err:  # the signal waited for the commit
            assert set(digests(dest)) == set(before) and str(dest) in err
            before = digests(dest)
        else:
            assert digests(dest) == before
        assert leftovers(tmp_path) == []


@pytest.mark.parametrize("where", ["unlock", "verdict"])
def test_a_signal_after_the_commit_says_the_new_report_is_in_place(
        tmp_path: Path, monkeypatch, capsys, where: str) -> None:
    """The moments after the commit (its lock file removed, the verdict printed):
    the new report stays, and the one line says where it is (CI once caught a
    SIGINT there that said nothing, as if the old report were still in place)."""
    from pkisim.cli import main
    from pkisim.cli import run as cli_run

    def interrupt() -> None:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1)  # the handler runs here; it never returns

    if where == "unlock":
        real = out.Staging._unlock

        def unlock(self: out.Staging) -> None:
            if self._lock is not None:
                interrupt()
            real(self)

        monkeypatch.setattr(out.Staging, "_unlock", unlock)
    else:
        monkeypatch.setattr(cli_run, "verdict_line", lambda *a: interrupt())
    scenario = tmp_path / "s.toml"
    scenario.write_text(SCENARIO)
    dest = tmp_path / "report"
    report(dest, "old")
    status = main(["run", str(scenario), "--out", str(dest), "--quiet", "--no-plots"])
    err = capsys.readouterr().err
    assert status == 128 + signal.SIGINT
    assert err == f"pkisim run: interrupted by SIGINT; the new report is in place in {dest}\n"
    assert json.loads((dest / "summary.json").read_text())["exit_status"] == 0
    assert leftovers(tmp_path) == []
