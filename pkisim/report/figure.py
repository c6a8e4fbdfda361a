"""What the three run plots share: the simulated-time axis, the title line,
fault windows and topology changes drawn across every panel, the colours, the
legend's place and how durations read.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.dates as mdates
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from pkisim.sim.metrics import RunResult

#: Legend placement: outside the axes, on the right, top-aligned.
LEGEND_OUTSIDE = {"loc": "upper left", "bbox_to_anchor": (1.005, 1.0), "borderaxespad": 0}
#: Scatter points per plot (a deterministic :func:`stride` beyond that).
MAX_POINTS = 60_000
_CA_COLORS = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#bcbd22", "#7f7f7f",
              "#e377c2", "#ff7f0e")
FAULT_COLORS = {"crash": "#d62728", "maintenance": "#ff7f0e", "replica-down": "#8c564b",
                "partition": "#9467bd", "lag-spike": "#bcbd22", "crl-down": "#e377c2",
                "crl-move": "#17becf"}


@dataclass(frozen=True)
class TimeAxis:
    """Simulated seconds on the x axis: calendar dates (from the scenario's
    ``start_date``) for long runs, else days, hours, minutes or seconds."""

    scale: float
    unit: str
    origin: float | None = None  # matplotlib date number of t = 0

    @classmethod
    def for_run(cls, duration: float, start_date: str) -> TimeAxis:
        if duration >= 45 * 86400:
            start = dt.datetime.combine(dt.date.fromisoformat(start_date), dt.time())
            return cls(86400.0, "date", float(mdates.date2num(start)))
        return cls(*duration_unit(duration))

    def x(self, t: np.ndarray | float) -> np.ndarray | float:
        return t / self.scale + (self.origin or 0.0)

    def setup(self, ax: Axes, duration: float, label: bool = True) -> None:
        ax.set_xlim(self.x(0.0), self.x(duration))
        if self.origin is not None:
            locator = mdates.AutoDateLocator(minticks=5, maxticks=12)
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        elif label:
            ax.set_xlabel(f"simulated time since start ({self.unit})")


def duration_unit(seconds: float) -> tuple[float, str]:
    """The unit to show durations up to ``seconds`` in, as (seconds per unit, name)."""
    for scale, unit in ((86400.0, "days"), (3600.0, "hours"), (60.0, "minutes")):
        if seconds >= 2 * scale:
            return scale, unit
    return 1.0, "seconds"


def stride(n: int, limit: int = MAX_POINTS) -> slice:
    """Every k-th of ``n`` points, so that at most ``limit`` are drawn."""
    return slice(None, None, max(1, math.ceil(n / limit)))


def draw_faults(axes: Sequence[Axes], result: RunResult, axis: TimeAxis) -> list[Patch]:
    """A band per fault window, a line at each start (solid) and heal (dashed);
    labels on the first axes when there are few.  Returns legend handles."""
    duration = result.scenario.duration
    rows = [(str(kind), str(target), float(start), min(float(end), duration))
            for kind, target, start, end in result.faults.fillna(duration).itertuples(index=False)]
    labelled = len(rows) <= 12
    for i, (kind, target, start, end) in enumerate(rows):
        color = FAULT_COLORS.get(kind, "#7f7f7f")
        for ax in axes:
            if end > start:
                ax.axvspan(axis.x(start), axis.x(end), color=color, alpha=0.13, lw=0, zorder=0)
                ax.axvline(axis.x(end), color=color, lw=1.0, ls="--", alpha=0.8, zorder=1)
            ax.axvline(axis.x(start), color=color, lw=1.2, alpha=0.9, zorder=1)
        if labelled:
            axes[0].text(axis.x(start), 0.98 - 0.09 * (i % 3), f" {kind} {target}",
                         transform=axes[0].get_xaxis_transform(), fontsize=8, color=color,
                         fontweight="bold", va="top", ha="left", zorder=5,
                         bbox={"facecolor": "white", "alpha": 0.75, "lw": 0, "pad": 1})
    kinds = dict.fromkeys(kind for kind, *_ in rows)
    return [Patch(color=FAULT_COLORS.get(k, "#7f7f7f"), alpha=0.35, label=f"fault: {k}")
            for k in kinds]


def draw_topology(axes: Sequence[Axes], result: RunResult, axis: TimeAxis) -> None:
    """Dotted lines where a clone joins or a CA is decommissioned."""
    for ca in result.scenario.cas:
        marks = []
        if ca.created_at > 0 and ca.created_at < result.scenario.duration:
            marks.append((ca.created_at, f" {ca.name} added"))
        if ca.decommissioned_at is not None:
            marks.append((ca.decommissioned_at, f" {ca.name} removed"))
        for t, text in marks:
            if t < 0.01 * result.scenario.duration:
                continue  # installed with the others, long before anything happens
            for ax in axes:
                ax.axvline(axis.x(t), color="#444444", lw=1, ls=":", zorder=1)
            axes[0].text(axis.x(t), 0.02, text, transform=axes[0].get_xaxis_transform(),
                         fontsize=8, color="#444444", va="bottom", ha="left")


def draw_title(fig: Figure, result: RunResult, what: str) -> None:
    """The scenario's name and ``what`` the figure shows; seed, strategy and verdict."""
    s = result.scenario
    verdict = result.verdict
    state = "VALID" if verdict.get("valid") and not verdict.get("range_violations") else "INVALID"
    fig.suptitle(f"{s.name} — {what}", x=0.01, ha="left", fontsize=13, fontweight="bold")
    fig.text(0.99, 0.995, f"seed {result.seed} · strategy {s.strategy} · {state}",
             ha="right", va="top", fontsize=9.5,
             color="#2ca02c" if state == "VALID" else "#d62728", fontweight="bold")


def seconds_label(value: float, _pos: object = None) -> str:
    """A duration in seconds as short text ("90 s", "1.5 h"); a tick formatter too."""
    if value <= 0:
        return "0"
    for scale, unit in ((86400, "d"), (3600, "h"), (60, "min"), (1, "s"), (1e-3, "ms")):
        if value >= scale * 0.999:
            number = value / scale
            return f"{number:.0f} {unit}" if number >= 1 - 1e-9 and number == round(number) \
                else f"{number:.3g} {unit}"
    return f"{value * 1e6:.3g} µs"


#: A tick formatter for axes in seconds.
SECONDS = FuncFormatter(seconds_label)


def ca_colors(result: RunResult) -> dict[str, str]:
    """One colour per CA of the scenario, in its order."""
    return {ca.name: _CA_COLORS[i % len(_CA_COLORS)] for i, ca in enumerate(result.scenario.cas)}


__all__ = ["FAULT_COLORS", "LEGEND_OUTSIDE", "MAX_POINTS", "SECONDS", "TimeAxis", "ca_colors",
           "draw_faults", "draw_title", "draw_topology", "duration_unit", "seconds_label",
           "stride"]
