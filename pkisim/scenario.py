"""Scenario files: TOML in, a validated :class:`~pkisim.sim.config.Scenario` out.

The format is documented key by key in ``scenarios/README.md``.  Reading is
strict: an unknown key (with a "did you mean"), a wrong type, a bad duration or
rate, a TOML syntax error, an unreadable ``cs_cfg`` file and every error the
dataclasses raise all come out as one :class:`~pkisim.errors.ConfigError`
line naming the file, the line where it can be found, the key as a dotted
path (``ca[2].ids.serialLowWaterMark``, indices from 0) and the value as written::

    scenarios/x.toml:31: ca[2].ids.serialLowWaterMark = '0x3000': is larger than ...

ID-space keys carry their CS.cfg names.  Values are integers, or strings read
exactly as CS.cfg is read in the scenario's strategy: SSNv1 (``legacy``)
certificate values are hex without prefix, SSNv2 (``legacy2``) values ``0x``-aware,
everything else decimal.  ``strategy=`` (the CLI's ``--strategy``) changes the
strategy of every CA but keeps every number the number it was in the file.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import difflib
import math
import os
import re
import tomllib
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from pkisim.errors import ConfigError
from pkisim.ids.config import KEYS, IdKind, IdSpaceConfig, check_strategy, radix_for
from pkisim.ids.cscfg import CSCfg, load_ca
from pkisim.ids.subsystem import master_configs, replica_strategy
from pkisim.sim import config as sim
from pkisim.sim.config import CaSpec, Distribution, Scenario
from pkisim.sim.workload import read_trace

__all__ = ["load_scenario", "parse_duration", "parse_rate", "scenario_from_dict"]

KeyPath = tuple[str | int, ...]
T = TypeVar("T")

# --------------------------------------------------------------------------- durations, rates

_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0,
            "w": 7 * 86400.0, "y": 365 * 86400.0}
_DURATION_PART = r"(\d+(?:\.\d+)?|\.\d+)\s*(ms|min|s|m|h|d|w|y)"
_PER = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0,
        "h": 3600.0, "hour": 3600.0, "d": 86400.0, "day": 86400.0, "w": 7 * 86400.0,
        "week": 7 * 86400.0, "y": 365 * 86400.0, "year": 365 * 86400.0}
_RATE = re.compile(r"\s*(\d+(?:\.\d+)?|\.\d+)\s*/\s*([a-z]+)\s*")


def _finite_number(value: object) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def parse_duration(value: object, key: str = "duration") -> float:
    """Seconds from a number of seconds or a string with units: ``"250ms"``,
    ``"90s"``, ``"15m"`` (or ``"15min"``), ``"4h"``, ``"30d"``, ``"2w"``,
    ``"1y"`` (365 days), or a sum such as ``"1h30m"``."""
    if _finite_number(value):
        seconds = float(value)  # type: ignore[arg-type]
    elif isinstance(value, str) and re.fullmatch(rf"(?:\s*{_DURATION_PART})+\s*", value):
        seconds = sum(float(n) * _SECONDS[u] for n, u in re.findall(_DURATION_PART, value))
    else:
        raise ConfigError(key, value, "is not a duration: give seconds as a number, or a number "
                                      "with a unit (ms, s, m, h, d, w, y), e.g. '90s' or '30d'")
    if seconds < 0:
        raise ConfigError(key, value, "must not be negative")
    return seconds


def parse_rate(value: object, key: str = "rate") -> float:
    """Events per second from a number (per second) or ``"N/unit"``:
    ``"2/s"``, ``"90/min"``, ``"300/h"``, ``"5000/day"``, ``"1/week"``, ``"1/y"``."""
    if _finite_number(value):
        rate = float(value)  # type: ignore[arg-type]
    else:
        match = _RATE.fullmatch(value) if isinstance(value, str) else None
        if match is None or match[2] not in _PER:
            raise ConfigError(key, value, "is not a rate: give events per second as a number, "
                                          "or 'N/unit' (s, min, h, day, week, year), "
                                          "e.g. '2/s' or '5000/day'")
        rate = float(match[1]) / _PER[match[2]]
    if rate < 0:
        raise ConfigError(key, value, "must not be negative")
    return rate


# --------------------------------------------------------------------------- public API


def load_scenario(path: str | os.PathLike[str], *,
                  overrides: Mapping[str, object] | None = None,
                  strategy: str | None = None) -> Scenario:
    """Read, validate and build the scenario in the TOML file ``path``.

    ``overrides`` sets dotted keys before validation, e.g.
    ``{"workload.enroll_rate": 5, "ca[1].workers": 2}``; ``strategy`` makes
    every CA use that allocation strategy (numbers keep their values).
    Relative paths in the file (``cs_cfg``, ``workload.trace``) are relative to
    the file.  Raises :class:`ConfigError` only.
    """
    source = os.fspath(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as err:
        raise ConfigError("file", source, f"cannot be read: {err.strerror or err}") from None
    try:
        text = raw.decode("utf-8")
        data = tomllib.loads(text)
    except UnicodeDecodeError as err:
        raise ConfigError("file", source, f"is not UTF-8 text (byte {err.start})") from None
    except tomllib.TOMLDecodeError as err:
        raise _syntax_error(err, text, source) from None
    return _scenario(data, source, text, Path(source).parent, overrides, strategy)


def scenario_from_dict(data: Mapping[str, Any], source: str = "<dict>", *,
                       base_dir: str | os.PathLike[str] | None = None,
                       overrides: Mapping[str, object] | None = None,
                       strategy: str | None = None) -> Scenario:
    """The scenario that ``data`` (a parsed TOML document) describes.

    Errors name ``source``; relative paths are relative to ``base_dir``
    (default: the working directory).
    """
    return _scenario(data, source, None, Path(base_dir or "."), overrides, strategy)


def _scenario(data: Mapping[str, Any], source: str, text: str | None, base_dir: Path,
              overrides: Mapping[str, object] | None, strategy: str | None) -> Scenario:
    data = copy.deepcopy(dict(data))
    overridden: list[KeyPath] = []
    try:
        for key, value in (overrides or {}).items():
            overridden.append(_parse_key(str(key), value))
            _set(data, overridden[-1], value)
    except ConfigError as err:
        raise err.with_source(f"{source} (override)") from None
    try:
        if strategy is not None:
            check_strategy(strategy, key="--strategy")
        return _Builder(data, base_dir, source, strategy).scenario()
    except ConfigError as err:
        raise _placed(err, data, source, text, overridden) from None


# --------------------------------------------------------------------------- key paths


def _dotted(path: KeyPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _parse_key(key: str, value: object = None) -> KeyPath:
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


def _set(data: dict[str, Any], path: KeyPath, value: object) -> None:
    """Set an override, creating missing tables (array entries must exist)."""
    node: Any = data
    for i, part in enumerate(path):
        if isinstance(part, int) and not (isinstance(node, list) and part < len(node)):
            count = len(node) if isinstance(node, list) else 0
            raise ConfigError(_dotted(path[: i + 1]), value, f"no such entry: there are {count}")
        if isinstance(part, str) and not isinstance(node, dict):
            raise ConfigError(_dotted(path[: i + 1]), value, "is not inside a table")
        if i == len(path) - 1:
            node[part] = value
        elif isinstance(part, str):
            node = node.setdefault(part, [] if isinstance(path[i + 1], int) else {})
        else:
            node = node[part]


def _raw(data: object, path: KeyPath) -> object:
    """The value at ``path`` as written, or ``_MISSING``."""
    for part in path:
        try:
            data = data[part] if isinstance(data, dict | list) else _MISSING  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            return _MISSING
    return data


_MISSING = object()


def _placed(err: ConfigError, data: Mapping[str, Any], source: str, text: str | None,
            overridden: list[KeyPath]) -> ConfigError:
    """``err`` with the value as written, the file and (if found) the line."""
    try:
        path = _parse_key(err.key)
    except ConfigError:
        return err.with_source(source)
    value = _raw(data, path)
    if value is _MISSING or isinstance(value, dict | list):
        value = err.value
    located = ConfigError(err.key, value, err.reason)
    if any(path[: len(o)] == o for o in overridden):
        return located.with_source(f"{source} (override)")
    return located.with_source(source, _line_of(text, path) if text is not None else None)


_ATOM = r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'"""
_KEY = rf"(?:{_ATOM})(?:\s*\.\s*(?:{_ATOM}))*"


