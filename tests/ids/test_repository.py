"""The sans-IO repositories against Dogtag's own CI examples and documented behaviour."""

from __future__ import annotations

import random

import pytest

from pkisim.directory.memory import ReplicatedDirectory
from pkisim.errors import (
    DirectoryUnavailable,
    RangeDepleted,
    SerialNumbersExhausted,
    TransferError,
)
from pkisim.ids import protocol as p
from pkisim.ids.config import IdKind, IdSpaceConfig
from pkisim.ids.events import ClaimFailed, RangeClaimed, RangeEvent, SwitchedToNextRange
from pkisim.ids.repository import Repository
from pkisim.ids.subsystem import CaRepositories, master_configs, new_repository
from pkisim.ids.tree import DogtagTree
from pkisim.seeding import Seeds

TREE = DogtagTree()


def world(*configs: IdSpaceConfig, replicas: tuple[str, ...] = ("ds1",),
          lag: float | None = 0.0) -> ReplicatedDirectory:
    directory = ReplicatedDirectory(replicas, lag=lag)
    directory.bootstrap(TREE.bootstrap(list(configs)))
    return directory


def drive(op: p.Operation, directory: ReplicatedDirectory, replica: str = "ds1",
          now: float = 0.0):
    return p.run(op, lambda command: directory.execute(command, replica=replica, now=now))


def repo_of(config: IdSpaceConfig, events: list[RangeEvent] | None = None) -> Repository:
    return new_repository(config, TREE, rng=random.Random(1), outbox=events)


def issue_n(repo: Repository, directory: ReplicatedDirectory, n: int, replica: str = "ds1"):
    out = []
    for _ in range(n):
        number, stored = drive(repo.issue_record(), directory, replica)
        assert stored.ok
        out.append(number)
    return out


# -- Dogtag CI: .github/workflows/ca-clone-ssnv1-test.yml ---------------------------------
TRANSFERS = [
    # kind, strategy, begin, end, next, transfer, used -> clone slice, donor state after
    pytest.param(IdKind.REQUEST, "legacy", 1, 10, (11, 20), 5, 7, (16, 20), (1, 10, 11, 15),
                 id="request 1-10, transfer 5, 7 used: slice from the next range"),
    pytest.param(IdKind.CERT, "legacy", 0x1, 0x12, None, 9, 7, (0xA, 0x12), (1, 9, None, None),
                 id="cert 0x1-0x12, transfer 9, 7 used: top of the current range"),
    pytest.param(IdKind.CERT, "legacy2", 0x1, 0x12, None, 9, 7, (0xA, 0x12), (1, 9, None, None),
                 id="legacy2: same split"),
]


@pytest.mark.parametrize(("kind", "strategy", "begin", "end", "nxt", "transfer", "used",
                          "clone", "donor"), TRANSFERS)
def test_clone_transfer_matches_dogtag_ci(kind, strategy, begin, end, nxt, transfer, used,
                                          clone, donor):
    config = IdSpaceConfig(kind, strategy, begin=begin, end=end, increment=10, low_water_mark=5,
                           clone_transfer_number=transfer,
                           next_begin=nxt[0] if nxt else None, next_end=nxt[1] if nxt else None)
    directory = world(config)
    repo = repo_of(config)
    assert issue_n(repo, directory, used) == list(range(begin, begin + used))
    assert drive(repo.clone_transfer(), directory) == clone
    assert (repo.begin, repo.end, repo.next_begin, repo.next_end) == donor


def test_ssnv1_hex_reinterpretation_of_next_range():
    """nextRange 13 with increment 0x12: LDAP record 13-30, real range 0x13-0x24,
    next claim 31 -> record 31-48, real range 0x31-0x42, nextRange 49."""
    config = IdSpaceConfig(IdKind.CERT, "legacy", begin=0x1, end=0x12, increment=0x12,
                           low_water_mark=0x12, serial_management=True)
    directory = world(config)
    counter_dn = TREE.counter_dn(IdKind.CERT, "legacy")
    assert directory.entry("ds1", counter_dn)["nextrange"] == ("13",)
    events: list[RangeEvent] = []
    repo = repo_of(config, events)
    issue_n(repo, directory, 1)  # 17 left < low-water mark 0x12
    claim = drive(repo.check_ranges(), directory)
    assert (claim.record_begin, claim.record_end) == (13, 30)
    assert (claim.begin, claim.end) == (0x13, 0x24)
    record = directory.entry("ds1", TREE.range_record_dn(IdKind.CERT, "legacy", 13))
    assert (record["beginrange"], record["endrange"]) == (("13",), ("30",))
    assert directory.entry("ds1", counter_dn)["nextrange"] == ("31",)
    # use the whole current range and switch; the next update run claims 31
    issue_n(repo, directory, 0x12 - 1)
    assert drive(repo.issue(), directory) == 0x13
    second = drive(repo.check_ranges(), directory)
    assert (second.record_begin, second.record_end, second.begin, second.end) == (
        31, 48, 0x31, 0x42)
    assert directory.entry("ds1", counter_dn)["nextrange"] == ("49",)
    # 0x25-0x30 lies in no range: the SSNv1 gap
    assert second.begin - claim.end - 1 == 0x30 - 0x25 + 1


