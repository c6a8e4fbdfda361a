"""Dogtag's cross-replica race, on any replicated pair (shared by the slapd
and 389-DS tests): two CAs bound to different servers, the link cut, an
update task on each side, both switch into the range they claimed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ldap_workers import bootstrap, configs

from pkisim.history import History, Op, check_ranges, check_unique
from pkisim.ids import protocol as p
from pkisim.ids.config import IdKind
from pkisim.ids.tree import DogtagTree
from pkisim.ldap.allocator import Journal, LdapAllocator, replay

SIZE = 24


@dataclass
class RaceOutcome:
    history: History
    duplicates: int
    overlaps: int
    next_range: dict[str, list[str]]
    records: dict[str, list[tuple[str, dict[str, Any]]]]
    counter: str | None


def run_race(pair: Any, strategy: str) -> RaceOutcome:
    dirs = pair.directories()
    names = list(dirs)
    tree = DogtagTree()
    bootstrap(dirs[names[0]], strategy, 2 * SIZE, SIZE)
    pair.wait_converged()
    journals = [Journal(), Journal()]
    cas = [LdapAllocator(dirs[n], f"ca{i + 1}",
                         configs(strategy, f"ca{i + 1}", i * SIZE + 1, (i + 1) * SIZE,
                                 increment=SIZE, low_water_mark=SIZE // 2),
                         records="each", update_every=None, journal=journals[i])
           for i, n in enumerate(names)]
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
    history = replay(journals)
    unique = check_unique(history, Op.ISSUE_CERT)
    ranges = check_ranges(history, sequential=strategy != "random")
    counter_dn = tree.counter_dn(IdKind.CERT, strategy)
    next_range, records = {}, {}
    container = tree.range_container_dn(IdKind.CERT, strategy)
    for name, directory in dirs.items():
        entry = directory.execute(p.Read(counter_dn)).entry or {}
        next_range[name] = sorted(entry.get("nextrange", ()))
        found = directory.execute(p.Search(container, {}))
        records[name] = [(dn, dict(a)) for dn, a in found.entries if dn != container]
    claims = [e for e in history.events if e.op is Op.CLAIM and e.kind is IdKind.CERT]
    for ca in cas:
        ca.close()
    return RaceOutcome(history, unique.duplicated_count, ranges.counts()["overlap"],
                       next_range, records,
                       claims[0].counter if claims else None)