def _key_parts(key: str) -> list[str]:
    return [p.strip("\"'") for p in re.findall(_ATOM, key)]


def _line_of(text: str, target: KeyPath) -> int | None:
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


# --------------------------------------------------------------------------- typed values


def _unknown(key: str, allowed: Collection[str]) -> str:
    same_case = [a for a in allowed if a.lower() == key.lower()]
    close = same_case or difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
    if close:
        return f"unknown key; did you mean {close[0]!r}?"
    return f"unknown key; expected one of {', '.join(sorted(allowed))}"


def _int(value: object, path: KeyPath) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(_dotted(path), value, "must be an integer")
    return value


def _number(value: object, path: KeyPath) -> float:
    if not _finite_number(value):
        raise ConfigError(_dotted(path), value, "must be a number")
    return float(value)  # type: ignore[arg-type]


def _bool(value: object, path: KeyPath) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(_dotted(path), value, "must be true or false")
    return value


def _str(value: object, path: KeyPath) -> str:
    if not isinstance(value, str):
        raise ConfigError(_dotted(path), value, "must be a string")
    return value


def _strings(value: object, path: KeyPath) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(_dotted(path), value, "must be a list of strings")
    return tuple(value)


def _duration(value: object, path: KeyPath) -> float:
    return parse_duration(value, _dotted(path))


