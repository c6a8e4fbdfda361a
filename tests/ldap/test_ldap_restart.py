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
