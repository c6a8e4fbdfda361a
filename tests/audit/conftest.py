"""Real directory servers for the live audit tests (a missing server fails, never skips)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pkisim.testing.servers.ds389 import Ds389Pair
from pkisim.testing.servers.slapd import Slapd, SlapdPair


@pytest.fixture
def slapd() -> Iterator[Slapd]:
    with Slapd() as server:
        yield server


@pytest.fixture
def slapd_pair() -> Iterator[SlapdPair]:
    with SlapdPair() as pair:
        yield pair


@pytest.fixture(scope="module")
def ds389() -> Iterator[Ds389Pair]:
    with Ds389Pair() as pair:
        yield pair
