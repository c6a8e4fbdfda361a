"""A KRA's key IDs and request IDs go through the same core as a CA's serials:
every strategy, the update task on ``kra.keyStatusUpdateInterval``, the clone
transfer, restart recovery, all on the embedded replicated directory
(dogtag-ranges.md sections 0-2: ``dbs.*`` keys, ``dbs.key.id.generator``,
``ou=keyRepository``)."""

from __future__ import annotations

import pytest

from pkisim.directory.memory import ReplicatedDirectory
from pkisim.driver import Driver, Instance
from pkisim.errors import ConfigError
from pkisim.history.history import History, Op
from pkisim.history.ranges import check_ranges
from pkisim.history.uniqueness import check_unique
from pkisim.ids import CSCfg, DogtagTree, IdKind, KraRepositories, load_subsystem, master_configs
from pkisim.ids.layout import CA, KRA
from pkisim.ids.subsystem import CaRepositories
from pkisim.seeding import Seeds

KEY, KREQ, REPLICA = IdKind.KEY, IdKind.KEY_REQUEST, IdKind.REPLICA
SMALL = dict(begin=1, end=40, increment=40, low_water_mark=20, clone_transfer_number=10,
             update_interval=60.0)


class Kra:
    """A KRA topology on the memory directory, driven by the one Driver."""

    def __init__(self, strategy: str, replicas: tuple[str, ...] = ("ds1", "ds2"),
                 lag: float | None = 0.0, ids: dict[str, object] = SMALL) -> None:
        self.now = 0.0
        self.directory = ReplicatedDirectory(replicas, lag=lag)
        self.tree = DogtagTree(KRA.base, KRA)
        self.history = History()
        self.driver = Driver(self.directory, self.history, clock=lambda: self.now)
        self.configs = master_configs(strategy, host="kra1", subsystem=KRA,
                                      overrides={KEY: ids, KREQ: ids})
        self.directory.bootstrap(self.tree.bootstrap(list(self.configs.values())))
        self.kras: list[Instance] = []
        self.install(self.configs, replicas[0])

    def install(self, configs, replica: str) -> Instance:
        name = f"kra{len(self.kras) + 1}"
        kra = self.driver.instance(name, replica)
        self.driver.attach(kra, KraRepositories(name, configs, self.tree,
                                                streams=Seeds(7).random))
        self.driver.run(kra, kra.repos.start())
        self.kras.append(kra)
        return kra

    def clone(self, donor: Instance, replica: str) -> Instance:
        configs = self.driver.run(donor, donor.repos.transfer_to_clone(
            host=f"kra{len(self.kras) + 1}"))
        return self.install(configs, replica)

    def archive(self, kra: Instance, n: int) -> list[int]:
        """``n`` archivals: a KRA request ID, then a key ID, each record stored."""
        keys = []
        for _ in range(n):
            self.now += 1.0
            self.driver.issue(kra, KREQ)
            keys.append(self.driver.issue(kra, KEY)[0])
        return keys

    def update_task(self, kra: Instance) -> None:
        self.driver.run(kra, kra.repos.update_task())


def test_a_kra_database_has_dogtag_s_layout() -> None:
    tree = DogtagTree(KRA.base, KRA)
    configs = master_configs("legacy", host="kra1", subsystem=KRA)
    adds = {a.dn: a.attrs for a in tree.bootstrap(list(configs.values()))}
    # pki-server kra-range-update reads the hex dbs.endSerialNumber as decimal, as the CA's does
    assert adds["ou=keyRepository,ou=kra,o=pki-tomcat-KRA"]["nextrange"] == ("10000001",)
    assert adds["ou=kra,ou=requests,o=pki-tomcat-KRA"]["nextrange"] == ("10000001",)
    assert adds["ou=replica,o=pki-tomcat-KRA"]["nextrange"] == ("1000",)
    assert "ou=keyRepository,ou=ranges,o=pki-tomcat-KRA" in adds
    assert not any("certificateRepository" in dn or "ou=ca" in dn for dn in adds)
    assert tree.record_dn(KEY, 10) == "cn=10,ou=keyRepository,ou=kra,o=pki-tomcat-KRA"
    assert tree.record_add(KEY, 10).attrs["objectclass"] == ("top", "keyRecord")
    v2 = DogtagTree(KRA.base, KRA).counter_dn(KEY, "legacy2")
    assert v2 == "ou=keyRepository,ou=ranges_v2,o=pki-tomcat-KRA"


