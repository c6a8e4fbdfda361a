"""The embedded replicated directory (pkisim.directory.memory)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pkisim.directory.memory import ReplicatedDirectory
from pkisim.ids import protocol as p
from pkisim.ids.protocol import Mod, ModOp, ResultCode

BASE = "o=t"
COUNTER = "ou=c,o=t"  # holds nextRange (multi-valued) and host (single-valued)
RANGES = "ou=ranges,o=t"  # pkiRange records
RECORDS = "ou=certificateRepository, ou=ca,o=t"  # written with Dogtag's space
RECORDS_KEY = "ou=certificateRepository,ou=ca,o=t"
TOP = {"objectclass": ("top",)}
CONFLICT_FILTER = {"nsds5ReplConflict": "*", "objectClass": "pkiRange", "beginRange": "13"}


def tree() -> list[p.Add]:
    return [p.Add(BASE, {"o": "t", "objectClass": ("top", "organization")}),
            p.Add(COUNTER, {"ou": "c", "objectClass": ("top", "repository"), "nextRange": "13"}),
            p.Add(RANGES, {"ou": "ranges"}),
            p.Add("ou=ca,o=t", {"ou": "ca"}),
            p.Add(RECORDS, {"ou": "certificateRepository"})]


def world(replicas: tuple[str, ...] = ("ds1",), lag: float | None = 0.0) -> ReplicatedDirectory:
    directory = ReplicatedDirectory(replicas, lag=lag)
    directory.bootstrap(tree())
    return directory


def cas(old: str, new: str) -> p.Modify:
    """Dogtag's getNextRange compare-and-swap on nextRange."""
    return p.Modify(COUNTER, (Mod(ModOp.DELETE, "nextRange", (old,)),
                              Mod(ModOp.ADD, "nextRange", (new,))))


def pki_range(begin: int, host: str) -> p.Add:
    return p.Add(f"cn={begin},{RANGES}", {
        "objectClass": ("top", "pkiRange"), "cn": begin, "beginRange": begin,
        "endRange": begin + 17, "host": host, "SecurePort": "8443"})


def record(n: int, **extra: str) -> p.Add:
    return p.Add(f"cn={n},{RECORDS}", {**TOP, **{k: (v,) for k, v in extra.items()}})


def code(directory: ReplicatedDirectory, command: p.Command, replica: str = "ds1",
         now: float = 0.0) -> ResultCode:
    return directory.execute(command, replica=replica, now=now).code


def same_everywhere(directory: ReplicatedDirectory) -> list:
    views = [directory.entries(name) for name in directory.replicas]
    assert all(view == views[0] for view in views)
    return views[0]


# ------------------------------------------------------------ one replica
def test_bootstrap_loads_every_replica_without_replicating():
    directory = world(("ds1", "ds2", "ds3"), lag=None)
    assert directory.pending() == 0 and directory.converged()
    assert directory.entry("ds3", COUNTER)["nextrange"] == ("13",)
    with pytest.raises(ValueError, match="ou=c,o=t already exists on ds1"):
        directory.bootstrap([p.Add(COUNTER, {"ou": "c"})])


def test_add_needs_its_parent_and_a_free_dn():
    directory = world()
    assert code(directory, p.Add("cn=x,ou=nowhere,o=t", TOP)) is ResultCode.NO_SUCH_OBJECT
    assert code(directory, p.Add("o=other", TOP)) is ResultCode.NO_SUCH_OBJECT
    assert code(directory, p.Add("CN=x, OU=ranges ,o=t", TOP)) is ResultCode.SUCCESS
    assert code(directory, p.Add("cn=X,ou=ranges,o=t", TOP)) is ResultCode.ENTRY_ALREADY_EXISTS
    # the server adds the RDN's value, as 389-DS does
    assert directory.entry("ds1", "cn=x,ou=ranges,o=t") == {"objectclass": ("top",), "cn": ("x",)}
    assert code(directory, p.Add("cn=y,ou=ranges,o=t", {"host": ("a", "b")})) is (
        ResultCode.CONSTRAINT_VIOLATION)


def test_read_returns_the_entry_or_no_such_object():
    directory = world()
    result = directory.execute(p.Read("OU=C,O=T"), replica="ds1", now=0.0)
    assert result.ok and result.entries[0][0] == COUNTER
    assert p.attr_first(result.entry, "nextRange") == "13"
    assert code(directory, p.Read("ou=missing,o=t")) is ResultCode.NO_SUCH_OBJECT


