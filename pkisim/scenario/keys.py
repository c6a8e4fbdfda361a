"""Key paths: how a scenario error names a value, and how an override finds one.

A key path is a tuple of table keys and array indices, ``("ca", 2, "ids",
"serialLowWaterMark")``; errors write it dotted, ``ca[2].ids.serialLowWaterMark``
(indices from 0), and ``--set`` overrides are written the same way.
"""

from __future__ import annotations

import re
from typing import Any

from pkisim.errors import ConfigError

KeyPath = tuple[str | int, ...]

#: What :func:`value_at` returns for a path that leads nowhere.
MISSING = object()


def dotted(path: KeyPath) -> str:
    """``("ca", 1, "ids", "serialIncrement")`` -> ``"ca[1].ids.serialIncrement"``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def parse_key(key: str, value: object = None) -> KeyPath:
    """``"ca[1].ids.serialIncrement"`` -> ``("ca", 1, "ids", "serialIncrement")``."""
    parts: list[str | int] = []
    for segment in key.split("."):
        match = re.fullmatch(r"([^.\[\]\s]+)((?:\[\d+\])*)", segment)
        if match is None:
            raise ConfigError(key, value, "is not a dotted key such as workload.enroll_rate "
                                          "or ca[1].workers")
        parts.append(match[1])
        parts.extend(int(i) for i in re.findall(r"\[(\d+)\]", match[2]))
    return tuple(parts)


def set_value(data: dict[str, Any], path: KeyPath, value: object) -> None:
    """Set an override, creating missing tables (array entries must exist)."""
    node: Any = data
    for i, part in enumerate(path):
        if isinstance(part, int) and not (isinstance(node, list) and part < len(node)):
            count = len(node) if isinstance(node, list) else 0
            raise ConfigError(dotted(path[: i + 1]), value, f"no such entry: there are {count}")
        if isinstance(part, str) and not isinstance(node, dict):
            raise ConfigError(dotted(path[: i + 1]), value, "is not inside a table")
        if i == len(path) - 1:
            node[part] = value
        elif isinstance(part, str):
            node = node.setdefault(part, [] if isinstance(path[i + 1], int) else {})
        else:
            node = node[part]


def value_at(data: object, path: KeyPath) -> object:
    """The value at ``path`` as written, or :data:`MISSING`."""
    for part in path:
        try:
            data = data[part] if isinstance(data, dict | list) else MISSING  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            return MISSING
    return data
