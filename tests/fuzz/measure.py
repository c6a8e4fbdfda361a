"""Re-measure issue 14: every case of the corpus through ``pkisim``, classified.

    PYTHONPATH=. python tests/fuzz/measure.py [--seed 14] [--limit N] [--kind K]
        [--timeout 60] [--kills 18] [--note FILE]

Each case runs in this process (``pkisim.cli.main``, stdout and stderr captured,
a fresh folder as the working directory) under a wall-clock ``--timeout``:

* **traceback**: an exception left ``main``, or stderr holds ``Traceback`` or
  ``internal error`` (the CLI's last resort for a bug);
* **silent**: a case that must fail (``error``, ``refuse``) exited 0 or 1;
* **multi-line**: exit status 2 with other than one line on stderr;
* **unbounded**: the case ran past ``--timeout``, or a ``refuse`` case was
  refused without naming the option that allows it;
* for the one-line errors: how many name the file, the key and the value.

Then ``--kills`` runs of ``pkisim run`` in subprocesses, each sent SIGKILL,
SIGTERM or SIGINT at a random moment (the same seed, the same moments): the
output directory must hold the old report or a complete new one, SIGINT and
SIGTERM must end in one line and exit status 130 or 143, and the next run must
leave no temporary folder behind.  Last, the kill between the two renames of
the journal commit (the commit where the platform cannot swap: forced here).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus

ROOT = corpus.ROOT


class _Timeout(BaseException):
    pass


def run_case(case: corpus.Case, folder: Path, timeout: float) -> dict[str, object]:
    """Run one case; what happened."""
    from pkisim.cli import main

    for name, data in case.files.items():
        (folder / name).write_bytes(data)
    argv = [a.replace("{dir}", str(folder)) for a in case.argv]
    out, err = io.StringIO(), io.StringIO()

    def expire(*_: object) -> None:
        raise _Timeout

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    start = time.monotonic()
    status: object
    escaped = None
    cwd = os.getcwd()
    try:
        os.chdir(folder)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(argv)
    except _Timeout:
        status = "timeout"
    except BaseException as exc:
        status, escaped = "exception", f"{type(exc).__name__}: {exc}"[:300]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        os.chdir(cwd)
    return {"status": status, "stdout": out.getvalue(), "stderr": err.getvalue(),
            "seconds": time.monotonic() - start, "escaped": escaped, "argv": argv}


def classify(case: corpus.Case, result: dict[str, object], folder: Path) -> dict[str, bool]:
    status, err = result["status"], str(result["stderr"])
    lines = err.strip().splitlines()
    verdict = {
        "traceback": status == "exception" or "Traceback" in err or "internal error" in err,
        "silent": case.expect in ("error", "refuse", "usage") and status in (0, 1),
        "multi-line": status == 2 and case.expect != "usage" and len(lines) != 1,
        "unbounded": status == "timeout" or (case.expect == "refuse" and status == 2
                                             and "--max-" not in err),
        "usage-wrong": case.expect == "usage" and (status != 2 or not str(result["stdout"])
                                                   or err != ""),
    }
    if status == 2 and len(lines) == 1 and case.expect != "usage":
        line = lines[0]
        file = case.file if case.file is not None else next(iter(case.files), "")
        verdict["names file"] = not file or str(folder / file) in line or file in line
        verdict["names key"] = case.key is None or case.key.split(".")[-1].split("[")[0] \
            .lower() in line.lower()
        verdict["names value"] = " = " in line or "'" in line
    return verdict


def measure(cases: list[corpus.Case], timeout: float) -> tuple[Counter, list[str]]:
    counts: Counter = Counter()
    failures: list[str] = []
    for i, case in enumerate(cases):
        folder = Path(tempfile.mkdtemp(prefix="pkisim-fuzz-"))
        try:
            result = run_case(case, folder, timeout)
            verdict = classify(case, result, folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        counts["cases"] += 1
        counts[f"exit {result['status']}"] += 1
        for name, value in verdict.items():
            counts[name] += bool(value)
            if name.startswith("names"):
                counts["one-line errors checked for naming"] += name == "names file"
        bad = [n for n in ("traceback", "silent", "multi-line", "unbounded", "usage-wrong")
               if verdict[n]]
        if bad:
            failures.append(f"{', '.join(bad)}: [{case.kind}] {case.name}: exit "
                            f"{result['status']}: {str(result['stderr'])[:300]!r} "
                            f"{result['escaped'] or ''}")
        if (i + 1) % 100 == 0:
            print(f"  {i + 1}/{len(cases)} cases, {len(failures)} failing", file=sys.stderr)
    return counts, failures


# --------------------------------------------------------------------------- kills


def _pkisim(*args: str) -> list[str]:
    return [sys.executable, "-m", "pkisim.cli", *args]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _digest(directory: Path) -> dict[str, str]:
    return {p.relative_to(directory).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def kills(count: int, seed: int) -> tuple[Counter, list[str]]:
    """``count`` runs over a previous report, each killed at a random moment."""
    rng = random.Random(seed)
    counts: Counter = Counter()
    failures: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="pkisim-kills-"))
    scenario = folder / "s.toml"
    scenario.write_text(corpus.to_toml(corpus.base_scenario()))
    out = folder / "report"
    args = ("run", str(scenario), "--out", str(out), "--quiet")
    subprocess.run(_pkisim(*args), env=_env(), check=True, capture_output=True)
    old = _digest(out)
    for i in range(count):
        sig = (signal.SIGKILL, signal.SIGTERM, signal.SIGINT)[i % 3]
        delay = rng.uniform(0.0, 6.0)
        process = subprocess.Popen(_pkisim(*args, "--seed", str(100 + i)), env=_env(),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        process.send_signal(sig)
        _, stderr = process.communicate()
        status = process.returncode
        now = _digest(out) if out.is_dir() else {}
        complete = set(now) == set(old) and json.loads((out / "summary.json").read_text())
        kept = now == old
        counts["kills"] += 1
        counts[f"{sig.name} exit {status}"] += 1
        problems = []
        if not (kept or complete):
            problems.append("the output is neither the old report nor a complete new one")
        if sig is not signal.SIGKILL and status in (130, 143):
            lines = stderr.strip().splitlines()
            if len(lines) != 1 or "Traceback" in stderr:
                problems.append(f"not one line: {stderr[:300]!r}")
            if status != 128 + sig:
                problems.append(f"exit status {status}")
        elif sig is not signal.SIGKILL and status == -sig and not stderr and complete:
            counts["finished, then the signal while the interpreter exited"] += 1
        elif sig is not signal.SIGKILL and status != 0:
            problems.append(f"exit status {status}: {stderr[:300]!r}")
        if "Traceback" in stderr:
            problems.append("traceback")
        subprocess.run(_pkisim(*args, "--seed", "7"), env=_env(), check=True,
                       capture_output=True)  # the next run cleans up after a dead one
        left = [p.name for p in folder.iterdir() if p.name.startswith(".report.")]
        if left:
            problems.append(f"left behind after the next run: {left}")
        old = _digest(out)
        counts["kept the old report" if kept else "a complete new report"] += 1
        if problems:
            failures.append(f"{sig.name} after {delay:.2f} s: " + "; ".join(problems))
    shutil.rmtree(folder, ignore_errors=True)
    return counts, failures


_BETWEEN = """
import os, signal, sys
from pathlib import Path
import pkisim.report.output as output
output.exchange = lambda a, b: False           # as on a platform without renameat2
real = os.rename
def rename(src, dst):
    real(src, dst)
    if Path(dst).name.endswith(".old"):          # the old report moved away: die now
        os.kill(os.getpid(), signal.SIGKILL)
