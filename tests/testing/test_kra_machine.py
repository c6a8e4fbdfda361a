"""The allocation state machine over a KRA's key IDs (memory model and real slapd).

``MachineConfig(subsystem=KRA)`` runs the machine's rules and invariants on a
KRA master and its clones: every issuance, range event and invariant is about
``ou=keyRepository,ou=kra`` and ``ou=kra,ou=requests`` (key IDs and KRA
request IDs), and the failure messages say so, with the radix of each number.
"""

from __future__ import annotations

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import run_state_machine_as_test

from pkisim.history.history import Op
from pkisim.history.ranges import check_ranges
from pkisim.ids import protocol as p
from pkisim.ids.config import IdKind
from pkisim.ids.layout import KRA
from pkisim.ids.subsystem import KraRepositories
from pkisim.testing import MachineConfig, machine
from pkisim.testing.machine import AllocationMachine
from pkisim.testing.presets import PRESETS

KRA_NOTE = "(numbers: key IDs in 0x hex; KRA request IDs and nextRange values in decimal)"


def run(config: MachineConfig, examples: int, steps: int = 30) -> type[AllocationMachine]:
    cls = machine(config)
    run_state_machine_as_test(cls, settings=settings(max_examples=examples,
                                                     stateful_step_count=steps, deadline=None))
    return cls


def kra_kinds(cls: type[AllocationMachine]) -> set[IdKind]:
    history = cls.last_history
    assert history is not None
    return {e.kind for e in history.events if e.kind is not None}


@pytest.mark.parametrize("strategy", ["legacy", "legacy2", "random"])
def test_kra_key_ids_never_overlap_on_one_directory(strategy: str) -> None:
    cls = run(MachineConfig(strategy, subsystem=KRA), examples=60)
    kinds = kra_kinds(cls)
    assert IdKind.CERT not in kinds and IdKind.REQUEST not in kinds
    assert cls.last_history is not None
    assert cls.last_history.issued_count(Op.ISSUE_CERT) == 0
    if strategy in ("legacy", "legacy2"):
        assert cls.coverage.reached["range exhausted"] > 0
        assert IdKind.KEY in kinds


@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_the_kra_machine_runs_kra_repositories_and_tree(seed: int) -> None:
    cls = machine(MachineConfig("legacy2", subsystem=KRA))
    state = cls()
    try:
        state.setup(seed=seed, swarm=frozenset())
        assert [n.name for n in state.cas] == ["kra1", "kra2"]
        assert all(isinstance(n.repos, KraRepositories) for n in state.cas)
        assert state.tree.subsystem is KRA
        assert "ou=keyRepository,ou=kra" in state.tree.records_dn(IdKind.KEY)
        assert state.kinds == (IdKind.KEY, IdKind.KEY_REQUEST)
        assert state.cas[0].repos is not None and state.cas[0].repos.main.kind is IdKind.KEY
    finally:
        state.teardown()


def test_partitioned_kra_clones_duplicate_key_ids() -> None:
    """The bug preset: KRA clones on two replicas under partition.  Found without
    shrinking (the CA suite, tests/testing/test_properties.py, shows a shrunk
    schedule); the message names key IDs and KRA request IDs, with their radix."""
    preset = PRESETS["bug-kra-cross-replica-race"]
    cls = preset.machine()
    with pytest.raises(AssertionError) as info:
        run_state_machine_as_test(cls, settings=preset.settings(phases=(Phase.generate,)))
    message = str(info.value)
    assert preset.shows(message), message
    assert KRA_NOTE in message, message
    assert "key ID" in message and "cert" not in message and "serial" not in message, message
    assert cls.last_steps, "the failing schedule is reported"
    history = cls.last_history
    assert history is not None
    overlaps = [v for v in check_ranges(history).violations if v.rule == "overlap"]
    assert overlaps and {v.kind for v in overlaps} <= {IdKind.KEY, IdKind.KEY_REQUEST}
    assert any(e.kind is IdKind.KEY and e.op is Op.CLAIM for e in history.events)


@pytest.mark.ldap
@pytest.mark.parametrize("strategy", ["legacy2", "legacy"])
def test_kra_key_ids_on_real_slapd(strategy: str) -> None:
    """The same machine on a real slapd with Dogtag's schema (keyRecord included)."""
    from pkisim.testing.servers.backends import slapd_backend

    config = MachineConfig(strategy, subsystem=KRA, backend=slapd_backend)
    cls = run(config, examples=15, steps=15)
    assert cls.coverage.reached["range exhausted"] > 0
    assert IdKind.CERT not in kra_kinds(cls) and IdKind.REQUEST not in kra_kinds(cls)
    key_records_on_slapd(config)


@settings(max_examples=1, deadline=None)
@given(seed=st.just(7))
def key_records_on_slapd(config: MachineConfig, seed: int) -> None:
    """One schedule run step by step: the key records are in slapd's
    ``ou=keyRepository,ou=kra`` and the invariants hold after each step."""
    state = machine(config)()
    try:
        state.setup(seed=seed, swarm=frozenset())
        for space in ("main", "request", "main"):
            state.issue(index=0, batches=8, space=space)
            for invariant in (state.serials_never_overlap, state.ranges_are_disjoint,
                              state.failed_claims_are_retried, state.next_range_never_decreases):
                invariant()
        kra1 = state.cas[0].repos
        assert kra1 is not None
        key = kra1.main
        got = state.directory.execute(p.LastNumberInRange(key.records_dn, 1, 2**64),
                                      replica=state.cas[0].replica, now=state.now)
        # kra1 kept 1-12 of its range 1-24 (the top 12 went to the clone kra2):
        # 12 key IDs, then its range is exhausted until the update task claims
        assert got.ok and got.number == 12 == max(n for (k, n) in state.issued
                                                  if k is IdKind.KEY)
        assert state.history.issued_count(Op.ISSUE_KEY) == 12
        assert state.history.issued_count(Op.ISSUE_KEY_REQUEST) == 8
    finally:
        state.teardown()


@pytest.mark.ldap
def test_kra_preset_through_the_plugin_on_real_slapd() -> None:
    """The safe KRA preset as another project's CI runs it, on a real slapd."""
    from pkisim.testing.plugin import check_preset
    from pkisim.testing.servers.backends import slapd_backend

    run_ = check_preset("kra-legacy2-one-directory", slapd_backend, goals=("range exhausted",))
    assert run_.failure is None and run_.reached["range exhausted"] > 0
