"""Sweep files: TOML in, a validated :class:`Sweep` (every point's scenario built) out.

A sweep is a scenario file, a set of points (parameter values) and a number of
replications of each point::

    scenario = "../steady-state.toml"      # relative to the sweep file
    replications = 20
    seed = 7                               # the root of every run's seed
    metrics = ["issued", "latency.enroll.p95"]   # optional; default: all

    [overrides]                            # optional: set on every point
    duration = "1d"

    [grid]                                 # cartesian product, in file order
    "workload.enroll_rate" = ["2000/day", "5000/day", "10000/day"]
    strategy = ["legacy2", "random"]

    [[points]]                             # and/or an explicit list
    "defaults.ids.serialLowWaterMark" = "0x800"

    [target]                               # optional: replicate until narrow
    metric = "latency.enroll.p95"
    half_width = 0.05
    relative = true
    max_replications = 200

Parameter keys are the scenario's dotted keys (``load_scenario``'s overrides);
``strategy`` is the allocation strategy of every CA and ``scenario`` another
scenario file.  With both ``[grid]`` and ``[[points]]`` each listed point is
combined with every grid combination.  Every point is validated when the file
is loaded (a sweep of more than :data:`MAX_POINTS` is refused before any is);
an error is one line naming the sweep file, the key and the value, and the
scenario's own error.  :func:`check_budget` refuses a sweep whose runs together
would be too much work (:mod:`pkisim.scenario.estimate`).  The keys are documented in
``scenarios/sweeps/README.md``.
"""

from __future__ import annotations

import fnmatch
import itertools
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pkisim.errors import ConfigError
from pkisim.scenario import load_scenario
from pkisim.scenario.document import read_document
from pkisim.scenario.estimate import Budget, amount, estimate
from pkisim.sim import Scenario

__all__ = ["MAX_POINTS", "METRIC_SECTIONS", "Point", "Sweep", "Target", "check_budget",
           "load_sweep", "sweep_from_dict"]

#: The most points a sweep file may ask for (``--max-points``): each is a scenario built.
MAX_POINTS = 10_000
_MAX_SEED = 2**63 - 1

_TOP = {"scenario", "replications", "seed", "metrics", "overrides", "grid", "points", "target"}
_TARGET = {"metric", "half_width", "relative", "max_replications", "batch"}
#: Parameters that are not scenario overrides.
SPECIAL = ("scenario", "strategy")
#: The first part of every metric name: the sections of ``RunResult.summary()``.
METRIC_SECTIONS = ("valid", "issued", "duplicated_count", "possible_duplicated_count",
                   "range_violations", "verdict", "requests", "failures", "latency", "claims",
                   "crl", "faults", "forecast", "stats")


@dataclass(frozen=True, slots=True)
class Point:
    """One combination of parameter values and the scenario it gives."""

    index: int
    params: tuple[tuple[str, Any], ...]
    scenario: Scenario
    scenario_file: Path

    @property
    def label(self) -> str:
        """``workload.enroll_rate='5000/day', strategy='random'`` (or ``defaults``)."""
        return ", ".join(f"{k}={v!r}" for k, v in self.params) or "defaults"


@dataclass(frozen=True, slots=True)
class Target:
    """Add replications until every point's 95 % interval of ``metric`` has a
    half-width of at most ``half_width`` (times ``|mean|`` when ``relative``)."""

    metric: str
    half_width: float
    relative: bool = False
    max_replications: int = 100
    batch: int | None = None  # replications added per round (default: the initial count)

    def met(self, mean: float, half_width: float) -> bool:
        bound = self.half_width * abs(mean) if self.relative else self.half_width
        return half_width <= bound


