"""Real directory servers for the LDAP tests.  They are installed by the test
command (scripts/test, .ci/apt-packages): a missing server fails, never skips."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pkisim.testing.servers.base import started_here
from pkisim.testing.servers.ds389 import Ds389Pair
from pkisim.testing.servers.slapd import Slapd


@pytest.fixture(autouse=True, scope="module")
def no_leaked_servers() -> Iterator[None]:
    """Every module stops the servers it started, even when its tests fail."""
    yield
    leaked = started_here()  # only this process's: other runs on the machine may have theirs
    assert not leaked, f"server processes left running: {leaked}"


@pytest.fixture
def slapd() -> Iterator[Slapd]:
    with Slapd() as server:
        yield server


@pytest.fixture(scope="module")
def ds389_pair() -> Iterator[Ds389Pair]:
    with Ds389Pair() as pair:
        yield pair
