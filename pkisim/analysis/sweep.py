"""Parameter sweeps with replications: every point of a sweep file run
``replications`` times, in parallel, as one tidy table and a summary with 95 %
confidence intervals.

>>> sweep = load_sweep("scenarios/sweeps/steady-state-rate.toml")   # doctest: +SKIP
>>> result = run_sweep(sweep, workers=2)                              # doctest: +SKIP
>>> result.summary.query("metric == 'latency.enroll.p95'")           # doctest: +SKIP

Run ``j`` of point ``i`` gets the seed ``Seeds(seed).child(f"point {i}/replication {j}")``:
it depends on nothing else, so the results are the same for any number
of workers, on a Dask cluster, and when a ``[target]`` adds replications in
batches.  ``pkisim run SCENARIO --seed S --set KEY=VALUE ...`` replays one run.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pkisim.analysis.executors import (
    Executor,
    Outcome,
    SweepError,
    Task,
    chunked,
    make_executor,
)
from pkisim.analysis.stats import proportion_ci, t_quantile
from pkisim.analysis.sweepfile import Sweep
from pkisim.report import output as out
from pkisim.seeding import Seeds

__all__ = ["SweepResult", "run_seed", "run_sweep"]

LEVEL = 0.95
#: Metrics the printed table shows when the sweep file names none.
TABLE_METRICS = ("issued", "requests.fail", "duplicated_count", "latency.enroll.p95")


def run_seed(root: int, point: int, replication: int) -> int:
    """The seed of one run, derived from the sweep's like every stream of a run
    (:meth:`Seeds.child`): it depends on nothing but the root and (i, j)."""
    return Seeds(root).child(f"point {point}/replication {replication}").seed


# --------------------------------------------------------------------------- running


def run_sweep(sweep: Sweep, *, workers: int = 1, scheduler: str | None = None,
              scheduler_timeout: float = 60.0, progress: bool = True,
              executor: Executor | None = None) -> SweepResult:
    """Run every point ``sweep.replications`` times (more when a target asks).

    ``workers`` processes (1: in this process), or the Dask scheduler at
    ``scheduler`` (an error if no worker joins it within ``scheduler_timeout``
    seconds), or an ``executor`` you keep across sweeps
    (:class:`~pkisim.analysis.executors.ProcessExecutor`).  ``progress`` shows a
    bar on stderr when it is a terminal.  Raises :class:`SweepError` when a run
    fails; leaving on an error or an interrupt stops the runs of a backend made here.
    """
    own = executor is None
    backend = make_executor(workers, scheduler, scheduler_timeout) if own else executor
    bar = _Bar(enabled=progress)
    finished = False
    try:
        outcomes = _replicate(sweep, backend, bar)
        finished = True
    finally:
        bar.close()
        if own:
            backend.close(abort=not finished)
    return SweepResult.from_outcomes(sweep, outcomes)


def _replicate(sweep: Sweep, backend: Executor, bar: _Bar) -> list[Outcome]:
    counts = {p.index: 0 for p in sweep.points}
    wanted = {p.index: sweep.replications for p in sweep.points}
    outcomes: list[Outcome] = []
    while True:
        tasks = [Task(i, j, run_seed(sweep.seed, i, j), sweep.points[i].scenario)
                 for i in sorted(wanted) for j in range(counts[i], wanted[i])]
        if not tasks:
            return outcomes
        bar.grow(len(tasks))
        for batch in backend.run((sweep.metrics, c) for c in chunked(tasks, backend.workers)):
            for outcome in batch:
                if outcome.error is not None:
                    point = sweep.points[outcome.point]
                    raise SweepError(f"{sweep.source}: point {point.index} ({point.label}) "
                                     f"replication {outcome.replication} (seed {outcome.seed}): "
                                     f"{outcome.error}")
            outcomes += batch
            bar.update(len(batch))
        counts = dict(wanted)
        wanted = _more(sweep, outcomes, counts)


def _more(sweep: Sweep, outcomes: list[Outcome], counts: dict[int, int]) -> dict[int, int]:
    """Points whose target interval is still too wide, with their new counts."""
    target = sweep.target
    if target is None:
        return {}
    mine: dict[int, list[Outcome]] = {i: [] for i in counts}
    for o in outcomes:
        mine[o.point].append(o)
    step = target.batch or sweep.replications
    wanted = {}
    for i, done in mine.items():
        n, mean, _, low, high = _interval(done, target.metric)
        if counts[i] < target.max_replications and not (n and target.met(mean,
                                                                          (high - low) / 2)):
            wanted[i] = min(target.max_replications, counts[i] + step)
    return {i: wanted.get(i, c) for i, c in counts.items()} if wanted else {}


def _value(metrics: Mapping[str, float], name: str) -> float:
    """A run's metric; a failure cause that did not occur counted as 0."""
    if name in metrics:
        return float(metrics[name])
    return 0.0 if name.startswith("failures.") else math.nan