@pytest.mark.parametrize(("mods", "expected"), [
    ((Mod(ModOp.DELETE, "nextRange", ("99",)),), ResultCode.NO_SUCH_ATTRIBUTE),
    ((Mod(ModOp.DELETE, "description"),), ResultCode.NO_SUCH_ATTRIBUTE),
    ((Mod(ModOp.ADD, "nextRange", ("13",)),), ResultCode.ATTRIBUTE_OR_VALUE_EXISTS),
    ((Mod(ModOp.ADD, "host", ("a",)), Mod(ModOp.ADD, "host", ("b",))),
     ResultCode.CONSTRAINT_VIOLATION),
    ((Mod(ModOp.REPLACE, "host", ("a", "b")),), ResultCode.CONSTRAINT_VIOLATION),
])
def test_a_failing_modify_changes_nothing(mods, expected):
    directory = world()
    # the first mod would succeed on its own: atomicity means it is not applied either
    command = p.Modify(COUNTER, (Mod(ModOp.ADD, "nextRange", ("77",)), *mods))
    assert code(directory, command) is expected
    assert directory.entry("ds1", COUNTER)["nextrange"] == ("13",)
    assert "host" not in directory.entry("ds1", COUNTER)


def test_modify_add_replace_delete():
    directory = world()
    assert code(directory, p.Modify(COUNTER, (Mod(ModOp.ADD, "nextRange", ("20", "21")),
                                              Mod(ModOp.REPLACE, "host", ("a",))))).name == (
        "SUCCESS")
    assert directory.entry("ds1", COUNTER)["nextrange"] == ("13", "20", "21")
    assert code(directory, p.Modify(COUNTER, (Mod(ModOp.REPLACE, "host", ("b",)),
                                              Mod(ModOp.DELETE, "nextRange"),
                                              Mod(ModOp.ADD, "nextRange", ("5",))))) is (
        ResultCode.SUCCESS)
    entry = directory.entry("ds1", COUNTER)
    assert entry["host"] == ("b",) and entry["nextrange"] == ("5",)
    assert code(directory, p.Modify("ou=nothing,o=t", ())) is ResultCode.NO_SUCH_OBJECT


def test_cas_on_one_replica_exactly_one_racing_client_wins():
    directory = world()
    reads = [directory.execute(p.Read(COUNTER), replica="ds1", now=0.0) for _ in range(2)]
    olds = [p.attr_first(r.entry, "nextRange") for r in reads]
    assert olds == ["13", "13"]
    assert code(directory, cas(olds[0], "31")) is ResultCode.SUCCESS
    assert code(directory, cas(olds[1], "31")) is ResultCode.NO_SUCH_ATTRIBUTE  # 16
    assert directory.entry("ds1", COUNTER)["nextrange"] == ("31",)


def test_delete_and_search():
    directory = world()
    for begin, host in ((13, "a"), (31, "b"), (49, "a")):
        assert code(directory, pki_range(begin, host)) is ResultCode.SUCCESS
    found = directory.execute(p.Search(BASE, {"OBJECTCLASS": "PKIRANGE", "host": "A"}),
                              replica="ds1", now=0.0)
    assert [dn for dn, _ in found.entries] == [f"cn=13,{RANGES}", f"cn=49,{RANGES}"]
    everything = directory.execute(p.Search(RANGES), replica="ds1", now=0.0)
    assert [dn for dn, _ in everything.entries][-1] == RANGES  # base included, sorted by DN
    assert code(directory, p.Search("ou=missing,o=t")) is ResultCode.NO_SUCH_OBJECT
    assert code(directory, p.Delete(RANGES)) is ResultCode.UNWILLING_TO_PERFORM  # not a leaf
    assert code(directory, p.Delete(f"cn=31,{RANGES}")) is ResultCode.SUCCESS
    assert code(directory, p.Delete(f"cn=31,{RANGES}")) is ResultCode.NO_SUCH_OBJECT
    assert directory.numbers("ds1", RANGES) == [13, 49]


def test_request_range_is_not_a_directory_command():
    result = world().execute(p.RequestRange("ca2"), replica="ds1", now=0.0)
    assert result.code is ResultCode.UNWILLING_TO_PERFORM and "ca2" in result.message


def test_unknown_replica_is_a_value_error_naming_it():
    directory = world(("ds1", "ds2"))
    with pytest.raises(ValueError, match="unknown replica 'ds9'"):
        directory.execute(p.Read(BASE), replica="ds9", now=0.0)
    for call in (lambda: directory.entry("ds9", BASE), lambda: directory.cut("ds1", "ds9", 0),
                 lambda: directory.pending(dst="ds9"), lambda: directory.down("ds9", 0)):
        with pytest.raises(ValueError, match="ds9"):
            call()
    with pytest.raises(ValueError, match="lag"):
        ReplicatedDirectory(("ds1", "ds2"), lag=-1.0)


