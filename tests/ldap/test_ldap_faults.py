"""Faults on a real slapd: kill -9 of an allocator process between the
nextRange CAS and the pkiRange add, and kill -9 of slapd in the middle of a
run.  After restart no serial is issued twice and none lies outside a claim."""

from __future__ import annotations

import multiprocessing
import signal
from pathlib import Path

import pytest
from ldap_workers import bootstrap, configs, crash_after_cas_worker, issue_many

from pkisim.history import Op, OpType, check_ranges, check_unique
from pkisim.ids import protocol as p
from pkisim.ids.config import IdKind
from pkisim.ids.tree import DogtagTree
from pkisim.ldap.allocator import Journal, LdapAllocator, replay
from pkisim.testing.servers.slapd import Slapd

pytestmark = pytest.mark.ldap


def test_allocator_killed_between_cas_and_record(slapd: Slapd, tmp_path: Path) -> None:
    bootstrap(slapd.directory(), "legacy2", 500, 500)
    ctx = multiprocessing.get_context("spawn")
    journal, state = tmp_path / "ca1.jsonl", tmp_path / "ca1.json"
    args = (slapd.url, slapd.bind_dn, slapd.password, "ca1", 1, 500)
    first = ctx.Process(target=crash_after_cas_worker,
                        args=(*args, 5000, str(journal), str(state), 3))
    first.start()
    first.join(60)
    assert first.exitcode == -signal.SIGKILL
    tree = DogtagTree()
    directory = slapd.directory()
    counter = directory.execute(p.Read(tree.counter_dn(IdKind.CERT, "legacy2"))).entry
    assert counter is not None
    burned_begin = int(counter["nextrange"][0]) - 500  # the third CAS moved it past this range
    record = directory.execute(p.Read(tree.range_record_dn(IdKind.CERT, "legacy2", burned_begin)))
    assert record.code is p.ResultCode.NO_SUCH_OBJECT  # killed before the pkiRange add
    before = replay([journal]).issued_count(Op.ISSUE_CERT)
    assert before > 0

    second = ctx.Process(target=crash_after_cas_worker,
                         args=(*args, 3000, str(journal), str(state), 0))
    second.start()
    second.join(60)
    assert second.exitcode == 0
    history = replay([journal])
    assert history.issued_count(Op.ISSUE_CERT) == before + 3000
    unique = check_unique(history, Op.ISSUE_CERT)
    assert unique.valid, unique
    ranges = check_ranges(history)
    assert ranges.valid, ranges
    values = [v for v in history.values() if v is not None]
    assert not [v for v in values if burned_begin <= v < burned_begin + 500]  # burned, unused


def test_slapd_killed_mid_run_and_restarted(slapd: Slapd, tmp_path: Path) -> None:
    bootstrap(slapd.directory(), "legacy2", 1000, 1000)
    journal = Journal(tmp_path / "ca1.jsonl")
    adds = 0

    def kill_slapd(command: p.Command, result: p.Result) -> None:
        nonlocal adds
        if isinstance(command, p.Add) and result.ok:
            adds += 1
            if adds == 1:  # right after the first pkiRange record was acknowledged
                slapd.kill()

    alloc = LdapAllocator(slapd.directory(timeout=2), "ca1",
                          configs("legacy2", "ca1", 1, 1000, increment=1000, low_water_mark=400),
                          records="batch", batch_size=250, update_every=250, journal=journal,
                          after_command=kill_slapd)
    alloc.start()
    issue_many(alloc, 1500)  # slapd dies after the first claim
    assert not slapd.running
    down_failures = alloc.failed_stores
    assert down_failures > 0
    slapd.start()  # the same data folder and port
    issue_many(alloc, 3000)
    alloc.restart(flush=False)  # and the CA crashes too: recovery from slapd's data
    issue_many(alloc, 3000)
    alloc.close()
    history = replay([journal])
    unique = check_unique(history, Op.ISSUE_CERT)
    assert unique.valid, unique
    ranges = check_ranges(history)
    assert ranges.valid, ranges
    # the records that could not be stored while slapd was down are failures, not issues
    assert history.issued_count(Op.ISSUE_CERT, OpType.FAIL) == down_failures
