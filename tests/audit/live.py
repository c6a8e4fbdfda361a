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

from pkisim.directory.allocator import LdapAllocator
from pkisim.directory.ldap import LdapDirectory
from pkisim.history import Op
from pkisim.ids.config import IdKind

SIZE = 24
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
    """Dogtag's race: the link cut, an update task on each side, both switch."""
    dirs = pair.directories()
    names = list(dirs)
    bootstrap(dirs[names[0]], strategy, 2 * SIZE, SIZE)
    pair.wait_converged()
    cas = _allocators([dirs[n] for n in names], strategy, update_every=None)
    for ca in cas:
        ca.start()
        for _ in range(SIZE // 2 + 3):  # below the low-water mark
            ca.next_serial()
    pair.cut()
    try:
        for ca in cas:
            ca.update_task()  # each claims on its own server: the same nextRange
        for ca in cas:
            for _ in range(SIZE):  # into the claimed range
                ca.next_serial()
    finally:
        pair.restore()
    pair.wait_converged()
    return _finish(cas, folder)


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