def _duration_with_unit(value: object, path: KeyPath) -> float:
    """Dogtag writes the CRL intervals in minutes: a bare number would be ambiguous."""
    if not isinstance(value, str):
        raise ConfigError(_dotted(path), value, "give a unit, e.g. '240m' or '4h' (Dogtag writes "
                                                "this interval in minutes, pkisim in seconds)")
    return parse_duration(value, _dotted(path))


def _rate(value: object, path: KeyPath) -> float:
    return parse_rate(value, _dotted(path))


class _Table:
    """One TOML table being read: every key must be known, and the typed
    getters name the key's dotted path on error."""

    def __init__(self, data: object, path: KeyPath, allowed: Collection[str]) -> None:
        if not isinstance(data, dict):
            raise ConfigError(_dotted(path), data, "must be a table")
        for key in data:
            if key not in allowed:
                raise ConfigError(_dotted((*path, key)), data[key], _unknown(key, allowed))
        self.data, self.path = data, path

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def at(self, key: str) -> KeyPath:
        return (*self.path, key)

    def get(self, key: str, convert: Callable[[object, KeyPath], T], default: T) -> T:
        return convert(self.data[key], self.at(key)) if key in self.data else default

    def require(self, key: str, convert: Callable[[object, KeyPath], T]) -> T:
        if key not in self.data:
            raise ConfigError(_dotted(self.at(key)), None, "is required")
        return convert(self.data[key], self.at(key))

    def table(self, key: str, allowed: Collection[str]) -> _Table:
        return _Table(self.data.get(key, {}), self.at(key), allowed)

    def tables(self, key: str, allowed: Collection[str]) -> list[_Table]:
        items = self.data.get(key, [])
        if not isinstance(items, list):
            raise ConfigError(_dotted(self.at(key)), items, f"must be an array of [[{key}]] tables")
        return [_Table(item, (*self.at(key), i), allowed) for i, item in enumerate(items)]


@contextmanager
def _renamed(old: str, new: KeyPath) -> Iterator[None]:
    """Re-key a dataclass error (``ca.ca2.workers`` -> ``ca[1].workers``)."""
    try:
        yield
    except ConfigError as err:
        if err.key == old or err.key.startswith(old + "."):
            raise ConfigError(_dotted(new) + err.key[len(old):], err.value, err.reason) from None
        raise


# --------------------------------------------------------------------------- ID-space keys

_RANGE_FIELDS = ("begin", "end", "next_begin", "next_end", "increment", "low_water_mark",
                 "clone_transfer_number")
#: CS.cfg name (without ``dbs.``) -> (ID space, IdSpaceConfig field).
_ID_KEYS: dict[str, tuple[IdKind | None, str]] = {
    getattr(KEYS[kind], name): (kind, name) for kind in IdKind for name in _RANGE_FIELDS}
_ID_KEYS.update({
    "enableSerialManagement": (None, "serial_management"),
    "serialNumberUpdateInterval": (None, "update_interval"),
    "cert_id_length": (IdKind.CERT, "id_length"),
    "request_id_length": (IdKind.REQUEST, "id_length"),
})
#: Spellings copied from CS.cfg (TOML reads the dots as nested tables).
_ID_ALIASES = {"ca.serialNumberUpdateInterval": "serialNumberUpdateInterval",
               "cert.id.length": "cert_id_length", "request.id.length": "request_id_length"}
