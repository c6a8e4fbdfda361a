"""A failed range claim is remembered until a claim succeeds, and an exhausted
range names it; a multi-valued ``nextRange`` is read as Dogtag reads it (the
first value) and reported in one line; a restarted process draws anew."""

from __future__ import annotations

import random

import pytest

from pkisim.directory.memory import ReplicatedDirectory
from pkisim.errors import SerialNumbersExhausted
from pkisim.ids import protocol as p
from pkisim.ids.config import IdKind, IdSpaceConfig
from pkisim.ids.events import ClaimFailed, RangeClaimed, RangeEvent
from pkisim.ids.repository import Repository
from pkisim.ids.subsystem import CaRepositories, master_configs, new_repository
from pkisim.ids.tree import DogtagTree
from pkisim.seeding import Seeds

TREE = DogtagTree()


def world(config: IdSpaceConfig) -> ReplicatedDirectory:
    directory = ReplicatedDirectory(("ds1",))
    directory.bootstrap(TREE.bootstrap([config]))
    return directory


def drive(op: p.Operation, directory: ReplicatedDirectory):
    return p.run(op, lambda command: directory.execute(command, replica="ds1", now=0.0))


def repo_of(config: IdSpaceConfig, events: list[RangeEvent] | None = None) -> Repository:
    return new_repository(config, TREE, rng=random.Random(1), outbox=events)


def small(strategy: str = "legacy2", **changes: object) -> IdSpaceConfig:
    values: dict[str, object] = dict(begin=1, end=4, increment=8, low_water_mark=8,
                                     serial_management=True)
    values.update(changes)
    return IdSpaceConfig(IdKind.CERT, strategy, **values)  # type: ignore[arg-type]


def test_an_exhausted_range_names_the_failed_claim_until_a_claim_succeeds() -> None:
    config = small()
    directory = world(config)
    events: list[RangeEvent] = []
    repo = repo_of(config, events)
    drive(repo.load_cache(), directory)
    counter = TREE.counter_dn(IdKind.CERT, "legacy2")
    # another CA moved nextRange between our read and our compare-and-swap
    claim = repo.get_next_range()
    read = next(claim)
    result = directory.execute(read, replica="ds1", now=0.0)
    directory.execute(p.Modify(counter, (p.Mod(p.ModOp.REPLACE, "nextRange", ("13",)),)),
                      replica="ds1", now=0.0)
    assert p.run_from(claim, claim.send(result), lambda c: directory.execute(
        c, replica="ds1", now=0.0)) is None
    assert isinstance(repo.claim_failure, ClaimFailed)
    assert "nextRange CAS 5 -> 13 (decimal) failed: NO_SUCH_ATTRIBUTE" in repo.claim_failure.reason
    for _ in range(4):
        repo.issue_now()
    with pytest.raises(SerialNumbersExhausted) as info:
        repo.issue_now()
    text = str(info.value)
    assert text.startswith("All serial numbers are used. The max serial number is 0x4;")
    assert "NO_SUCH_ATTRIBUTE" in text and "retries" in text and "\n" not in text
    assert info.value.cause == repo.claim_failure.reason
    # the next update run claims; the cause is gone with it
    got = drive(repo.check_ranges(), directory)
    assert isinstance(got, RangeClaimed) and repo.claim_failure is None
    assert repo.issue_now() == 13


def test_exhaustion_without_a_failed_claim_has_no_cause() -> None:
    config = small(serial_management=False)
    directory = world(config)
    repo = repo_of(config)
    drive(repo.load_cache(), directory)
    for _ in range(4):
        repo.issue_now()
    with pytest.raises(SerialNumbersExhausted) as info:
        repo.issue_now()
    assert info.value.cause is None and "claim" not in str(info.value)


def test_ssnv1_numbers_in_messages_state_their_radix() -> None:
    """SSNv1 writes certificate serials as bare hex digits in CS.cfg: a message
    that showed ``12`` next to a decimal ``nextRange 13`` could not be read."""
    config = small("legacy", begin=0x10, end=0x12, increment=0x12, low_water_mark=0x12,
                   serial_management=False)
    directory = world(config)
    repo = repo_of(config)
    drive(repo.load_cache(), directory)
    for _ in range(3):
        repo.issue_now()
    with pytest.raises(SerialNumbersExhausted, match=r"max serial number is 0x12$"):
        repo.issue_now()
    request = IdSpaceConfig(IdKind.REQUEST, "legacy", begin=1, end=3, increment=3,
                            low_water_mark=0)
    req = repo_of(request)
    req.last = 3
    with pytest.raises(SerialNumbersExhausted, match=r"max serial number is 3$"):
        req.issue_now()


def test_a_multi_valued_next_range_is_read_first_value_first_and_reported() -> None:
    """Left by a replication race: a stale first value whose successor is already
    there.  Dogtag's compare-and-swap then fails with attributeOrValueExists on
    every run; pkisim does the same and says why, in one line."""
    config = small()
    directory = world(config)
    counter = TREE.counter_dn(IdKind.CERT, "legacy2")
    directory.execute(p.Modify(counter, (p.Mod(p.ModOp.REPLACE, "nextRange", ("5", "13")),)),
                      replica="ds1", now=0.0)
    events: list[RangeEvent] = []
    repo = repo_of(config, events)
    drive(repo.load_cache(), directory)
    for _ in range(3):
        assert drive(repo.check_ranges(), directory) is None
    failures = [e for e in events if isinstance(e, ClaimFailed)]
    assert len(failures) == 3
    reason = failures[-1].reason
    assert "nextRange CAS 5 -> 13 (decimal) failed: ATTRIBUTE_OR_VALUE_EXISTS" in reason
    assert "holds 2 values (5, 13; decimal)" in reason and "replication race" in reason
    assert "\n" not in reason
    # an administrator leaves one value above every claimed range: claims work again
    directory.execute(p.Modify(counter, (p.Mod(p.ModOp.REPLACE, "nextRange", ("13",)),)),
                      replica="ds1", now=0.0)
    got = drive(repo.check_ranges(), directory)
    assert isinstance(got, RangeClaimed) and (got.begin, got.end) == (13, 20)


def test_a_restarted_process_draws_rsnv3_serials_from_its_new_generator() -> None:
    configs = master_configs("random")
    ca = CaRepositories("ca1", configs, TREE, streams=Seeds(5).child("start 1").random)
    first = [ca.cert.issue_now() for _ in range(50)]
    ca.restart(Seeds(5).child("start 2").random)
    again = [ca.cert.issue_now() for _ in range(50)]
    assert not set(first) & set(again)
    # the same start number draws the same serials: deterministic per process start
    ca.restart(Seeds(5).child("start 1").random)
    assert [ca.cert.issue_now() for _ in range(50)] == first
