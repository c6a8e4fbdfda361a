"""The property suites: safe strategies never overlap; unsafe ones are found
and shrunk to a handful of steps.  The planted bugs and the coverage goals are
the presets' (test_presets.py)."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from pkisim.testing import MachineConfig, machine

SAFE_EXAMPLES = 1000
FIND_EXAMPLES = 1000
TWO = ("ds1", "ds2")


def run(config: MachineConfig, examples: int, steps: int = 30) -> type:
    cls = machine(config)
    run_state_machine_as_test(cls, settings=settings(max_examples=examples,
                                                     stateful_step_count=steps))
    return cls


def find(config: MachineConfig, examples: int = FIND_EXAMPLES) -> tuple[str, list[str]]:
    """Run until the machine fails; return the message and the shrunk schedule."""
    cls = machine(config)
    with pytest.raises(AssertionError) as info:
        run_state_machine_as_test(cls, settings=settings(max_examples=examples,
                                                         stateful_step_count=30,
                                                         report_multiple_bugs=False))
    return str(info.value), list(cls.last_steps)


SAFE = [
    pytest.param(MachineConfig("legacy2"), id="legacy2, one directory"),
    pytest.param(MachineConfig("legacy2", replicas=TWO, sync=True,
                               disabled=frozenset({"partition"})),
                 id="legacy2, two replicas, replication before the next claim"),
    pytest.param(MachineConfig("legacy"), id="legacy, one directory"),
    pytest.param(MachineConfig("random"), id="random 128 bits"),
    pytest.param(MachineConfig("dna"), id="dna, one directory"),
    pytest.param(MachineConfig("legacy-random"), id="legacy-random, one directory"),
]


@pytest.mark.parametrize("config", SAFE)
def test_safe_strategies_never_overlap(config: MachineConfig) -> None:
    cls = run(config, SAFE_EXAMPLES)
    if config.strategy not in ("random", "dna"):  # no ranges to exhaust quickly
        assert cls.coverage.reached["range exhausted"] > 0


@pytest.mark.parametrize("strategy", ["legacy", "legacy2"])
def test_cross_replica_race_is_found_and_shrunk(strategy: str) -> None:
    message, steps = find(MachineConfig(strategy, replicas=TWO, sync=False))
    assert len(steps) <= 10, steps
    assert "ranges overlap" in message or "duplicate" in message
    # the explanation names the two claims that read the same nextRange
    assert message.count(" claim ") >= 2, message
    assert "ds1" in message and "ds2" in message, message


def test_naive_is_found_with_one_replica_and_two_cas() -> None:
    message, steps = find(MachineConfig("naive", max_cas=2, disabled=frozenset({"clone"})),
                          examples=3000)
    assert len(steps) <= 10, steps
    assert message.count(" claim ") >= 2, message


def test_transfer_from_a_short_next_range_overlaps_in_dogtag() -> None:
    """Found by this suite: Dogtag cuts T numbers from the top of the donor's next
    range without checking that the next range holds T numbers, so repeated
    clone installations from one donor hand out numbers below that range's
    begin — numbers another CA owns.  Faithful to dogtag-ranges.md 4.3 step 5."""
    message, steps = find(MachineConfig("legacy2", guard_transfers=False, max_cas=6, transfer=8),
                          examples=3000)
    assert "ranges overlap" in message, message
    assert " transfer " in message and len(steps) <= 10, (message, steps)