def test_legacy2_ranges_are_contiguous():
    config = IdSpaceConfig(IdKind.CERT, "legacy2", begin=1, end=0x12, increment=0x12,
                           low_water_mark=0x12, serial_management=True)
    directory = world(config)
    repo = repo_of(config)
    issue_n(repo, directory, 1)
    claim = drive(repo.check_ranges(), directory)
    assert (claim.begin, claim.end) == (0x13, 0x24) == (claim.record_begin, claim.record_end)


def test_switch_only_on_overflow_and_without_claiming():
    config = IdSpaceConfig(IdKind.REQUEST, "legacy2", begin=1, end=3, increment=5,
                           low_water_mark=2, next_begin=10, next_end=14, serial_management=True)
    directory = world(config)
    events: list[RangeEvent] = []
    repo = repo_of(config, events)
    assert issue_n(repo, directory, 5) == [1, 2, 3, 10, 11]
    assert [type(e) for e in events if isinstance(e, SwitchedToNextRange)] == [SwitchedToNextRange]
    assert not any(isinstance(e, RangeClaimed) for e in events)
    assert (repo.next_begin, repo.next_end) == (None, None)


def test_exhaustion_without_serial_management_even_with_a_next_range():
    config = IdSpaceConfig(IdKind.CERT, "legacy2", begin=1, end=2, increment=5, low_water_mark=2,
                           next_begin=10, next_end=14, serial_management=False)
    directory = world(config)
    repo = repo_of(config)
    assert issue_n(repo, directory, 2) == [1, 2]
    with pytest.raises(SerialNumbersExhausted, match=r"All serial numbers are used\. "
                       r"The max serial number is 0x2"):
        drive(repo.issue(), directory)
    # checkRanges is a no-op without serial management
    assert drive(repo.check_ranges(), directory) is None


def test_claims_only_below_low_water_mark():
    config = IdSpaceConfig(IdKind.REQUEST, "legacy2", begin=1, end=10, increment=10,
                           low_water_mark=4, serial_management=True)
    directory = world(config)
    repo = repo_of(config)
    issue_n(repo, directory, 6)  # 4 left: not below the mark
    assert drive(repo.check_ranges(), directory) is None
    issue_n(repo, directory, 1)  # 3 left
    assert drive(repo.check_ranges(), directory).begin == 11


def test_restart_resumes_from_highest_record_in_own_replica():
    config = IdSpaceConfig(IdKind.CERT, "legacy2", begin=100, end=199, increment=100,
                           low_water_mark=10, serial_management=True)
    directory = world(config)
    repo = repo_of(config)
    issue_n(repo, directory, 5)
    drive(repo.issue(), directory)  # 105 allocated, never stored (failed request)
    repo.restart()
    assert drive(repo.issue(), directory) == 105  # Dogtag reuses the unstored number


def test_restart_on_a_lagging_replica_reissues():
    """Failover to a replica that has not seen the records: numbers are issued twice."""
    config = IdSpaceConfig(IdKind.CERT, "legacy2", begin=1, end=100, increment=100,
                           low_water_mark=10, serial_management=True)
    directory = world(config, replicas=("ds1", "ds2"), lag=None)
    repo = repo_of(config)
    first = issue_n(repo, directory, 3, replica="ds1")
    repo.restart()
    assert drive(repo.issue(), directory, replica="ds2") == first[0]


def test_depleted_range_at_start_switches_or_fails():
    depleted = IdSpaceConfig(IdKind.CERT, "legacy2", begin=5, end=5, increment=10,
                             low_water_mark=2, serial_management=True)
    directory = world(depleted)
    with pytest.raises(RangeDepleted):
        drive(repo_of(depleted).issue(), directory)
    with_next = depleted.evolve(next_begin=20, next_end=29)
    assert drive(repo_of(with_next).issue(), directory) == 20


