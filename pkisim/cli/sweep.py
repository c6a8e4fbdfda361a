"""``pkisim sweep SWEEP_FILE [--workers N | --scheduler ADDRESS] [--out DIR] ...``

Refuses a sweep of more than ``--max-points`` points, or whose runs together are
estimated over ``--max-events`` (or one run at a time per worker over
``--max-memory``), before anything runs.  Then runs every point of a sweep file
``replications`` times (in parallel), prints
the mean and 95 % interval of a few metrics per point, and writes ``runs.parquet``
(one row per run and metric), ``summary.parquet`` and ``summary.csv`` (one row
per point and metric) and ``sweep.json`` (inputs, hashes, code version, invalid
runs) into ``--out``, atomically.  The files are byte-identical for any
``--workers`` and on a Dask cluster.

Exit status: 0 every run valid, 1 some run issued a duplicate or broke a range
invariant (the points are named), 2 error (a bad sweep file, a failing run, an
unusable output directory; a Dask scheduler where no worker joins within
``--scheduler-timeout``), one line on stderr; 130/143 after SIGINT/SIGTERM (the
worker processes stopped, nothing written).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pkisim.analysis.executors import SweepError
from pkisim.analysis.sweep import run_sweep
from pkisim.analysis.sweepfile import MAX_POINTS, check_budget, load_sweep
from pkisim.cli.util import (
    EXIT_INVALID,
    EXIT_VALID,
    MAX_SEED,
    UsageError,
    add_budget,
    amount,
    budget,
    check_interrupted,
    integer_at_least,
    parse_overrides,
)
from pkisim.errors import ConfigError
from pkisim.report import output as out

_positive, _seed = integer_at_least(1), integer_at_least(0, MAX_SEED)


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``sweep`` to the ``pkisim`` parser's subcommands."""
    parser = commands.add_parser(
        "sweep", help="run a parameter sweep with replications",
        description="Run a parameter sweep with replications and write the runs and a summary "
                    "with 95% confidence intervals (runs.parquet, summary.parquet, "
                    "summary.csv, sweep.json).",
        epilog="Exit status: 0 all runs valid, 1 some run invalid (duplicates, range "
               "violations), 2 error, 130/143 interrupted.  Sweep file keys: "
               "scenarios/sweeps/README.md.")
    parser.add_argument("sweep", type=Path, help="sweep file (TOML)")
    parser.add_argument("--workers", type=_positive, default=1, metavar="N",
                        help="processes running the runs (default 1: this process)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="run on the Dask cluster at ADDRESS (tcp://host:8786); "
                             "needs pip install 'pkisim[dask]'")
    parser.add_argument("--scheduler-timeout", type=amount, default=60.0, metavar="SECONDS",
                        help="give up when no Dask worker has joined the scheduler after "
                             "SECONDS (default 60)")
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
    parser.add_argument("--max-points", type=_positive, default=MAX_POINTS, metavar="N",
                        help=f"refuse a sweep of more than N points (default {MAX_POINTS:,})")
    add_budget(parser, "a sweep (all its runs)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bar; print only the one-line verdict")
    parser.set_defaults(handler=sweep)


def sweep(args: argparse.Namespace) -> int:
    """Run ``pkisim sweep`` with its parsed arguments; returns the exit status."""
    if args.scheduler is not None and args.workers != 1:
        raise UsageError("pkisim sweep: give --workers or --scheduler, not both")
    try:
        overrides = parse_overrides(args.overrides)
    except ConfigError as err:
        raise err.with_source("pkisim sweep") from None
    loaded = load_sweep(args.sweep, overrides=overrides, replications=args.replications,
                        seed=args.seed, max_points=args.max_points)
    check_budget(loaded, budget(args), workers=args.workers)
    destination: Path = args.out or Path("runs") / f"sweep-{args.sweep.stem}"
    out.check_replaceable(Path(destination).absolute(), "sweep.json")  # fail before running
    result = run_sweep(loaded, workers=args.workers, scheduler=args.scheduler,
                       scheduler_timeout=args.scheduler_timeout, progress=not args.quiet)
    check_interrupted()
    try:
        result.write(destination)
    except OSError as err:
        raise SweepError(f"{destination}: cannot write the sweep: {err.strerror or err}") \
            from None
    runs = len(result.runs[["point", "replication"]].drop_duplicates())
    verdict = "VALID" if result.valid else \
        f"INVALID at points {', '.join(map(str, result.invalid_points()))}"
    line = (f"pkisim sweep {args.sweep}: {len(loaded.points)} points, {runs:,} runs: "
            f"{verdict} -> {destination}")
    if not args.quiet:
        print(result.table())
        for metric in result.missing_metrics:
            print(f"note: metric {metric!r} is in no run's summary", file=sys.stderr)
    print(line)
    return EXIT_VALID if result.valid else EXIT_INVALID
