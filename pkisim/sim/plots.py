"""The report's plots: three PNG files an operator can read at a glance.

``timeline.png``       latency (points and p50/p95/p99 per bin) and throughput over
                       time, failures by cause; each fault window a shaded band,
                       each fault action a vertical line (Jepsen's report plots)
``serial-space.png``   certificate serials issued per CA over time over the ranges
                       each CA held, with range claims, failed claims, switches,
                       transfers and duplicates marked; serials left per CA
``crl-staleness.png``  time from a revocation to the first CRL listing it: over
                       time, as a distribution, and which CA generated CRLs when

Deterministic: an Agg canvas without pyplot, matplotlib's default style plus
ours (whatever the user's matplotlibrc), fixed size and dpi, no metadata that
changes (``Software`` dropped): the same result gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib as mpl
import matplotlib.dates as mdates
import matplotlib.style
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator, MultipleLocator

from pkisim.history.history import VALUE_PRESENT, Op, OpType
from pkisim.ids.strategies import STRATEGY
from pkisim.sim.metrics import OkTotals, RunResult
from pkisim.sim.workload import KIND_NAMES

DPI = 110
PLOT_FILES = ("timeline.png", "serial-space.png", "crl-staleness.png")
STYLE = {
    "svg.hashsalt": "pkisim", "font.size": 9.5, "axes.titlesize": 10.5,
    "axes.titleweight": "bold", "axes.titlelocation": "left", "axes.grid": True,
    "grid.alpha": 0.3, "grid.linewidth": 0.6, "axes.spines.top": False,
    "axes.spines.right": False, "legend.fontsize": 8.5, "legend.framealpha": 0.9,
    "figure.facecolor": "white", "savefig.facecolor": "white",
}
_OUTSIDE = {"loc": "upper left", "bbox_to_anchor": (1.005, 1.0), "borderaxespad": 0}
_MAX_POINTS = 60_000  # scatter points per plot (a deterministic stride beyond that)
_CA_COLORS = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#bcbd22", "#7f7f7f",
              "#e377c2", "#ff7f0e")
_OUTCOME_COLORS = {"fail": "#d62728", "timeout": "#ff7f0e", "info": "#9467bd"}
_KIND_COLORS = {"enroll": "#1f77b4", "revoke": "#2ca02c", "crl": "#7f7f7f"}
FAULT_COLORS = {"crash": "#d62728", "maintenance": "#ff7f0e", "replica-down": "#8c564b",
                "partition": "#9467bd", "lag-spike": "#bcbd22", "crl-down": "#e377c2",
                "crl-move": "#17becf"}
_CAUSE_COLORS = ("#d62728", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#bcbd22",
                 "#17becf", "#7f7f7f")
_BINS = (1, 5, 10, 30, 60, 300, 600, 900, 1800, 3600, 7200, 3 * 3600, 6 * 3600, 12 * 3600,
         86400, 2 * 86400, 7 * 86400)
_UNITS = ((86400.0, "day"), (3600.0, "hour"), (60.0, "minute"), (1.0, "second"))


def write_plots(result: RunResult, directory: Path) -> list[Path]:
    """Draw the three plots into ``directory``; returns their paths."""
    paths = [directory / name for name in PLOT_FILES]
    with mpl.style.context("default"), mpl.rc_context(STYLE):
        for draw, path in zip((timeline_figure, space_figure, crl_figure), paths, strict=True):
            fig = draw(result)
            fig.savefig(path, dpi=DPI, format="png", metadata={"Software": None})
    return paths


# --------------------------------------------------------------------------- time axis


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
        return cls(*_duration_unit(duration))

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


def _duration_unit(seconds: float) -> tuple[float, str]:
    """The unit to show durations up to ``seconds`` in, as (seconds per unit, name)."""
    for scale, unit in ((86400.0, "days"), (3600.0, "hours"), (60.0, "minutes")):
        if seconds >= 2 * scale:
            return scale, unit
    return 1.0, "seconds"


def _bin_width(duration: float, target: int = 400) -> float:
    return next((b for b in _BINS if duration / b <= target), _BINS[-1])


def _rate_unit(width: float) -> tuple[float, str]:
    """Per which unit to show counts of a ``width``-second bin."""
    return next(((s, u) for s, u in _UNITS if width >= s), (1.0, "second"))


def _stride(n: int, limit: int = _MAX_POINTS) -> slice:
    return slice(None, None, max(1, math.ceil(n / limit)))


# --------------------------------------------------------------------------- annotations


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


def _title(fig: Figure, result: RunResult, what: str) -> None:
    s = result.scenario
    verdict = result.verdict
    state = "VALID" if verdict.get("valid") and not verdict.get("range_violations") else "INVALID"
    fig.suptitle(f"{s.name} — {what}", x=0.01, ha="left", fontsize=13, fontweight="bold")
    fig.text(0.99, 0.995, f"seed {result.seed} · strategy {s.strategy} · {state}",
             ha="right", va="top", fontsize=9.5,
             color="#2ca02c" if state == "VALID" else "#d62728", fontweight="bold")


def _seconds_label(value: float, _pos: object = None) -> str:
    if value <= 0:
        return "0"
    for scale, unit in ((86400, "d"), (3600, "h"), (60, "min"), (1, "s"), (1e-3, "ms")):
        if value >= scale * 0.999:
            number = value / scale
            return f"{number:.0f} {unit}" if number >= 1 - 1e-9 and number == round(number) \
                else f"{number:.3g} {unit}"
    return f"{value * 1e6:.3g} µs"


_SECONDS = FuncFormatter(_seconds_label)


# --------------------------------------------------------------------------- timeline


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


def timeline_figure(result: RunResult) -> Figure:
    s = result.scenario
    req = result.requests
    axis = TimeAxis.for_run(s.duration, s.start_date)
    bins = _Bins.for_run(s.duration)
    failed = req["outcome"].astype(str).to_numpy() != "ok"
    causes = req.loc[failed, "cause"].astype(str).value_counts().index.tolist()
    rows = 3 if causes else 2
    fig = Figure(figsize=(12.5, 9.0 if causes else 7.2), layout="constrained")
    axes = fig.subplots(rows, 1, sharex=True, height_ratios=[3.2, 2.0, 1.6][:rows])
    _title(fig, result, "latency and throughput over time")
    handles = _latency_panel(axes[0], req, axis, bins, result.ok_totals is not None)
    _throughput_panel(axes[1], req, axis, bins, result.ok_totals, s.throughput_bin)
    if causes:
        _failure_panel(axes[2], req, axis, bins, causes)
    handles += draw_faults(axes, result, axis)
    draw_topology(axes, result, axis)
    axes[0].legend(handles=handles, **_OUTSIDE)
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
            pick = mine[_stride(len(mine), _MAX_POINTS // 2)]
            ax.scatter(axis.x(end[pick]), latency[pick], s=3, lw=0, alpha=0.25, color=color,
                       rasterized=True, zorder=2)
            handles.append(Line2D([], [], ls="", marker="o", ms=4, color=color,
                                  label=f"{kind} ok ({len(mine):,})"))
    for outcome, color in _OUTCOME_COLORS.items():
        mine = np.flatnonzero(outcomes == outcome)
        if len(mine):
            pick = mine[_stride(len(mine), 5000)]
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
    ax.yaxis.set_major_formatter(_SECONDS)
    ax.set_ylabel("latency (log scale)")
    if aggregate:
        ax.set_title("Request latency — attempts that did not end ok, by end time (ok attempts "
                     "were aggregated: [metrics] requests = \"aggregate\")")
    else:
        ax.set_title(f"Request latency — points: attempts by end time; lines: enrollment "
                     f"quantiles per {_seconds_label(bins.width)}")
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
                    label=f"{kind} ok (bins of {_seconds_label(total_width)})")
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
                 f"(bins of {_seconds_label(bins.width)})")
    ax.legend(**_OUTSIDE)


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
    ax.legend(**_OUTSIDE)


# --------------------------------------------------------------------------- serial space

_EVENT_STYLE = {  # claims-table event -> (marker, label)
    "claimed": (">", "range claimed (nextRange)"),
    "received": ("s", "range received (install / transfer)"),
    "transferred": ("v", "range given to a new clone"),
    "switched": ("^", "switched to next range"),
    "claim-failed": ("X", "claim failed"),
    "conflict-dropped": ("D", "conflicting range record dropped"),
}


def _ca_colors(result: RunResult) -> dict[str, str]:
    return {ca.name: _CA_COLORS[i % len(_CA_COLORS)] for i, ca in enumerate(result.scenario.cas)}


def _issued_serials(result: RunResult) -> tuple[np.ndarray, ...]:
    """Time, CA code, serial (as a float) and "issued more than once" of every
    certificate issued (``ok``)."""
    c = result.history.columns()
    mine = (c.op == Op.ISSUE_CERT) & (c.type == OpType.OK) & (c.flag == VALUE_PRESENT)
    hi, lo = c.hi[mine], c.lo[mine]
    duplicated = np.zeros(len(lo), dtype=bool)
    if len(lo):
        _, inverse, counts = np.unique(np.stack([hi, lo], axis=1), axis=0,
                                       return_inverse=True, return_counts=True)
        duplicated = counts[inverse.ravel()] > 1
    value = hi.astype(np.float64) * 2.0**64 + lo.astype(np.float64)
    return c.time[mine], c.process[mine], value, duplicated


def _hex_axis(ax: Axes, low: float, high: float) -> None:
    span = max(high - low, 16.0)
    steps = sorted(c * 16**k for k in range(1, 40) for c in (1, 2, 4, 8))
    ax.yaxis.set_major_locator(MultipleLocator(next(b for b in steps if span / b <= 8)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{int(v):#x}" if v >= 0 else ""))


def space_figure(result: RunResult) -> Figure:
    s = result.scenario
    axis = TimeAxis.for_run(s.duration, s.start_date)
    colors = _ca_colors(result)
    ranged = not STRATEGY[s.strategy].full_length_random  # RSNv3 has no ranges to draw
    fig = Figure(figsize=(12.5, 9.0 if ranged else 5.5), layout="constrained")
    axes = fig.subplots(2 if ranged else 1, 1, sharex=True, squeeze=False,
                        height_ratios=[3, 2] if ranged else [1])[:, 0]
    _title(fig, result, "certificate serial space over time")
    space = result.space[result.space["kind"] == "cert"]
    if ranged:
        _serial_panel(axes[0], result, axis, colors)
        _left_panel(axes[1], result, axis, colors, space)
    else:
        _random_panel(axes[0], result, axis, colors, space)
    draw_faults(axes, result, axis)
    draw_topology(axes, result, axis)
    for a in axes:
        axis.setup(a, s.duration, label=a is axes[-1])
    return fig


def _serial_panel(ax: Axes, result: RunResult, axis: TimeAxis, colors: dict[str, str]) -> None:
    t, process, value, duplicated = _issued_serials(result)
    names = result.history.process_names
    handles: list[Line2D | Patch] = []
    held = _held_ranges(result)
    for ca, color in colors.items():
        rows = held[held["process"] == ca]
        if len(rows):
            x = axis.x(np.append(rows["time"].to_numpy(dtype=float), result.scenario.duration))
            for lo, hi, alpha, hatch in (("cur_begin", "cur_end", 0.16, None),
                                         ("next_begin", "next_end", 0.06, "////")):
                low, high = _floats(rows[lo]), _floats(rows[hi])
                ok = ~np.isnan(low) & (np.diff(x) > 0)
                ax.bar(x[:-1][ok], (high - low + 1)[ok], width=np.diff(x)[ok],
                       bottom=low[ok], align="edge", lw=0, hatch=hatch,
                       facecolor=to_rgba(color, alpha), edgecolor=to_rgba(color, 0.45),
                       zorder=1)
        code = names.index(ca) if ca in names else -1
        mine = np.flatnonzero(process == code)
        pick = mine[_stride(len(mine), _MAX_POINTS // max(1, len(colors)))]
        ax.scatter(axis.x(t[pick]), value[pick], s=2.5, lw=0, color=color, alpha=0.8,
                   rasterized=True, zorder=3)
        handles.append(Line2D([], [], ls="", marker="o", color=color,
                              label=f"{ca}: {len(mine):,} issued"))
    handles.append(Patch(color="#777777", alpha=0.3, label="current range held"))
    if held["next_begin"].notna().any():
        handles.append(Patch(facecolor=(0.5, 0.5, 0.5, 0.1), edgecolor=(0.3, 0.3, 0.3, 0.6),
                             hatch="////", lw=0, label="next range held"))
    claims = result.claims[result.claims["kind"] == "cert"]
    handles += _claim_markers(ax, claims, axis, colors)
    if duplicated.any():
        pick = np.flatnonzero(duplicated)
        pick = pick[_stride(len(pick), 4000)]
        ax.scatter(axis.x(t[pick]), value[pick], s=16, facecolors="none", edgecolors="#d62728",
                   linewidths=0.6, alpha=0.7, zorder=7, rasterized=True)
        handles.append(Line2D([], [], ls="", marker="o", mfc="none", mec="#d62728", ms=7,
                              label=f"duplicate serial ({int(duplicated.sum()):,} issuances)"))
    high = np.nanmax(value) if len(value) else 1.0
    low = np.nanmin(value) if len(value) else 0.0
    for column in (held["cur_end"], held["next_end"], claims["end"]):
        tops = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
        if len(tops) and (~np.isnan(tops)).any():
            high = max(high, float(np.nanmax(tops)))
    ax.set_ylim(min(0.0, low), high * 1.04 + 1)
    _hex_axis(ax, 0.0, high)
    ax.set_ylabel("serial number (hex)")
    ax.set_title("Serials issued by each CA (points) over the ranges it held (bands)")
    ax.legend(handles=handles, **_OUTSIDE)


def _claim_markers(ax: Axes, claims: pd.DataFrame, axis: TimeAxis,
                   colors: dict[str, str]) -> list[Line2D]:
    """Range events of the claims table as markers (and claimed or received
    ranges as vertical bars); returns the legend handles."""
    handles = []
    for event, (marker, label) in _EVENT_STYLE.items():
        rows = claims[claims["event"] == event]
        if not len(rows):
            continue
        x = axis.x(rows["time"].to_numpy(dtype=float))
        begin = pd.to_numeric(rows["begin"], errors="coerce").to_numpy(dtype=float)
        end_ = pd.to_numeric(rows["end"], errors="coerce").to_numpy(dtype=float)
        ca_colors = [colors.get(str(ca), "#444444") for ca in rows["ca"]]
        if event in ("claimed", "received"):
            ax.vlines(x, begin, end_, colors=ca_colors, lw=2.2, zorder=4)
        y = (begin + np.where(np.isnan(end_), begin, end_)) / 2
        y[np.isnan(y)] = 0.0  # a failed claim that burned no range: on the time axis
        face = "#d62728" if event in ("claim-failed", "conflict-dropped") else ca_colors
        ax.scatter(x, y, marker=marker, s=45, c=face, edgecolors="black", linewidths=0.6,
                   zorder=6, clip_on=False)
        handles.append(Line2D([], [], ls="", marker=marker, ms=7, mec="black",
                              mfc="#d62728" if isinstance(face, str) else "#bbbbbb",
                              label=f"{label} ({len(rows)})"))
    return handles


def _held_ranges(result: RunResult) -> pd.DataFrame:
    """The serial ranges each CA holds after each of its range events (exact,
    from the history; the space table is sampled)."""
    events = result.history.events_frame()
    mine = (events["kind"].astype(str) == "cert") & events["cur_begin"].notna()
    rows = events.loc[mine, ["time", "process", "cur_begin", "cur_end", "next_begin",
                             "next_end"]]
    return rows.assign(process=rows["process"].astype(str))


def _floats(column: pd.Series) -> np.ndarray:
    return np.array([math.nan if v is None or v is pd.NA else float(v) for v in column],
                    dtype=float)


def _left_panel(ax: Axes, result: RunResult, axis: TimeAxis, colors: dict[str, str],
                space: pd.DataFrame) -> None:
    marks = _low_water_marks(result)
    left = space.pivot_table(index="time", columns="ca", values="remaining", aggfunc="last",
                             observed=True, sort=True)
    x = axis.x(left.index.to_numpy(dtype=float))
    cas = [ca for ca in colors if ca in left.columns]
    if marks:  # ranges come and go: one line per CA against the low-water mark
        for ca in cas:
            ax.step(x, left[ca].to_numpy(dtype=float), where="post", color=colors[ca], lw=1.5,
                    label=ca)
        for i, mark in enumerate(marks):
            ax.axhline(mark, color="#444444", ls="--", lw=1,
                       label="serialLowWaterMark" if i == 0 else None)
        ax.set_title("Serials left per CA (current + next range): below serialLowWaterMark "
                     "the update task claims a new range")
    elif cas:  # static ranges: what each CA holds, stacked up to the total
        values = [left[ca].fillna(0.0).to_numpy(dtype=float) for ca in cas]
        ax.stackplot(x, values, colors=[colors[ca] for ca in cas], alpha=0.55, step="post",
                     labels=cas, lw=0)
        ax.step(x, np.sum(values, axis=0), where="post", color="black", lw=1.2,
                label="all CAs")
        ax.set_title("Serials left in the ranges each CA holds (stacked; serial management "
                     "off: no new ranges are claimed)")
    exhausted = result.requests[result.requests["cause"].astype(str)
                                == "serial numbers exhausted"]
    if len(exhausted):
        ends = exhausted["end"].to_numpy()
        pick = ends[_stride(len(ends), 5000)]
        ax.plot(axis.x(pick), np.zeros(len(pick)), "|", color="#d62728", ms=14, mew=1,
                label=f"serial numbers exhausted ({len(ends):,} failures)", zorder=5,
                clip_on=False)
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_ylabel("serials left")
    ax.legend(**_OUTSIDE)
    ax.annotate(_forecast_text(result), xy=(1.005, 0.0), xycoords="axes fraction",
                ha="left", va="bottom", fontsize=8.5, linespacing=1.35,
                bbox={"facecolor": "#f7f7f7", "edgecolor": "#999999", "boxstyle": "round"})


def _low_water_marks(result: RunResult) -> list[float]:
    """The serialLowWaterMark values in force, if any CA claims ranges."""
    claims = result.claims
    claiming = bool(((claims["kind"] == "cert") & (claims["event"] == "claimed")).any())
    marks = set()
    for ca in result.scenario.cas:
        for kind, config in (ca.ids or {}).items():
            if getattr(kind, "value", kind) == "cert" and (claiming or config.serial_management):
                marks.add(float(config.low_water_mark))
    return sorted(marks)


def _forecast_text(result: RunResult) -> str:
    rows = result.forecast[result.forecast["kind"] == "cert"]
    if not len(rows):
        return "no forecast"
    row = rows.iloc[0]
    rate = float(row["rate_per_day"])
    date = row["forecast_date"]
    days = float(row["days_to_exhaustion"])
    lines = ["Exhaustion forecast (serials)",
             f"used: {int(row['used']):,} ({_count(rate)} a day)",
             f"left: {_count(float(row['space']))}"]
    if isinstance(date, str):
        years = f" ({days / 365:.1f} years)" if days >= 365 else ""
        lines.append(f"runs out in {days:,.0f} days{years}:\n  {date}")
    else:
        lines.append("never runs out at this rate")
    held_days = float(row["held_days"])
    if math.isfinite(held_days) and held_days < days * 0.999:
        lines.append(f"ranges held now last\n  {_seconds_label(held_days * 86400)}")
    return "\n".join(lines)


def _count(value: float) -> str:
    if value >= 1e12:
        return f"≈2^{math.log2(value):.0f}"
    return f"{value:,.0f}" if value >= 100 else f"{value:,.3g}"


def _random_panel(ax: Axes, result: RunResult, axis: TimeAxis, colors: dict[str, str],
                  space: pd.DataFrame) -> None:
    total = 0
    for ca, color in colors.items():
        rows = space[space["ca"] == ca]
        if len(rows):
            issued = rows["issued"].to_numpy()
            total += int(issued[-1])
            ax.step(axis.x(rows["time"].to_numpy()), issued, where="post", color=color,
                    lw=1.5, label=f"{ca}: {int(issued[-1]):,} issued")
    ceiling = result.forecast.loc[result.forecast["kind"] == "cert", "ceiling"]
    bits = round(math.log2(float(ceiling.iloc[0]) + 1)) if len(ceiling) else 128
    pairs = total * (total - 1) / 2
    chance = -math.expm1(-pairs / 2.0**bits)
    ax.text(0.99, 0.04, f"random serials ({bits} bits, RSNv3): no ranges to claim or run out.\n"
            f"Birthday bound for {total:,} serials: P(any collision) ≈ {chance:.2g}",
            transform=ax.transAxes, ha="right", va="bottom", fontsize=9,
            bbox={"facecolor": "white", "alpha": 0.9, "edgecolor": "#999999"})
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_ylabel("certificates issued")
    ax.set_title("Certificates issued per CA (cumulative)")
    ax.legend(**_OUTSIDE)


# --------------------------------------------------------------------------- CRL staleness


def crl_figure(result: RunResult) -> Figure:
    s = result.scenario
    axis = TimeAxis.for_run(s.duration, s.start_date)
    colors = _ca_colors(result)
    stale = result.crl_staleness
    bound = s.crl.auto_update_interval
    observed = stale["staleness"].dropna().to_numpy(dtype=float)
    scale, unit = _duration_unit(max(float(observed.max()) if len(observed) else 0.0, bound))
    fig = Figure(figsize=(12.5, 8.0), layout="constrained")
    grid = fig.add_gridspec(2, 2, height_ratios=[3, 2], width_ratios=[1, 1.6])
    over_time = fig.add_subplot(grid[0, :])
    dist = fig.add_subplot(grid[1, 0])
    gaps = fig.add_subplot(grid[1, 1])
    _title(fig, result, "CRL staleness (revocation → first CRL that lists it)")
    if not len(stale):
        for ax in (over_time, dist):
            ax.text(0.5, 0.5, "no revocations in this run", transform=ax.transAxes,
                    ha="center", va="center", fontsize=11, color="#777777")
    else:
        _staleness_over_time(over_time, result, axis, colors, bound, scale, unit)
        _staleness_distribution(dist, observed, bound, scale, unit)
    _crl_gaps(gaps, result, axis, colors, bound)
    over_time.set_title("Staleness of each revocation, by revocation time (colour: the CA "
                        "that processed it)")
    draw_faults([over_time, gaps], result, axis)
    draw_topology([over_time, gaps], result, axis)
    axis.setup(over_time, s.duration)
    axis.setup(gaps, s.duration)
    return fig


def _staleness_over_time(ax: Axes, result: RunResult, axis: TimeAxis, colors: dict[str, str],
                         bound: float, scale: float, unit: str) -> None:
    stale = result.crl_staleness
    revoked = stale["revoked_at"].to_numpy(dtype=float)
    value = stale["staleness"].to_numpy(dtype=float) / scale
    cas = stale["ca"].astype(str).to_numpy()
    for ca, color in colors.items():
        mine = np.flatnonzero((cas == ca) & ~np.isnan(value))
        if len(mine):
            pick = mine[_stride(len(mine), _MAX_POINTS // max(1, len(colors)))]
            ax.scatter(axis.x(revoked[pick]), value[pick], s=8, lw=0, alpha=0.65, color=color,
                       label=f"revoked on {ca} ({len(mine):,})", rasterized=True, zorder=3)
    served = stale["served_staleness"].to_numpy(dtype=float) / scale
    if (~np.isnan(served)).any():
        mine = np.flatnonzero(~np.isnan(served))
        pick = mine[_stride(len(mine), _MAX_POINTS // 2)]
        ax.scatter(axis.x(revoked[pick]), served[pick], s=10, marker="+", lw=0.7,
                   color="#555555", alpha=0.6, label="… until first served to a client",
                   rasterized=True, zorder=2)
    never = np.isnan(value)
    top = max(float(np.nanmax(value)) if (~never).any() else 0.0, bound / scale) * 1.12
    if never.any():
        ax.scatter(axis.x(revoked[never]), np.full(int(never.sum()), top * 0.97), marker="v",
                   s=30, color="#d62728", zorder=5, clip_on=False,
                   label=f"in no CRL by the end of the run ({int(never.sum()):,})")
    ax.axhline(bound / scale, color="#444444", ls="--", lw=1,
               label=f"autoUpdateInterval ({_seconds_label(bound)})")
    ax.set_ylim(0, top)
    ax.set_ylabel(f"staleness ({unit})")
    ax.legend(**_OUTSIDE)


def _staleness_distribution(ax: Axes, value: np.ndarray, bound: float, scale: float,
                            unit: str) -> None:
    ax.set_title("Distribution of staleness")
    if not len(value):
        return
    ax.hist(value / scale, bins=min(60, max(10, len(value) // 20)), color="#1f77b4",
            alpha=0.75, lw=0)
    for q, ls in ((0.5, "-"), (0.95, "--")):
        v = float(np.quantile(value, q))
        ax.axvline(v / scale, color="black", ls=ls, lw=1.2,
                   label=f"p{int(q * 100)}: {_seconds_label(v)}")
    ax.axvline(value.max() / scale, color="#d62728", lw=1.2,
               label=f"max: {_seconds_label(value.max())}")
    ax.axvline(bound / scale, color="#444444", ls="--", lw=1, label="autoUpdateInterval")
    ax.set_xlabel(f"revocation → first listing in a CRL ({unit})")
    ax.set_ylabel("revocations")
    ax.set_ylim(0, ax.get_ylim()[1] * 1.45)  # room for the legend above the bars
    ax.legend(loc="upper center", ncols=2, fontsize=8)


def _crl_gaps(ax: Axes, result: RunResult, axis: TimeAxis, colors: dict[str, str],
              bound: float) -> None:
    """Each CRL at its generation time, at the time since the previous one."""
    crl = result.crl
    ax.set_title("CRLs generated: time since the previous CRL, by generating CA")
    if len(crl) < 2:
        ax.text(0.5, 0.5, f"{len(crl)} CRL generated", transform=ax.transAxes, ha="center",
                va="center", color="#777777")
        return
    times = crl["time"].to_numpy(dtype=float)
    gap = np.diff(times)
    scale, unit = _duration_unit(max(float(gap.max()), bound))
    cas = crl["ca"].astype(str).to_numpy()[1:]
    for ca, color in colors.items():
        mine = cas == ca
        if mine.any():
            ax.scatter(axis.x(times[1:][mine]), gap[mine] / scale, s=12, color=color, lw=0,
                       label=f"{ca} ({int(mine.sum()):,} CRLs)",
                       zorder=3)
    numbers = crl["number"].to_numpy()
    backwards = np.flatnonzero(np.diff(numbers) <= 0)
    if len(backwards):
        ax.scatter(axis.x(times[1:][backwards]), gap[backwards] / scale, marker="X", s=50,
                   color="#d62728", zorder=4, label="CRL number not increasing")
    ax.axhline(bound / scale, color="#444444", ls="--", lw=1, label="autoUpdateInterval")
    ax.set_ylim(0, max(float(gap.max()), bound) / scale * 1.15)
    ax.set_ylabel(f"{unit}")
    ax.legend(**_OUTSIDE)


__all__: list[str] = ["DPI", "FAULT_COLORS", "PLOT_FILES", "STYLE", "TimeAxis", "crl_figure",
                      "draw_faults", "space_figure", "timeline_figure", "write_plots"]
