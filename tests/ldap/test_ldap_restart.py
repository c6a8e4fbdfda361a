"""A restarted CA must never start its range over: the start-up search for the
highest issued number either answers, or the CA refuses to start.

Before the fix, a failed search (the server down, or a non-root bind whose
size limit the search exceeds) read as "no records", and the CA issued its
range's first serials a second time."""

from __future__ import annotations

import pytest
from ldap_workers import bootstrap, configs

from pkisim.errors import DirectoryUnavailable
from pkisim.history import Op, check_unique
from pkisim.ids.subsystem import master_configs
from pkisim.ldap.allocator import LdapAllocator
from pkisim.ldap.directory import LdapDirectory
from pkisim.testing.servers.base import new_password
from pkisim.testing.servers.slapd import Slapd

pytestmark = pytest.mark.ldap

STRATEGIES = ["legacy", "legacy2"]


END = 0x1000  # its hex digits read as decimal too (SSNv1's pki-server ca-range-update)


def _allocator(directory: LdapDirectory, strategy: str) -> LdapAllocator:
    return LdapAllocator(directory, "ca1",
                         configs(strategy, "ca1", 1, END, increment=END, low_water_mark=100),
                         update_every=None)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_restart_while_the_server_is_down_refuses_to_start(slapd: Slapd, strategy: str) -> None:
    bootstrap(slapd.directory(), strategy, END, END)
    alloc = _allocator(slapd.directory(timeout=2), strategy)
    alloc.start()
    first = [alloc.next_serial() for _ in range(20)]
    slapd.stop()
    with pytest.raises(DirectoryUnavailable) as info:
        alloc.restart()
    assert "\n" not in str(info.value) and "initCache" in str(info.value)
    with pytest.raises(DirectoryUnavailable):  # nor does it guess on the next issuance
        alloc.next_serial()
    slapd.start()  # the same data and port
    alloc.restart()
    later = [alloc.next_serial() for _ in range(20)]
    assert later[0] == first[-1] + 1
    alloc.close()
    assert check_unique(alloc.history, Op.ISSUE_CERT).valid


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_restart_under_a_size_limited_bind_refuses_to_start(strategy: str) -> None:
    """Dogtag's pkidbuser with ``nsPagedSizeLimit`` (issue #5133): the search
    for the last serial hits the limit; the CA must not start from scratch."""
    user_password = new_password()
    server = Slapd()
    user = f"cn=pkidbuser,{server.base}"
    server.replication = (f'limits dn.exact="{user}" size=5\n'  # the main database's config
                          f'access to * by dn.exact="{user}" write by * read')
    with server:
        root = server.directory()
        bootstrap(root, strategy, END, END)
        root.connect()
        root._conn.add_s(user, [("objectClass", [b"person", b"simpleSecurityObject"]),
                                ("cn", [b"pkidbuser"]), ("sn", [b"pkidbuser"]),
                                ("userPassword", [user_password.encode()])])
        alloc = _allocator(LdapDirectory(server.url, user, user_password, base=server.base),
                           strategy)
        alloc.start()  # nothing issued yet: the search finds nothing, within the limit
        first = [alloc.next_serial() for _ in range(20)]
        with pytest.raises(DirectoryUnavailable, match="SIZE_LIMIT_EXCEEDED") as info:
            alloc.restart()
        assert user_password not in str(info.value)
        with pytest.raises(DirectoryUnavailable):
            alloc.next_serial()
        alloc.close()
    assert len(first) == len(set(first)) == 20
    assert check_unique(alloc.history, Op.ISSUE_CERT).valid


def test_rsnv3_never_repeats_across_process_starts(slapd: Slapd, tmp_path) -> None:
    """RSNv3 draws from the OS's entropy; a test's seed makes the draws
    deterministic per process start, never the same for two starts.  (Seeded by
    the CA name, a restarted ``ca1`` drew its 1,000 serials again, and with a
    record per serial every issuance failed "Already exists".)"""
    bootstrap(slapd.directory(), "random", END, END)
    state = tmp_path / "ca1.json"

    def process(seed: int | None, path=state) -> LdapAllocator:
        alloc = LdapAllocator(slapd.directory(), "ca1", master_configs("random", host="ca1")
                              if not path.exists() else None, state_path=path, seed=seed)
        alloc.start()
        return alloc

    first = process(7)
    serials = [first.next_serial() for _ in range(100)]
    first.restart(flush=False)  # a crash and restart in the same process
    serials += [first.next_serial() for _ in range(100)]
    first.close()
    second = process(7)  # a new process of the same CA, the same seed
    serials += [second.next_serial() for _ in range(100)]
    second.close()
    assert len(set(serials)) == 300  # every record was stored: none "Already exists"
    assert second.starts == 3 and second.failed_stores == 0
    # the same start number draws the same serials: a failing run can be replayed
    replay_dir = tmp_path / "replay"
    replay_dir.mkdir()
    again = process(7, replay_dir / "ca1.json")
    assert again.repos.cert.issue_now() == serials[0]
    again.close()
    # without a seed: the operating system's entropy
    one, two = (process(None, tmp_path / f"{n}.json") for n in ("a", "b"))
    assert one.repos.cert.issue_now() != two.repos.cert.issue_now()
    one.close()
    two.close()
