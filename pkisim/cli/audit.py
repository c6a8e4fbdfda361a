"""``pkisim audit``: are a real deployment's ranges safe, and when do they run out?

::

    pkisim audit --ldif EXPORT.ldif [--cs-cfg CS.cfg ...] [--json OUT] [--scenario-out S.toml]
    pkisim audit --url ldap://ds1:389 --bind-dn "cn=Directory Manager" [--password-file F] ...

Reads an LDIF export of the subsystem database (``o=pki-tomcat``; ``--base`` for
another suffix) or a live directory (read-only; the password from a file or an
interactive prompt, never from the command line), plus the CS.cfg files of the
master and its clones.  Prints a table; ``--json`` writes the same report and
``--scenario-out`` a pkisim scenario of the deployment, both atomically and never
over an input file.  Exit status: 0 no problem, 1 problem found, 2 could not read
(one line on stderr naming the file and line, or the server and DN).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

from pkisim.audit.export import scenario_data, to_toml
from pkisim.audit.forecast import ForecastOptions
from pkisim.audit.report import audit
from pkisim.audit.source import generalized_time, load_cas, read_ldif_deployment, read_live
from pkisim.cli.util import (
    UsageError,
    WriteError,
    is_stdout,
    read_password_file,
    same_file,
    write_output,
)
from pkisim.errors import ConfigError
from pkisim.ids.tree import DEFAULT_BASE
from pkisim.scenario import parse_duration, scenario_from_dict


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``audit`` to the ``pkisim`` parser's subcommands."""
    parser = commands.add_parser(
        "audit", allow_abbrev=False, help="audit a real deployment's ranges from LDAP or LDIF "
                                          "and CS.cfg",
        description="Audit a Dogtag deployment's serial and request ID ranges: overlaps, "
                    "replication races, unexplained CS.cfg ranges, exhaustion forecast.",
        epilog="Exit status: 0 no problem, 1 problem found, 2 could not read, 130/143 "
               "interrupted. 'now' is --now, or else the latest record's creation time.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--ldif", type=Path, metavar="FILE", help="an LDIF export")
    source.add_argument("--url", metavar="URL", help="a live directory (read-only)")
    parser.add_argument("--bind-dn", metavar="DN", help="bind DN for --url")
    parser.add_argument("--password-file", type=Path, metavar="FILE",
                        help="file whose first line is the bind password (default: prompt)")
    parser.add_argument("--base", metavar="DN", help="suffix of the subsystem database "
                        f"(LDIF: the first entry; --url: {DEFAULT_BASE})")
    parser.add_argument("--cs-cfg", type=Path, action="append", default=[], metavar="FILE",
                        help="CS.cfg of the master or a clone (repeat)")
    parser.add_argument("--json", type=Path, metavar="OUT",
                        help="also write the report here (-: standard output, and the table "
                        "goes to standard error)")
    parser.add_argument("--scenario-out", type=Path, metavar="OUT",
                        help="write a pkisim scenario (TOML) of the deployment")
    parser.add_argument("--scenario-duration", default="30d", metavar="D",
                        help="duration of the exported scenario (default 30d)")
    parser.add_argument("--now", metavar="TIME", help="judge as of this UTC time "
                        "(2026-03-01T12:00:00Z or 20260301120000Z)")
    parser.add_argument("--window", default="7d", metavar="D", help="recent-rate window (7d)")
    parser.add_argument("--bucket", default="1h", metavar="D", help="peak-rate bucket (1h)")
    parser.add_argument("--horizon", default="30d", metavar="D",
                        help="exhaustion sooner than this is a problem (30d)")
    parser.set_defaults(handler=main_audit)


def main_audit(args: argparse.Namespace) -> int:
    """Run ``pkisim audit`` with its parsed arguments; returns the exit status."""
    options = _options(args)
    _check_outputs(args)
    cas = load_cas(args.cs_cfg)
    if args.ldif is not None:
        deployment = read_ldif_deployment(args.ldif, args.base, cas)
    else:
        deployment = read_live(args.url, args.bind_dn, _password(args),
                               args.base or DEFAULT_BASE, cas)
    report = audit(deployment, options)
    outputs: list[tuple[Path, str]] = []
    if args.scenario_out is not None:
        data, header = scenario_data(report, duration=args.scenario_duration,
                                     name=args.scenario_out.stem)
        scenario_from_dict(data, str(args.scenario_out), base_dir=args.scenario_out.parent)
        outputs.append((args.scenario_out, to_toml(data, header)))
    if args.json is not None:
        outputs.append((args.json, json.dumps(report.to_dict(), indent=2) + "\n"))
    to_stdout = any(is_stdout(path) for path, _ in outputs)
    print(report.table(), file=sys.stderr if to_stdout else sys.stdout)
    for path, text in outputs:
        try:
            write_output(path, text)
        except OSError as err:
            raise WriteError(f"{path}: cannot write: {err.strerror or err}") from None
    return report.exit_status


def _options(args: argparse.Namespace) -> ForecastOptions:
    if args.url is not None and not args.bind_dn:
        raise UsageError("pkisim audit: --url needs --bind-dn")
    if args.url is None and (args.bind_dn or args.password_file):
        raise UsageError("pkisim audit: --bind-dn and --password-file go with --url")
    now = None
    if args.now is not None:
        now = _time(args.now)
    return ForecastOptions(now=now, window=_positive(args.window, "--window"),
                           bucket=_positive(args.bucket, "--bucket"),
                           horizon=parse_duration(args.horizon, "--horizon"))


def _positive(text: str, key: str) -> float:
    value = parse_duration(text, key)
    if value <= 0:
        raise ConfigError(key, text, "must be longer than 0")
    return value


def _time(text: str) -> float:
    compact = text.strip().replace("-", "").replace(":", "").replace("T", "")
    try:
        return generalized_time(compact if compact[-1:] in "Z" or "+" in compact
                                else compact + "Z")
    except ValueError:
        raise ConfigError("--now", text, "is not a UTC time such as 2026-03-01T12:00:00Z") \
            from None


def _check_outputs(args: argparse.Namespace) -> None:
    inputs = [p for p in [args.ldif, args.password_file, *args.cs_cfg] if p is not None]
    outputs = [(o, k) for o, k in ((args.json, "--json"), (args.scenario_out, "--scenario-out"))
               if o is not None]
    for out, key in outputs:
        for source in inputs:
            if same_file(out, source):
                raise ConfigError(key, str(out), f"is an input file ({source}): refusing to "
                                  "write over it")
    if len(outputs) == 2 and same_file(outputs[0][0], outputs[1][0]):
        raise ConfigError("--scenario-out", str(args.scenario_out), "is also the --json file")



def _password(args: argparse.Namespace) -> str:
    if args.password_file is not None:
        return read_password_file(args.password_file)
    if not sys.stdin.isatty():
        raise UsageError("pkisim audit: no terminal to prompt for the password: "
                         "give --password-file")
    return getpass.getpass(f"Password for {args.bind_dn}: ")