@dataclass(frozen=True, slots=True)
class Sweep:
    """Points times replications of one scenario, validated."""

    source: str
    scenario_file: Path
    replications: int
    seed: int
    parameters: tuple[str, ...]
    points: tuple[Point, ...]
    metrics: tuple[str, ...] | None = None
    target: Target | None = None
    overrides: tuple[tuple[str, Any], ...] = ()

    @property
    def runs(self) -> int:
        """Runs before any replication a target adds."""
        return len(self.points) * self.replications

    def keeps(self, metric: str) -> bool:
        """Whether ``metrics`` (names or shell patterns) selects ``metric``."""
        return selects(self.metrics, metric)


def selects(patterns: tuple[str, ...] | None, metric: str) -> bool:
    """Whether ``metric`` matches one of ``patterns`` (names or shell patterns;
    None selects every metric)."""
    return patterns is None or any(fnmatch.fnmatchcase(metric, p) for p in patterns)


# --------------------------------------------------------------------------- loading


def load_sweep(path: str | os.PathLike[str], *, overrides: Mapping[str, object] | None = None,
               replications: int | None = None, seed: int | None = None,
               max_points: int = MAX_POINTS) -> Sweep:
    """Read and validate the sweep file ``path``.

    ``overrides`` are added to the file's ``[overrides]`` (the CLI's ``--set``);
    ``replications`` and ``seed`` replace the file's.  A sweep of more than
    ``max_points`` points is refused before any point is built.  Raises
    :class:`ConfigError`.
    """
    source = os.fspath(path)
    data, _ = read_document(path)  # the scenario files' reader: the same limits and lines
    if overrides:
        data["overrides"] = {**_flat(data.get("overrides", {}), "overrides", source),
                             **overrides}
    if replications is not None:
        data["replications"] = replications
    if seed is not None:
        data["seed"] = seed
    return sweep_from_dict(data, source, base_dir=Path(source).parent, max_points=max_points)


def sweep_from_dict(data: Mapping[str, Any], source: str = "<dict>", *,
                    base_dir: str | os.PathLike[str] = ".", max_points: int = MAX_POINTS) -> Sweep:
    """The sweep that ``data`` (a parsed sweep file) describes; relative
    scenario paths are relative to ``base_dir``."""
    base = Path(base_dir)

    def fail(key: str, value: object, reason: str) -> ConfigError:
        return ConfigError(key, value, reason, source=source)

    unknown = sorted(set(data) - _TOP)
    if unknown:
        raise fail(unknown[0], data[unknown[0]], f"unknown key; expected one of {sorted(_TOP)}")
    if "scenario" not in data:
        raise fail("scenario", None, "is required: the scenario file to sweep")
    scenario_file = _path(data["scenario"], "scenario", base, fail)
    replications = _count(data.get("replications", 1), "replications", fail)
    seed = data.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= _MAX_SEED:
        raise fail("seed", seed, "must be an integer from 0 to 2**63 - 1")
    metrics = _metrics(data.get("metrics"), fail)
    fixed = _flat(data.get("overrides", {}), "overrides", source)
    for key in ("scenario", "seed"):
        if key in fixed:
            raise fail(f"overrides.{key}", fixed[key], "cannot be set here (a top-level key "
                                                       "of the sweep file)")
    combos = _combinations(data, source, fail, max_points)
    parameters = tuple(dict.fromkeys(k for combo in combos for k in combo))
    clash = [k for k in parameters if k in fixed]
    if clash:
        raise fail(f"overrides.{clash[0]}", fixed[clash[0]], "is also a swept parameter")
    points = tuple(_point(i, combo, fixed, scenario_file, base, source, fail)
                   for i, combo in enumerate(combos))
    target = _target(data.get("target"), metrics, replications, fail)
    return Sweep(source, scenario_file, replications, seed, parameters, points, metrics, target,
                 tuple(fixed.items()))


