"""A clone transfer larger than the donor's next range: Dogtag writes
``dbs.nextEndSerialNumber`` below ``dbs.nextBeginSerialNumber``.  The audit reads
that CS.cfg (pkisim refused it with a ConfigError before) and reports it."""

from __future__ import annotations

import json
from pathlib import Path

from builders import Export, cs_cfg

from pkisim.cli import main
from pkisim.ids import protocol as p
from pkisim.ids.config import IdKind
from pkisim.ids.subsystem import master_configs, new_repository

CA1, CA2, CA3 = "ca1.example.com", "ca2.example.com", "ca3.example.com"
INC = 0x1000


def test_a_next_range_overrun_by_a_transfer_is_read_and_reported(tmp_path: Path) -> None:
    overrides = {IdKind.CERT: dict(begin=1, end=INC, increment=INC, low_water_mark=0x100,
                                   clone_transfer_number=0xC00)}
    configs = master_configs("legacy2", host=CA1, serial_management=True, overrides=overrides)
    donor = new_repository(configs[IdKind.CERT], rng=None)
    donor.next_begin, donor.next_end = INC + 1, 2 * INC  # claimed (pkiRange cn=4097)
    donor.last = INC  # the current range is used up: slices come from the next range
    slices = [p.run(donor.clone_transfer(), lambda command: p.OK) for _ in range(2)]
    assert slices == [(0x1401, 0x2000), (0x801, 0x1400)]  # the second reaches below 0x1001
    assert (donor.next_begin, donor.next_end) == (0x1001, 0x800)
    ca1 = {**configs, IdKind.CERT: donor.to_config()}
    clones = [master_configs("legacy2", host=host, serial_management=True, overrides={
        IdKind.CERT: dict(begin=b, end=e, increment=INC, low_water_mark=0x100,
                          clone_transfer_number=0x100)}) for host, (b, e) in zip(
        (CA2, CA3), slices, strict=True)]
    export = Export()
    tree = export.tree
    export.skeleton({tree.counter_dn(IdKind.CERT, "legacy2"): [2 * INC + 1],
                     tree.counter_dn(IdKind.REQUEST, "legacy2"): [10000001],
                     tree.counter_dn(IdKind.REPLICA, "legacy2"): [1000]})
    export.range_record(IdKind.CERT, "legacy2", INC + 1, 2 * INC, CA1)
    ldif = tmp_path / "o=pki-tomcat.ldif"
    ldif.write_text(export.text())
    paths = [cs_cfg(tmp_path / "ca1-CS.cfg", CA1, ca1, clone=False),
             cs_cfg(tmp_path / "ca2-CS.cfg", CA2, clones[0], clone=True),
             cs_cfg(tmp_path / "ca3-CS.cfg", CA3, clones[1], clone=True)]
    assert "dbs.nextEndSerialNumber=0x800" in paths[0].read_text()
    out = tmp_path / "report.json"
    args = ["--ldif", str(ldif), "--json", str(out)]
    for path in paths:
        args += ["--cs-cfg", str(path)]
    status = main(["audit", *args])
    report = json.loads(out.read_text())
    assert status == 1
    found = {f["code"]: f["message"] for f in report["findings"]}
    assert "cscfg-next-overrun" in found, found
    assert found["cscfg-next-overrun"].startswith(
        "ca1.example.com's dbs.nextEndSerialNumber 0x800 is 2049 below "
        "dbs.nextBeginSerialNumber 0x1001")
    # ca3's slice reaches into ca1's current range, and holds the number ca1's
    # switch would issue (0x1001)
    overlaps = [f["message"] for f in report["findings"] if f["code"] == "cscfg-overlap"]
    assert any("ca1.example.com's current range" in m and "ca3" in m for m in overlaps), overlaps
    assert any("ca1.example.com's next range 0x1001-0x1001" in m for m in overlaps), overlaps
