"""A small, strict LDIF reader (RFC 2849, content records only) that keeps line numbers.

It reads what ``slapcat``, ``db2ldif`` and ``ldapsearch -LLL`` write: an optional
``version: 1``, records separated by blank lines, ``#`` comments, folded lines
(a continuation starts with one space), ``name:: base64`` values and attribute
options (``userCertificate;binary``).  Change records (``changetype:``) and URL
values (``name:< file://...``) are not an export and are refused.

Every error is a :class:`~pkisim.errors.ConfigError` naming the file and the line:
a file that ends in the middle of a line, or a record with a DN and nothing else,
is reported as truncated.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pkisim.errors import ConfigError

_NAME = re.compile(r"(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)*)(?:;[A-Za-z0-9-]+)*")


@dataclass(frozen=True, slots=True)
class LdifEntry:
    """One entry: attribute names in lower case (options dropped), values as text."""

    dn: str
    attrs: Mapping[str, tuple[str, ...]]
    source: str
    line: int = 0  # line of the ``dn:`` (0: not from a file)
    lines: Mapping[str, int] = field(default_factory=dict)  # attribute -> first line

    @property
    def ndn(self) -> str:
        return normalize_dn(self.dn)

    def get(self, name: str) -> tuple[str, ...]:
        return self.attrs.get(name.lower(), ())

    def first(self, name: str) -> str | None:
        values = self.get(name)
        return values[0] if values else None

    @property
    def object_classes(self) -> frozenset[str]:
        return frozenset(v.lower() for v in self.get("objectclass"))

    def error(self, key: str, value: object, reason: str) -> ConfigError:
        """A one-line error at this entry (the attribute's line when known)."""
        if self.line:
            return ConfigError(key, value, reason, source=self.source,
                               line=self.lines.get(key.lower(), self.line))
        return ConfigError(key, value, reason, source=f"{self.source}: {self.dn}")


def normalize_dn(dn: str) -> str:
    """Lower case, no blanks around the separators (``ou=ca, o=X`` -> ``ou=ca,o=x``)."""
    parts, current, escaped = [], "", False
    for char in dn:
        if escaped:
            current, escaped = current + char, False
        elif char == "\\":
            current, escaped = current + char, True
        elif char == ",":
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    out = []
    for part in parts:
        avas = [a.strip() for a in part.split("+")]
        out.append("+".join(f"{a.partition('=')[0].strip()}={a.partition('=')[2].strip()}"
                            for a in avas))
    return ",".join(out).lower()


def read_ldif(path: str | Path) -> Iterator[LdifEntry]:
    """The entries of an LDIF file, in file order (lazily)."""
    source = str(path)
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below, lazily
    except OSError as err:
        raise ConfigError("file", source, f"cannot be read: {err.strerror or err}") from None
    with handle:
        yield from parse_ldif(handle, source)


def parse_ldif(lines: Iterable[bytes], source: str = "<ldif>") -> Iterator[LdifEntry]:
    """Entries from raw lines (each with its line end, as a file yields them)."""
    record: list[tuple[int, str]] = []
    seen = 0
    for number, text in _logical_lines(lines, source):
        if text == "":
            if record:
                entry = _entry(record, source, first=seen == 0)
                seen += 1
                if entry is not None:
                    yield entry
                record = []
            continue
        record.append((number, text))
    if record:
        entry = _entry(record, source, first=seen == 0)
        seen += 1
        if entry is not None:
            yield entry
    if seen == 0:
        raise ConfigError("file", source, "holds no LDIF entries", source=source)


def _logical_lines(lines: Iterable[bytes], source: str) -> Iterator[tuple[int, str]]:
    """Unfolded lines (continuations joined, comments dropped) with their first line number."""
    current: str | None = None
    start = 0
    comment = False
    number = 0
    raw = b""
    for number, raw in enumerate(lines, start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise ConfigError("line", raw[:60], f"is not UTF-8 (byte {err.start})", source=source,
                              line=number) from None
        text = text.rstrip("\n").removesuffix("\r")
        if text.startswith(" "):
            if current is None and not comment:
                raise ConfigError("line", text[:60], "continues nothing (a continuation line "
                                  "must follow an attribute line)", source=source, line=number)
            if not comment:
                current = (current or "") + text[1:]
            continue
        if current is not None:
            yield start, current
        current, comment = None, False
        if text.startswith("#"):
            comment = True
        elif text == "":
            yield number, ""
        else:
            current, start = text, number
    if number and not raw.endswith(b"\n"):
        raise ConfigError("line", raw.decode("utf-8", "replace")[-60:],
                          "the file ends in the middle of a line (truncated?)",
                          source=source, line=number)
    if current is not None:
        yield start, current


def _entry(record: list[tuple[int, str]], source: str, *, first: bool) -> LdifEntry | None:
    lines = [(n, *_split(t, n, source)) for n, t in record]
    if first and lines[0][1] == "version":
        if lines[0][2] != "1":
            raise ConfigError("version", lines[0][2], "is not LDIF version 1", source=source,
                              line=lines[0][0])
        lines = lines[1:]
        if not lines:
            return None
    number, name, dn = lines[0]
    if name != "dn":
        raise ConfigError(name, dn, "a record must start with dn:", source=source, line=number)
    if len(lines) == 1:
        raise ConfigError("dn", dn, "has no attributes (truncated?)", source=source, line=number)
    attrs: dict[str, list[str]] = {}
    where: dict[str, int] = {}
    for line, key, value in lines[1:]:
        if key in ("changetype", "control"):
            raise ConfigError(key, value, "change records are not an export of the directory",
                              source=source, line=line)
        if key == "dn":
            raise ConfigError("dn", value, "a second dn: in one record (missing blank line?)",
                              source=source, line=line)
        attrs.setdefault(key, []).append(value)
        where.setdefault(key, line)
    if "objectclass" not in attrs:
        raise ConfigError("dn", dn, "has no objectClass (truncated?)", source=source, line=number)
    return LdifEntry(dn, {k: tuple(v) for k, v in attrs.items()}, source, number, where)


def _split(text: str, number: int, source: str) -> tuple[str, str]:
    """``name: value`` / ``name:: base64`` -> (lower-case name without options, value)."""
    name, colon, rest = text.partition(":")
    if not colon or not _NAME.fullmatch(name):
        raise ConfigError("line", text[:60], "is not 'attribute: value' (truncated?)",
                          source=source, line=number)
    key = name.split(";", 1)[0].lower()
    if rest.startswith(":"):
        try:
            data = base64.b64decode(rest[1:].strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError(name, rest[1:].strip()[:40], "is not valid base64",
                              source=source, line=number) from None
        return key, data.decode("utf-8", "replace")
    if rest.startswith("<"):
        raise ConfigError(name, rest[1:].strip(), "URL values are not supported",
                          source=source, line=number)
    return key, rest.lstrip(" ")