def test_cas_race_on_one_replica_one_claim_wins_no_retry():
    config = IdSpaceConfig(IdKind.CERT, "legacy2", begin=1, end=10, increment=10,
                           low_water_mark=10, serial_management=True)
    directory = world(config)
    events: list[RangeEvent] = []
    a, b = repo_of(config, events), repo_of(config.evolve(host="ca2"), events)
    drive(a.load_cache(), directory)
    drive(b.load_cache(), directory)
    op_a, op_b = a.get_next_range(), b.get_next_range()
    cmd_a, cmd_b = next(op_a), next(op_b)  # both read nextRange = 11
    ex = lambda c: directory.execute(c, replica="ds1", now=0.0)  # noqa: E731
    cmd_a = op_a.send(ex(cmd_a))
    cmd_b = op_b.send(ex(cmd_b))
    assert p.run_from(op_a, cmd_a, ex).begin == 11
    assert p.run_from(op_b, cmd_b, ex) is None
    failures = [e for e in events if isinstance(e, ClaimFailed)]
    assert len(failures) == 1 and "NO_SUCH_ATTRIBUTE" in failures[0].reason


def test_cross_replica_race_claims_the_same_range_and_leaves_a_conflict_entry():
    config = IdSpaceConfig(IdKind.CERT, "legacy2", begin=1, end=5, increment=10,
                           low_water_mark=10, serial_management=True)
    directory = world(config, replicas=("ds1", "ds2"), lag=None)
    a, b = repo_of(config), repo_of(config.evolve(host="ca2"))
    claim_a = drive(a.check_ranges(), directory, "ds1")
    claim_b = drive(b.check_ranges(), directory, "ds2")
    assert (claim_a.begin, claim_a.end) == (claim_b.begin, claim_b.end) == (6, 15)
    directory.deliver(now=1.0)
    counter = TREE.counter_dn(IdKind.CERT, "legacy2")
    assert directory.entry("ds1", counter)["nextrange"] == ("16",)
    conflicts = directory.entries("ds1", TREE.range_container_dn(IdKind.CERT, "legacy2"))
    assert sum("nsds5replconflict" in attrs for _, attrs in conflicts) == 1
    assert directory.converged()


def test_naive_duplicates_on_a_single_replica():
    config = IdSpaceConfig(IdKind.CERT, "naive", begin=1, end=10, increment=10,
                           low_water_mark=10, serial_management=True)
    directory = world(config)
    a, b = repo_of(config), repo_of(config.evolve(host="ca2"))
    drive(a.load_cache(), directory)
    drive(b.load_cache(), directory)
    ex = lambda c: directory.execute(c, replica="ds1", now=0.0)  # noqa: E731
    op_a, op_b = a.get_next_range(), b.get_next_range()
    read_a, read_b = ex(next(op_a)), ex(next(op_b))
    claim_a = p.run_from(op_a, op_a.send(read_a), ex)
    claim_b = p.run_from(op_b, op_b.send(read_b), ex)
    assert (claim_a.begin, claim_a.end) == (claim_b.begin, claim_b.end)


def test_claim_failure_is_logged_not_retried():
    config = IdSpaceConfig(IdKind.CERT, "legacy2", begin=1, end=5, increment=10,
                           low_water_mark=10, serial_management=True)
    directory = ReplicatedDirectory(("ds1",))  # no tree: nextRange entry missing
    events: list[RangeEvent] = []
    repo = repo_of(config, events)
    repo.last = 0
    assert drive(repo.check_ranges(), directory) is None
    assert isinstance(events[-1], ClaimFailed)


def test_transfer_without_next_range_fails():
    config = IdSpaceConfig(IdKind.CERT, "legacy2", begin=1, end=10, increment=10,
                           low_water_mark=5, clone_transfer_number=5)
    directory = world(config)
    repo = repo_of(config)
    issue_n(repo, directory, 8)
    with pytest.raises(TransferError, match="nextEndSerialNumber"):
        drive(repo.clone_transfer(), directory)


def test_master_turns_on_serial_management_when_it_serves_its_first_clone():
    configs = master_configs("legacy2", overrides={
        IdKind.CERT: dict(begin=1, end=100, increment=100, low_water_mark=10,
                          clone_transfer_number=10),
        IdKind.REQUEST: dict(begin=1, end=100, increment=100, low_water_mark=10,
                             clone_transfer_number=10)})
    directory = world(*configs.values())
    master = CaRepositories("ca1", configs, TREE, streams=Seeds(1).random)
    drive(master.start(), directory)
    assert not master.serial_management
    clone = drive(master.transfer_to_clone("ca2"), directory)
    assert master.serial_management
    assert (clone[IdKind.CERT].begin, clone[IdKind.CERT].end) == (91, 100)
    assert master.cert.end == 90 and clone[IdKind.CERT].serial_management
    assert (clone[IdKind.REPLICA].begin, clone[IdKind.REPLICA].end) == (96, 100)


