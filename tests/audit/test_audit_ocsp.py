"""``pkisim audit`` reads CRL issuing points: the CA's and the OCSP's (issue 16, item 6)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from builders import DAY, END, Export, gtime

from pkisim.audit import ForecastOptions, read_ldif_deployment
from pkisim.audit.report import audit
from pkisim.cli import main
from pkisim.errors import ConfigError
from pkisim.ids import protocol as p
from pkisim.ids.config import IdKind, pkispawn_defaults
from pkisim.ids.tree import DogtagTree
from pkisim.testing.servers.ds389 import DS_MANAGER_DN, Ds389Pair
from pkisim.testing.servers.slapd import Slapd

HOUR = 3600.0


def _point(export: Export, dn: str, number: int | str, this: float, next_: float) -> None:
    export.add(dn, [("objectClass", "top"), ("objectClass", "crlIssuingPointRecord"),
                    ("cn", dn.split(",")[0].split("=", 1)[1]), ("crlNumber", str(number)),
                    ("crlSize", "42"), ("thisUpdate", gtime(this)), ("nextUpdate", gtime(next_)),
                    ("certificateRevocationList", "\0AAEC")], this)


def _ocsp_only(tmp_path: Path, next_update: float) -> Path:
    """An OCSP database: its replica-ID counter and range, one issuing point."""
    export = Export(base="o=pki-tomcat-OCSP")
    export.skeleton({export.tree.counter_dn(IdKind.REPLICA, "legacy2"): [1100]})
    export.range_record(IdKind.REPLICA, "legacy2", 1000, 1099, "ocsp2.example.com")
    export.add(f"ou=ocsp,{export.base}", [("objectClass", "top"),
                                          ("objectClass", "organizationalUnit"), ("ou", "ocsp")])
    _point(export, f"cn=CA Signing Certificate,ou=crlIssuingPoints,ou=ocsp,{export.base}", 17,
           next_update - 4 * HOUR, next_update)
    path = tmp_path / "ocsp.ldif"
    path.write_text(export.text())
    return path


def test_an_ocsp_database_is_read_and_its_expired_crl_is_a_problem(tmp_path: Path) -> None:
    path = _ocsp_only(tmp_path, next_update=END - DAY)
    dep = read_ldif_deployment(path)
    assert [(p.owner, p.number) for p in dep.crl_points] == [("ocsp", 17)]
    assert dep.counters[0].kind is IdKind.REPLICA  # the OCSP's replica-ID counter
    assert not dep.unknown  # the issuing point's attributes are Dogtag's schema
    report = audit(dep, ForecastOptions(now=END))
    codes = [f.code for f in report.problems]
    assert codes == ["crl-past-next-update"]
    assert "expired CRL" in report.problems[0].message
    fresh = audit(read_ldif_deployment(_ocsp_only(tmp_path, END + HOUR)), ForecastOptions(now=END))
    assert not fresh.problems
    assert [f.code for f in fresh.findings] == ["crl-issuing-point"]


def test_an_ocsp_behind_the_ca_is_found_in_a_shared_suffix(tmp_path: Path) -> None:
    """FreeIPA-style: the CA and the OCSP in one suffix; the OCSP holds CRL 9,
    the CA generated 12."""
    export = Export(base="o=ipaca")
    export.skeleton({export.tree.counter_dn(IdKind.CERT, "legacy2"): [0x20000001]})
    export.cert(5, END - 2 * DAY)
    export.add(f"ou=ocsp,{export.base}", [("objectClass", "top"),
                                          ("objectClass", "organizationalUnit"), ("ou", "ocsp")])
    export.add(f"ou=crlIssuingPoints,ou=ocsp,{export.base}", [
        ("objectClass", "top"), ("objectClass", "organizationalUnit"), ("ou", "crlIssuingPoints")])
    _point(export, export.tree.crl_record_dn, 12, END - HOUR, END + 3 * HOUR)
    _point(export, f"cn=CA Signing Certificate,ou=crlIssuingPoints,ou=ocsp,{export.base}", 9,
           END - 4 * HOUR, END + HOUR)
    path = tmp_path / "ipaca.ldif"
    path.write_text(export.text())
    out = tmp_path / "audit.json"
    status = main(["audit", "--ldif", str(path), "--json", str(out), "--now",
                   gtime(END)])
    assert status == 1
    report = json.loads(out.read_text())
    assert [p["owner"] for p in report["crl_issuing_points"]] == ["ca", "ocsp"]
    behind = [f for f in report["findings"] if f["code"] == "ocsp-crl-behind"]
    assert len(behind) == 1 and "3 CRL(s) never reached the OCSP" in behind[0]["message"]
    assert not [f for f in report["findings"] if f["code"] == "crl-past-next-update"]


def test_a_bad_crl_number_is_one_line_naming_the_entry(tmp_path: Path) -> None:
    export = Export(base="o=pki-tomcat-OCSP")
    export.skeleton({export.tree.counter_dn(IdKind.REPLICA, "legacy2"): [1000]})
    _point(export, f"cn=x,ou=crlIssuingPoints,ou=ca,{export.base}", "12a", END, END + HOUR)
    path = tmp_path / "bad.ldif"
    path.write_text(export.text())
    with pytest.raises(ConfigError) as info:
        read_ldif_deployment(path)
    assert "crlNumber" in str(info.value) and "bad.ldif:" in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.ldap
def test_a_live_ocsp_database_on_slapd(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The OCSP's database on a real OpenLDAP server, read live: its replica-ID
    counter and its CRL issuing point, whose CRL has expired."""
    base = "o=pki-tomcat-OCSP"
    with Slapd(base=base) as server:
        tree = DogtagTree(base)
        directory = server.directory()
        directory.bootstrap(tree.bootstrap([pkispawn_defaults(IdKind.REPLICA, "legacy2")]))
        attrs = p.normalize_attrs({"objectClass": ("top", "crlIssuingPointRecord"),
                                   "cn": "MasterCRL", "crlNumber": 17,
                                   "thisUpdate": gtime(END - 5 * HOUR),
                                   "nextUpdate": gtime(END - HOUR)})
        for rdn in ("ou=ocsp", "ou=crlIssuingPoints,ou=ocsp"):
            ou = p.normalize_attrs({"objectClass": ("top", "organizationalUnit"),
                                    "ou": rdn.split(",")[0][3:]})
            assert directory.execute(p.Add(tree.dn(rdn), ou), replica="ds1", now=0.0).ok
        point = tree.dn("cn=MasterCRL,ou=crlIssuingPoints,ou=ocsp")
        added = directory.execute(p.Add(point, attrs), replica="ds1", now=0.0)
        assert added.ok, added
        password = tmp_path / "pw"
        password.write_text(server.password)
        password.chmod(0o600)
        out = tmp_path / "live.json"
        status = main(["audit", "--url", server.url, "--bind-dn", server.bind_dn,
                       "--password-file", str(password), "--base", base, "--now", gtime(END),
                       "--json", str(out)])
    capsys.readouterr()
    report = json.loads(out.read_text())
    assert status == 1
    assert [(c["owner"], c["crl_number"])
            for c in report["crl_issuing_points"]] == [("ocsp", 17)]
    assert [f["code"] for f in report["findings"] if f["severity"] == "problem"] == [
        "crl-past-next-update"]
    assert [c["kind"] for c in report["next_range"]] == ["replica"]


