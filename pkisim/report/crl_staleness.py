"""``crl-staleness.png``: the time from a revocation to the first CRL listing
it, over time and as a distribution, and which CA generated CRLs when.
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from pkisim.report.figure import (
    LEGEND_OUTSIDE,
    MAX_POINTS,
    TimeAxis,
    ca_colors,
    draw_faults,
    draw_title,
    draw_topology,
    duration_unit,
    seconds_label,
    stride,
)
from pkisim.report.style import new_figure, styled
from pkisim.sim.metrics import RunResult


@styled
def crl_figure(result: RunResult, *, pyplot: bool = True) -> Figure:
    """``crl-staleness.png``: revocation to first listing, over time and as a
    histogram; the time between CRLs.

    A :class:`~pkisim.report.style.PlotFigure` registered with pyplot (Jupyter shows
    it, ``plt.show()`` opens it), drawn in the report's style; ``pyplot=False``: a
    bare figure pyplot does not hold (what ``pkisim run`` writes).
    """
    s = result.scenario
    axis = TimeAxis.for_run(s.duration, s.start_date)
    colors = ca_colors(result)
    stale = result.crl_staleness
    bound = s.crl.auto_update_interval
    observed = stale["staleness"].dropna().to_numpy(dtype=float)
    scale, unit = duration_unit(max(float(observed.max()) if len(observed) else 0.0, bound))
    fig = new_figure((12.5, 8.0), pyplot=pyplot)
    grid = fig.add_gridspec(2, 2, height_ratios=[3, 2], width_ratios=[1, 1.6])
    over_time = fig.add_subplot(grid[0, :])
    dist = fig.add_subplot(grid[1, 0])
    gaps = fig.add_subplot(grid[1, 1])
    draw_title(fig, result, "CRL staleness (revocation → first CRL that lists it)")
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
            pick = mine[stride(len(mine), MAX_POINTS // max(1, len(colors)))]
            ax.scatter(axis.x(revoked[pick]), value[pick], s=8, lw=0, alpha=0.65, color=color,
                       label=f"revoked on {ca} ({len(mine):,})", rasterized=True, zorder=3)
    served = stale["served_staleness"].to_numpy(dtype=float) / scale
    if (~np.isnan(served)).any():
        mine = np.flatnonzero(~np.isnan(served))
        pick = mine[stride(len(mine), MAX_POINTS // 2)]
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
               label=f"autoUpdateInterval ({seconds_label(bound)})")
    ax.set_ylim(0, top)
    ax.set_ylabel(f"staleness ({unit})")
    ax.legend(**LEGEND_OUTSIDE)


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
                   label=f"p{int(q * 100)}: {seconds_label(v)}")
    ax.axvline(value.max() / scale, color="#d62728", lw=1.2,
               label=f"max: {seconds_label(value.max())}")
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
    scale, unit = duration_unit(max(float(gap.max()), bound))
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
    ax.legend(**LEGEND_OUTSIDE)


__all__ = ["crl_figure"]
