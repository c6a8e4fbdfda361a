"""``[defaults.ids]`` and ``[ca.ids]``: a scenario's CS.cfg ``dbs.*`` keys.

A scenario names each ID-space setting by its CS.cfg key, and which
:class:`~pkisim.ids.config.IdSpaceConfig` field of which ID space that key sets
is :data:`pkisim.ids.cscfg.ID_SPACE_FIELDS`, the same translation CS.cfg files
are read with.  The scenario spelling drops ``dbs.`` and ``ca.`` and writes the
length keys with underscores (``serialIncrement``, ``serialNumberUpdateInterval``,
``cert_id_length``): TOML reads the dots of ``dbs.serialIncrement`` or
``cert.id.length`` as nested tables, which are flattened back here, so the
CS.cfg spellings are accepted as well.

Values are integers, or strings read exactly as CS.cfg is read in the
scenario's strategy (:func:`~pkisim.ids.config.radix_for`);
``serialNumberUpdateInterval`` is a duration.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pkisim.errors import ConfigError
from pkisim.ids.config import IdKind, radix_for
from pkisim.ids.cscfg import ID_SPACE_FIELDS
from pkisim.ids.layout import CA
from pkisim.scenario.keys import KeyPath, dotted
from pkisim.scenario.values import boolean, duration, integer, unknown_key

#: Scenario spelling -> (value as written, its key path).
IdEntries = dict[str, tuple[object, KeyPath]]


def _spelling(cscfg_key: str) -> str:
    """``dbs.serialIncrement`` -> ``serialIncrement``; ``dbs.cert.id.length`` -> ``cert_id_length``;
    ``ca.serialNumberUpdateInterval`` -> ``serialNumberUpdateInterval``."""
    return cscfg_key.removeprefix("dbs.").removeprefix("ca.").replace(".", "_")


#: Scenario spelling -> CS.cfg key.
_CSCFG_KEYS = {_spelling(key): key for key in ID_SPACE_FIELDS}
#: Every accepted spelling without ``dbs.`` -> CS.cfg key.
_WRITTEN = {**{key.removeprefix("dbs."): key for key in ID_SPACE_FIELDS}, **_CSCFG_KEYS}
#: The keys that give a CA a range of its own (a clone without them gets one by transfer).
BEGIN_END = frozenset(name for name, key in _CSCFG_KEYS.items()
                      if ID_SPACE_FIELDS[key][1] in ("begin", "end"))


def id_name(written: str) -> str:
    """The scenario spelling of an ID-space key written either way, or the key
    without ``dbs.`` if it is none."""
    name = written.removeprefix("dbs.")
    key = _WRITTEN.get(name)
    return name if key is None else _spelling(key)


def id_entries(table: object, path: KeyPath) -> IdEntries:
    """``[... .ids]`` as {scenario spelling: (value as written, key path)}.

    Dotted CS.cfg spellings (``dbs.serialIncrement``, ``cert.id.length``) are
    nested tables to TOML; they are flattened back here.
    """
    if not isinstance(table, dict):
        raise ConfigError(dotted(path), table, "must be a table of CS.cfg dbs.* keys")
    out: IdEntries = {}
    for dotted_name, value, here in _flatten(table, path, ""):
        name = id_name(dotted_name)
        if name not in _CSCFG_KEYS:
            raise ConfigError(dotted(here), value, unknown_key(name, _CSCFG_KEYS))
        out[name] = (value, here)
    return out


def id_changes(entries: IdEntries, strategy: str) -> dict[IdKind, dict[str, object]]:
    """The IdSpaceConfig fields ``entries`` set, per ID space; strings in ``strategy``'s radix."""
    changes: dict[IdKind, dict[str, object]] = {kind: {} for kind in CA.spaces}
    for name, (value, path) in entries.items():
        kind, field = ID_SPACE_FIELDS[_CSCFG_KEYS[name]]
        converted = _id_value(kind, field, value, path, strategy)
        for k in (CA.spaces if kind is None else (kind,)):
            changes[k][field] = converted
    return changes


def id_error(err: ConfigError, entries: IdEntries, ids_path: KeyPath,
             origin: str) -> ConfigError:
    """An IdSpaceConfig error, named after the scenario key that set the value,
    or else after the table the value would be set in, saying where it came from."""
    name = id_name(err.key)
    if name in entries:
        value, path = entries[name]
        return ConfigError(dotted(path), value, err.reason)
    suffix = f" ({origin})" if err.value is not None else ""
    return ConfigError(dotted((*ids_path, name)), err.value, err.reason + suffix)


def _flatten(table: dict[str, Any], path: KeyPath,
             prefix: str) -> Iterator[tuple[str, object, KeyPath]]:
    for key, value in table.items():
        if isinstance(value, dict):
            yield from _flatten(value, (*path, key), f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value, (*path, key)


def _id_value(kind: IdKind | None, field: str, value: object, path: KeyPath,
              strategy: str) -> object:
    """One ID-space value as an IdSpaceConfig field value."""
    if field == "serial_management":
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        return boolean(value, path)
    if field == "update_interval":
        return duration(value, path)
    if field == "id_length":
        return integer(value, path)
    assert kind is not None
    if isinstance(value, str):
        number = radix_for(kind, strategy).parse(value, key=dotted(path))
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise ConfigError(dotted(path), value, "must be an integer, or a string written as in "
                                               "CS.cfg")
    if field in ("next_begin", "next_end") and number == -1:
        return None  # Dogtag's "no next range"
    return number