@pytest.mark.ds389
def test_an_ocsp_behind_its_ca_on_a_389ds_pair(ds389: Ds389Pair, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """FreeIPA-style shared suffix on real 389-DS supplier pair: the CA's
    MasterCRL (CRL 12) and the OCSP's issuing point (CRL 9) written on ds1,
    audited live on ds2 after replication."""
    tree = DogtagTree(ds389.base)
    first = next(iter(ds389.directories().values()))
    first.bootstrap(tree.bootstrap([pkispawn_defaults(IdKind.REPLICA, "legacy2")]))

    def add(dn: str, attrs: dict[str, object]) -> None:
        assert first.execute(p.Add(dn, p.normalize_attrs(attrs)), replica="ds1", now=0.0).ok

    for rdn in ("ou=ocsp", "ou=crlIssuingPoints,ou=ocsp"):
        add(tree.dn(rdn), {"objectClass": ("top", "organizationalUnit"),
                           "ou": rdn.split(",")[0][3:]})
    for dn, number in ((tree.crl_record_dn, 12),
                       (tree.dn("cn=MasterCRL,ou=crlIssuingPoints,ou=ocsp"), 9)):
        add(dn, {"objectClass": ("top", "crlIssuingPointRecord"), "cn": "MasterCRL",
                 "crlNumber": number, "thisUpdate": gtime(END - HOUR),
                 "nextUpdate": gtime(END + 3 * HOUR)})
    ds389.wait_converged()
    pw = tmp_path / "pw"
    pw.write_text(ds389.password)
    out = tmp_path / "live.json"
    status = main(["audit", "--url", ds389.url[1], "--bind-dn", DS_MANAGER_DN,
                   "--password-file", str(pw), "--base", ds389.base, "--now", gtime(END),
                   "--json", str(out)])
    capsys.readouterr()
    report = json.loads(out.read_text())
    assert status == 1
    assert sorted((c["owner"], c["crl_number"]) for c in report["crl_issuing_points"]) == [
        ("ca", 12), ("ocsp", 9)]
    problems = [f for f in report["findings"] if f["severity"] == "problem"]
    assert [f["code"] for f in problems] == ["ocsp-crl-behind"]
    assert "3 CRL(s)" in problems[0]["message"]
