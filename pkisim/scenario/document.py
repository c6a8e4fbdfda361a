"""The scenario file as text: reading it, and finding the line an error is about.

:func:`read_document` turns an unreadable or oversized file, a file that is
not UTF-8, a TOML syntax error and a document beyond pkisim's limits (numbers of
thousands of digits, nesting thousands deep: :mod:`pkisim.limits`) into one
:class:`~pkisim.errors.ConfigError` with the line (and column) where it is;
:func:`parse_toml` does the same for TOML text from elsewhere (a sweep file,
``--set``).  TOML parsers forget where a value was written,
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
from pkisim.limits import MAX_DEPTH, MAX_ID_BITS, LimitError, check_document
from pkisim.scenario.keys import MISSING, KeyPath, parse_key, value_at

_ATOM = r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'"""
_KEY = rf"(?:{_ATOM})(?:\s*\.\s*(?:{_ATOM}))*"


#: The largest scenario or sweep file read (they are a few kilobytes).
MAX_BYTES = 16 << 20


def read_document(path: str | os.PathLike[str]) -> tuple[dict[str, Any], str]:
    """The parsed TOML document in ``path``, and its text."""
    source = os.fspath(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as err:
        raise ConfigError("file", source, f"cannot be read: {err.strerror or err}") from None
    if len(raw) > MAX_BYTES:
        raise ConfigError("file", source, f"is larger than {MAX_BYTES >> 20} MiB: not a "
                                          "scenario or sweep file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError("file", source, f"is not UTF-8 text (byte {err.start})") from None
    return parse_toml(text, source), text


def parse_toml(text: str, source: str) -> dict[str, Any]:
    """``text`` as TOML within pkisim's limits (:func:`pkisim.limits.check_document`):
    a syntax error, a number of thousands of digits or arrays nested thousands
    deep are one :class:`ConfigError` naming ``source`` and the line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise _syntax_error(err, text, source) from None
    except RecursionError:  # tomllib parses nested arrays and inline tables recursively
        number = _deep_line(text)
        raise ConfigError(*_written(text, number), f"nests deeper than {MAX_DEPTH} levels of "
                          "arrays and tables", source=source, line=number) from None
    except ValueError:  # int() refused a number of more than 4300 digits
        number, digits = _long_number(text)
        raise ConfigError(*_written(text, number), f"a number of {digits:,} digits: numbers "
                          f"have at most {MAX_ID_BITS} bits", source=source,
                          line=number) from None
    try:
        check_document(data)
    except LimitError as err:
        path = tuple(p for p in err.path if isinstance(p, str | int))
        raise err.with_source(source, line_of(text, path)) from None
    return data


def _written(text: str, number: int | None) -> tuple[str, str]:
    """The key and the value as written on line ``number`` (or ``line`` and the text)."""
    lines = text.splitlines()
    line = lines[number - 1] if number and number <= len(lines) else ""
    if m := re.match(rf"\s*({_KEY})\s*=(.*)", line):
        return m[1].strip(), m[2].strip()
    return "line", line.strip()


def _deep_line(text: str) -> int | None:
    """The line where brackets (outside quotes, roughly) nest deeper than the limit."""
    depth, quote = 0, ""
    for number, line in enumerate(text.splitlines(), start=1):
        for char in line:
            if quote:
                quote = "" if char == quote else quote
            elif char in "\"'":
                quote = char
            elif char == "#":
                break
            elif char in "[{":
                depth += 1
                if depth > MAX_DEPTH:
                    return number
            elif char in "]}":
                depth -= 1
    return None


def _long_number(text: str) -> tuple[int | None, int]:
    """The line of the first run of more than 4300 digits, and its length."""
    for number, line in enumerate(text.splitlines(), start=1):
        for run in re.findall(r"[0-9_]{4301,}", line):
            return number, len(run.replace("_", ""))
    return None, 0


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
    best: tuple[tuple[int, bool], int] | None = None  # ((matched length, encloses), line)
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
        n = min(len(path), len(target))
        score = (n, len(path) <= len(target))  # a line inside the key only if nothing encloses it
        if tuple(path[:n]) == target[:n] and (best is None or score > best[0]):
            best = (score, number)
    return best[1] if best else None


def _key_parts(key: str) -> list[str]:
    return [p.strip("\"'") for p in re.findall(_ATOM, key)]


class TomlSyntaxError(ConfigError):
    """Text that is not TOML (``--set`` then takes it as a bare string)."""


def _syntax_error(err: tomllib.TOMLDecodeError, text: str, source: str) -> ConfigError:
    message = str(err)
    lines = text.splitlines() or [""]
    if m := re.search(r"\(at line (\d+), column (\d+)\)", message):
        number, where = int(m[1]), f" (column {m[2]})"
    else:
        number, where = len(lines), " (at the end of the file)"
    reason = re.sub(r"\s*\(at [^)]*\)$", "", message)
    return TomlSyntaxError(*_written(text, number), f"TOML syntax error: {reason}{where}",
                           source=source, line=number)
