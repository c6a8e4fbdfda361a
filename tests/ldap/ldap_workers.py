"""Helpers and child-process bodies of the LDAP tests (importable by
multiprocessing's spawn: this folder is on sys.path)."""

from __future__ import annotations

import os
import signal
from typing import Any

from pkisim.errors import AllocationError
from pkisim.ids import protocol as p
from pkisim.ids.config import IdKind, IdSpaceConfig
from pkisim.ids.subsystem import master_configs
from pkisim.ids.tree import DogtagTree
from pkisim.ldap.allocator import Journal, LdapAllocator
from pkisim.ldap.directory import LdapDirectory


def configs(strategy: str, host: str, begin: int, end: int, *, increment: int,
            low_water_mark: int, serial_management: bool = True) -> dict[IdKind, IdSpaceConfig]:
    """A CA holding [begin, end] for certificates and requests."""
    ids = dict(begin=begin, end=end, increment=increment, low_water_mark=low_water_mark,
               clone_transfer_number=max(1, min(increment, end - begin + 1) // 2))
    # replica IDs: a slice of its own per CA (ranges laid out one after another)
    index = (begin - 1) // max(1, end - begin + 1)
    replica = dict(begin=index * 10 + 1, end=index * 10 + 10, increment=10, low_water_mark=0,
                   clone_transfer_number=5)
    return master_configs(strategy, host=host, serial_management=serial_management,
                          overrides={IdKind.CERT: ids, IdKind.REQUEST: ids,
                                     IdKind.REPLICA: replica})


def bootstrap(directory: LdapDirectory, strategy: str, next_range_after: int,
              increment: int) -> None:
    """Dogtag's tree with nextRange = next_range_after + 1 (as a master whose
    range ends there writes it)."""
    master = configs(strategy, "master", 1, next_range_after, increment=increment,
                     low_water_mark=0)
    directory.bootstrap(DogtagTree().bootstrap(list(master.values())))


def issue_many(alloc: LdapAllocator, count: int, kind: IdKind = IdKind.CERT) -> int:
    """Issue ``count`` numbers; on exhaustion (every claim of the last update
    runs lost its CAS) run the update task and go on, as a CA does when its
    timer fires.  Returns how many exhaustions were met."""
    take = alloc.next_serial if kind is IdKind.CERT else alloc.next_request_id
    exhausted = issued = 0
    while issued < count:
        try:
            take()
            issued += 1
        except AllocationError:
            exhausted += 1
            if exhausted > 1000:
                raise
            alloc.update_task()
    return exhausted


def concurrent_worker(url: str, bind_dn: str, password: str, name: str, begin: int, end: int,
                      count: int, journal: str, barrier: Any, out: Any) -> None:
    """One CA process of the 4-process test."""
    directory = LdapDirectory(url, bind_dn, password)
    cfg = configs("legacy2", name, begin, end, increment=5000, low_water_mark=2000)
    alloc = LdapAllocator(directory, name, cfg, records="checkpoint", batch_size=1000,
                          update_every=1000, journal=Journal(journal))
    alloc.start()
    barrier.wait()
    exhausted = issue_many(alloc, count)
    alloc.close()
    out.put((name, exhausted, alloc.failed_stores))


def crash_after_cas_worker(url: str, bind_dn: str, password: str, name: str, begin: int,
                           end: int, count: int, journal: str, state: str, crash_at_claim: int,
                           ) -> None:
    """Issue ``count`` serials; with ``crash_at_claim`` > 0, kill -9 ourselves
    right after that many successful nextRange CASes (before the pkiRange add)."""
    cas_done = 0

    def hook(command: p.Command, result: p.Result) -> None:
        nonlocal cas_done
        if isinstance(command, p.Modify) and result.ok and any(
                m.attr == "nextRange" for m in command.mods):
            cas_done += 1
            if crash_at_claim and cas_done >= crash_at_claim:
                os.kill(os.getpid(), signal.SIGKILL)

    directory = LdapDirectory(url, bind_dn, password)
    cfg = configs("legacy2", name, begin, end, increment=500, low_water_mark=200)
    alloc = LdapAllocator(directory, name, cfg if not os.path.exists(state) else None,
                          records="each", update_every=100, journal=Journal(journal),
                          state_path=state, after_command=hook)
    alloc.start()
    issue_many(alloc, count)
    alloc.close()