_BEGIN_END = {k for k, (_, name) in _ID_KEYS.items() if name in ("begin", "end")}


def _id_name(dotted_name: str) -> str:
    name = dotted_name.removeprefix("dbs.")
    return _ID_ALIASES.get(name, name)


def _id_entries(table: object, path: KeyPath) -> dict[str, tuple[object, KeyPath]]:
    """``[... .ids]`` as {CS.cfg name: (value as written, key path)}.

    Dotted CS.cfg spellings (``dbs.serialIncrement``, ``cert.id.length``) are
    nested tables to TOML; they are flattened back here.
    """
    if not isinstance(table, dict):
        raise ConfigError(_dotted(path), table, "must be a table of CS.cfg dbs.* keys")
    out: dict[str, tuple[object, KeyPath]] = {}
    for dotted_name, value, here in _flatten(table, path, ""):
        name = _id_name(dotted_name)
        if name not in _ID_KEYS:
            raise ConfigError(_dotted(here), value, _unknown(name, _ID_KEYS))
        out[name] = (value, here)
    return out


def _flatten(table: dict[str, Any], path: KeyPath,
             prefix: str) -> Iterator[tuple[str, object, KeyPath]]:
    for key, value in table.items():
        if isinstance(value, dict):
            yield from _flatten(value, (*path, key), f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value, (*path, key)


def _id_value(name: str, value: object, path: KeyPath, strategy: str) -> object:
    """One ID-space value as an IdSpaceConfig field value; strings in ``strategy``'s radix."""
    kind, field = _ID_KEYS[name]
    if field == "serial_management":
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        return _bool(value, path)
    if field == "update_interval":
        return _duration(value, path)
    if field == "id_length":
        return _int(value, path)
    assert kind is not None
    if isinstance(value, str):
        number = radix_for(kind, strategy).parse(value, key=_dotted(path))
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise ConfigError(_dotted(path), value, "must be an integer, or a string written as in "
                                                "CS.cfg")
    if field in ("next_begin", "next_end") and number == -1:
        return None  # Dogtag's "no next range"
    return number


# --------------------------------------------------------------------------- the builder

_TOP = ("name", "description", "duration", "seed", "strategy", "start_date", "throughput_bin",
        "directory", "workload", "load_balancer", "crl", "defaults", "ca", "faults",
        "random_faults", "metrics")
_DISTRIBUTIONS = ("enroll", "revoke", "crl_fetch", "crl_generation", "directory_latency")
_CA_DEFAULTS = ("workers", "kra_connector", *_DISTRIBUTIONS)
_CA_KEYS = ("name", "role", "replica", "donor", "created_at", "decommissioned_at", "crl_master",
            "cs_cfg", "ids", *_CA_DEFAULTS)
_CA_TARGETS = ("crash", "maintenance", "crl-down", "crl-move")


class _Builder:
    """Reads one scenario document into the dataclasses of :mod:`pkisim.sim.config`."""

    def __init__(self, data: dict[str, Any], base_dir: Path, source: str,
                 strategy: str | None) -> None:
        self.top = _Table(data, (), _TOP)
        self.base_dir, self.source = base_dir, source
        #: The strategy the file's ID values are written for, and the one the CAs use.
        self.file_strategy = check_strategy(self.top.get("strategy", _str, "legacy2"),
                                            key="strategy")
        self.strategy = strategy or self.file_strategy
        self.start = self.top.get("start_date", self._date, dt.datetime(2026, 1, 1))
        self.directory = self.directory_spec()
        self.replicas = self.directory.replicas
        self.ca_tables = self.top.tables("ca", _CA_KEYS)
        if not self.ca_tables:
            raise ConfigError("ca", None, "a scenario needs at least one [[ca]]")
        self.ca_names: list[str] = []
        for table in self.ca_tables:
            name = table.require("name", _str)
            if name in self.ca_names:
                raise ConfigError(_dotted(table.at("name")), name, "another CA has this name")
            self.ca_names.append(name)
            role = table.get("role", _str, "clone")
            if role not in ("master", "clone"):
                raise ConfigError(_dotted(table.at("role")), role, "choose master or clone")
        masters = [t for t in self.ca_tables if t.data.get("role") == "master"]
        if len(masters) != 1:
            where = masters[1].at("role") if masters else ("ca",)
            raise ConfigError(_dotted(where), "master" if masters else None,
                              "exactly one [[ca]] must have role = \"master\"")

    def scenario(self) -> Scenario:
        top = self.top
        defaults = top.table("defaults", ("ca", "ids"))
        ca_defaults = self.ca_defaults(defaults.table("ca", _CA_DEFAULTS))
        default_ids = _id_entries(defaults.data.get("ids", {}), ("defaults", "ids"))
        cas = tuple(self.ca(t, ca_defaults, default_ids) for t in self.ca_tables)
        self.check_donors(cas)
        name = top.get("name", _str, Path(self.source).stem if "<" not in self.source
                       else "scenario")
        seed = top.get("seed", _int, 0)
        if seed < 0:
            raise ConfigError("seed", seed, "must be >= 0")
        bin_ = top.get("throughput_bin", _duration, 60.0)
        if bin_ <= 0:
            raise ConfigError("throughput_bin", bin_, "must be > 0 seconds")
        return Scenario(
            name=name, duration=top.require("duration", _duration), cas=cas,
            strategy=self.strategy, seed=seed, description=top.get("description", _str, ""),
            directory=self.directory, workload=self.workload(),
            load_balancer=self.load_balancer(), crl=self.crl(), faults=self.faults(),
            random_faults=self.random_faults(), start_date=self.start.date().isoformat(),
            throughput_bin=bin_,
            requests_table=top.table("metrics", ("requests",)).get("requests", _str, "full"))

    # -- times

    def _date(self, value: object, path: KeyPath) -> dt.datetime:
        if isinstance(value, dt.datetime | dt.date):
            date = value
        elif isinstance(value, str):
            try:
                date = dt.date.fromisoformat(value)
            except ValueError:
                raise ConfigError(_dotted(path), value, "is not an ISO date such as "
                                                        "2026-01-01") from None
        else:
            raise ConfigError(_dotted(path), value, "must be a date such as 2026-01-01")
        if isinstance(date, dt.datetime):
            return date.replace(tzinfo=None)
        return dt.datetime.combine(date, dt.time())

    def _time(self, value: object, path: KeyPath) -> float:
        """A point in simulated time: a duration from the start, or a TOML date/time."""
        if isinstance(value, dt.date | dt.datetime):
            seconds = (self._date(value, path) - self.start).total_seconds()
            if seconds < 0:
                raise ConfigError(_dotted(path), value, f"is before start_date "
                                                        f"{self.start.date().isoformat()}")
            return seconds
        return _duration(value, path)

    # -- sections

    def directory_spec(self) -> sim.DirectorySpec:
        table = self.top.table("directory", ("replicas", "lag"))
        return sim.DirectorySpec(replicas=table.get("replicas", _strings, ("ds1",)),
                             lag=table.get("lag", _duration, 0.5))

    def workload(self) -> sim.Workload:
        table = self.top.table("workload", (
            "enroll_rate", "revoke_rate", "crl_fetch_rate", "diurnal_amplitude", "peak_hour",
            "key_archival_fraction", "clients", "trace", "bursts", "retry"))
        peak_hour = table.get("peak_hour", _number, 14.0)
        if not 0 <= peak_hour < 24:
            raise ConfigError("workload.peak_hour", peak_hour, "must be in [0, 24)")
        bursts = tuple(sim.Burst(start=b.require("start", self._time),
                                 duration=b.require("duration", _duration),
                                 factor=b.require("factor", _number))
                       for b in table.tables("bursts", ("start", "duration", "factor")))
        retry = table.table("retry", ("max_retries", "backoff", "timeout"))
        max_retries = retry.get("max_retries", _int, 2)
        if max_retries < 0:
            raise ConfigError("workload.retry.max_retries", max_retries, "must be >= 0")
        timeout = retry.get("timeout", _duration, 30.0)
        if timeout <= 0:
            raise ConfigError("workload.retry.timeout", timeout, "must be > 0 seconds")
        trace = table.get("trace", self._trace, None)
        if trace is not None and "enroll_rate" in table:
            raise ConfigError("workload.enroll_rate", table.data["enroll_rate"],
                              "the trace replaces Poisson enrollments: give one or the other")
        return sim.Workload(
            enroll_rate=table.get("enroll_rate", _rate, 0.0 if trace else 1.0),
            revoke_rate=table.get("revoke_rate", _rate, 0.0),
            crl_fetch_rate=table.get("crl_fetch_rate", _rate, 0.0),
            diurnal_amplitude=table.get("diurnal_amplitude", _number, 0.0),
            peak_hour=peak_hour, bursts=bursts,
            trace=trace,
            key_archival_fraction=table.get("key_archival_fraction", _number, 0.0),
            clients=table.get("clients", _int, 1000),
            retry=sim.RetryPolicy(max_retries=max_retries, timeout=timeout,
                                  backoff=retry.get("backoff", _duration, 5.0)))

    def _trace(self, value: object, path: KeyPath) -> str:
        """The trace's absolute path, after reading it as the simulation will."""
        file = str((self.base_dir / _str(value, path)).resolve())
        try:
            read_trace(file)
        except ConfigError as err:
            raise ConfigError(_dotted(path), value, f"{file}: {err.reason}") from None
        except UnicodeDecodeError:
            raise ConfigError(_dotted(path), value, f"{file}: is not UTF-8 text") from None
        return file

    def load_balancer(self) -> sim.LoadBalancer:
        table = self.top.table("load_balancer", ("policy", "health_interval",
                                                 "failure_threshold"))
        return sim.LoadBalancer(
            policy=table.get("policy", _str, "round-robin"),  # type: ignore[arg-type]
            health_interval=table.get("health_interval", _duration, 10.0),
            failure_threshold=table.get("failure_threshold", _int, 3))

    def crl(self) -> sim.CrlSpec:
        table = self.top.table("crl", ("auto_update_interval", "always_update",
                                       "listen_to_clone_modifications", "cache_rebuild_interval",
                                       "clone_mode"))
        interval = table.get("cache_rebuild_interval", _duration_with_unit, 86400.0)
        if interval <= 0:
            raise ConfigError("crl.cache_rebuild_interval", interval, "must be > 0")
        return sim.CrlSpec(
            auto_update_interval=table.get("auto_update_interval", _duration_with_unit, 14400.0),
            always_update=table.get("always_update", _bool, False),
            listen_to_clone_modifications=table.get("listen_to_clone_modifications", _bool, True),
            cache_rebuild_interval=interval,
            clone_mode=table.get("clone_mode", _str, "replicated"))  # type: ignore[arg-type]

    def faults(self) -> tuple[sim.Fault, ...]:
        out = []
        for i, table in enumerate(self.top.tables("faults", ("kind", "target", "at", "duration",
                                                              "lag"))):
            kind = table.require("kind", _str)
            with _renamed("faults", ("faults", i)):
                out.append(sim.Fault(kind=kind, at=table.require("at", self._time),
                                     target=table.require("target", self._target(kind)),
                                     duration=table.get("duration", _duration, None),
                                     lag=table.get("lag", _duration, None)))
        return tuple(out)

    def _target(self, kind: str) -> Callable[[object, KeyPath], str | tuple[tuple[str, ...], ...]]:
        def convert(value: object, path: KeyPath) -> str | tuple[tuple[str, ...], ...]:
            if kind == "partition":
                groups = value if isinstance(value, list) else None
                if not groups or not all(isinstance(g, list) for g in groups):
                    raise ConfigError(_dotted(path), value, 'a partition target is a list of '
                                                            'replica groups: [["ds1"], ["ds2"]]')
                seen: set[object] = set()
                for j, group in enumerate(groups):
                    for k, name in enumerate(group):
                        _known(name, self.replicas, (*path, j, k), "directory.replicas")
                        if name in seen:
                            raise ConfigError(_dotted((*path, j, k)), name,
                                              "is in two groups: the groups must be disjoint")
                        seen.add(name)
                return tuple(tuple(g) for g in groups)
            name = _str(value, path)
            if kind in _CA_TARGETS:
                _known(name, self.ca_names, path, "the CA names")
            elif kind == "replica-down":
                _known(name, self.replicas, path, "directory.replicas")
            return name
        return convert

    def random_faults(self) -> sim.RandomFaults:
        table = self.top.table("random_faults", ("mean_duration", "spike_lag", "rates_per_day"))
        kinds = [k for k in sim.FAULT_KINDS if k != "crl-move"]
        rates = table.table("rates_per_day", kinds)
        mean = table.get("mean_duration", _duration, 600.0)
        if mean <= 0:
            raise ConfigError("random_faults.mean_duration", mean, "must be > 0 seconds")
        per_day = {kind: rates.require(kind, _per_day) for kind in rates.data}
        with _renamed("random_faults", ("random_faults", "rates_per_day")):
            return sim.RandomFaults(rates_per_day=per_day, mean_duration=mean,
                                    spike_lag=table.get("spike_lag", _duration, 60.0))

    # -- CAs

    def ca_defaults(self, table: _Table) -> dict[str, Any]:
        """``[defaults.ca]`` over CaSpec's own defaults."""
        fields = {f.name: f.default for f in dataclasses.fields(CaSpec)}
        out = {name: fields[name] for name in _CA_DEFAULTS}
        out["workers"] = table.get("workers", _int, out["workers"])
        out["kra_connector"] = table.get("kra_connector", _bool, out["kra_connector"])
        for name in _DISTRIBUTIONS:
            out[name] = table.get(name, _distribution(out[name]), out[name])
        return out

    def ca(self, table: _Table, defaults: dict[str, Any],
           default_ids: dict[str, tuple[object, KeyPath]]) -> CaSpec:
        name = table.require("name", _str)
        role = table.get("role", _str, "clone")
        if len(self.replicas) == 1:
            replica = table.get("replica", _str, self.replicas[0])
        else:
            replica = table.require("replica", _str)
        _known(replica, self.replicas, table.at("replica"), "directory.replicas")
        donor = table.get("donor", _str, None)
        if donor is not None:
            _known(donor, self.ca_names, table.at("donor"), "the CA names")
            if role == "master":
                raise ConfigError(_dotted(table.at("donor")), donor, "a master has no donor")
        options: dict[str, Any] = {
            "workers": table.get("workers", _int, defaults["workers"]),
            "kra_connector": table.get("kra_connector", _bool, defaults["kra_connector"])}
        for key in _DISTRIBUTIONS:
            options[key] = table.get(key, _distribution(defaults[key]), defaults[key])
        with _renamed(f"ca.{name}", table.path):
            return CaSpec(name=name, replica=replica, role=role,  # type: ignore[arg-type]
                          donor=donor, created_at=table.get("created_at", self._time, 0.0),
                          decommissioned_at=table.get("decommissioned_at", self._time, None),
                          crl_master=table.get("crl_master", _bool, False),
                          ids=self.ids(table, name, role, donor, default_ids), **options)

    def check_donors(self, cas: tuple[CaSpec, ...]) -> None:
        order = {ca.name: i for i, ca in enumerate(cas)}
        for ca, table in zip(cas, self.ca_tables, strict=True):
            if ca.donor is None:
                continue
            donor = cas[order[ca.donor]]
            if donor.name == ca.name:
                raise ConfigError(_dotted(table.at("donor")), ca.donor, "a CA cannot be its own "
                                                                        "donor")
            if (donor.created_at, order[donor.name]) > (ca.created_at, order[ca.name]):
                raise ConfigError(_dotted(table.at("donor")), ca.donor,
                                  "the donor must exist first: give it an earlier created_at, "
                                  "or list it before this CA")
            if donor.decommissioned_at is not None and donor.decommissioned_at <= ca.created_at:
                raise ConfigError(_dotted(table.at("donor")), ca.donor,
                                  "the donor is decommissioned before this clone is created")

    def ids(self, table: _Table, name: str, role: str, donor: str | None,
            default_ids: dict[str, tuple[object, KeyPath]],
            ) -> dict[IdKind, IdSpaceConfig] | None:
        """The CA's ID spaces: from its CS.cfg, or pkispawn's values under
        ``[defaults.ids]`` under ``[ca.ids]``; ``None`` for a clone whose ranges
        come by transfer from its donor."""
        own = _id_entries(table.data.get("ids", {}), table.at("ids"))
        if "cs_cfg" in table:
            return self.apply_ids(self.from_cscfg(table), own, {}, table.at("ids"),
                                  f"the value in {table.data['cs_cfg']}")
        if role == "clone" and not own.keys() & _BEGIN_END:
            if donor is not None and own:
                value, path = next(iter(own.values()))
                raise ConfigError(_dotted(path), value,
                                  f"clone {name} gets its ranges by transfer from {donor} and "
                                  "takes these settings from it; give this CA begin/end keys "
                                  "or a cs_cfg to configure its own, or use [defaults.ids]")
            return None  # by transfer (or CaSpec's "a clone needs a donor")
        base = master_configs(self.strategy, host=name, serial_management=role == "clone")
        return self.apply_ids(base, own, default_ids, table.at("ids"), "pkispawn's value")

    def apply_ids(self, base: dict[IdKind, IdSpaceConfig],
                  own: dict[str, tuple[object, KeyPath]],
                  default_ids: dict[str, tuple[object, KeyPath]],
                  ids_path: KeyPath, origin: str) -> dict[IdKind, IdSpaceConfig]:
        """``base`` with the scenario's values (``[ca.ids]`` over ``[defaults.ids]``),
        in the scenario's strategy."""
        entries = {**default_ids, **own}
        changes: dict[IdKind, dict[str, object]] = {kind: {} for kind in IdKind}
        for key, (value, path) in entries.items():
            kind, field = _ID_KEYS[key]
            converted = _id_value(key, value, path, self.file_strategy)
            for k in (IdKind if kind is None else (kind,)):
                changes[k][field] = converted
        out = {}
        for kind, config in base.items():
            strategy = replica_strategy(self.strategy) if kind is IdKind.REPLICA else self.strategy
            try:
                out[kind] = config.evolve(strategy=strategy, **changes[kind])
            except ConfigError as err:
                raise _id_error(err, entries, ids_path, origin) from None
        return out

    def from_cscfg(self, table: _Table) -> dict[IdKind, IdSpaceConfig]:
        value = table.require("cs_cfg", _str)
        key = _dotted(table.at("cs_cfg"))
        file = self.base_dir / value
        if not file.is_file():
            raise ConfigError(key, value, f"no such file: {file}")
        try:
            configs = load_ca(CSCfg.read(file))
        except ConfigError as err:
            raise ConfigError(key, value, str(err)) from None
        if self.strategy == self.file_strategy:  # no --strategy: the file must agree
            for kind in (IdKind.CERT, IdKind.REQUEST):
                if configs[kind].strategy != self.strategy:
                    raise ConfigError(key, value, f"{file} selects {configs[kind].strategy!r} "
                                      f"for {kind.value} IDs but the scenario's strategy is "
                                      f"{self.strategy!r}: make them agree, or use --strategy")
        return configs


def _id_error(err: ConfigError, entries: dict[str, tuple[object, KeyPath]],
              ids_path: KeyPath, origin: str) -> ConfigError:
    """An IdSpaceConfig error, named after the scenario key that set the value."""
    name = _id_name(err.key)
    if name in entries:
        value, path = entries[name]
        return ConfigError(_dotted(path), value, err.reason)
    suffix = f" ({origin})" if err.value is not None else ""
    return ConfigError(_dotted((*ids_path, name)), err.value, err.reason + suffix)


def _distribution(base: Distribution) -> Callable[[object, KeyPath], Distribution]:
    """A distribution table merged over ``base``, or a bare duration (constant)."""
    def convert(value: object, path: KeyPath) -> Distribution:
        key = _dotted(path)
        if not isinstance(value, dict):
            return Distribution("constant", _duration(value, path), key=key)
        table = _Table(value, path, ("kind", "mean", "cv", "low", "high"))
        return Distribution(kind=table.get("kind", _str, base.kind),  # type: ignore[arg-type]
                            mean=table.get("mean", _duration, base.mean),
                            cv=table.get("cv", _number, base.cv),
                            low=table.get("low", _duration, base.low),
                            high=table.get("high", _duration, base.high), key=key)
    return convert


def _per_day(value: object, path: KeyPath) -> float:
    """A number per day, or a rate string such as ``"1/week"``."""
    if isinstance(value, str):
        return parse_rate(value, _dotted(path)) * 86400
    rate = _number(value, path)
    if rate < 0:
        raise ConfigError(_dotted(path), value, "must not be negative")
    return rate


def _known(name: object, names: Collection[str], path: KeyPath, what: str) -> None:
    if name in names:
        return
    close = difflib.get_close_matches(str(name), list(names), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ConfigError(_dotted(path), name, f"not one of {what} {list(names)}{hint}")