output.os.rename = rename
from pkisim.cli import main
sys.exit(main(sys.argv[1:]))
"""


def kill_between_renames() -> list[str]:
    """Kill a journal commit between its two renames; the next run must find
    the old report back in place."""
    folder = Path(tempfile.mkdtemp(prefix="pkisim-between-"))
    scenario = folder / "s.toml"
    scenario.write_text(corpus.to_toml(corpus.base_scenario()))
    out = folder / "report"
    args = ["run", str(scenario), "--out", str(out), "--quiet", "--no-plots"]
    subprocess.run(_pkisim(*args), env=_env(), check=True, capture_output=True)
    old = _digest(out)
    done = subprocess.run([sys.executable, "-c", _BETWEEN, *args, "--seed", "9"], env=_env(),
                          capture_output=True, text=True)
    notes = [f"killed between the renames: exit {done.returncode}, --out "
             f"{'present' if out.exists() else 'missing'} until the next run"]
    from pkisim.report.output import clean_up

    clean_up(out)  # what the next run does first
    notes.append("the next run found the old report back in place: "
                 f"{out.is_dir() and _digest(out) == old}")
    left = [p.name for p in folder.iterdir() if p.name.startswith(".report.")]
    notes.append(f"left behind: {left}")
    shutil.rmtree(folder, ignore_errors=True)
    return notes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--limit", type=int, help="only the first N cases")
    parser.add_argument("--kind", help="only cases of this kind")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--kills", type=int, default=18)
    parser.add_argument("--note", type=Path, help="also write the results here (Markdown)")
    args = parser.parse_args()
    cases = [c for c in corpus.cases(args.seed) if args.kind in (None, c.kind)]
    cases = cases[:args.limit] if args.limit else cases
    print(f"{len(cases)} cases", file=sys.stderr)
    counts, failures = measure(cases, args.timeout)
    kill_counts, kill_failures = kills(args.kills, args.seed) if args.kills else (Counter(), [])
    between = kill_between_renames() if args.kills else []
    errors = counts["one-line errors checked for naming"] or 1
    lines = [f"# issue 14 re-measured (seed {args.seed})", "",
             f"{counts['cases']:,} hostile inputs: " + ", ".join(
                 f"{k} {v:,}" for k, v in sorted(counts.items()) if k.startswith("exit ")), "",
             f"- tracebacks: {counts['traceback']}",
             f"- silent acceptances: {counts['silent']}",
             f"- multi-line errors: {counts['multi-line']}",
             f"- unbounded: {counts['unbounded']}",
             f"- `pkisim` alone not a short usage: {counts['usage-wrong']}",
             f"- one-line errors naming the file {counts['names file'] / errors:.0%}, "
             f"the key {counts['names key'] / errors:.0%}, the value "
             f"{counts['names value'] / errors:.0%} (of {errors:,})",
             f"- kills: {dict(kill_counts)}; problems: {len(kill_failures)}",
             *(f"  - {line}" for line in between)]
    if failures or kill_failures:
        lines += ["", "## Failures", *(f"- {f}" for f in failures + kill_failures)]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.note:
        args.note.write_text(text)
    return 1 if failures or kill_failures else 0


if __name__ == "__main__":
    sys.exit(main())
