"""The strict LDIF reader: what it accepts, and one line naming file:line for what it refuses."""

from __future__ import annotations

import base64

import pytest

from pkisim.audit.ldif import normalize_dn, parse_ldif
from pkisim.errors import ConfigError


def entries(text: str) -> list:
    return list(parse_ldif(text.encode().splitlines(keepends=True), "x.ldif"))


def error(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        entries(text)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_folding_base64_comments_options_and_version() -> None:
    value = base64.b64encode("nextRange über".encode()).decode()
    got = entries("version: 1\n\n# a comment\n#  folded comment\n"
                  "dn: ou=certificateRepository,\n ou=ca, o=pki-tomcat\n"
                  "objectClass: top\nobjectClass: repos\n itory\n"
                  f"description:: {value}\nuserCertificate;binary:: AAEC\n"
                  "nextRange: 13\nnextRange: 49\n\n\n"
                  "dn: o=pki-tomcat\nobjectClass: organization\n")
    assert len(got) == 2
    first = got[0]
    assert first.ndn == "ou=certificaterepository,ou=ca,o=pki-tomcat"
    assert first.get("objectclass") == ("top", "repository")
    assert first.first("description") == "nextRange über"
    assert first.get("nextRange") == ("13", "49")
    assert "usercertificate" in first.attrs
    assert first.line == 5 and first.lines["nextrange"] == 12


def test_crlf_line_ends() -> None:
    got = list(parse_ldif([b"dn: o=x\r\n", b"objectClass: top\r\n"], "w.ldif"))
    assert got[0].get("objectclass") == ("top",)


@pytest.mark.parametrize(("text", "expected"), [
    ("dn: o=x\nobjectClass: top\ncn: cut in the midd", "x.ldif:3: line = 'cn: cut in the midd': "
                                                       "the file ends in the middle of a line"),
    ("dn: o=x\nobjectClass: top\n\ndn: ou=ca,o=x\n", "x.ldif:4: dn = 'ou=ca,o=x': has no "
                                                     "attributes (truncated?)"),
    ("dn: o=x\ncn: a\n", "x.ldif:1: dn = 'o=x': has no objectClass (truncated?)"),
    ("dn: o=x\nobjectClass: top\nbroken line\n", "x.ldif:3: line = 'broken line': is not "
                                                 "'attribute: value'"),
    ("dn: o=x\nobjectClass: top\ncn:: ***\n", "x.ldif:3: cn = '***': is not valid base64"),
    ("dn: o=x\nchangetype: add\nobjectClass: top\n", "x.ldif:2: changetype = 'add': change "
                                                     "records are not an export"),
    ("dn: o=x\nobjectClass: top\njpegPhoto:< file:///etc/passwd\n",
     "x.ldif:3: jpegPhoto = 'file:///etc/passwd': URL values are not supported"),
    (" continued\n", "x.ldif:1: line = ' continued': continues nothing"),
    ("objectClass: top\n", "x.ldif:1: objectclass = 'top': a record must start with dn:"),
    ("version: 2\n\ndn: o=x\nobjectClass: top\n", "x.ldif:1: version = '2': is not LDIF "
                                                  "version 1"),
    ("# only a comment\n", "x.ldif: file = 'x.ldif': holds no LDIF entries"),
])
def test_refused_with_file_and_line(text: str, expected: str) -> None:
    assert error(text).startswith(expected)


def test_non_utf8_names_the_line() -> None:
    with pytest.raises(ConfigError, match=r"^y\.ldif:2: line = .*is not UTF-8"):
        list(parse_ldif([b"dn: o=x\n", b"cn: \xff\n"], "y.ldif"))


def test_normalize_dn() -> None:
    assert normalize_dn("cn=5+nsuniqueid=AB, ou=CA , o=PKI-tomcat") == \
        "cn=5+nsuniqueid=ab,ou=ca,o=pki-tomcat"
    assert normalize_dn(r"cn=a\,b,o=x") == r"cn=a\,b,o=x"