# ------------------------------------------------------------ replication
@pytest.mark.parametrize(("b_new", "converged"), [("49", ("31", "49")), ("31", ("31",))])
def test_cas_on_two_replicas_across_a_cut_link_both_succeed(b_new, converged):
    directory = world(("ds1", "ds2"), lag=0.25)
    directory.cut("ds1", "ds2", now=0.0)
    directory.cut("ds2", "ds1", now=0.0)
    assert code(directory, cas("13", "31"), "ds1", now=1.0) is ResultCode.SUCCESS
    assert code(directory, cas("13", b_new), "ds2", now=1.0) is ResultCode.SUCCESS
    directory.heal_all(now=2.0)
    assert directory.entry("ds1", COUNTER, now=2.2)["nextrange"] == ("31",)  # not yet
    for name in ("ds1", "ds2"):
        assert directory.entry(name, COUNTER, now=2.25)["nextrange"] == converged
    assert directory.converged()


def test_single_valued_attribute_keeps_the_later_write_in_any_delivery_order():
    for first in (("ds1", "ds2"), ("ds2", "ds1")):
        directory = world(("ds1", "ds2"), lag=None)
        code(directory, p.Modify(COUNTER, (Mod(ModOp.REPLACE, "host", ("early",)),)), "ds1", 1.0)
        code(directory, p.Modify(COUNTER, (Mod(ModOp.ADD, "host", ("late",)),)), "ds2", 2.0)
        directory.deliver(*first, now=3.0)
        directory.deliver(*reversed(first), now=3.0)
        assert [directory.entry(n, COUNTER)["host"] for n in ("ds1", "ds2")] == [("late",)] * 2
        assert directory.converged()


@pytest.mark.parametrize("first", ["ds1", "ds2"])
def test_duplicate_pkirange_add_becomes_one_conflict_entry_on_every_replica(first):
    directory = world(("ds1", "ds2"), lag=None)
    assert code(directory, pki_range(13, "ca1"), "ds1", now=1.0) is ResultCode.SUCCESS
    assert code(directory, pki_range(13, "ca2"), "ds2", now=1.5) is ResultCode.SUCCESS
    directory.deliver(src=first, now=2.0)  # one direction first: both outcomes meet
    directory.settle(now=3.0)
    everything = same_everywhere(directory)
    ranges = [(dn, a) for dn, a in everything if "pkiRange" in a.get("objectclass", ())]
    assert len(ranges) == 2
    kept, renamed = (ranges[0], ranges[1]) if ranges[0][0].startswith("cn=") else ranges[::-1]
    assert kept == (f"cn=13,{RANGES}", kept[1]) and kept[1]["host"] == ("ca1",)  # earlier CSN
    assert renamed[0].startswith("nsuniqueid=") and renamed[0].endswith(f"+cn=13,{RANGES}")
    assert renamed[1]["nsds5replconflict"] == (f"namingConflict cn=13,{RANGES}",)
    assert renamed[1]["host"] == ("ca2",) and renamed[1]["beginrange"] == ("13",)
    for name in ("ds1", "ds2"):  # Dogtag's hasRangeConflict filter finds it everywhere
        hits = directory.execute(p.Search(RANGES, {**CONFLICT_FILTER, "host": "ca2"}),
                                 replica=name, now=3.0).entries
        assert [dn for dn, _ in hits] == [renamed[0]]
    assert sorted(c.replica for c in directory.conflicts) == ["ds1", "ds2"]
    assert {c.renamed_dn for c in directory.conflicts} == {renamed[0]}
    assert directory.converged()


def test_dogtag_conflict_cleanup_deletes_the_conflict_entry_everywhere():
    directory = world(("ds1", "ds2"), lag=None)
    code(directory, pki_range(13, "ca1"), "ds1", now=1.0)
    code(directory, pki_range(13, "ca2"), "ds2", now=1.0)
    directory.settle(now=2.0)
    (dn, _), = directory.execute(p.Search(RANGES, CONFLICT_FILTER), replica="ds2", now=3).entries
    assert code(directory, p.Delete(dn), "ds2", now=3.0) is ResultCode.SUCCESS
    directory.settle(now=4.0)
    assert directory.entry("ds1", dn) is None and directory.converged()


@pytest.mark.parametrize("late", [False, True])
def test_deleting_the_winner_gives_the_dn_to_the_earliest_live_claimant(late):
    directory = world(("ds1", "ds2"), lag=None)
    code(directory, pki_range(13, "ca1"), "ds1", now=1.0)
    code(directory, pki_range(13, "ca2"), "ds2", now=2.0)
    if not late:  # ds1 sees the conflict before it deletes its winner
        directory.deliver("ds2", "ds1", now=2.5)
    code(directory, p.Delete(f"cn=13,{RANGES}"), "ds1", now=3.0)
    directory.settle(now=4.0)
    for name in ("ds1", "ds2"):
        (dn, attrs), = directory.execute(p.Search(RANGES, {"beginRange": "13"}), replica=name,
                                         now=4.0).entries
        assert dn == f"cn=13,{RANGES}" and attrs["host"] == ("ca2",)
        assert "nsds5replconflict" not in attrs
    assert directory.converged()