def test_kra_configs_follow_dogtag() -> None:
    legacy = master_configs("legacy", subsystem=KRA)
    assert legacy[KEY].fmt(legacy[KEY].end) == "10000000"  # dbs.key.id.radix 16, as serials
    assert legacy[KREQ].fmt(legacy[KREQ].end) == "10000000"  # decimal
    # RSNv1 is a certificate-repository option: a KRA's keys stay sequential
    assert {c.strategy for c in master_configs("legacy-random", subsystem=KRA).values()} \
        == {"legacy"}
    assert master_configs("random", subsystem=KRA)[KEY].strategy == "random"
    with pytest.raises(ConfigError, match=r"kra\.keyStatusUpdateInterval"):
        legacy[KEY].evolve(update_interval=-1)


def test_a_kra_cs_cfg_loads_with_its_own_keys() -> None:
    cfg = CSCfg.parse("dbs.key.id.generator=legacy\ndbs.request.id.generator=legacy\n"
                      "dbs.beginSerialNumber=1\ndbs.endSerialNumber=ff\n"
                      "dbs.serialIncrement=100\ndbs.serialLowWaterMark=20\n"
                      "dbs.beginRequestNumber=1\ndbs.endRequestNumber=99\n"
                      "dbs.requestIncrement=100\ndbs.requestLowWaterMark=20\n"
                      "dbs.enableSerialManagement=true\nkra.keyStatusUpdateInterval=30\n"
                      "ca.serialNumberUpdateInterval=999\n", source="kra/CS.cfg")
    spaces = load_subsystem(cfg, KRA)
    assert set(spaces) == {KEY, KREQ, REPLICA}
    assert (spaces[KEY].end, spaces[KREQ].end) == (0xFF, 99)  # hex keys, decimal requests
    assert spaces[KEY].update_interval == 30  # the KRA's key, not the CA's
    random = CSCfg.parse("dbs.key.id.generator=random\ndbs.key.id.length=96\n")
    assert load_subsystem(random, KRA)[KEY].strategy == "random"
    assert load_subsystem(random, KRA)[KEY].id_length == 96
    bad = CSCfg.parse("dbs.key.id.generator=sequential\n", source="kra/CS.cfg")
    with pytest.raises(ConfigError, match=r"kra/CS.cfg.*dbs.key.id.generator"):
        load_subsystem(bad, KRA)


def test_ca_repositories_are_the_ca_case() -> None:
    ca = CaRepositories("ca1", master_configs("legacy2"), streams=Seeds(1).random)
    kra = KraRepositories("kra1", master_configs("legacy2", subsystem=KRA),
                          streams=Seeds(1).random)
    assert ca.subsystem is CA and ca.main is ca.cert and ca.request is ca[IdKind.REQUEST]
    assert kra.main is kra.key and kra.request is kra[KREQ]
    assert [r.kind for r in kra] == [KREQ, KEY, REPLICA]  # Dogtag's start-up order
    with pytest.raises(ConfigError, match="missing for KRA"):
        KraRepositories("kra2", master_configs("legacy2"), streams=Seeds(1).random)
    with pytest.raises(ConfigError, match="not a kra"):
        KraRepositories("kra3", master_configs("legacy2", subsystem=KRA), DogtagTree(),
                        streams=Seeds(1).random)