def check_budget(sweep: Sweep, budget: Budget, *, workers: int = 1) -> None:
    """Refuse a sweep whose runs together are estimated over ``budget``'s events
    (every replication a ``[target]`` may add counted), or whose runs, ``workers``
    at a time, over its memory: one line naming the sweep file, the point or
    key that makes it huge, and the option that allows it."""
    runs = sweep.target.max_replications if sweep.target else sweep.replications
    estimates = [estimate(p.scenario) for p in sweep.points]
    worst = max(range(len(estimates)), key=lambda i: estimates[i].events)
    heaviest = max(range(len(estimates)), key=lambda i: estimates[i].memory)
    total = sum(e.events for e in estimates) * runs
    points = len(sweep.points)
    try:
        budget.check(estimates[worst], prefix=f"point {worst}: ")  # one run alone
        if total > budget.max_events:  # all of them together
            key, value = (("target.max_replications" if sweep.target else "replications", runs)
                          if runs >= points else ("grid", f"{points:,} points"))
            raise ConfigError(key, value, f"{points:,} points x {runs:,} runs of about "
                              f"{amount(total / runs / points)} events each: about "
                              f"{amount(total)} events, over the limit of "
                              f"{amount(budget.max_events)}: allow it with --max-events "
                              f"{amount(total * 1.1)}")
        budget.check(estimates[heaviest], at_once=min(workers, runs * points),
                     prefix=f"point {heaviest}: ")
    except ConfigError as err:
        raise err.with_source(sweep.source) from None


def _path(value: object, key: str, base: Path, fail: Any) -> Path:
    if not isinstance(value, str) or not value:
        raise fail(key, value, "must be a path to a scenario file (relative to the sweep file)")
    path = Path(value) if os.path.isabs(value) else base / value
    try:
        found = path.is_file()
    except OSError as err:  # a name too long, a loop of links
        raise fail(key, value, f"cannot be read: {err.strerror or err}") from None
    if not found:
        raise fail(key, value, f"no such scenario file: {path}")
    return path


