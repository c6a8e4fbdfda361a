"""Scenario values: durations, rates, distributions and typed keys, strictly read.

:func:`parse_duration` and :func:`parse_rate` read the units a scenario writes
(``"90s"``, ``"1h30m"``, ``"5000/day"``).  The converters below all take the
value as TOML gave it and its key path, and raise a
:class:`~pkisim.errors.ConfigError` naming that path; :class:`Table` reads one
TOML table through them and rejects unknown keys with a "did you mean".
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from typing import TypeVar

from pkisim.errors import ConfigError
from pkisim.scenario.keys import KeyPath, dotted
from pkisim.sim.config import Distribution

T = TypeVar("T")
#: A converter: the value as written and its key path in, the typed value out.
Converter = Callable[[object, KeyPath], T]

_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0,
            "w": 7 * 86400.0, "y": 365 * 86400.0}
_DURATION_PART = r"(\d+(?:\.\d+)?|\.\d+)\s*(ms|min|s|m|h|d|w|y)"
_PER = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0,
        "h": 3600.0, "hour": 3600.0, "d": 86400.0, "day": 86400.0, "w": 7 * 86400.0,
        "week": 7 * 86400.0, "y": 365 * 86400.0, "year": 365 * 86400.0}
#: The longest duration a scenario may write (simulated time is a float of seconds).
MAX_DURATION = 10_000 * 365 * 86400.0
#: Integers a scenario writes (TOML's own range): workers, clients, seeds, thresholds.
INT64 = (-(2**63), 2**63 - 1)
_RATE = re.compile(r"\s*(\d+(?:\.\d+)?|\.\d+)\s*/\s*([a-z]+)\s*")

# --------------------------------------------------------------------------- durations, rates


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
    if not seconds <= MAX_DURATION:  # also inf, from 400 digits of a string
        raise ConfigError(key, value, "is longer than 10000 years")
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
    if not math.isfinite(rate):
        raise ConfigError(key, value, "must be finite")
    return rate


# --------------------------------------------------------------------------- converters


def integer(value: object, path: KeyPath) -> int:
    """A TOML integer: 64 bits (ID values, which can be longer, are read by
    :mod:`pkisim.scenario.ids`)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(dotted(path), value, "must be an integer")
    if not INT64[0] <= value <= INT64[1]:
        raise ConfigError(dotted(path), value, "is out of range: a 64-bit integer")
    return value


def bounded(low: int, high: int, why: str = "") -> Converter[int]:
    """An integer converter that accepts ``low <= value <= high`` only."""
    def convert(value: object, path: KeyPath) -> int:
        number = integer(value, path)
        if not low <= number <= high:
            raise ConfigError(dotted(path), value, f"must be between {low:,} and {high:,}{why}")
        return number
    return convert


def number(value: object, path: KeyPath) -> float:
    if not _finite_number(value):
        raise ConfigError(dotted(path), value, "must be a number")
    return float(value)  # type: ignore[arg-type]


def boolean(value: object, path: KeyPath) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(dotted(path), value, "must be true or false")
    return value


def string(value: object, path: KeyPath) -> str:
    if not isinstance(value, str):
        raise ConfigError(dotted(path), value, "must be a string")
    return value


def strings(value: object, path: KeyPath) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(dotted(path), value, "must be a list of strings")
    return tuple(value)


def duration(value: object, path: KeyPath) -> float:
    return parse_duration(value, dotted(path))


def duration_with_unit(value: object, path: KeyPath) -> float:
    """Dogtag writes the CRL intervals in minutes: a bare number would be ambiguous."""
    if not isinstance(value, str):
        raise ConfigError(dotted(path), value, "give a unit, e.g. '240m' or '4h' (Dogtag writes "
                                               "this interval in minutes, pkisim in seconds)")
    return parse_duration(value, dotted(path))


def rate(value: object, path: KeyPath) -> float:
    return parse_rate(value, dotted(path))


