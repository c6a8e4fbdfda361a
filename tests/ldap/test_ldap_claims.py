"""A failed range claim on a real slapd: the allocator retries it at the next
run of its update task, which runs on its schedule whatever happened to
issuances, and meanwhile an exhausted range names the failed claim.

Before the fix the schedule counted only successful issuances: once a range
ran dry after a failed claim (a compare-and-swap lost to another CA, or slapd
down) no issuance succeeded, the task never ran again, and ``next_serial()``
raised "All serial numbers are used" forever, blaming exhaustion."""

from __future__ import annotations

import pytest
from ldap_workers import bootstrap, configs

from pkisim.errors import DirectoryError, SerialNumbersExhausted
from pkisim.history import Op, check_ranges, check_unique
from pkisim.ids import protocol as p
from pkisim.ids.config import IdKind
from pkisim.ldap.allocator import LdapAllocator
from pkisim.testing.servers.slapd import Slapd

pytestmark = pytest.mark.ldap

INCREMENT = 20


def _allocator(slapd: Slapd, name: str, begin: int, **options: object) -> LdapAllocator:
    """A CA holding 19 numbers from ``begin``: one below the low-water mark, so
    that its start-up claims."""
    cfg = configs("legacy2", name, begin, begin + INCREMENT - 2, increment=INCREMENT,
                  low_water_mark=INCREMENT)
    options.setdefault("records", "each")
    return LdapAllocator(slapd.directory(timeout=2), name, cfg, **options)  # type: ignore[arg-type]


def _drain(alloc: LdapAllocator, limit: int) -> tuple[list[int], list[str]]:
    """Ask for serials ``limit`` times: what came, and the errors on the way."""
    got, errors = [], []
    for _ in range(limit):
        try:
            got.append(alloc.next_serial())
        except (SerialNumbersExhausted, DirectoryError) as err:
            errors.append(str(err))
    return got, errors


def test_a_claim_lost_to_another_ca_is_retried_at_the_next_scheduled_run(slapd: Slapd) -> None:
    bootstrap(slapd.directory(), "legacy2", 3 * INCREMENT, INCREMENT)
    ca3 = _allocator(slapd, "ca3", 2 * INCREMENT + 1, update_every=None)

    def race(command: p.Command, result: p.Result) -> None:
        """ca3 starts (and claims) between ca2's read of the serial nextRange
        and ca2's compare-and-swap."""
        if (isinstance(command, p.Read) and command.dn.startswith("ou=certificateRepository")
                and ca3.repos.cert.last is None):
            ca3.start()

    ca2 = _allocator(slapd, "ca2", INCREMENT + 1, update_every=25, after_command=race)
    ca2.start()  # start-up checkRanges: ca2's serial claim loses the CAS
    assert ca3.repos.cert.next_begin == 3 * INCREMENT + 1
    failure = ca2.claim_failures()[IdKind.CERT]
    assert "NO_SUCH_ATTRIBUTE" in failure and "(decimal)" in failure
    got, errors = _drain(ca2, 40)
    # the range ran dry; each failure named the lost claim, not exhaustion alone
    assert len(errors) == 5, errors  # attempts 20-24; the 25th ran the update task first
    assert all("the last range claim failed" in e and "NO_SUCH_ATTRIBUTE" in e
               for e in errors), errors
    assert got[:19] == list(range(INCREMENT + 1, 2 * INCREMENT))
    assert got[19] == 4 * INCREMENT + 1  # the range after ca3's
    assert ca2.claim_failures() == {}
    for alloc in (ca2, ca3):
        alloc.close()
    assert check_unique(ca2.history, Op.ISSUE_CERT).valid


def test_slapd_down_during_the_claim_then_back_recovers_on_the_clock(slapd: Slapd) -> None:
    bootstrap(slapd.directory(), "legacy2", INCREMENT - 1, INCREMENT)
    now = [0.0]
    alloc = _allocator(slapd, "ca1", 1, records="checkpoint", batch_size=5, update_every=None,
                       update_interval=600, clock=lambda: now[0])
    alloc.start()  # start-up checkRanges claims the next range
    assert alloc.repos.cert.next_begin == INCREMENT
    got, _ = _drain(alloc, 2 * INCREMENT - 6)
    assert got[-1] == 2 * INCREMENT - 6  # switched into the claimed range; 5 left
    slapd.stop()
    now[0] += 600  # the update task is due: its claim finds slapd down
    got, errors = _drain(alloc, 10)
    assert got == list(range(2 * INCREMENT - 5, 2 * INCREMENT)) and len(errors) == 5
    assert all("cannot read nextRange" in e and "SERVER_DOWN" in e for e in errors), errors
    slapd.start()  # the same data and port
    got, errors = _drain(alloc, 3)
    assert len(errors) == 3 and not got  # nothing claimed yet: the next run is 600 s away
    now[0] += 600
    got, errors = _drain(alloc, 3)
    assert not errors and got == [2 * INCREMENT, 2 * INCREMENT + 1, 2 * INCREMENT + 2]
    alloc.close()
    assert check_unique(alloc.history, Op.ISSUE_CERT).valid
    assert check_ranges(alloc.history).valid


def test_a_multi_valued_next_range_is_reported_in_one_line(slapd: Slapd) -> None:
    """What a replication race left on a real server: a stale first value whose
    successor is already there.  slapd refuses the compare-and-swap with result
    20 (attributeOrValueExists), as 389-DS does; the allocator reads the first
    value as Dogtag does and says why every claim fails."""
    bootstrap(slapd.directory(), "legacy2", INCREMENT - 1, INCREMENT)
    root = slapd.directory()
    counter = root.tree.counter_dn(IdKind.CERT, "legacy2")
    root.execute(p.Modify(counter, (p.Mod(p.ModOp.REPLACE, "nextRange",
                                          (str(INCREMENT), str(2 * INCREMENT))),)))
    alloc = _allocator(slapd, "ca1", 1, update_every=10)
    alloc.start()
    failure = alloc.claim_failures()[IdKind.CERT]
    assert "ATTRIBUTE_OR_VALUE_EXISTS" in failure
    assert f"holds 2 values ({INCREMENT}, {2 * INCREMENT}; decimal)" in failure
    got, errors = _drain(alloc, 30)
    assert len(got) == INCREMENT - 1 and len(errors) == 11
    assert len(set(errors)) == 1 and "\n" not in errors[0] and "replication race" in errors[0]
    alloc.close()
