"""Dogtag's duplicate-range race on two replicating slapd servers
(multi-provider, delta-syncrepl), with the link cut by the harness's proxies."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from race import SIZE, run_race

from pkisim.testing.servers.slapd import SlapdPair

pytestmark = pytest.mark.ldap


@pytest.fixture
def pair() -> Iterator[SlapdPair]:
    with SlapdPair() as started:
        yield started


@pytest.mark.parametrize("strategy", ["legacy", "legacy2"])
def test_cut_link_claims_the_same_range_on_both_sides(pair: SlapdPair, strategy: str) -> None:
    out = run_race(pair, strategy)
    # both CAS succeeded: each CA claimed the range nextRange named
    assert out.duplicates >= SIZE // 2, out.duplicates
    assert out.overlaps >= 1
    # after restore: nextRange converged (both wrote the same new value)
    assert out.next_range["ds1"] == out.next_range["ds2"]
    assert len(out.next_range["ds1"]) == 1
    # what OpenLDAP made of the two adds of cn=<counter>: the servers agree on
    # one entry, and there is no 389-DS-style conflict entry
    assert out.records["ds1"] == out.records["ds2"]
    dns = [dn for dn, _ in out.records["ds1"]]
    assert len(dns) == 1 and dns[0].startswith(f"cn={out.counter},"), dns
    assert not any("nsds5replconflict" in a for _, a in out.records["ds1"])
    host = out.records["ds1"][0][1]["host"]
    print(f"\n{strategy}: nextRange {out.next_range['ds1']}; one cn={out.counter} "
          f"record survives, host {host}")


def test_random_has_no_duplicates(pair: SlapdPair) -> None:
    out = run_race(pair, "random")
    assert out.duplicates == 0 and out.overlaps == 0