def per_day(value: object, path: KeyPath) -> float:
    """A number per day, or a rate string such as ``"1/week"``."""
    if isinstance(value, str):
        return parse_rate(value, dotted(path)) * 86400
    per = number(value, path)
    if per < 0:
        raise ConfigError(dotted(path), value, "must not be negative")
    return per


def distribution(base: Distribution) -> Converter[Distribution]:
    """A distribution table merged over ``base``, or a bare duration (constant)."""
    def convert(value: object, path: KeyPath) -> Distribution:
        key = dotted(path)
        if not isinstance(value, dict):
            return Distribution("constant", duration(value, path), key=key)
        table = Table(value, path, ("kind", "mean", "cv", "low", "high"))
        return Distribution(kind=table.get("kind", string, base.kind),  # type: ignore[arg-type]
                            mean=table.get("mean", duration, base.mean),
                            cv=table.get("cv", coefficient_of_variation, base.cv),
                            low=table.get("low", duration, base.low),
                            high=table.get("high", duration, base.high), key=key)
    return convert


#: The largest coefficient of variation of a lognormal service time (its variance
#: is (cv * mean)**2: far beyond any real CA, and still a finite float).
MAX_CV = 1000.0


def coefficient_of_variation(value: object, path: KeyPath) -> float:
    cv = number(value, path)
    if not 0 < cv <= MAX_CV:
        raise ConfigError(dotted(path), value, f"must be > 0 and at most {MAX_CV:g}")
    return cv


def check_known(name: object, names: Collection[str], path: KeyPath, what: str) -> None:
    """``name`` must be one of ``names`` (described as ``what``), e.g. a replica."""
    if name in names:
        return
    close = difflib.get_close_matches(str(name), list(names), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ConfigError(dotted(path), name, f"not one of {what} {list(names)}{hint}")


def unknown_key(key: str, allowed: Collection[str]) -> str:
    """The reason an unknown ``key`` is rejected: the allowed key it resembles, or the list."""
    same_case = [a for a in allowed if a.lower() == key.lower()]
    close = same_case or difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
    if close:
        return f"unknown key; did you mean {close[0]!r}?"
    return f"unknown key; expected one of {', '.join(sorted(allowed))}"


# --------------------------------------------------------------------------- tables


class Table:
    """One TOML table being read: every key must be known, and the typed
    getters name the key's dotted path on error."""

    def __init__(self, data: object, path: KeyPath, allowed: Collection[str]) -> None:
        if not isinstance(data, dict):
            raise ConfigError(dotted(path), data, "must be a table")
        for key in data:
            if key not in allowed:
                raise ConfigError(dotted((*path, key)), data[key], unknown_key(key, allowed))
        self.data, self.path = data, path

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def at(self, key: str) -> KeyPath:
        return (*self.path, key)

    def get(self, key: str, convert: Converter[T], default: T) -> T:
        return convert(self.data[key], self.at(key)) if key in self.data else default

    def require(self, key: str, convert: Converter[T]) -> T:
        if key not in self.data:
            raise ConfigError(dotted(self.at(key)), None, "is required")
        return convert(self.data[key], self.at(key))

    def table(self, key: str, allowed: Collection[str]) -> Table:
        return Table(self.data.get(key, {}), self.at(key), allowed)

    def tables(self, key: str, allowed: Collection[str]) -> list[Table]:
        items = self.data.get(key, [])
        if not isinstance(items, list):
            raise ConfigError(dotted(self.at(key)), items, f"must be an array of [[{key}]] tables")
        return [Table(item, (*self.at(key), i), allowed) for i, item in enumerate(items)]


@contextmanager
def renamed(old: str, new: KeyPath) -> Iterator[None]:
    """Re-key a dataclass error (``ca.ca2.workers`` -> ``ca[1].workers``)."""
    try:
        yield
    except ConfigError as err:
        if err.key == old or err.key.startswith(old + "."):
            raise ConfigError(dotted(new) + err.key[len(old):], err.value, err.reason) from None
        raise