def test_lag_change_is_invisible_before_now_plus_lag():
    directory = world(("ds1", "ds2"), lag=0.5)
    code(directory, cas("13", "31"), "ds1", now=1.0)
    assert directory.entry("ds2", COUNTER, now=1.49)["nextrange"] == ("13",)
    assert directory.pending("ds1", "ds2") == 1 and not directory.converged()
    read = directory.execute(p.Read(COUNTER), replica="ds2", now=1.5)
    assert p.attr_first(read.entry, "nextRange") == "31"
    assert directory.pending() == 0 and directory.converged()


def test_fifo_per_link_and_set_lag():
    directory = world(("ds1", "ds2"), lag=10.0)
    code(directory, cas("13", "31"), "ds1", now=0.0)  # ready at 10
    directory.set_lag("ds1", "ds2", 1.0, now=2.0)  # in flight: arrives by 3
    code(directory, cas("31", "49"), "ds1", now=2.5)  # ready at 3.5
    assert directory.entry("ds2", COUNTER, now=3.0)["nextrange"] == ("31",)
    assert directory.entry("ds2", COUNTER, now=3.5)["nextrange"] == ("49",)
    directory.cut("ds1", "ds2", now=3.5)
    directory.heal("ds1", "ds2", now=3.6)  # held until 4.6 ...
    directory.set_lag("ds1", "ds2", 0.1, now=3.6)  # ... no: by 3.7 at the latest
    code(directory, cas("49", "58"), "ds1", now=3.6)
    assert directory.entry("ds2", COUNTER, now=3.7)["nextrange"] == ("58",)
    code(directory, cas("58", "49"), "ds1", now=3.8)
    assert directory.entry("ds2", COUNTER, now=3.9)["nextrange"] == ("49",)
    directory.set_all_lag(None, now=4.0)
    code(directory, cas("49", "67"), "ds1", now=5.0)
    assert directory.entry("ds2", COUNTER, now=1e9)["nextrange"] == ("49",)  # manual now
    assert directory.deliver("ds1", "ds2", now=6.0) == 1
    assert directory.entry("ds2", COUNTER)["nextrange"] == ("67",)


def test_partition_holds_changes_until_heal():
    directory = world(("ds1", "ds2", "ds3"), lag=0.5)
    directory.partition([["ds1"], ["ds2", "ds3"]], now=0.0)
    code(directory, cas("13", "31"), "ds1", now=1.0)
    code(directory, pki_range(13, "ca3"), "ds3", now=1.0)
    assert directory.entry("ds2", f"cn=13,{RANGES}", now=2.0) is not None  # same side
    assert directory.entry("ds2", COUNTER, now=100.0)["nextrange"] == ("13",)
    assert directory.entry("ds1", f"cn=13,{RANGES}", now=100.0) is None
    assert directory.pending() == 3
    assert directory.deliver(now=100.0) == 0  # nothing may cross the partition, even by hand
    directory.heal_all(now=100.0)
    assert directory.entry("ds2", COUNTER, now=100.4)["nextrange"] == ("13",)
    assert directory.entry("ds2", COUNTER, now=100.5)["nextrange"] == ("31",)
    for name in directory.replicas:
        directory.entry(name, BASE, now=100.5)
    assert directory.converged()


def test_manual_delivery_counts_and_filters():
    directory = world(("ds1", "ds2", "ds3"), lag=None)
    code(directory, cas("13", "31"), "ds1", now=1.0)
    code(directory, pki_range(13, "ca2"), "ds2", now=2.0)
    assert (directory.pending(), directory.pending("ds1"), directory.pending(dst="ds3")) == (
        4, 2, 2)
    assert directory.entry("ds3", COUNTER, now=50.0)["nextrange"] == ("13",)
    assert directory.deliver(dst="ds3", now=3.0, count=1) == 1
    assert directory.entry("ds3", COUNTER)["nextrange"] == ("31",)  # CSN order: ds1's first
    assert directory.entry("ds3", f"cn=13,{RANGES}") is None
    assert directory.deliver(now=3.0) == 3 and directory.converged()