@pytest.mark.parametrize("strategy", ["legacy", "legacy2", "legacy-random", "random", "dna"])
def test_master_and_clone_archive_unique_key_ids(strategy: str) -> None:
    kra = Kra(strategy, ids=dict(SMALL, end=400, increment=400, low_water_mark=100,
                                 clone_transfer_number=50))
    master = kra.kras[0]
    clone = kra.clone(master, "ds2")
    keys = kra.archive(master, 15) + kra.archive(clone, 15)
    for node in kra.kras:
        kra.update_task(node)
    keys += kra.archive(master, 30) + kra.archive(clone, 30)
    kra.directory.settle(now=kra.now)
    assert len(set(keys)) == len(keys) == 90
    for op in (Op.ISSUE_KEY, Op.ISSUE_KEY_REQUEST):
        assert check_unique(kra.history, op).duplicated_count == 0
    assert check_ranges(kra.history).valid
    on_ds2 = kra.directory.numbers("ds2", kra.tree.records_dn(KEY))
    assert sorted(on_ds2) == sorted(keys)  # every archived key record on every replica
    if strategy == "random":
        assert max(keys) > 2**64  # dbs.key.id.length random bits, no ranges
    elif strategy != "dna":
        assert clone.repos.key.config.begin != master.repos.key.config.begin  # a slice


def test_the_update_task_claims_key_ranges_through_next_range() -> None:
    kra = Kra("legacy2")
    master = kra.kras[0]
    clone = kra.clone(master, "ds2")  # serial management on: claims may happen
    kra.archive(clone, 5)
    before = kra.directory.entry("ds1", kra.tree.counter_dn(KEY, "legacy2"))["nextrange"]
    kra.update_task(clone)
    assert clone.repos.key.next_begin == int(before[0])  # claimed the shared counter
    kra.directory.settle(now=kra.now)
    records = kra.directory.entries("ds1", kra.tree.range_container_dn(KEY, "legacy2"))
    assert any(attrs["host"] == ("kra2",) for _, attrs in records)
    claims = [e for e in kra.history.events if e.op is Op.CLAIM]
    assert {e.kind for e in claims} >= {KEY, KREQ}


def test_a_restarted_kra_resumes_after_its_replica_s_last_key() -> None:
    kra = Kra("legacy")
    master = kra.kras[0]
    keys = kra.archive(master, 7)
    master.repos.restart(Seeds(9).random)
    kra.driver.run(master, master.repos.start())
    assert kra.archive(master, 1) == [max(keys) + 1]


def test_a_partition_during_key_claims_duplicates_key_ids_under_legacy() -> None:
    """Two clones installed on two replicas cut off from each other: each
    clone's start-up claims a next key range from its own replica's
    ``nextRange`` (its transferred slice is below the low-water mark), both
    get the same range, and then hand out the same key IDs."""
    kra = Kra("legacy", lag=None)  # replication held until delivered
    master = kra.kras[0]
    kra.directory.settle(now=0.0)
    kra.directory.partition([["ds1"], ["ds2"]], now=kra.now)
    a, b = kra.clone(master, "ds1"), kra.clone(master, "ds2")
    assert a.repos.key.next_begin == b.repos.key.next_begin  # the same range, twice
    kra.archive(a, 12)
    kra.archive(b, 12)
    result = check_unique(kra.history, Op.ISSUE_KEY)
    assert result.duplicated_count > 0
    assert not check_ranges(kra.history).valid  # two KRAs held one range


def test_random_key_ids_stay_unique_under_the_same_partition() -> None:
    kra = Kra("random", lag=None)
    master = kra.kras[0]
    kra.directory.settle(now=0.0)
    kra.directory.partition([["ds1"], ["ds2"]], now=kra.now)
    for node in (kra.clone(master, "ds1"), kra.clone(master, "ds2")):
        kra.update_task(node)
        kra.archive(node, 50)
    assert check_unique(kra.history, Op.ISSUE_KEY).duplicated_count == 0
