"""``pkisim soak``: the real allocator under SIGKILLs, every serial accounted.

::

    pkisim soak --server slapd --processes 4 --serials 100000 \\
        --kill-every 5 --kill-server-every 20 --seed 1 --out runs/soak
    pkisim soak --url ldap://127.0.0.1:3389/ --bind-dn "cn=Manager,o=pki-tomcat" \\
        --password-file pw.txt --base ou=soak1,o=pki-tomcat ... --out runs/soak

Runs :func:`pkisim.ldap.soak.run_soak`: ``--processes`` CA processes (``ca1``,
``ca2``, ...; each its own CA identity, state file and journal), SIGKILLed at
seeded random times (``--kill-every``, mean seconds) and restarted; with
``--server`` (a throwaway server pkisim starts on 127.0.0.1 and removes after),
the server is SIGKILLed and restarted too (``--kill-server-every``).  On a pair
the allocators use the first server, which replicates to the second.  The bind
password of ``--url`` comes from ``--password-file`` or the environment variable
``PKISIM_BIND_PASSWORD``, never from the command line; it appears in no output.

Writes ``soak.json`` and ``soak.txt`` (and the journals and state files) into
``--out``.  Exit status: 0 no duplicate and every serial accounted, 1 a
violation, 2 bad input or an unusable server (one line on stderr).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from pkisim.cli.util import (
    EXIT_INVALID,
    EXIT_VALID,
    MAX_SEED,
    UsageError,
    amount,
    integer_at_least,
    read_password_file,
)
from pkisim.errors import ConfigError
from pkisim.ids.tree import DEFAULT_BASE

SERVERS = ("slapd", "slapd-pair", "389ds-pair")
PASSWORD_ENV = "PKISIM_BIND_PASSWORD"


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``soak`` to the ``pkisim`` parser's subcommands."""
    parser = commands.add_parser(
        "soak", allow_abbrev=False,
        help="run CA processes against a real directory with SIGKILLs; account every serial",
        description="Run several real LDAP allocators (legacy2) against one directory, SIGKILL "
                    "and restart them (and the server) at seeded random times, then check "
                    "that no serial was issued twice and that every number below nextRange "
                    "was issued, wasted or lost with a cause.",
        epilog="Exit status: 0 valid, 1 violation, 2 error, 130/143 interrupted. "
               f"--url's password: --password-file or ${PASSWORD_ENV}.")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", metavar="URL", help="a directory server to use (its tree "
                       "under --base must not exist yet)")
    where.add_argument("--server", choices=SERVERS,
                       help="start a throwaway server on 127.0.0.1 (and kill it at times)")
    parser.add_argument("--bind-dn", metavar="DN", help="bind DN for --url")
    parser.add_argument("--password-file", type=Path, metavar="FILE",
                        help=f"file whose first line is the bind password (or ${PASSWORD_ENV})")
    parser.add_argument("--base", default=DEFAULT_BASE, metavar="DN",
                        help=f"suffix of the CA tree (default {DEFAULT_BASE})")
    parser.add_argument("--processes", type=integer_at_least(1, 64), default=4, metavar="N",
                        help="CA processes (default 4)")
    parser.add_argument("--serials", type=integer_at_least(1, 10**9), default=100_000,
                        metavar="N", help="serials each process issues (default 100000)")
    parser.add_argument("--kill-every", type=_seconds, default=0.0, metavar="SECONDS",
                        help="mean seconds between allocator SIGKILLs (default 0: none)")
    parser.add_argument("--kill-server-every", type=_seconds, default=0.0, metavar="SECONDS",
                        help="mean seconds between server SIGKILLs, --server only "
                             "(default 0: none)")
    parser.add_argument("--seed", type=integer_at_least(0, MAX_SEED), default=0, metavar="S",
                        help="seed of the kill schedule (default 0)")
    parser.add_argument("--increment", type=integer_at_least(10, 10**9), default=5000,
                        metavar="N", help="range size (dbs.serialIncrement, default 5000)")
    parser.add_argument("--time-limit", type=amount, metavar="SECONDS",
                        help="stop after SECONDS and check what was issued (incomplete)")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="a new or empty directory for the journals and the report")
    parser.set_defaults(handler=main_soak)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text[:40]!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be >= 0 and finite: {text[:40]!r}")
    return value


