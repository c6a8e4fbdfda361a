"""Real directory servers for the LDAP tests.  They are installed by the test
command (scripts/test, .ci/apt-packages): a missing server fails, never skips."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from pkisim.testing.servers.ds389 import Ds389Pair
from pkisim.testing.servers.slapd import Slapd


def our_server_pids() -> list[int]:
    """slapd / ns-slapd processes started from our temporary folders."""
    done = subprocess.run(["pgrep", "-f", r"pkisim-(slapd|ds389)"], capture_output=True,
                          text=True)
    return [int(pid) for pid in done.stdout.split()]


@pytest.fixture(autouse=True, scope="module")
def no_leaked_servers() -> Iterator[None]:
    """Every module stops the servers it started, even when its tests fail."""
    yield
    leaked = our_server_pids()
    assert not leaked, f"server processes left running: {leaked}"


@pytest.fixture
def slapd() -> Iterator[Slapd]:
    with Slapd() as server:
        yield server


@pytest.fixture(scope="module")
def ds389_pair() -> Iterator[Ds389Pair]:
    with Ds389Pair() as pair:
        yield pair
