"""The allocation state machine over a KRA's key IDs (memory model and real slapd).

:mod:`pkisim.testing.machine` is written for a CA: its rules and invariants
name certificate serials and request IDs (``IdKind.CERT``/``REQUEST``,
``repos.cert``, ``tree.counter_dn(IdKind.CERT, ...)``).  A KRA is the same
core with other ID kinds (:class:`~pkisim.ids.KraRepositories`), so this
module drives the existing machine, unchanged, over a KRA: the machine's
vocabulary is mapped onto the KRA's (certificate serial -> key ID, request ID
-> KRA request ID) by :class:`KraMachine`, and every issuance, range event and
invariant is about ``ou=keyRepository,ou=kra`` and ``ou=kra,ou=requests``.

The hook that would make this mapping unnecessary: a ``MachineConfig.subsystem``
(:class:`~pkisim.ids.Subsystem`) whose ``main``/``request`` kinds replace the
machine's hard-coded ``IdKind.CERT``/``IdKind.REQUEST`` and ``repos.cert``
(``repos.main``), and whose ``DogtagTree(base, subsystem)`` is the machine's
tree.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from pkisim.history.history import Op
from pkisim.history.ranges import check_ranges
from pkisim.ids.config import IdKind, IdSpaceConfig
from pkisim.ids.layout import KRA
from pkisim.ids.repository import Repository
from pkisim.ids.subsystem import KraRepositories, master_configs
from pkisim.ids.tree import DEFAULT_BASE, DogtagTree
from pkisim.seeding import Seeds
from pkisim.testing import MachineConfig, machine
from pkisim.testing.machine import AllocationMachine, CaNode

#: The machine's CA vocabulary, as a KRA says it.
AS_KRA = {IdKind.CERT: IdKind.KEY, IdKind.REQUEST: IdKind.KEY_REQUEST}
TWO = ("ds1", "ds2")


def as_kra(kind: IdKind) -> IdKind:
    return AS_KRA.get(kind, kind)


class KeyIdRepositories(KraRepositories):
    """A KRA's repositories seen through the machine's CA words."""

    def __getitem__(self, kind: IdKind) -> Repository:
        return super().__getitem__(as_kra(kind))

    @property
    def cert(self) -> Repository:
        return self.key


class KeyIdTree(DogtagTree):
    """A KRA database whose ``counter_dn`` also answers the machine's CA kinds."""

    __slots__ = ()

    def counter_dn(self, kind: IdKind, strategy: str) -> str:
        return super().counter_dn(as_kra(kind), strategy)


class KraMachine(AllocationMachine):
    """The machine's rules and invariants, run on a KRA master and its clones."""

    def __init__(self) -> None:
        super().__init__()
        self.tree = KeyIdTree(DEFAULT_BASE, KRA)
        record = self.driver.record_issue

        def record_issue(ca: Any, kind: IdKind, number: int | None, *args: Any,
                         **kwargs: Any) -> None:
            record(ca, as_kra(kind), number, *args, **kwargs)
        self.driver.record_issue = record_issue  # type: ignore[method-assign]

    def _configs(self) -> dict[IdKind, IdSpaceConfig]:
        cfg = self.config
        return master_configs(cfg.strategy, host="ca1", serial_management=False, subsystem=KRA,
                              overrides={k: cfg.ids(k) for k in KRA.spaces})

    def _new_ca(self, name: str, configs: dict[IdKind, IdSpaceConfig], replica: str,
                source: str) -> CaNode:
        node = self.driver.add(CaNode(name, replica, self.history.process(name),
                                      self.history.replica(replica)))
        self.cas.append(node)
        repos = KeyIdRepositories(name, configs, self.tree, source=source,
                                  streams=Seeds(self.seed).random)
        self.driver.attach(node, repos)
        self._drive(repos.start(), node)
        return node

    def _remember(self, kind: IdKind, number: int, ca: str) -> None:
        super()._remember(as_kra(kind), number, ca)


class Spy:
    """Keeps the last machine of a run, to look at its history afterwards."""

    last: KraMachine | None = None


def kra_machine(config: MachineConfig) -> type[AllocationMachine]:
    base = machine(config)

    def teardown(self: KraMachine) -> None:
        Spy.last = self
        AllocationMachine.teardown(self)
    return type(f"Kra{base.__name__}", (KraMachine,), {
        "config": config, "coverage": base.coverage, "last_steps": [], "teardown": teardown})


def run(config: MachineConfig, examples: int, steps: int = 30) -> type[AllocationMachine]:
    cls = kra_machine(config)
    run_state_machine_as_test(cls, settings=settings(max_examples=examples,
                                                     stateful_step_count=steps, deadline=None))
    return cls


@pytest.mark.parametrize("strategy", ["legacy", "legacy2", "random"])
def test_kra_key_ids_never_overlap_on_one_directory(strategy: str) -> None:
    cls = run(MachineConfig(strategy), examples=60)
    machine_ = Spy.last
    assert machine_ is not None and isinstance(machine_.cas[0].repos, KraRepositories)
    kinds = {e.kind for e in machine_.history.events if e.kind is not None}
    assert IdKind.CERT not in kinds and IdKind.REQUEST not in kinds
    assert machine_.history.issued_count(Op.ISSUE_CERT) == 0
    if strategy in ("legacy", "legacy2"):
        assert cls.coverage.reached["range exhausted"] > 0
        assert IdKind.KEY in kinds


def test_partitioned_kra_clones_duplicate_key_ids() -> None:
    """Found without shrinking (shrinking the KRA schedule took five minutes here;
    the CA suite, tests/testing/test_properties.py, shows the shrunk schedule)."""
    cls = kra_machine(MachineConfig("legacy2", replicas=TWO, sync=False))
    with pytest.raises(AssertionError) as info:
        run_state_machine_as_test(cls, settings=settings(
            max_examples=1000, stateful_step_count=30, report_multiple_bugs=False,
            deadline=None, phases=(Phase.generate,)))
    message = str(info.value)
    assert "ranges overlap" in message or "duplicate" in message, message
    assert cls.last_steps, "the failing schedule is reported"
    # the machine says "cert" (its CA words); the history of the failing run says key IDs
    shrunk = Spy.last
    assert shrunk is not None
    overlaps = [v for v in check_ranges(shrunk.history).violations if v.rule == "overlap"]
    assert overlaps and {v.kind for v in overlaps} <= {IdKind.KEY, IdKind.KEY_REQUEST}
    assert any(e.kind is IdKind.KEY and e.op is Op.CLAIM for e in shrunk.history.events)


@pytest.mark.ldap
@pytest.mark.parametrize("strategy", ["legacy2", "legacy"])
def test_kra_key_ids_on_real_slapd(strategy: str) -> None:
    """The same machine on a real slapd with Dogtag's schema (keyRecord included)."""
    from pkisim.testing.servers.backends import slapd_backend

    cls = run(MachineConfig(strategy, backend=slapd_backend), examples=15, steps=15)
    assert cls.coverage.reached["range exhausted"] > 0
    machine_ = Spy.last
    assert machine_ is not None
    assert machine_.history.issued_count(Op.ISSUE_KEY) > 0
