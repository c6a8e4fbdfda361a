"""``timeline.png``: latency (every attempt, and p50/p95/p99 per bin) and
throughput over time, failures by cause; each fault window a shaded band, each
fault action a vertical line (Jepsen's report plots).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import LogLocator

from pkisim.report.figure import (
    LEGEND_OUTSIDE,
    MAX_POINTS,
    SECONDS,
    TimeAxis,
    draw_faults,
    draw_title,
    draw_topology,
    seconds_label,
    stride,
)
from pkisim.report.style import new_figure, styled
from pkisim.sim.metrics import OkTotals, RunResult
from pkisim.sim.workload import KIND_NAMES

_OUTCOME_COLORS = {"fail": "#d62728", "timeout": "#ff7f0e", "info": "#9467bd"}
_KIND_COLORS = {"enroll": "#1f77b4", "revoke": "#2ca02c", "crl": "#7f7f7f"}
_CAUSE_COLORS = ("#d62728", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#bcbd22",
                 "#17becf", "#7f7f7f")
_BINS = (1, 5, 10, 30, 60, 300, 600, 900, 1800, 3600, 7200, 3 * 3600, 6 * 3600, 12 * 3600,
         86400, 2 * 86400, 7 * 86400)
_UNITS = ((86400.0, "day"), (3600.0, "hour"), (60.0, "minute"), (1.0, "second"))


def _bin_width(duration: float, target: int = 400) -> float:
    return next((b for b in _BINS if duration / b <= target), _BINS[-1])


def _rate_unit(width: float) -> tuple[float, str]:
    """Per which unit to show counts of a ``width``-second bin."""
    return next(((s, u) for s, u in _UNITS if width >= s), (1.0, "second"))


def _binned_quantiles(t: np.ndarray, values: np.ndarray, width: float, nbins: int,
                      qs: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Bin starts with at least one value, and the quantiles per bin (rows)."""
    index = np.minimum((t // width).astype(np.int64), nbins - 1)
    order = np.lexsort((values, index))
    index, values = index[order], values[order]
    bins, starts, counts = np.unique(index, return_index=True, return_counts=True)
    out = np.empty((len(qs), len(bins)))
    for row, q in enumerate(qs):  # the nearest-rank quantile within each bin
        out[row] = values[starts + np.floor(q * (counts - 1)).astype(np.int64)]
    return bins * width + width / 2, out


@dataclass(frozen=True)
class _Bins:
    """The timeline's time bins: ``width`` seconds, counts shown per ``unit``."""

    width: float
    count: int
    per: float  # seconds in ``unit``
    unit: str

    @classmethod
    def for_run(cls, duration: float) -> _Bins:
        width = _bin_width(duration)
        return cls(width, max(1, math.ceil(duration / width)), *_rate_unit(width))

    def index(self, t: np.ndarray) -> np.ndarray:
        return np.minimum((t // self.width).astype(np.int64), self.count - 1)

    def rates(self, t: np.ndarray) -> np.ndarray:
        """Events at times ``t`` per ``unit``, per bin."""
        return np.bincount(self.index(t), minlength=self.count) * (self.per / self.width)


@styled
def timeline_figure(result: RunResult, *, pyplot: bool = True) -> Figure:
    """``timeline.png``: latency, throughput and failures over time.

    A :class:`~pkisim.report.style.PlotFigure` registered with pyplot (Jupyter shows
    it, ``plt.show()`` opens it), drawn in the report's style; ``pyplot=False``: a
    bare figure pyplot does not hold (what ``pkisim run`` writes).
    """
    s = result.scenario
    req = result.requests
    axis = TimeAxis.for_run(s.duration, s.start_date)
    bins = _Bins.for_run(s.duration)
    failed = req["outcome"].astype(str).to_numpy() != "ok"
    causes = req.loc[failed, "cause"].astype(str).value_counts().index.tolist()
    rows = 3 if causes else 2
    fig = new_figure((12.5, 9.0 if causes else 7.2), pyplot=pyplot)
    axes = fig.subplots(rows, 1, sharex=True, height_ratios=[3.2, 2.0, 1.6][:rows])
    draw_title(fig, result, "latency and throughput over time")
    handles = _latency_panel(axes[0], req, axis, bins, result.ok_totals is not None)
    _throughput_panel(axes[1], req, axis, bins, result.ok_totals, s.throughput_bin)
    if causes:
        _failure_panel(axes[2], req, axis, bins, causes)
    handles += draw_faults(axes, result, axis)
    draw_topology(axes, result, axis)
    axes[0].legend(handles=handles, **LEGEND_OUTSIDE)
    for a in axes:
        axis.setup(a, s.duration, label=a is axes[-1])
    return fig


def _latency_panel(ax: Axes, req: pd.DataFrame, axis: TimeAxis, bins: _Bins,
                   aggregate: bool = False) -> list[Line2D | Patch]:
    """Every attempt at its end time (ok: dots by kind, others: crosses), and
    the enrollment quantiles per bin.  Returns the legend handles."""
    end = req["end"].to_numpy()
    latency = np.maximum(req["latency"].to_numpy().astype(np.float64), 1e-4)
    kinds = req["kind"].astype(str).to_numpy()
    outcomes = req["outcome"].astype(str).to_numpy()
    handles: list[Line2D | Patch] = []
    for kind, color in _KIND_COLORS.items():
        mine = np.flatnonzero((outcomes == "ok") & (kinds == kind))
        if len(mine):
            pick = mine[stride(len(mine), MAX_POINTS // 2)]
            ax.scatter(axis.x(end[pick]), latency[pick], s=3, lw=0, alpha=0.25, color=color,
                       rasterized=True, zorder=2)
            handles.append(Line2D([], [], ls="", marker="o", ms=4, color=color,
                                  label=f"{kind} ok ({len(mine):,})"))
    for outcome, color in _OUTCOME_COLORS.items():
        mine = np.flatnonzero(outcomes == outcome)
        if len(mine):
            pick = mine[stride(len(mine), 5000)]
            ax.scatter(axis.x(end[pick]), latency[pick], s=14, marker="x", lw=0.9,
                       color=color, alpha=0.7, zorder=3, rasterized=True)
            handles.append(Line2D([], [], ls="", marker="x", color=color,
                                  label=f"{outcome} ({len(mine):,})"))
    enroll = (outcomes == "ok") & (kinds == "enroll")
    if enroll.any():
        centers, qs = _binned_quantiles(end[enroll], latency[enroll], bins.width, bins.count,
                                        (0.5, 0.95, 0.99))
        for row, (name, ls) in enumerate((("p50", "-"), ("p95", "--"), ("p99", ":"))):
            ax.plot(axis.x(centers), qs[row], color="black", lw=1.3, ls=ls, zorder=4)
            handles.append(Line2D([], [], color="black", ls=ls, label=f"enroll {name}"))
    ax.set_yscale("log")
    low, high = np.quantile(latency, [0.001, 1.0]) if len(latency) else (1e-3, 1.0)
    narrow = high / max(low, 1e-4) < 300  # less than 2.5 decades: label 1, 2, 5 x 10^k
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if narrow else (1.0,)))
    ax.yaxis.set_major_formatter(SECONDS)
    ax.set_ylabel("latency (log scale)")
    if aggregate:
        ax.set_title("Request latency — attempts that did not end ok, by end time (ok attempts "
                     "were aggregated: [metrics] requests = \"aggregate\")")
    else:
        ax.set_title(f"Request latency — points: attempts by end time; lines: enrollment "
                     f"quantiles per {seconds_label(bins.width)}")
    return handles


def _throughput_panel(ax: Axes, req: pd.DataFrame, axis: TimeAxis, bins: _Bins,
                      totals: OkTotals | None, total_width: float) -> None:
    end = req["end"].to_numpy()
    kinds = req["kind"].astype(str).to_numpy()
    good = req["outcome"].astype(str).to_numpy() == "ok"
    x = axis.x(np.arange(bins.count) * bins.width + bins.width / 2)
    for kind, color in _KIND_COLORS.items():
        mine = good & (kinds == kind)
        if totals is not None and totals.bins[:, KIND_NAMES.index(kind)].any():
            counts = totals.bins[:, KIND_NAMES.index(kind)]  # aggregate: no ok rows, counts
            ax.plot(axis.x(np.arange(len(counts)) * total_width + total_width / 2),
                    counts * (bins.per / total_width), color=color, lw=1.2,
                    label=f"{kind} ok (bins of {seconds_label(total_width)})")
        elif mine.any():
            ax.plot(x, bins.rates(end[mine]), color=color, lw=1.2, label=f"{kind} ok")
    if (~good).any():
        ax.fill_between(x, bins.rates(end[~good]), color="#d62728", alpha=0.35, lw=0,
                        step="mid", label="failed attempts")
    else:
        ax.text(0.99, 0.95, "no failed attempts", transform=ax.transAxes, ha="right",
                va="top", color="#2ca02c", fontweight="bold")
    ax.set_ylim(bottom=0)
    ax.set_ylabel(f"per {bins.unit}")
    ax.set_title(f"Throughput — completed attempts per {bins.unit} "
                 f"(bins of {seconds_label(bins.width)})")
    ax.legend(**LEGEND_OUTSIDE)


def _failure_panel(ax: Axes, req: pd.DataFrame, axis: TimeAxis, bins: _Bins,
                   causes: list[str]) -> None:
    """Failed attempts per bin, stacked by cause (most frequent first)."""
    end = req["end"].to_numpy()
    cause_of = req["cause"].astype(str).to_numpy()
    failed = req["outcome"].astype(str).to_numpy() != "ok"
    x = axis.x(np.arange(bins.count) * bins.width + bins.width / 2)
    bottom = np.zeros(bins.count)
    for i, cause in enumerate(causes):
        rates = bins.rates(end[failed & (cause_of == cause)])
        ax.bar(x, rates, width=axis.x(bins.width) - axis.x(0.0), bottom=bottom, lw=0,
               color=_CAUSE_COLORS[i % len(_CAUSE_COLORS)], label=cause)
        bottom += rates
    ax.set_ylabel(f"per {bins.unit}")
    ax.set_title(f"Failed attempts by cause (per {bins.unit})")
    ax.legend(**LEGEND_OUTSIDE)


__all__ = ["timeline_figure"]