def _interval(outcomes: Sequence[Outcome], metric: str) -> tuple[int, float, float, float,
                                                                  float]:
    """n, mean, standard deviation and the 95 % interval of ``metric`` over
    ``outcomes``: Wilson's for a proportion (:func:`~pkisim.analysis.stats.proportion_ci`,
    never outside [0, 1]), else Student's t."""
    pairs = [(_value(o.metrics, metric), o.trials.get(metric)) for o in outcomes]
    pairs = [(v, t) for v, t in pairs if not math.isnan(v)]
    data = np.array([v for v, _ in pairs], dtype=np.float64)
    n = len(data)
    if n == 0:
        return 0, math.nan, math.nan, math.nan, math.nan
    mean = float(data.mean())
    std = float(data.std(ddof=1)) if n > 1 else math.nan
    trials = [t for _, t in pairs]
    if all(t is not None for t in trials):
        interval = proportion_ci(data.tolist(), trials, LEVEL)  # type: ignore[arg-type]
        return n, mean, std, interval.low, interval.high
    if n == 1:
        return 1, mean, std, -math.inf, math.inf
    half = t_quantile((1 + LEVEL) / 2, n - 1) * std / math.sqrt(n)
    return n, mean, std, mean - half, mean + half


# --------------------------------------------------------------------------- the result


@dataclass(frozen=True)
class SweepResult:
    """``runs``: one row per run and metric (point, parameters, replication,
    seed, metric, value); ``summary``: one row per point and metric (n, mean,
    std, ci_low, ci_high, half_width of the 95 % interval: Wilson's for a
    proportion, such as ``requests.failed_fraction`` or ``valid``, so never
    outside [0, 1]; Student's t otherwise); ``invalid``: the runs
    that issued a duplicate or broke a range invariant (point, replication, seed)."""

    sweep: Sweep
    runs: pd.DataFrame
    summary: pd.DataFrame
    invalid: pd.DataFrame
    missing_metrics: tuple[str, ...] = ()

    @classmethod
    def from_outcomes(cls, sweep: Sweep, outcomes: Iterable[Outcome]) -> SweepResult:
        done = sorted(outcomes, key=lambda o: (o.point, o.replication))
        names = list(dict.fromkeys(k for o in done for k in o.metrics))
        wanted = [m for m in sweep.metrics or () if not any(c in m for c in "*?[")]
        missing = tuple(m for m in wanted if m not in names and not m.startswith("failures."))
        names += [m for m in wanted if m not in names]
        matrix = np.array([[_value(o.metrics, m) for m in names] for o in done],
                          dtype=np.float64).reshape(len(done), len(names))
        points = np.array([o.point for o in done], dtype=np.int64)
        runs = _frame(sweep, {
            "point": np.repeat(points, len(names)),
            "replication": np.repeat(np.array([o.replication for o in done], np.int64),
                                     len(names)),
            "seed": np.repeat(np.array([o.seed for o in done], np.int64), len(names)),
            "metric": pd.Categorical(names * len(done), categories=names),
            "value": matrix.reshape(-1)})
        rows: dict[str, list[Any]] = {k: [] for k in ("point", "metric", "n", "mean", "std",
                                                      "ci_low", "ci_high", "half_width")}
        for p in sweep.points:
            block = [o for o in done if o.point == p.index]
            for metric in names:
                n, mean, std, low, high = _interval(block, metric)
                for key, value in zip(rows, (p.index, metric, n, mean, std, low, high,
                                             (high - low) / 2), strict=True):
                    rows[key].append(value)
        rows["point"] = np.array(rows["point"], dtype=np.int64)  # type: ignore[assignment]
        rows["n"] = np.array(rows["n"], dtype=np.int64)  # type: ignore[assignment]
        rows["metric"] = pd.Categorical(rows["metric"], categories=names)  # type: ignore
        summary = _frame(sweep, rows)
        bad = [o for o in done if not o.valid]
        invalid = pd.DataFrame({"point": np.array([o.point for o in bad], np.int64),
                                "replication": np.array([o.replication for o in bad], np.int64),
                                "seed": np.array([o.seed for o in bad], np.int64)})
        return cls(sweep, runs, summary, invalid, missing)

    @property
    def valid(self) -> bool:
        return not len(self.invalid)

    def invalid_points(self) -> list[int]:
        return sorted(set(self.invalid["point"].tolist()))

    def metric(self, name: str) -> pd.DataFrame:
        """The summary rows of one metric, one per point."""
        return self.summary[self.summary["metric"] == name].reset_index(drop=True)

    def provenance(self) -> dict[str, Any]:
        """What sweep.json holds: the inputs, their hashes, the code, the verdict."""
        sweep = self.sweep
        runs = self.runs.groupby("point", observed=True)["replication"].nunique()
        return {
            "sweep_file": sweep.source,
            "sweep_file_sha256": out.file_sha256(Path(sweep.source)),
            "scenario_file": str(sweep.scenario_file),
            "scenario_files_sha256": {str(path): out.file_sha256(path) for path in sorted(
                {sweep.scenario_file} | {p.scenario_file for p in sweep.points})},
            "seed": sweep.seed, "replications": sweep.replications,
            "seeds": "run j of point i: Seeds(seed).child('point i/replication j')",
            "overrides": {k: out.plain(v) for k, v in sweep.overrides},
            "metrics": list(sweep.metrics) if sweep.metrics else None,
            "target": out.plain(sweep.target),
            "points": [{"point": p.index, "params": {k: out.plain(v) for k, v in p.params},
                        "runs": int(runs.get(p.index, 0))}
                       for p in sweep.points],
            "runs": int(runs.sum()),
            "valid": self.valid,
            "invalid_runs": [{"point": int(r.point), "replication": int(r.replication),
                              "seed": int(r.seed)} for r in self.invalid.itertuples()],
            "missing_metrics": list(self.missing_metrics),
            "code": out.code_version(),
        }

    def write(self, directory: str | Path) -> list[Path]:
        """runs.parquet, summary.parquet, summary.csv and sweep.json, put into
        ``directory`` atomically (an existing one only if it is a previous sweep)."""
        staging = out.Staging(Path(directory), marker="sweep.json")
        try:
            files = [staging.path / n for n in ("runs.parquet", "summary.parquet", "summary.csv",
                                               "sweep.json")]
            out.write_parquet(out.parquet_ready(self.runs), files[0])
            summary = out.parquet_ready(self.summary)
            out.write_parquet(summary, files[1])
            summary.to_csv(files[2], index=False, lineterminator="\n")
            out.write_json(files[3], self.provenance())
            staging.commit()
        except BaseException:
            staging.discard()
            raise
        return [staging.destination / f.name for f in files]

    def table(self, metrics: Sequence[str] | None = None) -> str:
        """The summary as text: one line per point, mean ± half-width per metric."""
        shown = list(metrics or _shown(self))
        head = ["point", *self.sweep.parameters, "runs", *shown]
        rows = []
        summary = self.summary.set_index(["point", "metric"], drop=False)
        bad = set(self.invalid_points())
        for p in self.sweep.points:
            params, n = dict(p.params), 0
            row = [str(p.index) + (" !" if p.index in bad else ""),
                   *(str(params.get(k, "")) for k in self.sweep.parameters)]
            cells = []
            for m in shown:
                if (p.index, m) in summary.index:
                    s = summary.loc[(p.index, m)]
                    cells.append(_pm(s["mean"], s["half_width"], s["ci_low"], s["ci_high"]))
                    n = int(s["n"])
                else:
                    cells.append("-")
            row += [str(n), *cells]
            rows.append(row)
        widths = [max(len(r[c]) for r in [head, *rows]) for c in range(len(head))]
        lines = ["  ".join(t.rjust(w) for t, w in zip(r, widths, strict=True))
                 for r in [head, *rows]]
        if bad:
            lines.append(f"! invalid runs (duplicates or range violations) at points "
                         f"{', '.join(map(str, sorted(bad)))}")
        return "\n".join(lines)


