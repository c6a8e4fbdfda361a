"""The scenario file as text: reading it, and finding the line an error is about.

:func:`read_document` turns an unreadable file, a file that is not UTF-8 and a
TOML syntax error into one :class:`~pkisim.errors.ConfigError` with the line
(and column) tomllib reports.  TOML parsers forget where a value was written,
so :func:`placed` finds it again: it scans the text's table headers and
``key =`` lines for the key path an error names, and puts the file, that line
and the value as written into the message::

    scenarios/x.toml:31: ca[2].ids.serialLowWaterMark = '0x3000': is larger than ...
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from typing import Any

from pkisim.errors import ConfigError
from pkisim.scenario.keys import MISSING, KeyPath, parse_key, value_at

_ATOM = r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'"""
_KEY = rf"(?:{_ATOM})(?:\s*\.\s*(?:{_ATOM}))*"


def read_document(path: str | os.PathLike[str]) -> tuple[dict[str, Any], str]:
    """The parsed TOML document in ``path``, and its text."""
    source = os.fspath(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as err:
        raise ConfigError("file", source, f"cannot be read: {err.strerror or err}") from None
    try:
        text = raw.decode("utf-8")
        return tomllib.loads(text), text
    except UnicodeDecodeError as err:
        raise ConfigError("file", source, f"is not UTF-8 text (byte {err.start})") from None
    except tomllib.TOMLDecodeError as err:
        raise _syntax_error(err, text, source) from None


def placed(err: ConfigError, data: Mapping[str, Any], source: str, text: str | None,
           overridden: list[KeyPath]) -> ConfigError:
    """``err`` with the value as written, the file and (if found) the line.

    An error about a key that an override set names ``SOURCE (override)``
    instead: no line of the file wrote that value.
    """
    try:
        path = parse_key(err.key)
    except ConfigError:
        return err.with_source(source)
    value = value_at(data, path)
    if value is MISSING or isinstance(value, dict | list):
        value = err.value
    located = ConfigError(err.key, value, err.reason)
    if any(path[: len(o)] == o for o in overridden):
        return located.with_source(f"{source} (override)")
    return located.with_source(source, line_of(text, path) if text is not None else None)


def line_of(text: str, target: KeyPath) -> int | None:
    """The line that sets ``target``, or the nearest enclosing key or table
    header (best effort: a scan of headers and ``key =`` lines)."""
    arrays: dict[KeyPath, int] = {}  # array-of-tables path -> index of its last element

    def resolve(parts: list[str]) -> list[str | int]:
        out: list[str | int] = []
        for part in parts:
            out.append(part)
            if tuple(out) in arrays:
                out.append(arrays[tuple(out)])
        return out

    table: list[str | int] = []
    best: tuple[int, int] | None = None  # (matched length, line)
    in_string = False
    for number, line in enumerate(text.splitlines(), start=1):
        if (line.count('"""') + line.count("'''")) % 2:
            in_string = not in_string
            if not in_string:
                continue
        if in_string:
            continue
        if m := re.match(rf"\s*\[\[\s*({_KEY})\s*\]\]", line):
            parts = _key_parts(m[1])
            base = (*resolve(parts[:-1]), parts[-1])
            arrays[base] = arrays.get(base, -1) + 1
            path: list[str | int] = [*base, arrays[base]]
            table = path
        elif m := re.match(rf"\s*\[\s*({_KEY})\s*\]", line):
            path = table = resolve(_key_parts(m[1]))
        elif m := re.match(rf"\s*({_KEY})\s*=", line):
            path = [*table, *_key_parts(m[1])]
        else:
            continue
        n = len(path)
        if tuple(path) == target[:n] and (best is None or n > best[0]):
            best = (n, number)
    return best[1] if best else None


def _key_parts(key: str) -> list[str]:
    return [p.strip("\"'") for p in re.findall(_ATOM, key)]


def _syntax_error(err: tomllib.TOMLDecodeError, text: str, source: str) -> ConfigError:
    message = str(err)
    lines = text.splitlines() or [""]
    if m := re.search(r"\(at line (\d+), column (\d+)\)", message):
        number, where = int(m[1]), f" (column {m[2]})"
    else:
        number, where = len(lines), " (at the end of the file)"
    reason = re.sub(r"\s*\(at [^)]*\)$", "", message)
    line = lines[number - 1] if number <= len(lines) else ""
    if m := re.match(rf"\s*({_KEY})\s*=(.*)", line):
        key, value = m[1].strip(), m[2].strip()
    else:
        key, value = "line", line.strip()
    return ConfigError(key, value, f"TOML syntax error: {reason}{where}", source=source,
                       line=number)
