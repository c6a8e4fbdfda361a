"""Runs of LdapAllocator against the real test servers, for the audit to read
back: CAs on one server one after another (clean), or Dogtag's race on a cut
replicated pair.  Each run leaves the CAs' CS.cfg files next to it."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builders import cs_cfg

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ldap"))
from ldap_workers import bootstrap, configs, issue_many
from race import SIZE, run_race

from pkisim.history import Op
from pkisim.ids.config import IdKind
from pkisim.ldap.allocator import LdapAllocator
from pkisim.ldap.directory import LdapDirectory

SLAPCAT = "/usr/sbin/slapcat"


@dataclass
class Run:
    cs_cfg: list[Path]
    claims: set[tuple[int, int, str]]  # (record begin, record end, CA) of certificate claims
    issued: int  # certificate serials acknowledged

    def cs_args(self) -> list[str]:
        return [a for path in self.cs_cfg for a in ("--cs-cfg", str(path))]


def _allocators(directories: list[LdapDirectory], strategy: str,
                update_every: int | None) -> list[LdapAllocator]:
    return [LdapAllocator(d, f"ca{i + 1}",
                          configs(strategy, f"ca{i + 1}", i * SIZE + 1, (i + 1) * SIZE,
                                  increment=SIZE, low_water_mark=SIZE // 2),
                          records="each", update_every=update_every)
            for i, d in enumerate(directories)]


def _finish(cas: list[LdapAllocator], folder: Path) -> Run:
    claims, issued, paths = set(), 0, []
    for i, ca in enumerate(cas):
        ca.close()
        claims |= {(e.record_begin, e.record_end, ca.name) for e in ca.history.events
                   if e.op is Op.CLAIM and e.kind is IdKind.CERT and e.record_begin is not None}
        issued += ca.history.issued_count(Op.ISSUE_CERT)
        paths.append(cs_cfg(folder / f"{ca.name}-CS.cfg", ca.name, ca.repos.configs(),
                            clone=i > 0))
    return Run(paths, claims, issued)


def clean_run(directory: Any, folder: Path) -> Run:
    """Two CAs on one server, one after the other: every claim is a clean CAS."""
    bootstrap(directory(), "legacy2", 2 * SIZE, SIZE)
    cas = _allocators([directory(), directory()], "legacy2", update_every=5)
    for ca in cas:
        ca.start()
        issue_many(ca, SIZE + 10)
    return _finish(cas, folder)


def race_run(pair: Any, folder: Path, strategy: str = "legacy2") -> Run:
    """Dogtag's race (tests/ldap/race.py); the CS.cfg files hold the ranges each
    CA ended with, read from the last certificate event of its history."""
    outcome = run_race(pair, strategy)
    history, names = outcome.history, outcome.history.process_names
    claims, paths = set(), []
    for i, name in enumerate(names):
        events = [e for e in history.events if names[e.process] == name
                  and e.kind is IdKind.CERT and e.cur_begin is not None]
        claims |= {(e.record_begin, e.record_end, name) for e in events
                   if e.op is Op.CLAIM and e.record_begin is not None}
        spaces = configs(strategy, name, i * SIZE + 1, (i + 1) * SIZE, increment=SIZE,
                         low_water_mark=SIZE // 2)
        last = events[-1]
        spaces[IdKind.CERT] = spaces[IdKind.CERT].evolve(
            begin=last.cur_begin, end=last.cur_end, next_begin=last.next_begin,
            next_end=last.next_end)
        paths.append(cs_cfg(folder / f"{name}-CS.cfg", name, spaces, clone=i > 0))
    return Run(paths, claims, history.issued_count(Op.ISSUE_CERT))


def slapcat(folder: Path, base: str, out: Path) -> Path:
    """The LDIF export of a (running) slapd's database, as an operator takes it."""
    done = subprocess.run([SLAPCAT, "-f", str(folder / "slapd.conf"), "-b", base,
                           "-l", str(out)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return out


def ldapsearch_export(url: str, bind_dn: str, password_file: Path, base: str,
                      out: Path) -> Path:
    """``ldapsearch -LLL`` of the subtree, conflict entries and creation times included."""
    done = subprocess.run(["ldapsearch", "-LLL", "-x", "-H", url, "-D", bind_dn, "-y",
                           str(password_file), "-b", base,
                           "(|(objectClass=*)(objectClass=ldapsubentry))", "*",
                           "createTimestamp", "nsds5ReplConflict", "nsUniqueId"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    out.write_text(done.stdout)
    return out