def test_random_strategy_draws_length_bits_from_its_own_stream():
    config = IdSpaceConfig(IdKind.CERT, "random", begin=1, end=10, increment=10,
                           low_water_mark=5, id_length=128)
    one, two = repo_of(config), repo_of(config)
    draws = [one.issue_now() for _ in range(100)]
    assert draws == [two.issue_now() for _ in range(100)]
    assert max(draws) < 2**128 and max(draws).bit_length() > 120


def test_legacy_random_probes_past_collisions_inside_its_range():
    config = IdSpaceConfig(IdKind.CERT, "legacy-random", begin=0x10, end=0x19, increment=16,
                           low_water_mark=2, serial_management=True)
    directory = world(config)
    repo = repo_of(config)
    issued = issue_n(repo, directory, 10)
    assert issued != sorted(issued)  # drawn at random
    assert sorted(issued) == list(range(0x10, 0x1A))  # every probe stayed inside the range
    with pytest.raises(SerialNumbersExhausted):
        drive(repo.issue(), directory)


def test_dna_peer_gives_half_of_its_spare_values():
    donor_cfg = IdSpaceConfig(IdKind.CERT, "dna", begin=1, end=1000, increment=1000,
                              low_water_mark=10, host="ds-a")
    taker_cfg = IdSpaceConfig(IdKind.CERT, "dna", begin=1, end=0, increment=1000,
                              low_water_mark=10, host="ds-b", depleted=True)
    directory = world(donor_cfg)
    donor, taker = repo_of(donor_cfg), repo_of(taker_cfg)
    drive(donor.start(), directory)
    peers = {"ds-a": donor}

    def execute(command: p.Command) -> p.Result:
        if isinstance(command, p.RequestRange):
            got = peers[command.peer].release_range()
            if got is None:
                return p.Result(p.ResultCode.UNWILLING_TO_PERFORM)
            return p.Result(number=got[0], upper=got[1])
        return directory.execute(command, replica="ds1", now=0.0)

    assert taker.wants_check
    p.run(taker.check_ranges(), execute)
    assert (taker.next_begin, taker.next_end) == (501, 1000)
    assert donor.end == 500
    assert taker.issue_now() == 501


# -- start-up recovery must not guess ----------------------------------------------------------
@pytest.mark.parametrize("strategy", ["legacy", "legacy2", "naive"])
def test_a_restart_while_the_directory_is_down_refuses_to_start_instead_of_starting_over(
        strategy: str) -> None:
    """``initCache`` that cannot search is an error, never "no records": treating
    it as none restarted the range and issued its first numbers a second time."""
    configs = master_configs(strategy, serial_management=True, overrides={
        kind: dict(begin=1, end=100, increment=100, low_water_mark=10, clone_transfer_number=10)
        for kind in (IdKind.CERT, IdKind.REQUEST)})
    directory = world(*configs.values())
    ca = CaRepositories("ca1", configs, TREE, streams=Seeds(3).random)
    drive(ca.start(), directory)
    issued = issue_n(ca.cert, directory, 5)
    ca.restart()
    directory.down("ds1", now=1.0)
    with pytest.raises(DirectoryUnavailable, match=r"initCache: .*SERVER_DOWN"):
        drive(ca.start(), directory, now=1.0)
    assert not ca.cert.loaded
    with pytest.raises(DirectoryUnavailable):  # issuing does not guess either
        drive(ca.cert.issue(), directory, now=1.0)
    directory.up("ds1", now=2.0)
    drive(ca.start(), directory, now=2.0)
    assert issue_n(ca.cert, directory, 2) == [issued[-1] + 1, issued[-1] + 2]


def test_a_start_during_which_the_directory_stops_answering_fails_after_running_to_its_end():
    """Dogtag aborts its start-up on any exception: a claim that could not reach
    the directory fails the start (after the rest of start-up ran, as Dogtag's
    ordering would), so the driver retries the whole start later."""
    configs = master_configs("legacy2", serial_management=True, overrides={
        kind: dict(begin=1, end=20, increment=100, low_water_mark=50, clone_transfer_number=10)
        for kind in (IdKind.CERT, IdKind.REQUEST)})
    directory = world(*configs.values())
    ca = CaRepositories("ca1", configs, TREE, streams=Seeds(3).random)

    def execute(command: p.Command) -> p.Result:
        if isinstance(command, p.Modify):  # the claim's compare-and-swap
            return p.Result(p.ResultCode.SERVER_DOWN, message="gone")
        return directory.execute(command, replica="ds1", now=0.0)

    with pytest.raises(DirectoryUnavailable, match=r"ca1 start-up: .*SERVER_DOWN: gone"):
        p.run(ca.start(), execute)
    failed = [e for e in ca.take_events() if isinstance(e, ClaimFailed)]
    assert [e.kind for e in failed] == [IdKind.REQUEST, IdKind.CERT]
