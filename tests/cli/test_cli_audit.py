"""Bad input: one line naming the file and line (or the server and DN), exit
status 2, nothing written over, and the bind password nowhere."""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "audit"))
from deployments import Written, clean

from pkisim.cli import main
from pkisim.testing.servers.base import free_port

SECRET = "Zebra-Quokka-7731-secret"


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Written:
    return clean(tmp_path_factory.mktemp("clean"))


def fails(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    status = main(["audit", *argv])
    out, err = capsys.readouterr()
    assert status == 2, (out, err)
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_truncated_ldif(deployment: Written, tmp_path: Path,
                        capsys: pytest.CaptureFixture[str]) -> None:
    data = deployment.ldif.read_bytes()
    cut = tmp_path / "cut.ldif"
    cut.write_bytes(data[: len(data) * 3 // 5])
    while cut.read_bytes().endswith(b"\n"):  # cut inside a line, as a full disk does
        cut.write_bytes(cut.read_bytes()[:-1] + b"x")
    last = cut.read_bytes().count(b"\n") + 1
    line = fails(["--ldif", str(cut)], capsys)
    assert line.startswith(f"{cut}:{last}: ") and "truncated" in line
    # cut right after a dn: line, at a line end
    text = deployment.ldif.read_text()
    at = text.index("\ndn: cn=100,ou=certificateRepository") + 1
    cut.write_text(text[:text.index("\n", at) + 1])
    line = fails(["--ldif", str(cut)], capsys)
    dn_line = text[:at].count("\n") + 1
    assert line == f"{cut}:{dn_line}: dn = 'cn=100,ou=certificateRepository,ou=ca,o=pki-tomcat': " \
                   "has no attributes (truncated?)"


def test_unknown_attributes_are_noted_once_each_not_refused(
        deployment: Written, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = deployment.ldif.read_text()
    assert main(["audit", "--ldif", str(deployment.ldif)]) == 0
    clean = capsys.readouterr().out
    at = text.index("SecurePort: 8443\n") + len("SecurePort: 8443\n")
    bad = tmp_path / "bad.ldif"
    # another version's attribute on one pkiRange and on every certificate record
    records = text[at:].count("objectClass: certificateRecord")
    bad.write_text(text[:at] + "rangeOwner: ca9\n" + text[at:].replace(
        "objectClass: certificateRecord\n", "objectClass: certificateRecord\ncertOrigin: x\n"))
    assert records > 1
    json_out = tmp_path / "audit.json"
    assert main(["audit", "--ldif", str(bad), "--json", str(json_out)]) == 0
    out = capsys.readouterr().out
    number = text[:at].count("\n") + 1
    assert (f"NOTE    unknown-attribute: rangeowner on entry of Dogtag object class pkirange "
            f"(first: {bad}:{number}) is not in Dogtag's schema for it: not read") in out
    assert f"certorigin on {records:,} entries of Dogtag object class certificaterecord" in out
    assert out.count("unknown-attribute") == 2
    # everything else is read as before: the same table apart from the notes
    kept = [line for line in out.splitlines() if "unknown-attribute" not in line]
    assert [line.replace(str(bad), "X") for line in kept] == \
        [line.replace(str(deployment.ldif), "X") for line in clean.splitlines()
         if line != "no problems found"]
    notes = [f for f in json.loads(json_out.read_text())["findings"]
             if f["code"] == "unknown-attribute"]
    assert [n["severity"] for n in notes] == ["note", "note"]


def test_dogtags_schema_attributes_are_known() -> None:
    """The attribute lists are Dogtag's schema (base/server/database/ds/schema.ldif)."""
    from pkisim.audit.source import DOGTAG_CLASSES

    record = DOGTAG_CLASSES["certificaterecord"]
    assert {"dateofcreate", "dateofmodify", "notbefore", "notafter", "certstatus",
            "usercertificate", "revinfo", "metainfo", "issuername"} <= record
    assert "datecreate" not in record and "description" not in record  # not in the schema
    assert DOGTAG_CLASSES["pkirange"] == {"cn", "beginrange", "endrange", "host", "secureport"}
    assert DOGTAG_CLASSES["repository"] == {"ou", "serialno", "description", "nextrange",
                                            "publishingstatus"}
    assert {"requestid", "dateofcreate", "requeststate", "realm"} <= DOGTAG_CLASSES["request"]


def test_malformed_values_in_the_directory(deployment: Written, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    text = deployment.ldif.read_text()
    bad = tmp_path / "bad.ldif"
    bad.write_text(text.replace("endRange: 2097152", "endRange: 0x200000", 1))
    number = text[:text.index("endRange: 2097152")].count("\n") + 1
    assert fails(["--ldif", str(bad)], capsys) == \
        f"{bad}:{number}: endrange = '0x200000': is not a decimal number"
    bad.write_text(text.replace("nextRange: 1000\n", "nextRange: lots\n", 1))
    assert "nextRange = 'lots': is not a decimal number" in fails(["--ldif", str(bad)], capsys)
    at = text.index("\ndateOfCreate: ") + len("\ndateOfCreate: ")
    bad.write_text(text[:at] + "20261399000000Z" + text[at + 15:])
    assert "is not an LDAP generalized time" in fails(["--ldif", str(bad)], capsys)
    # the rules of every reader: ports as in CS.cfg, numbers no longer than an ID can be
    bad.write_text(text.replace("SecurePort: 8443\n", "SecurePort: 99999999\n", 1))
    assert "SecurePort = '99999999': is not a TCP port (1-65535)" in \
        fails(["--ldif", str(bad)], capsys)
    huge = "9" * 5000
    for old, new in (("nextRange: 1000\n", f"nextRange: {huge}\n"),
                     ("beginRange: ", f"beginRange: {huge}"),
                     ("dn: cn=1,ou=certificateRepository",
                      f"dn: cn={huge},ou=certificateRepository")):
        assert old in text
        bad.write_text(text.replace(old, new, 1))
        line = fails(["--ldif", str(bad)], capsys)
        assert re.search(r"has 5,0\d\d digits: an ID has at most 1024 bits", line), line
        assert line.startswith(f"{bad}:") and len(line) < 400


def test_malformed_cs_cfg(deployment: Written, tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    text = deployment.cs_cfg[1].read_text()
    bad = tmp_path / "ca2-CS.cfg"
    bad.write_text(text.replace("dbs.endSerialNumber=0x100000", "dbs.endSerialNumber=0x10000g"))
    number = text[:text.index("dbs.endSerialNumber=")].count("\n") + 1
    line = fails(["--ldif", str(deployment.ldif), "--cs-cfg", str(bad)], capsys)
    assert line.startswith(f"{bad}:{number}: dbs.endSerialNumber = '0x10000g': is not")


def test_missing_files_and_bad_arguments(deployment: Written, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.ldif"
    assert fails(["--ldif", str(missing)], capsys).startswith(f"file = '{missing}': cannot be read")
    line = fails(["--url", "ldap://127.0.0.1:1/", "--bind-dn", "cn=x", "--password", SECRET],
                 capsys)
    assert "unrecognized arguments: --password and 1 value (not shown) (see" in line
    assert SECRET not in line
    line = fails(["--url", "ldap://127.0.0.1:1/", "--bind-dn", "cn=x", f"--password={SECRET}"],
                 capsys)
    assert "unrecognized arguments: --password (see" in line
    assert SECRET not in line
    assert "--url needs --bind-dn" in fails(["--url", "ldap://127.0.0.1:1/"], capsys)
    assert "one of the arguments --ldif --url is required" in fails([], capsys)
    assert "--now = 'yesterday'" in fails([*deployment.args(), "--now", "yesterday"], capsys)
    assert "--window = '0s': must be longer than 0" in fails(
        [*deployment.args(), "--window", "0s"], capsys)
    line = fails(["--ldif", str(deployment.ldif), "--scenario-out", str(tmp_path / "s.toml")],
                 capsys)
    assert "needs at least one --cs-cfg" in line and not (tmp_path / "s.toml").exists()


def test_outputs_never_replace_inputs(deployment: Written, capsys: pytest.CaptureFixture[str],
                                      tmp_path: Path) -> None:
    before = deployment.cs_cfg[0].read_bytes()
    line = fails([*deployment.args(), "--json", str(deployment.cs_cfg[0])], capsys)
    assert "--json" in line and "refusing to write over it" in line
    assert deployment.cs_cfg[0].read_bytes() == before
    # a failed audit leaves an existing report as it was
    report = tmp_path / "report.json"
    report.write_text('{"old": true}\n')
    fails(["--ldif", str(tmp_path / "nope.ldif"), "--json", str(report)], capsys)
    assert json.loads(report.read_text()) == {"old": True}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]  # no temporary left


def test_json_to_standard_output_or_a_fifo_in_place(deployment: Written, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["audit", *deployment.args(), "--json", "-"])
    out, err = capsys.readouterr()
    assert status in (0, 1), err
    assert json.loads(out)["exit_status"] == status  # only the JSON on stdout
    assert "\n" in err.strip()  # the table went to stderr
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    assert main(["audit", *deployment.args(), "--json", str(fifo)]) == status
    reader.join(timeout=30)
    assert json.loads(got[0])["exit_status"] == status
    assert fifo.is_fifo()  # written in place, never replaced by a regular file


def test_unreachable_server_names_url_and_dn_not_the_password(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    password = tmp_path / "pw"
    password.write_text(SECRET + "\n")
    url = f"ldap://127.0.0.1:{free_port()}/"
    report = tmp_path / "report.json"
    line = fails(["--url", url, "--bind-dn", "cn=Manager,o=pki-tomcat", "--password-file",
                  str(password), "--json", str(report)], capsys)
    assert line.startswith(f"{url}: cn=Manager,o=pki-tomcat: cannot bind: Can't contact")
    assert SECRET not in line and not report.exists()


def test_password_needs_a_file_or_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    line = fails(["--url", "ldap://127.0.0.1:1/", "--bind-dn", "cn=x"], capsys)
    assert "give --password-file" in line


def test_not_an_ldap_url(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    password = tmp_path / "pw"
    password.write_text(SECRET)
    line = fails(["--url", "ds1.example.com", "--bind-dn", "cn=Directory Manager",
                  "--password-file", str(password)], capsys)
    assert line == "ds1.example.com: cn=Directory Manager: not an LDAP URL " \
                   "(ldap://host:port/ or ldaps://...)"