def test_a_down_replica_answers_server_down_and_misses_changes_until_up():
    directory = world(("ds1", "ds2"), lag=0.5)
    directory.down("ds2", now=1.0)
    assert code(directory, p.Read(COUNTER), "ds2", now=1.0) is ResultCode.SERVER_DOWN
    code(directory, cas("13", "31"), "ds1", now=1.0)
    directory.settle(now=5.0)  # a down replica receives nothing, even by hand
    assert directory.pending() == 1
    directory.up("ds2", now=10.0)
    assert directory.entry("ds2", COUNTER, now=10.4)["nextrange"] == ("13",)
    assert directory.entry("ds2", COUNTER, now=10.5)["nextrange"] == ("31",)


def test_a_modify_that_arrives_before_its_entry_waits_for_it():
    directory = world(("ds1", "ds2", "ds3"), lag=None)
    code(directory, pki_range(13, "ca1"), "ds1", now=1.0)
    directory.deliver("ds1", "ds2", now=2.0)
    modify = p.Modify(f"cn=13,{RANGES}", (Mod(ModOp.REPLACE, "endRange", ("20",)),))
    assert code(directory, modify, "ds2", now=3.0) is ResultCode.SUCCESS
    directory.deliver("ds2", "ds3", now=4.0)  # ds3 has not seen the add yet
    assert directory.entry("ds3", f"cn=13,{RANGES}") is None
    assert directory.pending("ds2", "ds3") == 1  # parked, still pending
    directory.deliver("ds1", "ds3", now=5.0)
    assert directory.entry("ds3", f"cn=13,{RANGES}")["endrange"] == ("20",)
    assert not directory.converged()  # ds2's modify has not reached ds1 yet
    directory.settle(now=6.0)
    assert directory.converged()


def test_a_modify_follows_its_entry_to_the_conflict_dn():
    directory = world(("ds1", "ds2"), lag=None)
    code(directory, pki_range(13, "ca1"), "ds1", now=1.0)
    code(directory, pki_range(13, "ca2"), "ds2", now=2.0)  # will lose: later CSN
    code(directory, p.Modify(f"cn=13,{RANGES}", (Mod(ModOp.ADD, "description", ("mine",)),)),
         "ds2", now=3.0)
    directory.settle(now=4.0)
    for _, attrs in same_everywhere(directory):
        if "nsds5replconflict" in attrs:
            assert attrs["host"] == ("ca2",) and attrs["description"] == ("mine",)
        elif "pkirange" in attrs.get("objectclass", ()):
            assert attrs["host"] == ("ca1",) and "description" not in attrs
    assert directory.converged()


def test_a_value_deleted_later_is_not_resurrected_by_an_older_add():
    directory = world(("ds1", "ds2", "ds3"), lag=None)
    code(directory, p.Modify(COUNTER, (Mod(ModOp.ADD, "nextRange", ("99",)),)), "ds1", 1.0)
    directory.deliver("ds1", "ds2", now=2.0)
    code(directory, p.Modify(COUNTER, (Mod(ModOp.DELETE, "nextRange", ("99",)),)), "ds2", 3.0)
    directory.deliver("ds2", "ds3", now=4.0)  # the delete reaches ds3 before the add
    directory.deliver("ds1", "ds3", now=5.0)
    directory.settle(now=6.0)
    assert directory.entry("ds3", COUNTER)["nextrange"] == ("13",)
    assert directory.converged()


# ------------------------------------------------------------ records
def test_records_last_number_in_range_across_runs_and_number_exists():
    directory = world()
    for n in [*range(1, 11), *range(100, 111), 2**100, 50]:
        assert code(directory, record(n)) is ResultCode.SUCCESS
    assert code(directory, record(5)) is ResultCode.ENTRY_ALREADY_EXISTS

    def last(begin: int, end: int) -> int | None:
        return directory.execute(p.LastNumberInRange(RECORDS, begin, end), replica="ds1",
                                 now=0.0).number

    assert (last(1, 99), last(1, 49), last(11, 49), last(105, 2**99), last(0, 2**128)) == (
        50, 10, None, 110, 2**100)
    exists = [directory.execute(p.NumberExists(RECORDS, n), replica="ds1", now=0.0).number
              for n in (7, 11, 2**100)]
    assert exists == [7, None, 2**100]
    assert directory.numbers("ds1", RECORDS) == [*range(1, 11), 50, *range(100, 111), 2**100]
    missing = p.LastNumberInRange("ou=missing,o=t", 1, 9)
    assert code(directory, missing) is ResultCode.NO_SUCH_OBJECT
    assert directory.execute(p.LastNumberInRange(RANGES, 1, 9), replica="ds1",
                             now=0.0).number is None


