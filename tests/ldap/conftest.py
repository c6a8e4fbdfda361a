"""Real directory servers for the LDAP tests.  They are installed by the test
command (scripts/test, .ci/apt-packages): a missing server fails, never skips."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from pkisim.testing.servers import ds389
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
    """A started pair; ``pair.argv`` holds every command line it ran (a test
    checks that the password is in none of them)."""
    argv: list[list[str]] = []
    real_run, real_popen = subprocess.run, subprocess.Popen

    def run(args: list[str], *rest: object, **options: object) -> object:
        argv.append(list(args))
        return real_run(args, *rest, **options)  # type: ignore[call-overload]

    def popen(args: list[str], *rest: object, **options: object) -> object:
        argv.append(list(args))
        return real_popen(args, *rest, **options)  # type: ignore[call-overload]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ds389.subprocess, "run", run)
        patch.setattr(ds389.subprocess, "Popen", popen)
        with Ds389Pair() as pair:
            pair.argv = argv  # type: ignore[attr-defined]
            yield pair
