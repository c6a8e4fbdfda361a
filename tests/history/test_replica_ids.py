"""Replica IDs unique across the whole replication topology (issue 16, item 4)."""

from __future__ import annotations

from pkisim.history.history import Op
from pkisim.history.replica_ids import (
    MAX_REPLICA_ID,
    ReplicaIdAssignment,
    ReplicaIdLedger,
    check_replica_ids,
)
from pkisim.sim import CaSpec, DirectorySpec, Scenario, Simulation, Workload
from pkisim.sim.tks import InstanceSpec, SubsystemSpec


def _a(server: str, rid: int | None, suffix: str = "o=x",
       instance: str = "i") -> ReplicaIdAssignment:
    return ReplicaIdAssignment(0.0, "CA", instance, server, suffix, rid)


def test_checker_finds_duplicates_reassignments_and_out_of_range_ids() -> None:
    result = check_replica_ids([_a("ds1", 1), _a("ds2", 2), _a("ds3", 2, instance="j"),
                                _a("ds1", 7), _a("ds4", MAX_REPLICA_ID + 1),
                                _a("ds5", 2, suffix="o=y"), _a("ds6", None)])
    assert result.counts() == {"duplicate-replica-id": 1, "out-of-range": 1, "reassigned": 1}
    dup = next(v for v in result.violations if v.rule == "duplicate-replica-id")
    assert dup.servers == ("ds2", "ds3") and dup.instances == ("i", "j")
    assert len(result.exhausted) == 1
    # the same ID in another topology (suffix) is no violation
    assert check_replica_ids([_a("ds1", 2), _a("ds2", 2, suffix="o=y")]).valid


def test_ledger_gives_each_server_one_id_from_the_slice() -> None:
    ledger = ReplicaIdLedger()
    numbers = iter(range(96, 101))
    ledger.enable(1.0, "OCSP", "o2", ["ds1", "ds2"], "o=x", lambda: next(numbers))
    ledger.enable(2.0, "OCSP", "o3", ["ds1", "ds3"], "o=x", lambda: next(numbers))
    assert [(a.server, a.replica_id) for a in ledger.assignments] == [
        ("ds1", 96), ("ds2", 97), ("ds3", 98)]


def _run(tks: SubsystemSpec, duration: float = 3600.0, ca_clones: int = 2) -> Simulation:
    replicas = tuple(f"ds{i}" for i in range(1, 7))
    cas = (CaSpec("ca1", "ds1", role="master"),
           *(CaSpec(f"ca{i}", f"ds{i}", donor="ca1", created_at=60.0 * i)
             for i in range(2, 2 + ca_clones)))
    scenario = Scenario("replica-ids", duration=duration, cas=cas,
                        directory=DirectorySpec(replicas), workload=Workload(enroll_rate=0.5),
                        tks=tks)
    world = Simulation(scenario, seed=7)
    world.run()
    return world


def test_clones_of_clones_get_unique_ids_and_claim_a_new_range_when_low() -> None:
    chain = [InstanceSpec("tks1", "ds1", role="master"), InstanceSpec("tks2", "ds2", donor="tks1")]
    chain += [InstanceSpec(f"tks{i}", f"ds{i}", donor=f"tks{i - 1}", created_at=100.0 * i)
              for i in range(3, 7)]
    world = _run(SubsystemSpec("TKS", tuple(chain)))
    result = world.pki.collect()[1]["replica_ids"]
    assert result["valid"], result
    frame = world.pki.ledger.frame()
    tks = frame[frame["subsystem"] == "TKS"]
    assert tks["server"].tolist() == ["ds1", "ds2", "ds3", "ds4", "ds5", "ds6"]
    assert tks["replica_id"].is_unique
    # tks2 had 5 IDs and used 2: its transfer to tks3 claimed a range from ou=replica (1000+)
    assert tks.set_index("server").loc["ds3", "replica_id"] >= 1000
    assert all(world.pki.tks.node(f"tks{i}").serving for i in range(1, 7))  # type: ignore[union-attr]


def test_subsystems_sharing_one_topology_collide_with_default_ranges() -> None:
    """A TKS in the CAs' replicated suffix with its own default range 1-100
    hands its clones the same IDs the CA clones got, on other servers."""
    shared = SubsystemSpec("TKS", (InstanceSpec("tks1", "ds1", role="master"),
                                   InstanceSpec("tks2", "ds4", donor="tks1"),
                                   InstanceSpec("tks3", "ds5", donor="tks1", created_at=30.0)),
                           suffix="o=tks,o=pki-tomcat", topology="o=pki-tomcat")
    world = _run(shared)
    result = world.pki.collect()[1]["replica_ids"]
    assert not result["valid"]
    assert result["violations"]["duplicate-replica-id"] >= 1
    # the same subsystem with a range of its own in that topology is fine
    apart = SubsystemSpec("TKS", shared.instances, suffix=shared.suffix, topology=shared.topology,
                          replica_ids={"begin": 101, "end": 200})
    assert _run(apart).pki.collect()[1]["replica_ids"]["valid"]


def test_many_clones_exhaust_a_range_that_is_never_refilled() -> None:
    """Low-water mark 0: checkRanges never claims, so the master's 100 IDs give
    20 slices of 5; the 21st clone cannot be installed."""
    clones = tuple(InstanceSpec(f"tks{i}", f"ds{1 + i % 6}", donor="tks0", created_at=10.0 * i)
                   for i in range(1, 22))
    spec = SubsystemSpec("TKS", (InstanceSpec("tks0", "ds1", role="master"), *clones),
                         replica_ids={"low_water_mark": 0})
    world = _run(spec, duration=600.0, ca_clones=0)
    summary = world.pki.collect()[1]
    assert summary["replica_ids"]["exhausted"] == 1
    assert not summary["tks"]["tks21"]["installed"]
    assert summary["tks"]["tks20"]["installed"]
    failed = world.pki.ledger.frame().dropna(subset=["detail"])
    assert "no next range" in failed[failed["instance"] == "tks21"]["detail"].iloc[0]


def test_ca_clones_of_clones_take_their_ids_from_their_own_range() -> None:
    """ca3 is a clone of ca2: ca2 used 2 of its 5 IDs, so its transfer to ca3
    comes from a range it claims, not from the IDs it already gave out."""
    replicas = ("ds1", "ds2", "ds3")
    cas = (CaSpec("ca1", "ds1", role="master"), CaSpec("ca2", "ds2", donor="ca1"),
           CaSpec("ca3", "ds3", donor="ca2", created_at=120.0))
    tks = SubsystemSpec("TKS", (InstanceSpec("tks1", "ds1", role="master"),),
                        suffix="o=tks,o=pki-tomcat", topology="o=pki-tomcat-other")
    scenario = Scenario("ca-chain", duration=600.0, cas=cas, directory=DirectorySpec(replicas),
                        workload=Workload(enroll_rate=0.5), tks=tks)
    world = Simulation(scenario, seed=3)
    result = world.run()
    assert result.summary()["replica_ids"]["valid"]
    frame = world.pki.ledger.frame()
    ca = frame[frame["subsystem"] == "CA"].set_index("server")["replica_id"].to_dict()
    assert ca["ds1"] == 96 and ca["ds2"] == 97 and ca["ds3"] >= 1000
    # the CA history records the replica IDs the clones took
    assert world.history.issued_count(Op.ISSUE_REPLICA) == 3