def test_revoked_record_moves_to_the_overlay_and_stays_visible():
    directory = world()
    for n in range(1, 6):
        code(directory, record(n))
    revoke = p.Modify(f"cn=3,{RECORDS}", (Mod(ModOp.REPLACE, "certStatus", ("REVOKED",)),))
    assert code(directory, revoke) is ResultCode.SUCCESS
    assert directory.entry("ds1", f"cn=3,{RECORDS_KEY}") == {
        "objectclass": ("top",), "cn": ("3",), "certstatus": ("REVOKED",)}
    assert directory.entry("ds1", f"cn=4,{RECORDS_KEY}") == {"objectclass": ("top",), "cn": ("4",)}
    assert directory.numbers("ds1", RECORDS) == [1, 2, 3, 4, 5]
    assert directory.execute(p.LastNumberInRange(RECORDS, 1, 3), replica="ds1",
                             now=0.0).number == 3
    revoked = directory.execute(p.Search(RECORDS, {"certStatus": "revoked"}), replica="ds1",
                                now=0.0)
    assert [dn for dn, _ in revoked.entries] == [f"cn=3,{RECORDS_KEY}"]
    every = directory.execute(p.Search(RECORDS, {"objectClass": "top"}), replica="ds1", now=0.0)
    assert len(every.entries) == 5  # the container itself has no objectClass here
    one = directory.execute(p.Search(RECORDS, {"cn": "4"}), replica="ds1", now=0.0)
    assert [dn for dn, _ in one.entries] == [f"cn=4,{RECORDS_KEY}"]
    assert code(directory, p.Delete(f"cn=3,{RECORDS}")) is ResultCode.SUCCESS
    assert code(directory, p.Delete(f"cn=4,{RECORDS}")) is ResultCode.SUCCESS
    assert directory.numbers("ds1", RECORDS) == [1, 2, 5]


def test_records_with_other_shapes_are_full_entries():
    directory = world()
    code(directory, record(1, cn="1", serialno="011"))  # the container's shape
    code(directory, record(2, serialno="0202"))  # not Dogtag's encoding: overlay
    code(directory, record(3, cn="3", serialno="013"))
    assert directory.entry("ds1", f"cn=3,{RECORDS}") == {
        "objectclass": ("top",), "cn": ("3",), "serialno": ("013",)}
    assert directory.entry("ds1", f"cn=2,{RECORDS}") == {
        "objectclass": ("top",), "serialno": ("0202",), "cn": ("2",)}
    assert directory.numbers("ds1", RECORDS) == [1, 2, 3]


def test_replicated_records_and_record_naming_conflicts():
    directory = world(("ds1", "ds2"), lag=1.0)
    for n in range(1, 6):
        code(directory, record(n), "ds1", now=float(n))
    revoke = p.Modify(f"cn=5,{RECORDS}", (Mod(ModOp.REPLACE, "certStatus", ("REVOKED",)),))
    for n in range(4, 9):
        code(directory, record(n), "ds2", now=n + 0.5)  # 4 and 5 collide
        if n == 5:  # ds2 revokes its own record 5, the later one, before ds1's arrives
            assert code(directory, revoke, "ds2", now=5.7) is ResultCode.SUCCESS
    directory.settle(now=20.0)
    assert directory.numbers("ds1", RECORDS) == directory.numbers("ds2", RECORDS) == [
        *range(1, 9)]
    assert sorted((c.dn, c.replica) for c in directory.conflicts) == [
        (f"cn=4,{RECORDS_KEY}", "ds1"), (f"cn=4,{RECORDS_KEY}", "ds2"),
        (f"cn=5,{RECORDS_KEY}", "ds1"), (f"cn=5,{RECORDS_KEY}", "ds2")]
    losers = [attrs for _, attrs in same_everywhere(directory) if "nsds5replconflict" in attrs]
    assert sorted(attrs.get("certstatus", ("-",)) for attrs in losers) == [("-",), ("REVOKED",)]
    assert directory.entry("ds1", f"cn=5,{RECORDS}") == {"objectclass": ("top",), "cn": ("5",)}
    assert directory.converged()


def test_record_csns_are_forgotten_once_stable():
    directory = world(("ds1", "ds2", "ds3"), lag=0.5)
    for n in range(20_000):
        code(directory, record(n), f"ds{n % 3 + 1}", now=n / 1000)
    kept_in_flight = sum(len(s.csns) for r in directory._replicas for s in r.stores.values())
    assert kept_in_flight < 3 * 8192  # bounded by what is still in flight, not by the total
    directory.settle(now=30.0)
    assert directory.numbers("ds3", RECORDS) == list(range(20_000)) and directory.converged()