def _count(value: object, key: str, fail: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise fail(key, value, "must be an integer >= 1")
    return value


def _flat(table: object, key: str, source: str) -> dict[str, Any]:
    """``{"workload": {"enroll_rate": [...]}}`` -> ``{"workload.enroll_rate": [...]}``:
    dotted keys written bare or quoted give the same names."""
    if not isinstance(table, Mapping):
        raise ConfigError(key, table, "must be a table of dotted scenario keys", source=source)
    out: dict[str, Any] = {}
    for name, value in table.items():
        if isinstance(value, Mapping) and value:
            for sub, leaf in _flat(value, f"{key}.{name}", source).items():
                out[f"{name}.{sub}"] = leaf
        else:
            out[str(name)] = value
    return out


def _combinations(data: Mapping[str, Any], source: str, fail: Any,
                  max_points: int) -> list[dict[str, Any]]:
    grid = _flat(data.get("grid", {}), "grid", source)
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise fail(f"grid.{key}", values, "must be a non-empty list of values")
        _parameter(key, f"grid.{key}", values, fail)
    listed = data.get("points")
    if listed is not None and (not isinstance(listed, list) or not listed or
                               not all(isinstance(p, Mapping) for p in listed)):
        raise fail("points", listed, "must be a non-empty array of tables ([[points]])")
    count = math.prod(len(v) for v in grid.values()) * len(listed or [None])
    if count > max_points:  # before a single point is built
        widest = max(grid, key=lambda k: len(grid[k]), default=None)
        key = f"grid.{widest}" if widest is not None else "points"
        value = grid[widest] if widest is not None else listed
        sizes = " x ".join(str(len(v)) for v in grid.values())
        if listed:
            sizes = f"{sizes} x {len(listed)} listed" if grid else f"{len(listed)} listed"
        raise fail(key, value, f"the sweep has {count:,} points ({sizes}), over the limit of "
                               f"{max_points:,}: allow it with --max-points {count}")
    rows = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
    if listed is None:
        return rows
    combos = []
    for n, table in enumerate(listed):
        point = _flat(table, f"points[{n}]", source)
        for key, value in point.items():
            _parameter(key, f"points[{n}].{key}", value, fail)
            if key in grid:
                raise fail(f"points[{n}].{key}", value, "is also a [grid] key")
        combos += [{**point, **row} for row in rows]
    return combos


def _parameter(key: str, where: str, value: object, fail: Any) -> None:
    if key == "seed":
        raise fail(where, value, "cannot be swept: each run's seed derives from the sweep's "
                                 "seed; use replications")
    if key in ("name", "description"):
        raise fail(where, value, "cannot be swept (not a parameter)")


def _point(index: int, combo: dict[str, Any], fixed: dict[str, Any], scenario_file: Path,
           base: Path, source: str, fail: Any) -> Point:
    settings = {**fixed, **combo}
    path = scenario_file
    if "scenario" in combo:
        path = _path(combo["scenario"], f"point {index}: scenario", base, fail)
    strategy = settings.pop("strategy", None)
    overrides = {k: v for k, v in settings.items() if k not in SPECIAL}
    try:
        scenario = load_scenario(path, overrides=overrides, strategy=strategy)
    except ConfigError as err:
        key = err.key if err.key in settings else _culprit(err, settings)
        where = "overrides" if key in fixed and key not in combo else f"point {index}"
        value = settings.get(key, err.value) if key != "--strategy" else strategy
        name = "strategy" if key == "--strategy" else key
        raise fail(f"{where}: {name}", value, f"rejected by the scenario: {err}") from None
    return Point(index, tuple(combo.items()), scenario, path)


def _culprit(err: ConfigError, settings: Mapping[str, Any]) -> str:
    """The swept key an error of the scenario is about (or its own key)."""
    for key in settings:
        if err.key.startswith(key) or key.startswith(err.key):
            return key
    return err.key


def _metrics(value: object, fail: Any, key: str = "metrics") -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(m, str) for m in value):
        raise fail("metrics", value, "must be a non-empty list of metric names, e.g. "
                                     "['issued', 'latency.enroll.p95']")
    for metric in value:
        head = metric.split(".")[0]
        if not any(fnmatch.fnmatchcase(s, head) for s in METRIC_SECTIONS):
            raise fail(key, metric, "is not a metric: names start with one of "
                                    + ", ".join(METRIC_SECTIONS))
    return tuple(value)


def _target(table: object, metrics: tuple[str, ...] | None, replications: int,
            fail: Any) -> Target | None:
    if table is None:
        return None
    if not isinstance(table, Mapping):
        raise fail("target", table, "must be a table with metric, half_width, max_replications")
    unknown = sorted(set(table) - _TARGET)
    if unknown:
        raise fail(f"target.{unknown[0]}", table[unknown[0]],
                   f"unknown key; expected one of {sorted(_TARGET)}")
    metric = table.get("metric")
    if not isinstance(metric, str) or _metrics([metric], fail, "target.metric") is None:
        raise fail("target.metric", metric, "must be a metric name, e.g. 'latency.enroll.p95'")
    if any(c in metric for c in "*?["):
        raise fail("target.metric", metric, "must be one metric, not a pattern")
    if not selects(metrics, metric):
        raise fail("target.metric", metric, "is not among the sweep's metrics")
    width = table.get("half_width")
    if not isinstance(width, int | float) or isinstance(width, bool) or \
            not 0 < width < math.inf:
        raise fail("target.half_width", width, "must be a finite number > 0")
    relative = table.get("relative", False)
    if not isinstance(relative, bool):
        raise fail("target.relative", relative, "must be true or false")
    most = _count(table.get("max_replications", 100), "target.max_replications", fail)
    if most < replications:
        raise fail("target.max_replications", most, f"is below replications ({replications})")
    batch = table.get("batch")
    if batch is not None:
        _count(batch, "target.batch", fail)
    return Target(metric, float(width), relative, most, batch)

