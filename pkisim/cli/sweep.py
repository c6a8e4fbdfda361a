"""``pkisim sweep SWEEP_FILE [--workers N | --scheduler ADDRESS] [--out DIR] ...``

Runs every point of a sweep file ``replications`` times (in parallel), prints
the mean and 95 % interval of a few metrics per point, and writes ``runs.parquet``
(one row per run and metric), ``summary.parquet`` and ``summary.csv`` (one row
per point and metric) and ``sweep.json`` (inputs, hashes, code version, invalid
runs) into ``--out``, atomically.  The files are byte-identical for any
``--workers`` and on a Dask cluster.

Exit status: 0 every run valid, 1 some run issued a duplicate or broke a range
invariant (the points are named), 2 error (a bad sweep file, a failing run, an
unusable output directory), one line on stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pkisim.analysis.executors import SweepError
from pkisim.analysis.sweep import run_sweep
from pkisim.analysis.sweepfile import load_sweep
from pkisim.cli.util import (
    EXIT_ERROR,
    EXIT_INVALID,
    EXIT_VALID,
    OneLineParser,
    integer_at_least,
    parse_overrides,
)
from pkisim.errors import ConfigError, PkisimError
from pkisim.report import output as out

_positive, _seed = integer_at_least(1), integer_at_least(0)


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="pkisim sweep",
        description="Run a parameter sweep with replications and write the runs and a summary "
                    "with 95% confidence intervals (runs.parquet, summary.parquet, "
                    "summary.csv, sweep.json).",
        epilog="Exit status: 0 all runs valid, 1 some run invalid (duplicates, range "
               "violations), 2 error.  Sweep file keys: scenarios/sweeps/README.md.")
    parser.add_argument("sweep", type=Path, help="sweep file (TOML)")
    parser.add_argument("--workers", type=_positive, default=1, metavar="N",
                        help="processes running the runs (default 1: this process)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="run on the Dask cluster at ADDRESS (tcp://host:8786); "
                             "needs pip install 'pkisim[dask]'")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="output directory (default: runs/sweep-NAME); an existing one is "
                             "replaced only if it is a previous sweep output")
    parser.add_argument("--replications", type=_positive, metavar="N",
                        help="replications per point (default: the file's)")
    parser.add_argument("--seed", type=_seed, metavar="N",
                        help="root seed (default: the file's)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        dest="overrides",
                        help="set a scenario key on every point (as pkisim run --set); "
                             "repeatable")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bar; print only the one-line verdict")
    return parser


def main_sweep(argv: list[str]) -> int:
    """Run ``pkisim sweep``; returns the exit status."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as stop:  # --help (0) or a usage error (2)
        return EXIT_VALID if stop.code in (0, None) else EXIT_ERROR
    if args.scheduler is not None and args.workers != 1:
        print("pkisim sweep: give --workers or --scheduler, not both", file=sys.stderr)
        return EXIT_ERROR
    try:
        return _sweep(args)
    except PkisimError as err:
        print(err, file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("pkisim sweep: interrupted; nothing written", file=sys.stderr)
        return 130


def _sweep(args: argparse.Namespace) -> int:
    try:
        overrides = parse_overrides(args.overrides)
    except ConfigError as err:
        raise err.with_source("pkisim sweep") from None
    sweep = load_sweep(args.sweep, overrides=overrides, replications=args.replications,
                       seed=args.seed)
    destination: Path = args.out or Path("runs") / f"sweep-{args.sweep.stem}"
    out.check_replaceable(Path(destination).absolute(), "sweep.json")  # fail before running
    result = run_sweep(sweep, workers=args.workers, scheduler=args.scheduler,
                       progress=not args.quiet)
    try:
        result.write(destination)
    except OSError as err:
        raise SweepError(f"{destination}: cannot write the sweep: {err.strerror or err}") \
            from None
    runs = len(result.runs[["point", "replication"]].drop_duplicates())
    verdict = "VALID" if result.valid else \
        f"INVALID at points {', '.join(map(str, result.invalid_points()))}"
    line = (f"pkisim sweep {args.sweep}: {len(sweep.points)} points, {runs:,} runs: "
            f"{verdict} -> {destination}")
    if not args.quiet:
        print(result.table())
        for metric in result.missing_metrics:
            print(f"note: metric {metric!r} is in no run's summary", file=sys.stderr)
    print(line)
    return EXIT_VALID if result.valid else EXIT_INVALID