# ------------------------------------------------------------ delivery order independence
REPLICAS = ("ds1", "ds2", "ds3")
replica = st.sampled_from(REPLICAS)
operation = st.one_of(
    st.tuples(st.just("cas"), replica, st.sampled_from(["20", "30", "40"])),
    st.tuples(st.just("add_value"), replica, st.sampled_from(["20", "30", "40"])),
    st.tuples(st.just("delete_value"), replica, st.sampled_from(["13", "20", "30"])),
    st.tuples(st.just("host"), replica, st.sampled_from(["a", "b", "c"])),
    st.tuples(st.just("range"), replica, st.integers(1, 3)),
    st.tuples(st.just("end_range"), replica, st.integers(1, 3)),
    st.tuples(st.just("drop_range"), replica, st.integers(1, 3)),
    st.tuples(st.just("drop_conflict"), replica, st.integers(1, 3)),
    st.tuples(st.just("record"), replica, st.integers(1, 8)),
    st.tuples(st.just("revoke"), replica, st.integers(1, 8)),
    st.tuples(st.just("drop_record"), replica, st.integers(1, 8)),
    st.tuples(st.just("deliver"), replica, replica, st.integers(1, 3)),
)


faults = st.one_of(
    st.tuples(st.just("lag"), replica, replica, st.sampled_from([None, 0.0, 0.5, 3.0])),
    st.tuples(st.just("cut"), replica, replica),
    st.tuples(st.just("heal"), replica, replica),
    st.tuples(st.just("down"), replica, st.just(0)),
    st.tuples(st.just("up"), replica, st.just(0)),
)


def fault(directory: ReplicatedDirectory, kind: str, name: str, arg, now: float) -> None:
    if kind == "lag":
        if name != arg[0]:
            directory.set_lag(name, arg[0], arg[1], now=now)
    elif kind in ("cut", "heal"):
        if name != arg[0]:
            getattr(directory, kind)(name, arg[0], now=now)
    else:
        getattr(directory, kind)(name, now=now)


def play(directory: ReplicatedDirectory, script: list[tuple]) -> None:
    """Run writes on random replicas; deliver single links in random order."""
    for step, (kind, name, *args) in enumerate(script):
        now = step / 4
        arg = args[0]
        if kind == "deliver":
            if name != arg:
                directory.deliver(name, arg, now=now, count=args[1])
            continue
        if kind in ("lag", "cut", "heal", "down", "up"):
            fault(directory, kind, name, args, now)
            continue
        if kind == "cas":
            current = directory.entry(name, COUNTER).get("nextrange", ())
            command: p.Command = cas(current[0], arg) if current else p.Read(BASE)
        elif kind == "add_value":
            command = p.Modify(COUNTER, (Mod(ModOp.ADD, "nextRange", (arg,)),))
        elif kind == "delete_value":
            command = p.Modify(COUNTER, (Mod(ModOp.DELETE, "nextRange", (arg,)),))
        elif kind == "host":
            command = p.Modify(COUNTER, (Mod(ModOp.REPLACE, "host", (arg,)),))
        elif kind == "range":
            command = pki_range(arg, name)
        elif kind == "end_range":
            command = p.Modify(f"cn={arg},{RANGES}", (Mod(ModOp.REPLACE, "endRange", (name,)),))
        elif kind == "drop_range":
            command = p.Delete(f"cn={arg},{RANGES}")
        elif kind == "drop_conflict":
            hits = directory.execute(p.Search(RANGES, {"nsds5ReplConflict": "*"}),
                                     replica=name, now=now).entries
            command = p.Delete(hits[arg % len(hits)][0]) if hits else p.Read(BASE)
        elif kind == "record":
            command = record(arg)
        elif kind == "revoke":
            command = p.Modify(f"cn={arg},{RECORDS}",
                               (Mod(ModOp.REPLACE, "certStatus", (f"REVOKED-{name}",)),))
        else:
            command = p.Delete(f"cn={arg},{RECORDS}")
        directory.execute(command, replica=name, now=now)
    directory.settle(now=len(script) / 4)


@settings(max_examples=300, deadline=None)
@given(st.lists(operation, max_size=60))
def test_any_interleaving_and_delivery_order_converges(script):
    directory = world(REPLICAS, lag=None)
    play(directory, script)
    assert directory.pending() == 0
    assert directory.converged()
    same_everywhere(directory)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(operation, faults), max_size=80))
def test_lag_partitions_and_outages_converge_once_healed(script):
    directory = world(REPLICAS, lag=0.5)
    play(directory, script)
    directory.heal_all(now=1000.0)
    for name in REPLICAS:
        directory.up(name, now=1000.0)
    directory.set_all_lag(1.0, now=1000.0)
    for name in REPLICAS:  # automatic delivery, no deliver(): everything arrives by 1001
        directory.entry(name, BASE, now=1001.0)
    assert directory.pending() == 0
    assert directory.converged()


