"""Audit a real 389-DS pair after Dogtag's race, live and through ldapsearch -LLL:
the conflict entries 389-DS made of the duplicated range and serial records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from live import SIZE, ldapsearch_export, race_run

from pkisim.cli import main
from pkisim.testing.servers.ds389 import DS_MANAGER_DN, Ds389Pair

pytestmark = pytest.mark.ds389


def test_race_on_389ds(ds389: Ds389Pair, tmp_path: Path,
                       capsys: pytest.CaptureFixture[str]) -> None:
    run = race_run(ds389, tmp_path)
    pw = tmp_path / "pw"
    pw.write_text(ds389.password)
    reports = []
    for index, url in enumerate(ds389.url):
        live = tmp_path / f"live{index}.json"
        status = main(["audit", "--url", url, "--bind-dn", DS_MANAGER_DN, "--password-file",
                             str(pw), *run.cs_args(), "--json", str(live), "--horizon", "0s"])
        export = ldapsearch_export(url, DS_MANAGER_DN, pw, ds389.base,
                                   tmp_path / f"ds{index + 1}.ldif")
        exported = tmp_path / f"x{index}.json"
        assert main(["audit", "--ldif", str(export), *run.cs_args(), "--json", str(exported),
                           "--horizon", "0s"]) == status == 1
        out, err = capsys.readouterr()
        assert err == "" and ds389.password not in out
        assert ds389.password not in live.read_text()
        reports.append(json.loads(live.read_text()))
        assert json.loads(exported.read_text())["findings"] == reports[-1]["findings"]
    report = reports[0]
    assert reports[1]["findings"] == report["findings"]  # the servers converged
    codes = {f["code"] for f in report["findings"]}
    assert codes == {"replication-conflict", "duplicate-range", "cscfg-overlap",
                     "cscfg-held-elsewhere", "duplicate-serial"}, report["findings"]
    # both claims are there: the surviving record and the conflict entry
    ranges = [(r["begin_range"], r["end_range"], r["host"]) for r in report["ranges"]
              if r["kind"] == "cert"]
    assert set(ranges) == run.claims and len(ranges) == 2
    assert sum(r["conflict"] is not None for r in report["ranges"]) == 1
    # nextRange converged to the one value both CAS wrote
    assert [c["values"] for c in report["next_range"] if c["kind"] == "cert"] == \
        [[2 * SIZE + 1 + SIZE]]
    dup = next(f for f in report["findings"] if f["code"] == "duplicate-serial")
    assert int(dup["message"].split()[0]) >= SIZE // 2