def main_soak(args: argparse.Namespace) -> int:
    """Run ``pkisim soak`` with its parsed arguments; returns the exit status."""
    from pkisim.ldap.soak import SoakPlan, Target, run_soak, write_report

    plan = SoakPlan(processes=args.processes, serials=args.serials, kill_every=args.kill_every,
                    kill_server_every=args.kill_server_every, seed=args.seed,
                    increment=args.increment, low_water_mark=args.increment * 2 // 5,
                    time_limit=args.time_limit)
    if args.url is not None:
        if not args.bind_dn:
            raise UsageError("pkisim soak: --url needs --bind-dn")
        if args.kill_server_every:
            raise UsageError("pkisim soak: --kill-server-every needs --server (pkisim kills "
                             "only a server it started)")
    elif args.bind_dn or args.password_file:
        raise UsageError("pkisim soak: --bind-dn and --password-file go with --url")
    _check_out(args.out)
    password = _password(args) if args.url is not None else None
    with ExitStack() as stack:
        if args.url is not None:
            target, control, server = Target(args.url, args.bind_dn, password or "",
                                             args.base), None, args.url
        else:
            target, control = _start_server(args.server, args.base, stack)
            server = f"{args.server} (pkisim's, {target.url})"
        args.out.mkdir(parents=True, exist_ok=True)
        machine = _machine()
        log, verdict = run_soak(target, plan, args.out, server=control, progress=_progress)
        machine["load_average_after"] = list(os.getloadavg())
    report = {"plan": {k: v for k, v in vars(plan).items()}, "server": server,
              "machine": machine, "log": vars(log), "verdict": verdict}
    print(write_report(args.out, report), end="")
    return EXIT_VALID if not verdict["violations"] else EXIT_INVALID


def _progress(line: str) -> None:
    if line:
        print(line, flush=True)


def _check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError("--out", str(out), "exists and is not an empty directory")


def _password(args: argparse.Namespace) -> str:
    if args.password_file is None:
        password = os.environ.get(PASSWORD_ENV, "")
        if not password:
            raise UsageError(f"pkisim soak: --url needs the bind password: give "
                             f"--password-file or set ${PASSWORD_ENV}")
        return password
    return read_password_file(args.password_file)


class _Control:
    """Kill and start one server of ours (``kill``/``start`` of a Slapd, or of
    one member of a 389-DS pair)."""

    def __init__(self, kill: Any, start: Any) -> None:
        self.kill, self.start = kill, start


def _start_server(kind: str, base: str, stack: ExitStack) -> tuple[Any, _Control]:
    from pkisim.ldap.soak import Target
    from pkisim.testing.servers import Ds389Pair, Slapd, SlapdPair
    from pkisim.testing.servers.ds389 import DS_MANAGER_DN

    if kind == "slapd":
        one = stack.enter_context(Slapd(base=base))
        return Target(one.url, one.bind_dn, one.password, base), _Control(one.kill, one.start)
    if kind == "slapd-pair":
        pair = stack.enter_context(SlapdPair(base=base))
        first = pair.servers[0]
        return (Target(first.url, first.bind_dn, first.password, base),
                _Control(first.kill, first.start))
    ds = stack.enter_context(Ds389Pair(base=base))

    def kill() -> None:
        proc = ds.processes[0]
        if proc is not None:
            proc.kill()
            proc.wait()
        ds.processes[0] = None

    return (Target(ds.url[0], DS_MANAGER_DN, ds.password, base),
            _Control(kill, lambda: ds.start_server(0)))


def _machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for name, argv, line in (("slapd", ["/usr/sbin/slapd", "-VV"], 0),
                             ("389-ds", ["/usr/sbin/ns-slapd", "-v"], 1)):
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=5)
            versions[name] = (done.stdout + done.stderr).strip().splitlines()[line][:120]
        except (OSError, IndexError, subprocess.SubprocessError):
            versions[name] = "unknown"
    return {"cpus": os.cpu_count(), "cpu_model": model, "python": platform.python_version(),
            "load_average_before": list(os.getloadavg()), **versions}