@settings(max_examples=150, deadline=None)
@given(st.lists(operation, max_size=60))
def test_forgetting_stable_record_csns_changes_nothing(script):
    """Record CSNs are dropped once stable; the outcome must be the same."""
    keep, forget = world(REPLICAS, lag=None), world(REPLICAS, lag=None)
    forget._purge_min = forget._purge_at = 1  # purge at every record write
    play(keep, script)
    play(forget, script)
    assert forget.converged()
    assert forget.entries("ds1") == keep.entries("ds1")


# ------------------------------------------------------------ record runs (batched requests)
def _attrs(n: int) -> dict:
    return dict(TOP)


ATTRS = {RECORDS: _attrs}


def test_a_record_run_is_the_same_as_the_adds_one_by_one():
    one_by_one, at_once = world(), world()
    for directory in (one_by_one, at_once):
        for n in (1, 2, 3, 9, 30, 31):  # the first add sets the container's record shape
            code(directory, record(n))
    for n in range(4, 9):
        code(one_by_one, record(n), now=5.0)
    for n in range(10, 30):
        code(one_by_one, record(n), now=7.0)
    assert at_once.can_add_records([("ds1", RECORDS, 4, 8), ("ds1", RECORDS, 10, 29)], ATTRS)
    at_once.add_records("ds1", RECORDS, 4, 8, now=5.0)
    at_once.add_records("ds1", RECORDS, 10, 29, now=7.0)
    assert at_once.entries("ds1") == one_by_one.entries("ds1")
    assert at_once.numbers("ds1", RECORDS) == list(range(1, 32))
    # the CSNs the adds would have taken: the next write gets the same one
    assert at_once._csn(at_once._replicas[0], 8.0) == one_by_one._csn(one_by_one._replicas[0],
                                                                       8.0)


def test_a_replicated_record_sequence_is_the_same_as_the_adds_one_by_one():
    one_by_one, at_once = world(("ds1", "ds2", "ds3"), lag=0.5), world(("ds1", "ds2", "ds3"),
                                                                         lag=0.5)
    adds = [("ds1" if n % 3 else "ds2", RECORDS, n, n / 10) for n in range(1, 40)]
    for directory in (one_by_one, at_once):
        code(directory, record(1000), replica="ds3")
        directory.settle(now=0.0)
    assert at_once.can_add_records([("ds1", RECORDS, 1, 39), ("ds2", RECORDS, 1, 39)], ATTRS) \
        is False  # two runs share numbers
    assert at_once.can_add_records([("ds1", RECORDS, 1, 39)], ATTRS)
    for replica, _, n, now in adds:
        code(one_by_one, record(n), replica=replica, now=now)
    at_once.add_record_sequence(adds)
    for directory in (one_by_one, at_once):
        assert directory.pending() > 0
    for name in ("ds1", "ds2", "ds3"):
        assert at_once.entries(name, now=3.0) == one_by_one.entries(name, now=3.0)
    assert at_once.converged() == one_by_one.converged()
    assert at_once._csn(at_once._replicas[0], 9.0) == one_by_one._csn(one_by_one._replicas[0],
                                                                       9.0)


def test_a_record_run_is_refused_when_an_add_would_not_be_a_plain_success():
    directory = world()
    code(directory, record(5))
    assert not directory.can_add_records([("ds1", RECORDS, 1, 5)], ATTRS)  # 5 exists
    assert not directory.can_add_records([("ds1", RECORDS, 6, 9)],
                                         {RECORDS: lambda n: {"cn": (str(n),)}})
    revoke = p.Modify(f"cn=5,{RECORDS}", (Mod(ModOp.REPLACE, "certStatus", ("REVOKED",)),))
    code(directory, revoke)  # 5 now in the overlay
    assert not directory.can_add_records([("ds1", RECORDS, 5, 6)], ATTRS)
    assert directory.can_add_records([("ds1", RECORDS, 6, 9)], ATTRS)
    assert not directory.can_add_records([("ds1", "ou=missing,o=t", 6, 9)],
                                         {"ou=missing,o=t": _attrs})
    directory.down("ds1", now=1.0)
    assert not directory.can_add_records([("ds1", RECORDS, 6, 9)], ATTRS)
    replicated = world(("ds1", "ds2"), lag=1.0)
    code(replicated, record(1))
    replicated.settle(now=2.0)
    code(replicated, record(7), replica="ds2", now=3.0)  # in flight to ds1
    assert not replicated.can_add_records([("ds1", RECORDS, 6, 9)], ATTRS)
    assert replicated.can_add_records([("ds1", RECORDS, 8, 9)], ATTRS)
    assert replicated.in_flight() == 1
