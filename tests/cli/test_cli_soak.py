"""``pkisim soak`` bad input: one line on stderr, exit status 2, nothing run,
and the bind password nowhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from pkisim.cli import main

SECRET = "Walrus-Pelican-4410-secret"


def fails(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    status = main(["soak", *argv])
    out, err = capsys.readouterr()
    assert status == 2, (out, err)
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert SECRET not in err
    return lines[0]


@pytest.mark.parametrize(("argv", "expected"), [
    ([], "one of the arguments --url --server is required"),
    (["--server", "openldap"], "argument --server: invalid choice: 'openldap'"),
    (["--server", "slapd", "--processes", "0"], "argument --processes: must be >= 1: 0"),
    (["--server", "slapd", "--processes", "x"], "argument --processes: not an integer: 'x'"),
    (["--server", "slapd", "--serials", "-5"], "argument --serials: must be >= 1: -5"),
    (["--server", "slapd", "--kill-every", "-1"], "argument --kill-every: must be >= 0"),
    (["--server", "slapd", "--kill-server-every", "inf"], "must be >= 0 and finite"),
    (["--server", "slapd", "--seed", "-1"], "argument --seed: must be >= 0: -1"),
    (["--server", "slapd", "--url", "ldap://x/"], "not allowed with argument --server"),
    (["--url", "ldap://127.0.0.1:1/"], "pkisim soak: --url needs --bind-dn"),
    (["--server", "slapd", "--bind-dn", "cn=x"], "--bind-dn and --password-file go with --url"),
    (["--url", "ldap://127.0.0.1:1/", "--bind-dn", "cn=x", "--kill-server-every", "5"],
     "--kill-server-every needs --server"),
    (["--server", "slapd", f"--password={SECRET}"], "unrecognized arguments: --password"),
    (["--server", "slapd", SECRET], "unrecognized arguments: 1 value (not shown)"),
])
def test_bad_arguments(argv: list[str], expected: str, tmp_path: Path,
                       capsys: pytest.CaptureFixture[str]) -> None:
    line = fails([*argv, "--out", str(tmp_path / "out")], capsys)
    assert expected in line, line
    assert not (tmp_path / "out").exists()


def test_out_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    assert "the following arguments are required: --out" in fails(["--server", "slapd"], capsys)


def test_out_must_be_new_or_empty(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "old.txt").write_text("x")
    line = fails(["--server", "slapd", "--out", str(tmp_path)], capsys)
    assert line == f"--out = '{tmp_path}': exists and is not an empty directory"


def test_password_from_file_or_env_only(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PKISIM_BIND_PASSWORD", raising=False)
    url = ["--url", "ldap://127.0.0.1:1/", "--bind-dn", "cn=Manager,o=pki-tomcat",
           "--out", str(tmp_path / "out")]
    assert "give --password-file or set $PKISIM_BIND_PASSWORD" in fails(url, capsys)
    missing = tmp_path / "nope.txt"
    line = fails([*url, "--password-file", str(missing)], capsys)
    assert line == f"--password-file = '{missing}': cannot be read: No such file or directory"
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    line = fails([*url, "--password-file", str(empty)], capsys)
    assert "is empty (the first line is the password)" in line
    # a server that is not there: one line naming it, never the password
    monkeypatch.setenv("PKISIM_BIND_PASSWORD", SECRET)
    line = fails(url, capsys)
    assert line.startswith("ldap://127.0.0.1:1/: cn=Manager,o=pki-tomcat: cannot reach"), line


@pytest.mark.ldap
def test_a_small_soak_on_a_live_url(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--url with the password from a file: exit 0, the report written, the
    password in no output and no file."""
    from pkisim.testing.servers.slapd import Slapd

    with Slapd() as slapd:
        secret = tmp_path / "pw"
        secret.write_text(slapd.password + "\n")
        out = tmp_path / "out"
        status = main(["soak", "--url", slapd.url, "--bind-dn", slapd.bind_dn,
                       "--password-file", str(secret), "--base", "ou=soak1,o=pki-tomcat",
                       "--processes", "2", "--serials", "3000", "--increment", "1000",
                       "--out", str(out)])
        stdout, stderr = capsys.readouterr()
        assert status == 0, stderr
        assert "VERDICT: VALID" in stdout and "issued 6,000 distinct serials" in stdout
        assert (out / "soak.json").exists() and (out / "soak.txt").read_text() in stdout
        for text in [stdout, stderr, *(p.read_text() for p in out.iterdir())]:
            assert slapd.password not in text
        # the same tree again: refused, one line
        again = fails(["--url", slapd.url, "--bind-dn", slapd.bind_dn, "--password-file",
                       str(secret), "--base", "ou=soak1,o=pki-tomcat", "--out",
                       str(tmp_path / "again")], capsys)
        assert "holds a used tree under ou=soak1,o=pki-tomcat" in again
