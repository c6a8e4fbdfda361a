"""Audit real OpenLDAP servers after LdapAllocator runs, live and through slapcat."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from live import Run, clean_run, race_run, slapcat

from pkisim.cli import main
from pkisim.testing.servers.slapd import Slapd, SlapdPair

pytestmark = pytest.mark.ldap


def password_file(folder: Path, password: str) -> Path:
    path = folder / "pw"
    path.write_text(password)  # no newline: ldapsearch -y reads the whole file
    path.chmod(0o600)
    return path


def audit(argv: list[str], out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    status = main(["audit", *argv, "--json", str(out), "--horizon", "0s"])
    _, err = capsys.readouterr()
    assert err == ""
    return status, json.loads(out.read_text())


def same_findings(a: dict, b: dict) -> None:
    """Live and exported audits read the same deployment."""
    for key in ("findings", "next_range", "records", "forecast"):
        assert a[key] == b[key], key
    strip = [{k: v for k, v in r.items() if k != "conflict"} for r in a["ranges"]]
    assert strip == [{k: v for k, v in r.items() if k != "conflict"} for r in b["ranges"]]


def claims_of(report: dict) -> set[tuple[int, int, str]]:
    return {(r["begin_range"], r["end_range"], r["host"]) for r in report["ranges"]
            if r["kind"] == "cert"}


def test_clean_run_on_slapd(slapd: Slapd, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    run: Run = clean_run(slapd.directory, tmp_path)
    live = ["--url", slapd.url, "--bind-dn", slapd.bind_dn, "--password-file",
            str(password_file(tmp_path, slapd.password)), *run.cs_args()]
    status, report = audit(live, tmp_path / "live.json", capsys)
    assert status == 0 and report["findings"] == [], report["findings"]
    assert slapd.password not in (tmp_path / "live.json").read_text()
    assert claims_of(report) == run.claims and len(run.claims) >= 2
    assert report["records"]["cert"]["count"] == run.issued
    export = slapcat(slapd.folder, slapd.base, tmp_path / "slapcat.ldif")
    status, exported = audit(["--ldif", str(export), *run.cs_args()], tmp_path / "x.json", capsys)
    assert status == 0
    same_findings(report, exported)


def test_race_on_a_slapd_pair(slapd_pair: SlapdPair, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    run = race_run(slapd_pair, tmp_path)
    server = slapd_pair.servers[0]
    pw = password_file(tmp_path, server.password)
    live = ["--url", server.url, "--bind-dn", server.bind_dn, "--password-file", str(pw)]
    # OpenLDAP keeps one cn=<counter> record and one record per duplicated serial,
    # and both CAS wrote the same nextRange: the directory alone looks clean ...
    status, alone = audit(live, tmp_path / "alone.json", capsys)
    assert status == 0 and alone["findings"] == []
    assert [len(c["values"]) for c in alone["next_range"] if c["kind"] == "cert"] == [1]
    # ... the CS.cfg files show both CAs holding the one claimed range
    status, report = audit([*live, *run.cs_args()], tmp_path / "live.json", capsys)
    assert status == 1
    assert {f["code"] for f in report["findings"]} == {"cscfg-overlap", "cscfg-held-elsewhere"}
    held = next(f for f in report["findings"] if f["code"] == "cscfg-held-elsewhere")
    (survivor,) = claims_of(report)
    assert survivor in run.claims and held["ca"] != survivor[2]
    for index, server in enumerate(slapd_pair.servers):
        export = slapcat(server.folder, server.base, tmp_path / f"ds{index + 1}.ldif")
        status, exported = audit(["--ldif", str(export), *run.cs_args()],
                                 tmp_path / f"x{index}.json", capsys)
        assert status == 1
        same_findings(report, exported)


def test_wrong_password_is_one_line_without_it(slapd: Slapd, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    secret = "Wrong-Horse-Battery-4471"
    pw = password_file(tmp_path, secret)
    status = main(["audit", "--url", slapd.url, "--bind-dn", slapd.bind_dn, "--password-file",
                         str(pw), "--json", str(tmp_path / "r.json")])
    out, err = capsys.readouterr()
    assert status == 2 and out == ""
    assert err.strip() == f"{slapd.url}: {slapd.bind_dn}: cannot bind: Invalid credentials"
    assert secret not in out + err and not (tmp_path / "r.json").exists()
    status = main(["audit", "--url", slapd.url, "--bind-dn", slapd.bind_dn, "--password-file",
                         str(password_file(tmp_path, slapd.password)), "--base", "o=elsewhere"])
    _, err = capsys.readouterr()
    assert status == 2 and err.strip().startswith(f"{slapd.url}: o=elsewhere: ")
