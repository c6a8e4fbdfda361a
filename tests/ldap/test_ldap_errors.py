"""Errors a program cannot go on from: one line naming the server and the DN,
never the password (not in str, repr, logs or tracebacks)."""

from __future__ import annotations

import logging
import traceback

import pytest
from ldap_workers import bootstrap, configs

from pkisim.errors import DirectoryError
from pkisim.ids.config import IdKind
from pkisim.ids.tree import DogtagTree
from pkisim.ldap.allocator import LdapAllocator
from pkisim.ldap.directory import LdapDirectory
from pkisim.testing.servers.base import free_port
from pkisim.testing.servers.slapd import MANAGER_DN, Slapd

pytestmark = pytest.mark.ldap

SECRET = "S3cret-never-shown-7f2a"


def check_error(err: DirectoryError, url: str, dn: str, *secrets: str,
                caplog: pytest.LogCaptureFixture) -> None:
    text = str(err)
    assert "\n" not in text, text
    assert url in text and dn in text, text
    shown = [text, repr(err), "".join(traceback.format_exception(err)), caplog.text]
    for secret in secrets:
        for where in shown:
            assert secret not in where


def start_allocator(directory: LdapDirectory) -> None:
    cfg = configs("legacy2", "ca1", 1, 100, increment=100, low_water_mark=10)
    LdapAllocator(directory, "ca1", cfg).start()


def test_unreachable_server(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"ldap://127.0.0.1:{free_port()}/"
    directory = LdapDirectory(url, MANAGER_DN, SECRET, timeout=2)
    with pytest.raises(DirectoryError) as info:
        start_allocator(directory)
    check_error(info.value, url, MANAGER_DN, SECRET, caplog=caplog)
    assert "cannot reach" in str(info.value)
    assert SECRET not in repr(directory)


def test_wrong_password(slapd: Slapd, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    directory = LdapDirectory(slapd.url, slapd.bind_dn, SECRET)
    with pytest.raises(DirectoryError) as info:
        start_allocator(directory)
    check_error(info.value, slapd.url, slapd.bind_dn, SECRET, slapd.password, caplog=caplog)
    assert "invalid credentials" in str(info.value)


def test_missing_schema(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with Slapd(schema=False) as server:
        with pytest.raises(DirectoryError) as info:
            start_allocator(server.directory())
        check_error(info.value, server.url, "cn=Subschema", server.password, caplog=caplog)
        assert "pkiRange" in str(info.value) and "pki.schema" in str(info.value)
        # bootstrapping Dogtag's tree on it fails the same way, naming the entry
        with pytest.raises(DirectoryError) as info:
            bootstrap(server.directory(), "legacy2", 100, 100)
        check_error(info.value, server.url, "ou=", server.password, caplog=caplog)


def test_missing_entry(slapd: Slapd, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    directory = slapd.directory()  # schema loaded, but only the suffix entry exists
    with pytest.raises(DirectoryError) as info:
        start_allocator(directory)
    dn = DogtagTree().counter_dn(IdKind.REQUEST, "legacy2")
    check_error(info.value, slapd.url, dn, slapd.password, caplog=caplog)
    assert "no such entry" in str(info.value)


def test_entry_without_next_range(slapd: Slapd, caplog: pytest.LogCaptureFixture) -> None:
    directory = slapd.directory()
    bootstrap(directory, "legacy2", 100, 100)
    from pkisim.ids import protocol as p

    dn = DogtagTree().counter_dn(IdKind.REQUEST, "legacy2")
    assert directory.execute(p.Modify(dn, (p.Mod(p.ModOp.DELETE, "nextRange"),))).ok
    with pytest.raises(DirectoryError) as info:
        start_allocator(directory)
    check_error(info.value, slapd.url, dn, slapd.password, caplog=caplog)
    assert "no nextRange" in str(info.value)