def _shown(result: SweepResult) -> list[str]:
    present = list(result.summary["metric"].cat.categories)
    target = [result.sweep.target.metric] if result.sweep.target else []
    chosen = [m for m in (result.sweep.metrics or TABLE_METRICS) if m in present]
    return list(dict.fromkeys(target + chosen))[:5]


def _pm(mean: float, half: float, low: float, high: float) -> str:
    """``mean ± half``, or ``mean [low, high]`` for an interval not centred on
    the mean (Wilson's, on a proportion)."""
    if math.isnan(mean):
        return "-"
    if math.isnan(half) or math.isinf(half):
        return f"{mean:.4g}"
    if abs((mean - low) - (high - mean)) > 1e-9 * max(1.0, abs(mean)):
        return f"{mean:.4g} [{low:.2g}, {high:.2g}]"
    return f"{mean:.4g} ± {half:.2g}"


def _frame(sweep: Sweep, columns: dict[str, Any]) -> pd.DataFrame:
    """A frame with one column per parameter (values as given) after ``point``."""
    points = np.asarray(columns["point"])
    frame = pd.DataFrame({"point": points})
    for key in sweep.parameters:
        given = [dict(p.params).get(key) for p in sweep.points]
        frame[key] = pd.Series([given[i] for i in points.tolist()], dtype=object,
                               ).infer_objects() if len(points) else pd.Series([], dtype=object)
    for key, value in columns.items():
        if key != "point":
            frame[key] = value
    return frame


class _Bar:
    """A tqdm bar over runs, in the parent, on stderr when it is a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.bar: Any = None
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=0, unit=" runs", desc="sweep", file=sys.stderr, leave=False)

    def grow(self, n: int) -> None:
        if self.bar is not None:
            self.bar.total += n
            self.bar.refresh()

    def update(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
