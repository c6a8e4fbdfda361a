"""``serial-space.png``: certificate serials issued per CA over time, over the
ranges each CA held, with range claims, failed claims, switches, transfers and
duplicates marked; below, the serials left per CA and the exhaustion forecast.
With random serials (RSNv3): certificates issued per CA and the birthday bound.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MultipleLocator

from pkisim.history.history import VALUE_PRESENT, Op, OpType
from pkisim.ids.strategies import STRATEGY
from pkisim.report.figure import (
    LEGEND_OUTSIDE,
    MAX_POINTS,
    TimeAxis,
    ca_colors,
    draw_faults,
    draw_title,
    draw_topology,
    seconds_label,
    stride,
)
from pkisim.report.forecast import YEAR_DAYS, never_text
from pkisim.report.style import new_figure, styled
from pkisim.sim.metrics import RunResult

_EVENT_STYLE = {  # claims-table event -> (marker, label)
    "claimed": (">", "range claimed (nextRange)"),
    "received": ("s", "range received (install / transfer)"),
    "transferred": ("v", "range given to a new clone"),
    "switched": ("^", "switched to next range"),
    "claim-failed": ("X", "claim failed"),
    "conflict-dropped": ("D", "conflicting range record dropped"),
}


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


@styled
def space_figure(result: RunResult, *, pyplot: bool = True) -> Figure:
    """``serial-space.png``: serials per CA over the ranges held; serials left.

    A :class:`~pkisim.report.style.PlotFigure` registered with pyplot (Jupyter shows
    it, ``plt.show()`` opens it), drawn in the report's style; ``pyplot=False``: a
    bare figure pyplot does not hold (what ``pkisim run`` writes).
    """
    s = result.scenario
    axis = TimeAxis.for_run(s.duration, s.start_date)
    colors = ca_colors(result)
    ranged = not STRATEGY[s.strategy].full_length_random  # RSNv3 has no ranges to draw
    fig = new_figure((12.5, 9.0 if ranged else 5.5), pyplot=pyplot)
    axes = fig.subplots(2 if ranged else 1, 1, sharex=True, squeeze=False,
                        height_ratios=[3, 2] if ranged else [1])[:, 0]
    draw_title(fig, result, "certificate serial space over time")
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
        pick = mine[stride(len(mine), MAX_POINTS // max(1, len(colors)))]
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
        pick = pick[stride(len(pick), 4000)]
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
    ax.legend(handles=handles, **LEGEND_OUTSIDE)


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
        pick = ends[stride(len(ends), 5000)]
        ax.plot(axis.x(pick), np.zeros(len(pick)), "|", color="#d62728", ms=14, mew=1,
                label=f"serial numbers exhausted ({len(ends):,} failures)", zorder=5,
                clip_on=False)
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_ylabel("serials left")
    ax.legend(**LEGEND_OUTSIDE)
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
    never = never_text(days)
    if never is not None:
        lines.append(f"runs out: {never}")
    else:
        years = f" ({days / YEAR_DAYS:,.1f} years)" if days >= 365 else ""
        lines.append(f"runs out in {days:,.0f} days{years}:\n  {date or 'after 9999-12-31'}")
    held_days = float(row["held_days"])
    if math.isfinite(held_days) and held_days < days * 0.999:
        lines.append(f"ranges held now last\n  {seconds_label(held_days * 86400)}")
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
    ax.legend(**LEGEND_OUTSIDE)


__all__ = ["space_figure"]
