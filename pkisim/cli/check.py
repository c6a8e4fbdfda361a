"""``pkisim check HISTORY [--json OUT] [--op cert|request] [--witnesses N]``

Reads a history (pkisim's Parquet or CSV, or a Jepsen-style JSON Lines file),
prints the uniqueness verdict as a table with a witness per duplicate, and
optionally writes the verdict as JSON (atomically; never over the input).

Exit codes, for CI: 0 valid, 1 invalid (some ID certainly issued twice),
2 could not check (unreadable or malformed file, no operations of the chosen
kind, bad arguments).  Possible duplicates (from ``info`` operations) are
reported but do not fail the check, as in Jepsen.  A malformed file gets one
line on stderr naming the file and the line or column.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pkisim.cli.util import EXIT_ERROR, EXIT_INVALID, EXIT_VALID, same_file, write_atomically
from pkisim.history.formats import HistoryFormatError
from pkisim.history.history import History, Op
from pkisim.history.uniqueness import UniquenessResult, check_unique
from pkisim.history.witness import DuplicateWitness, explain_duplicates

OPS = {"cert": Op.ISSUE_CERT, "request": Op.ISSUE_REQUEST}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pkisim check",
        description="Check that no serial (or request ID) in a history was issued twice.",
        epilog="Exit status: 0 valid, 1 invalid, 2 could not check.")
    parser.add_argument("history", type=Path, help="Parquet, CSV or JSON Lines history")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the verdict here")
    parser.add_argument("--op", choices=tuple(OPS), default="cert",
                        help="which IDs to check (default: cert)")
    parser.add_argument("--witnesses", type=int, default=10, metavar="N",
                        help="explain at most N duplicates (default: 10)")
    return parser


def main_check(argv: list[str]) -> int:
    """Run ``pkisim check``; returns the exit status."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as stop:  # --help (0) or a usage error (2)
        return EXIT_VALID if stop.code == 0 else EXIT_ERROR
    source: Path = args.history
    op = OPS[args.op]
    if args.json is not None and same_file(args.json, source):
        print(f"{args.json}: refusing to overwrite the history with the verdict", file=sys.stderr)
        return EXIT_ERROR
    try:
        history = History.load(source)
    except HistoryFormatError as err:
        print(err, file=sys.stderr)
        return EXIT_ERROR
    if not history.issued_count(op, type=None):
        print(f"{source}: no {op.name.lower()} operations to check", file=sys.stderr)
        return EXIT_ERROR
    result = check_unique(history, op)
    witnesses = explain_duplicates(history, result, max(args.witnesses, 0), possible=True)
    certain = [w for w in witnesses if w.value in result.duplicated]
    possible = [w for w in witnesses if w.value not in result.duplicated]
    print(_report(source, result, certain, possible))
    status = EXIT_VALID if result.valid else EXIT_INVALID
    if args.json is not None:
        verdict = {"history": str(source), "verdict": "valid" if result.valid else "invalid",
                   "exit_status": status, **result.to_dict(),
                   "witnesses": [str(w) for w in certain],
                   "possible_witnesses": [str(w) for w in possible]}
        try:
            write_atomically(args.json, json.dumps(verdict, indent=2) + "\n")
        except OSError as err:
            print(f"{args.json}: cannot write the verdict: {err.strerror or err}",
                  file=sys.stderr)
            return EXIT_ERROR
    return status


def _report(source: Path, result: UniquenessResult, certain: list[DuplicateWitness],
            possible: list[DuplicateWitness]) -> str:
    lines = [f"pkisim check {source}", str(result)]
    if certain:
        lines.append("witnesses:")
        lines += [f"  {w}" for w in certain]
    if possible:
        lines.append("possible duplicates (an info operation's outcome is unknown):")
        lines += [f"  {w}" for w in possible]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main_check(sys.argv[1:]))
