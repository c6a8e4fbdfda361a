"""``pkisim audit`` of a KRA: its database (``ou=keyRepository,ou=kra``, the
KRA's own ``nextRange`` and ``pkiRange`` entries, ``ou=kra,ou=requests``) and
its CS.cfg (``cs.type=KRA``, key IDs under ``dbs.*SerialNumber``).

The deployment is made by the core itself: a KRA master and two clones on the
embedded replicated directory, the clones installed while the replicas are
partitioned (both claim the same key range), then exported as LDIF."""

from __future__ import annotations

import json
from pathlib import Path

from pkisim.audit.source import load_cas, read_ldif_deployment
from pkisim.cli import main
from pkisim.directory.memory import ReplicatedDirectory
from pkisim.driver import Driver, Instance
from pkisim.history.history import History
from pkisim.ids import CSCfg, DogtagTree, IdKind, KraRepositories, master_configs, store_id_space
from pkisim.ids.layout import KRA
from pkisim.seeding import Seeds

KEY, KREQ = IdKind.KEY, IdKind.KEY_REQUEST
SMALL = dict(begin=1, end=0x40, increment=0x40, low_water_mark=0x20, clone_transfer_number=0x10)


def build(folder: Path, *, partition: bool) -> tuple[Path, list[Path]]:
    """The KRA database as LDIF and the three KRAs' CS.cfg files."""
    now = [0.0]
    directory = ReplicatedDirectory(("ds1", "ds2"), lag=None)
    tree = DogtagTree(KRA.base, KRA)
    driver = Driver(directory, History(), clock=lambda: now[0])
    configs = master_configs("legacy", host="kra1", subsystem=KRA,
                             overrides={KEY: SMALL, KREQ: SMALL})
    directory.bootstrap(tree.bootstrap(list(configs.values())))
    kras: list[Instance] = []

    def install(name: str, replica: str, configs) -> Instance:
        kra = driver.instance(name, replica)
        driver.attach(kra, KraRepositories(name, configs, tree, streams=Seeds(1).random))
        driver.run(kra, kra.repos.start())
        kras.append(kra)
        return kra

    master = install("kra1", "ds1", configs)
    if partition:
        directory.partition([["ds1"], ["ds2"]], now=0.0)
    for name, replica in (("kra2", "ds1"), ("kra3", "ds2")):
        install(name, replica, driver.run(master, master.repos.transfer_to_clone(host=name)))
        if not partition:
            directory.settle(now=0.0)
    for kra in kras[1:]:
        for _ in range(24):  # through the slice into the claimed range
            now[0] += 60.0
            driver.issue(kra, KREQ)
            driver.issue(kra, KEY)
    directory.heal_all(now=now[0])
    directory.settle(now=now[0] + 10)
    ldif = folder / "kra.ldif"
    lines = []
    for dn, attrs in directory.entries("ds1", KRA.base):
        lines.append(f"dn: {dn}")
        lines += [f"{name}: {value}" for name, values in attrs.items() for value in values]
        lines.append("")
    ldif.write_text("\n".join(lines) + "\n")
    paths = []
    for kra in kras:
        cfg = CSCfg.parse(f"cs.type=KRA\nmachineName={kra.name}\ndbs.key.id.generator=legacy\n"
                          "dbs.request.id.generator=legacy\nkra.keyStatusUpdateInterval=600\n"
                          + ("master.kra.agent.host=kra1\n" if kra is not master else ""))
        for config in kra.repos.configs().values():
            store_id_space(cfg, config)
        path = folder / f"{kra.name}-CS.cfg"
        path.write_text(cfg.text())
        paths.append(path)
    return ldif, paths


def test_a_kra_database_is_read_as_a_kra(tmp_path: Path) -> None:
    ldif, cfgs = build(tmp_path, partition=False)
    dep = read_ldif_deployment(ldif, KRA.base, load_cas(cfgs))
    assert dep.subsystem == "kra"
    assert {c.kind for c in dep.counters} == {KEY, KREQ, IdKind.REPLICA}
    assert {r.kind for r in dep.ranges} >= {KEY, KREQ}  # the clones' claims
    assert {r.kind for r in dep.issued} == {KEY, KREQ}
    assert all(ca.subsystem == "kra" and set(ca.spaces) == {KEY, KREQ, IdKind.REPLICA}
               for ca in dep.cas)
    key_counter = next(c for c in dep.counters if c.kind is KEY)
    assert key_counter.dn.lower().startswith("ou=keyrepository,ou=kra")
    out = tmp_path / "audit.json"
    status = main(["audit", "--ldif", str(ldif), "--base", KRA.base, "--json", str(out),
                   *[a for p in cfgs for a in ("--cs-cfg", str(p))]])
    report = json.loads(out.read_text())
    assert status == 0, report["findings"]
    assert report["records"]["key"]["count"] == 48


def test_partitioned_kra_clones_are_found(tmp_path: Path) -> None:
    ldif, cfgs = build(tmp_path, partition=True)
    out = tmp_path / "audit.json"
    status = main(["audit", "--ldif", str(ldif), "--base", KRA.base, "--json", str(out),
                   *[a for p in cfgs for a in ("--cs-cfg", str(p))]])
    assert status == 1
    findings = json.loads(out.read_text())["findings"]
    codes = {(f["code"], f["kind"]) for f in findings}
    assert ("duplicate-range", "key") in codes  # two pkiRange records of one key range
    assert ("cscfg-overlap", "key") in codes  # kra2's and kra3's CS.cfg hold it both
    assert ("duplicate-serial", "key") in codes  # key IDs with two records
    assert ("replication-conflict", None) in codes
    duplicate = next(f for f in findings if f["code"] == "duplicate-serial" and f["kind"] == "key")
    assert "key IDs have two records" in duplicate["message"] and "0x" in duplicate["message"]


def test_a_kra_cs_cfg_beside_a_ca_database_is_not_compared_with_it(tmp_path: Path) -> None:
    """A CA's and a KRA's replica IDs live in different databases."""
    _, cfgs = build(tmp_path, partition=False)
    kra_cas = load_cas(cfgs)
    ca_cfg = Path(__file__).resolve().parents[2] / "scenarios" / "data" / "master-CS.cfg"
    both = load_cas([ca_cfg, *cfgs])
    assert [c.subsystem for c in both] == ["ca", "kra", "kra", "kra"]
    assert both[1:] == kra_cas
