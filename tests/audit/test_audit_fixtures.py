"""The audit of four realistic exports: clean, a replication race, near exhaustion,
SSNv1 gaps; the JSON report, --now, and the exported scenario (loaded and run)."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from builders import DATA, END, Export, cs_cfg
from deployments import BUILDERS, Written

from pkisim.audit.forecast import Forecast, iso
from pkisim.audit.ldif import read_ldif
from pkisim.audit.report import _runs_out
from pkisim.audit.source import generalized_time
from pkisim.cli import main
from pkisim.ids.config import IdKind
from pkisim.ids.cscfg import CSCfg
from pkisim.ids.subsystem import master_configs
from pkisim.scenario import load_scenario

WEEK = 7 * 86400.0


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Written]:
    root = tmp_path_factory.mktemp("deployments")
    return {name: build(root / name) for name, build in BUILDERS.items()}


def run(w: Written, tmp: Path, *extra: str) -> tuple[int, dict]:
    out = tmp / "report.json"
    status = main(["audit", *w.args(), "--json", str(out), *extra])
    return status, json.loads(out.read_text())


def codes(report: dict) -> set[str]:
    return {f["code"] for f in report["findings"]}


def forecast(report: dict, ca: str, kind: str) -> dict:
    return next(f for f in report["forecast"] if f["ca"].startswith(ca) and f["kind"] == kind)


def test_clean(written: dict[str, Written], tmp_path: Path,
               capsys: pytest.CaptureFixture[str]) -> None:
    status, report = run(written["clean"], tmp_path)
    assert status == 0 and report["verdict"] == "clean" and report["findings"] == []
    assert "no problems found" in capsys.readouterr().out
    assert report["records"]["cert"] == {
        "count": 266, "lowest": 1, "highest": 0xFF001 + 97, "conflicts": 0,
        "first_created": report["records"]["cert"]["first_created"],
        "last_created": report["now"]}
    assert report["records"]["cert"]["first_created"] >= "2026-02-24T12:00:00Z"
    assert report["records"]["request"]["count"] == 266
    assert {(r["host"], r["begin_range"]) for r in report["ranges"]} == {
        ("ca2.example.com", 0x100001), ("ca2.example.com", 1000001)}
    ca1, ca2 = forecast(report, "ca1", "cert"), forecast(report, "ca2", "cert")
    assert ca1["last"] == 168 and ca1["remaining"] == 0xFF000 - 168
    assert ca2["last"] == 0xFF001 + 97
    assert ca2["remaining"] == 0x100000 - (0xFF001 + 97) + 0x100000
    assert ca1["lwm_covers_peak"] is True


def test_replication_race(written: dict[str, Written], tmp_path: Path) -> None:
    status, report = run(written["race"], tmp_path)
    assert status == 1
    assert codes(report) == {"nextrange-multivalued", "nextrange-behind", "replication-conflict",
                             "overlapping-ranges", "cscfg-overlap", "cscfg-held-elsewhere",
                             "duplicate-serial"}
    cert = next(c for c in report["next_range"] if c["kind"] == "cert")
    assert cert["values"] == [0x100001 + 0x80000, 0x200001]
    conflict = [r for r in report["ranges"] if r["conflict"]]
    assert [(r["host"], r["actual"]) for r in conflict] == [("ca3.example.com",
                                                             [0x100001, 0x180000])]
    held = next(f for f in report["findings"] if f["code"] == "cscfg-held-elsewhere")
    assert held["ca"] == "ca3.example.com" and "ca2.example.com:8443" in held["message"]
    dup = next(f for f in report["findings"] if f["code"] == "duplicate-serial")
    assert dup["message"].startswith("20 serials have two records")


def test_near_exhaustion(written: dict[str, Written], tmp_path: Path) -> None:
    status, report = run(written["exhaustion"], tmp_path)
    assert status == 1
    assert codes(report) == {"exhaustion-soon", "low-water-mark"}
    cert = forecast(report, "ca1", "cert")
    assert cert["remaining"] == 0x800 - 1850 and cert["remaining_next"] == 0
    # the forecast's arithmetic, from the export's own record times
    entries = read_ldif(written["exhaustion"].ldif)
    times = [generalized_time(e.first("dateOfCreate") or "") for e in entries
             if "certificaterecord" in e.object_classes]
    now = max(times)
    assert report["now"].startswith("2026-03-10T") and cert["days_left"] < 2
    recent = [t for t in times if now - WEEK < t <= now]
    assert cert["recent"] == len(recent)
    assert cert["rate_per_day"] == pytest.approx(len(recent) / 7)
    buckets: dict[int, int] = {}
    for t in recent:
        buckets[int((now - t) // 3600)] = buckets.get(int((now - t) // 3600), 0) + 1
    peak = max(buckets.values())
    assert cert["peak_rate_per_day"] == pytest.approx(peak * 24)
    assert peak * 600 / 3600 > 0x40 and cert["lwm_covers_peak"] is False
    assert cert["days_left"] == pytest.approx((0x800 - 1850) / (len(recent) / 7))
    request = forecast(report, "ca1", "request")
    assert request["remaining"] == 10000 - 1850 and request["days_left"] > 30


def test_now_moves_the_window(written: dict[str, Written], tmp_path: Path) -> None:
    """Judged two months later, nothing was issued in the window: no rate, no forecast."""
    status, report = run(written["exhaustion"], tmp_path, "--now", "2026-05-10T00:00:00Z")
    assert report["now"] == "2026-05-10T00:00:00Z"
    assert forecast(report, "ca1", "cert")["exhausted_at"] is None
    assert status == 0 and codes(report) == set()


def test_ssnv1_gaps(written: dict[str, Written], tmp_path: Path) -> None:
    status, report = run(written["ssnv1"], tmp_path)
    assert status == 0 and codes(report) == {"ssnv1-gap"}
    gap = report["findings"][0]
    lost = (0x75536 - 0x20001 + 1) + (0x141072 - 0x85537 + 1)
    assert gap["severity"] == "note"
    assert f"2 gaps between claimed certificate ranges, {lost} serials" in gap["message"]
    assert "0x20001-0x75536, 0x85537-0x141072" in gap["message"]
    records = {r["begin_range"]: r["actual"] for r in report["ranges"] if r["kind"] == "cert"}
    assert records == {10001: [0x10001, 0x20000], 75537: [0x75537, 0x85536]}


@pytest.mark.parametrize(("name", "expected"), [("clean", 0), ("ssnv1", 0), ("exhaustion", 0),
                                               ("race", 1)])
def test_exported_scenario_loads_and_runs(written: dict[str, Written], tmp_path: Path,
                                          name: str, expected: int,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / f"{name}.toml"
    main(["audit", *written[name].args(), "--scenario-out", str(out)])
    scenario = load_scenario(out)
    assert len(scenario.cas) == len(written[name].cs_cfg)
    assert scenario.cas[0].role == "master"
    capsys.readouterr()
    # the race's CAs hold the same range: the simulation issues the same serials
    status = main(["run", str(out), "--set", "duration=2d", "--no-plots", "--quiet",
                          "--out", str(tmp_path / "run")])
    assert status == expected, capsys.readouterr()


def test_export_keeps_the_real_parameters(written: dict[str, Written], tmp_path: Path) -> None:
    out = tmp_path / "clean.toml"
    main(["audit", *written["clean"].args(), "--scenario-out", str(out)])
    scenario = load_scenario(out)
    ca2 = scenario.cas[1]
    cert = ca2.ids[IdKind.CERT]
    assert (cert.begin, cert.end) == (0xFF001 + 98, 0x100000)  # what is left of its slice
    assert (cert.next_begin, cert.next_end) == (0x100001, 0x200000)
    assert (cert.increment, cert.low_water_mark) == (0x100000, 0x20000)
    master = scenario.cas[0].ids[IdKind.CERT]
    assert master.begin == 0x200001  # moved above nextRange, same remaining count
    assert master.end - master.begin + 1 == 0xFF000 - 168
    assert "moved to 0x200001-" in out.read_text()


def test_committed_sample_is_the_builder_output(tmp_path: Path) -> None:
    """tests/audit/data/clean holds the clean deployment, as the README shows it."""
    fresh: Callable[[Path], Written] = BUILDERS["clean"]
    w = fresh(tmp_path / "clean")
    for path in (w.ldif, *w.cs_cfg):
        assert (DATA / "clean" / path.name).read_bytes() == path.read_bytes(), path.name


def test_unexplained_range_and_stray_serial(tmp_path: Path) -> None:
    """A next range no claim explains (a hand-edited CS.cfg) and a certificate
    record above every known range (restored from another deployment?)."""
    w = BUILDERS["clean"](tmp_path / "edited")
    cfg = CSCfg.read(w.cs_cfg[1])
    cfg.set("dbs.nextBeginSerialNumber", "0x300001")
    cfg.set("dbs.nextEndSerialNumber", "0x400000")
    cfg.write(w.cs_cfg[1])
    with w.ldif.open("a") as f:
        f.write("\ndn: cn=9437185,ou=certificateRepository,ou=ca,o=pki-tomcat\n"
                "objectClass: top\nobjectClass: certificateRecord\ncn: 9437185\n"
                "serialno: 079437185\ncreateTimestamp: 20260301000000Z\n")
    status, report = run(w, tmp_path)
    assert status == 1
    assert codes(report) == {"cscfg-unexplained", "serial-outside-ranges"}
    messages = {f["code"]: f["message"] for f in report["findings"]}
    assert messages["cscfg-unexplained"].startswith(
        "ca2.example.com's next range 0x300001-0x400000")
    assert messages["serial-outside-ranges"] == \
        "1 serials lie outside every known range: 0x900001"


def test_random_serials_have_no_ranges(tmp_path: Path) -> None:
    """RSNv3: 128-bit serials, no nextRange for certificates: nothing to overlap or
    forecast, and the exported scenario keeps the strategy."""
    export = Export()
    export.skeleton({export.tree.counter_dn(IdKind.REPLICA, "legacy"): [1000]})
    rng = random.Random(5)
    for i in range(50):
        export.request(rng.getrandbits(128), END - i * 3600 - 1)
        export.cert(rng.getrandbits(128), END - i * 3600)
    folder = tmp_path / "rsnv3"
    folder.mkdir()
    (folder / "o=pki-tomcat.ldif").write_text(export.text())
    spaces = master_configs("random", host="ca1.example.com", serial_management=True)
    cfg = cs_cfg(folder / "ca1-CS.cfg", "ca1.example.com", spaces, clone=False)
    w = Written(folder / "o=pki-tomcat.ldif", (cfg,))
    status, report = run(w, tmp_path, "--scenario-out", str(tmp_path / "rsnv3.toml"))
    assert status == 0 and report["findings"] == [] and report["forecast"] == []
    assert report["records"]["cert"]["count"] == 50
    scenario = load_scenario(tmp_path / "rsnv3.toml")
    assert scenario.strategy == "random"
    assert scenario.workload.enroll_rate == pytest.approx(50 / (49 * 3600), rel=1e-3)


def test_pkisim_dispatches_audit(written: dict[str, Written],
                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", *written["race"].args()]) == 1
    assert main(["audit", *written["clean"].args()]) == 0
    assert main(["audit", "--help"]) == 0
    assert "Exit status: 0 no problem, 1 problem found, 2 could not read" in \
        capsys.readouterr().out.replace("\n", " ")


def test_a_run_out_date_past_the_calendar_is_no_date_but_still_days() -> None:
    """pkispawn's 0x10000000-serial range at 12 a day lasts 61,000 years: no
    ISO date (not a traceback): the table says "never (over 10,000 years)", as
    every pkisim forecast beyond that does, and the JSON still says how long."""
    now = 1_773_000_000.0
    remaining = 0x10000000
    rate = 12 / 86400
    f = Forecast("ca1.example.com", IdKind.CERT, "legacy2", 100, 84, rate, 3 / 3600, 100,
                 remaining, 0, 0x2000000, 600.0, True, now, now + remaining / rate)
    assert iso(f.exhausted_at) is None and iso(now) == "2026-03-08T20:00:00Z"
    data = f.to_dict()
    assert data["exhausted_at"] is None and data["days_left"] == pytest.approx(remaining / 12)
    assert _runs_out(f) == "never (over 10,000 years)"
