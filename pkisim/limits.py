"""The rules every reader of outside input applies, whatever the format.

pkisim reads scenario and sweep files (TOML), CS.cfg files, histories (CSV,
Parquet, JSON Lines), LDIF exports, trace CSVs and command-line arguments.
Each reader is one boundary that turns every failure into one line naming the
file, line, key and value.  What they have in common lives here, so that the
same thing is checked the same way in every format:

* **IDs** (serials, request IDs, range bounds, ``nextRange``) are integers in
  ``[0, 2**MAX_ID_BITS)``: 1024 bits is the longest ``dbs.cert.id.length``
  pkisim accepts.  Text longer than such a number can be is refused before it
  is converted (Python refuses more than 4300 digits with a ValueError, and
  converting 4300 digits costs time for nothing);
* **ports** are 1-65535, in CS.cfg (``proxy.securePort``) as in the directory
  (``SecurePort``);
* **Java integers**: CS.cfg's integer keys (``ca.serialNumberUpdateInterval``,
  ``dbs.cert.id.length``) are read by Dogtag as a Java ``int``;
* **nesting**: a document (TOML, JSON) nests at most :data:`MAX_DEPTH` arrays
  and tables; deeper is refused before anything walks it recursively.

Every check raises a :class:`~pkisim.errors.ConfigError` naming the key and the
value; the reader adds its file and line (or converts it to its own error type).
"""

from __future__ import annotations

import string
from typing import Any

from pkisim.errors import ConfigError

#: The most arrays, tables and objects one document may nest.
MAX_DEPTH = 32
#: IDs are below 2**MAX_ID_BITS (the longest dbs.cert.id.length pkisim accepts).
MAX_ID_BITS = 1024
ID_LIMIT = 1 << MAX_ID_BITS
#: The most digits an ID can have, per base.
MAX_ID_DIGITS = {10: len(str(ID_LIMIT - 1)), 16: MAX_ID_BITS // 4}
#: A Java int: how Dogtag reads CS.cfg's integer keys.
JAVA_INT = (-(2**31), 2**31 - 1)
PORTS = (1, 65535)

_DIGITS = {10: frozenset(string.digits), 16: frozenset(string.hexdigits)}


def id_digits(text: str, base: int, key: str, value: object = None) -> int:
    """The non-negative ID that the bare digits ``text`` write in ``base``
    (10 or 16; no sign, prefix or blanks).  ``value`` is what the error shows
    (default: ``text``)."""
    shown = text if value is None else value
    if not text or not set(text) <= _DIGITS[base]:
        expected = "hexadecimal digits" if base == 16 else "a decimal number"
        raise ConfigError(key, shown, f"is not {expected}")
    significant = text.lstrip("0") or "0"
    if len(significant) > MAX_ID_DIGITS[base]:
        raise ConfigError(key, shown, f"has {len(significant):,} digits: an ID has at most "
                                      f"{MAX_ID_BITS} bits ({MAX_ID_DIGITS[base]} "
                                      f"{'hex' if base == 16 else 'decimal'} digits)")
    return check_id(int(significant, base), key, shown)


def check_id(number: int, key: str, value: object = None) -> int:
    """``number`` if it can be an ID: ``0 <= number < 2**1024``."""
    shown = number if value is None else value
    if number < 0:
        raise ConfigError(key, shown, "an ID cannot be negative")
    if number >= ID_LIMIT:
        raise ConfigError(key, shown, f"is too large: an ID has at most {MAX_ID_BITS} bits")
    return number


def id_number(value: object, key: str) -> int:
    """An ID as a history or export writes it: an integer (not a boolean), or
    a string of decimal digits or ``0x`` and hex digits."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ConfigError(key, value, "expected an integer")
    if isinstance(value, int):
        return check_id(value, key)
    text = value.strip()
    if text.startswith("-") and text[1:].strip():
        raise ConfigError(key, value, "an ID cannot be negative")
    base, digits = (16, text[2:]) if text[:2].lower() == "0x" else (10, text)
    if not digits or not set(digits) <= _DIGITS[base]:
        raise ConfigError(key, value, "expected a decimal or 0x integer")
    return id_digits(digits, base, key, value)


def java_int(text: str, key: str) -> int:
    """A CS.cfg integer as Dogtag reads it (``Integer.parseInt``: optional sign,
    decimal digits, 32 bits)."""
    s = text.strip()
    digits = s[1:] if s[:1] in "+-" else s
    if not digits or not set(digits) <= _DIGITS[10] or len(digits.lstrip("0")) > 10:
        raise ConfigError(key, text, "is not an integer (Dogtag reads it as a 32-bit Java int)")
    number = int(s, 10)
    if not JAVA_INT[0] <= number <= JAVA_INT[1]:
        raise ConfigError(key, text, "is out of range: Dogtag reads it as a 32-bit Java int "
                                     f"({JAVA_INT[0]} to {JAVA_INT[1]})")
    return number


def port(number: int, key: str, value: object = None) -> int:
    """``number`` if it is a TCP port (1-65535)."""
    if not PORTS[0] <= number <= PORTS[1]:
        raise ConfigError(key, number if value is None else value,
                          f"is not a TCP port ({PORTS[0]}-{PORTS[1]})")
    return number


class LimitError(ConfigError):
    """A document beyond a limit; ``path`` leads to the value (keys and indices)."""

    def __init__(self, path: tuple[object, ...], value: object, reason: str) -> None:
        self.path = path
        super().__init__(_path_text(path) or "document", value, reason)


def check_document(data: object) -> None:
    """Refuse parsed TOML or JSON that nests more than :data:`MAX_DEPTH` arrays
    and tables, or holds an integer of more than :data:`MAX_ID_BITS` bits (the
    largest number pkisim reads anywhere is an ID).  Walks without recursion;
    raises :class:`LimitError` about the first such value."""
    _check_scalar(data, ())
    stack: list[tuple[Any, tuple[object, ...], int]] = [(data, (), 1)]
    while stack:
        node, path, depth = stack.pop()
        if not isinstance(node, dict | list | tuple):
            continue
        if depth > MAX_DEPTH:
            raise LimitError(path, f"<{MAX_DEPTH + 1} or more levels>",
                             f"nests deeper than {MAX_DEPTH} levels of arrays and tables")
        items: Any = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in items:
            kind = type(child)  # exact types: what the parsers build (a hot loop)
            if kind is dict or kind is list or kind is tuple:
                stack.append((child, (*path, key), depth + 1))
            elif kind is int and not -ID_LIMIT < child < ID_LIMIT:  # type: ignore[operator]
                _check_scalar(child, (*path, key))


def _check_scalar(value: object, path: tuple[object, ...]) -> None:
    if type(value) is int and abs(value) >= ID_LIMIT:
        raise LimitError(path, value, f"is too large: numbers have at most {MAX_ID_BITS} bits")


def _path_text(path: tuple[object, ...]) -> str:
    parts = [f"[{p}]" if isinstance(p, int) else f".{p}" for p in path]
    text = "".join(parts).lstrip(".")
    return text if len(text) <= 80 else text[:77] + "..."


__all__ = ["ID_LIMIT", "JAVA_INT", "MAX_DEPTH", "MAX_ID_BITS", "MAX_ID_DIGITS", "PORTS",
           "LimitError", "check_document", "check_id", "id_digits", "id_number", "java_int",
           "port"]
