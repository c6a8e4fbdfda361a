"""The Hypothesis allocation state machine of pkisim.testing, on real servers:
the same rules and invariants as on the in-memory model (tests/testing).

The pair runs with replication before each step (a fresh pair per example,
each write waits for both servers to agree).  Letting Hypothesis hunt the
cross-replica race on the pair (``sync=False``: deliveries by restore + wait)
works but took 7 minutes here (each cut/restore costs about a second of
syncrepl retry), so the race on real servers is shown by the direct schedules
of test_ldap_pair.py instead."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from pkisim.testing import MachineConfig, machine
from pkisim.testing.servers.backends import slapd_backend

pytestmark = pytest.mark.ldap

TWO = ("ds1", "ds2")


def run(config: MachineConfig, examples: int, steps: int = 20) -> type:
    cls = machine(config)
    run_state_machine_as_test(cls, settings=settings(max_examples=examples, deadline=None,
                                                     stateful_step_count=steps))
    return cls


@pytest.mark.parametrize("strategy", ["legacy2", "legacy"])
def test_single_slapd_never_overlaps(strategy: str) -> None:
    cls = run(MachineConfig(strategy, backend=slapd_backend), examples=25)
    assert cls.coverage.reached["range exhausted"] > 0


def test_slapd_pair_with_replication_before_each_step_never_overlaps() -> None:
    run(MachineConfig("legacy2", replicas=TWO, sync=True, disabled=frozenset({"partition"}),
                      backend=slapd_backend), examples=5, steps=12)
