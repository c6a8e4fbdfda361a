"""``pkisim check HISTORY [--json OUT] [--format pkisim|jepsen] [--op cert|request]
[--witnesses N]``

Reads a history (pkisim's Parquet or CSV, Jepsen's own ``history.edn``, or
JSON Lines), prints the uniqueness verdict as a table with a witness per
duplicate, and optionally writes the verdict as JSON: ``--json -`` to standard
output (the table then goes to standard error), ``--json FILE`` to a file —
written in place when it is not a regular file (``/dev/stdout``, a FIFO), else
atomically (a temporary file renamed onto it; a symbolic link keeps pointing at
it), and never over the history itself.

``--format jepsen`` writes Jepsen's ``unique-ids`` result map
(:func:`pkisim.history.jepsen.unique_ids`: ``valid?``, ``attempted-count``,
``acknowledged-count``, ``duplicated-count``, ``duplicated``, ``range``) and
follows Jepsen in everything: ``attempted-count`` counts invokes only, and a
history with no operation to check is valid with zero counts.  ``--format
pkisim`` (the default) writes pkisim's verdict and deliberately differs there:
it counts completions as attempted when the history records no invokes
(pkisim's own histories record only completions), and a history with nothing
to check is an error (the wrong file or ``--op``).  Both report possible
duplicates from ``info`` operations without failing (Jepsen ignores ``info``),
sample 48 duplicates as Jepsen does (the most repeated; of equally repeated
IDs the largest), and refuse an ``ok`` that carries no ID (Jepsen would count
``nil`` as an ID).

Exit codes, for CI: 0 valid, 1 invalid (some ID certainly issued twice),
2 could not check (unreadable or malformed file, nothing to check, bad
arguments), each error one line on stderr naming the file and the line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from pkisim.cli.util import (
    EXIT_ERROR,
    EXIT_INVALID,
    EXIT_VALID,
    OneLineParser,
    integer_at_least,
    is_stdout,
    same_file,
    write_output,
)
from pkisim.history.formats import HistoryFormatError
from pkisim.history.history import History, Op
from pkisim.history.jepsen import unique_ids
from pkisim.history.uniqueness import UniquenessResult, check_unique
from pkisim.history.witness import DuplicateWitness, explain_duplicates

OPS = {"cert": Op.ISSUE_CERT, "request": Op.ISSUE_REQUEST,
       "key": Op.ISSUE_KEY, "key-request": Op.ISSUE_KEY_REQUEST}  # a KRA's key IDs and requests
FORMATS = ("pkisim", "jepsen")


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="pkisim check",
        description="Check that no serial (or request ID) in a history was issued twice.",
        epilog="Exit status: 0 valid, 1 invalid, 2 could not check.")
    parser.add_argument("history", type=Path,
                        help="Parquet, CSV, Jepsen history.edn or JSON Lines history")
    parser.add_argument("--json", metavar="OUT",
                        help="also write the verdict here ('-': standard output)")
    parser.add_argument("--format", choices=FORMATS, default="pkisim",
                        help="the verdict's fields and conventions: pkisim's (default) or "
                             "Jepsen's unique-ids")
    parser.add_argument("--op", choices=tuple(OPS), default="cert",
                        help="which IDs to check (default: cert)")
    parser.add_argument("--witnesses", type=integer_at_least(0), default=10, metavar="N",
                        help="explain at most N duplicates (default: 10)")
    return parser


def main_check(argv: list[str]) -> int:
    """Run ``pkisim check``; returns the exit status."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as stop:  # --help (0) or a usage error (2), already printed
        return EXIT_VALID if stop.code == 0 else EXIT_ERROR
    source: Path = args.history
    op = OPS[args.op]
    jepsen = args.format == "jepsen"
    if args.json not in (None, "-") and same_file(Path(args.json), source):
        print(f"{args.json}: refusing to overwrite the history with the verdict", file=sys.stderr)
        return EXIT_ERROR
    try:
        history = History.load(source)
    except HistoryFormatError as err:
        print(err, file=sys.stderr)
        return EXIT_ERROR
    if not jepsen and not history.issued_count(op, type=None):
        print(f"{source}: no {op.name.lower()} operations to check (Jepsen calls that valid: "
              "--format jepsen)", file=sys.stderr)
        return EXIT_ERROR
    result = check_unique(history, op)
    if jepsen:  # Jepsen's attempted-count: invokes only
        result = dataclasses.replace(result, attempted_count=result.invoke_count)
    witnesses = explain_duplicates(history, result, args.witnesses, possible=True)
    certain = [w for w in witnesses if w.value in result.duplicated]
    possible = [w for w in witnesses if w.value not in result.duplicated]
    status = EXIT_VALID if result.valid else EXIT_INVALID
    to_stdout = args.json is not None and is_stdout(args.json)
    print(_report(source, result, certain, possible), file=sys.stderr if to_stdout else sys.stdout)
    if args.json is not None:
        verdict = unique_ids(result) if jepsen else {
            "history": str(source), "verdict": "valid" if result.valid else "invalid",
            "exit_status": status, **result.to_dict(),
            "witnesses": [str(w) for w in certain],
            "possible_witnesses": [str(w) for w in possible]}
        try:
            write_output(args.json, json.dumps(verdict, indent=2, ensure_ascii=False) + "\n")
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
