"""``pkisim run | check | sweep | audit | soak``: the command line, a thin layer over the API.

One module per command: :mod:`pkisim.cli.run` (a scenario, its summary table
and report directory), :mod:`pkisim.cli.check` (a history's uniqueness
verdict), :mod:`pkisim.cli.sweep` (a parameter sweep with replications) and
:mod:`pkisim.cli.audit` (a real deployment's ranges); :mod:`pkisim.cli.util`
holds what they share.  :func:`main` is the ``pkisim`` console script: one
argument parser for every command (:class:`~pkisim.cli.util.OneLineParser`),
built after SIGINT and SIGTERM are taken over, so that an interrupt at any
moment, even while the libraries load, ends in one line.

Exit status, as the checker's: 0 valid, 1 invalid (a duplicate serial or
request ID, a broken CRL sequence, or a range-invariant violation), 2 error
(bad scenario or arguments, unusable output directory), 130 and 143 after
SIGINT and SIGTERM.  Errors are one line on stderr, never a traceback;
``pkisim`` alone prints a short usage on stdout (exit status 2).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from pkisim.cli.util import EXIT_ERROR, EXIT_VALID, Interrupted, OneLineParser, fail, interruptible
from pkisim.errors import PkisimError
from pkisim.interrupts import settled

__all__ = ["main"]

USAGE = """\
usage: pkisim COMMAND ARGUMENTS...   (pkisim --help, pkisim COMMAND --help)
  pkisim run SCENARIO.toml [--out DIR] ...           run a scenario and write its report
  pkisim check HISTORY [--json OUT] ...              check a history for duplicate IDs
  pkisim sweep SWEEP.toml [--workers N] ...          run a parameter sweep with replications
  pkisim audit --ldif EXPORT.ldif [--cs-cfg F] ...   audit a deployment's ranges
  pkisim soak --server slapd --out DIR ...           real allocators under SIGKILLs
"""


def console() -> None:
    """The ``pkisim`` command: :func:`main`, then exit with its status.  A signal
    that arrives once the work is done (the report committed) is ignored while
    the interpreter exits, instead of killing it with no word."""
    sys.exit(main(exiting=True))


def main(argv: Sequence[str] | None = None, *, exiting: bool = False) -> int:
    """``pkisim`` with ``argv`` (default: the command line); returns the exit status.
    ``exiting``: the process ends right after (see :func:`console`)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        sys.stdout.write(USAGE)
        return EXIT_ERROR
    prog = "pkisim " + args[0] if not args[0].startswith("-") else "pkisim"
    try:
        with interruptible(then_ignore=exiting):
            return _dispatch(args)
    except Interrupted as stop:  # after a commit, it says the new report is in place
        said = dict.fromkeys([*getattr(stop, "__notes__", ()), *settled()])
        notes = "".join(f"; {note}" for note in said)
        return fail(f"{prog}: interrupted by {stop.name}{notes}", stop.status)


def _dispatch(args: list[str]) -> int:
    try:
        parser, commands = _parser(args)
        parsed, extra = parser.parse_known_args(args)
        if extra:  # the command's own error (its name and --help), not pkisim's
            commands.choices[parsed.command].error(f"unrecognized arguments: {' '.join(extra)}")
        parsed.argv = args[1:]
        return int(parsed.handler(parsed))
    except SystemExit as stop:  # --help, --version (0) or a usage error (2)
        return EXIT_VALID if stop.code in (0, None) else EXIT_ERROR
    except PkisimError as err:
        return fail(err)
    except Exception as err:  # a bug, not bad input: still one line (the fuzz tests look)
        if os.environ.get("PKISIM_TRACEBACK"):
            raise
        return fail(f"pkisim {args[0]}: internal error (a bug in pkisim; PKISIM_TRACEBACK=1 "
                    f"shows where): {type(err).__name__}: {err}")


#: The commands, and what ``pkisim --help`` says of each.
COMMANDS = {
    "run": "run a scenario and write its report",
    "check": "check a history for duplicate IDs",
    "sweep": "run a parameter sweep with replications",
    "audit": "audit a real deployment's ranges from LDAP or LDIF and CS.cfg",
    "soak": "run real LDAP allocators with SIGKILLs and account for every serial",
}


def _parser(args: list[str]) -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    """Every command's arguments in one parser; a command's module is imported
    only when it is the one asked for (all of them for ``pkisim --help``)."""
    parser = OneLineParser(
        prog="pkisim", description="Simulate and verify serial-number allocation in "
                                   "replicated Dogtag PKI CAs.",
        epilog="Exit status: 0 valid, 1 invalid, 2 error, 130/143 interrupted.")
    parser.add_argument("--version", action="version", version=_version(args))
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, summary in COMMANDS.items():
        if args[0] in (name, "-h", "--help"):
            if name == "check":
                _add_check(commands)
            else:
                importlib.import_module(f"pkisim.cli.{name}").add_parser(commands)
        else:
            commands.add_parser(name, add_help=False, help=summary)
    return parser, commands


def _version(args: list[str]) -> str:
    if "--version" not in args:
        return ""  # reading it imports the report's libraries: only when asked
    from pkisim.report.output import package_version

    return f"pkisim {package_version()}"


def _add_check(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``pkisim check`` in the one parser: the arguments of :mod:`pkisim.cli.check`'s
    own parser, checked here (one-line errors); then that command runs as it is."""
    from pkisim.cli import check

    own = check._parser()
    sub = commands.add_parser("check", parents=[own], add_help=False, help=COMMANDS["check"],
                              description=own.description, epilog=own.epilog)
    sub.set_defaults(handler=lambda parsed: check.main_check(parsed.argv))
