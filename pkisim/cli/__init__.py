"""``pkisim run | check | sweep | audit``: the command line, a thin layer over the public API.

One module per command: :mod:`pkisim.cli.run` (a scenario, its summary table
and report directory), :mod:`pkisim.cli.check` (a history's uniqueness
verdict), :mod:`pkisim.cli.sweep` (a parameter sweep with replications) and
:mod:`pkisim.cli.audit` (a real deployment's ranges); :mod:`pkisim.cli.util`
holds what they share.  :func:`main` is the ``pkisim`` console script: it
dispatches on the first argument and imports a command only when asked for.

Exit status, as the checker's: 0 valid, 1 invalid (a duplicate serial or
request ID, a broken CRL sequence, or a range-invariant violation), 2 error
(bad scenario or arguments, unusable output directory).  Input errors are one
line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pkisim.cli import run
from pkisim.cli.util import EXIT_ERROR, EXIT_VALID, OneLineParser
from pkisim.report import output as out

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """The ``pkisim`` console script; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["check"]:
        from pkisim.cli.check import main_check

        return main_check(args[1:])
    if args[:1] == ["sweep"]:
        from pkisim.cli.sweep import main_sweep

        return main_sweep(args[1:])
    if args[:1] == ["audit"]:
        from pkisim.cli.audit import main_audit

        return main_audit(args[1:])
    try:
        parsed = _parser().parse_args(args)
    except SystemExit as stop:  # --help, --version (0) or a usage error (2)
        return EXIT_VALID if stop.code in (0, None) else EXIT_ERROR
    if parsed.command != "run":
        _parser().print_help(sys.stderr)
        return EXIT_ERROR
    return run.run(parsed)


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="pkisim", description="Simulate and verify serial-number allocation in "
                                   "replicated Dogtag PKI CAs.",
        epilog="Exit status: 0 valid, 1 invalid, 2 error.")
    parser.add_argument("--version", action="version", version=f"pkisim {out.package_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    run.add_parser(commands)
    commands.add_parser("check", add_help=False,
                        help="check a history for duplicate IDs (pkisim check --help)")
    commands.add_parser("sweep", add_help=False,
                        help="run a parameter sweep with replications (pkisim sweep --help)")
    commands.add_parser("audit", add_help=False,
                        help="audit a real deployment's ranges from LDAP or LDIF and CS.cfg "
                             "(pkisim audit --help)")
    return parser
