"""``ocsp-staleness.png`` and the per-instance table: how stale each OCSP
instance's answer about a revoked certificate was (:mod:`pkisim.sim.ocsp`).

:func:`ocsp_table` is one row per OCSP instance (what ``pkisim run`` prints
and writes as ``tables/ocsp.csv``); :func:`ocsp_figure` draws, per instance,
the staleness of each revocation by revocation time (the first ``revoked``
answer, and when the CRL listing it reached the instance's replica), with
the fault windows, and the distribution per instance.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pkisim.report.figure import (
    LEGEND_OUTSIDE,
    MAX_POINTS,
    TimeAxis,
    draw_faults,
    draw_title,
    duration_unit,
    stride,
)
from pkisim.report.style import new_figure, styled
from pkisim.sim.metrics import RunResult

_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")


def has_ocsp(result: RunResult) -> bool:
    return "ocsp_staleness" in result.extra


def ocsp_table(result: RunResult) -> pd.DataFrame:
    """Per OCSP instance: requests, timeouts, ``good`` answers about revoked
    certificates, and the staleness quantiles (seconds) of the first
    ``revoked`` answer and of the CRL's arrival in its replica."""
    return result.extra["ocsp"]


@styled
def ocsp_figure(result: RunResult, *, pyplot: bool = True) -> Figure:
    """``ocsp-staleness.png``: per OCSP instance, revocation to first ``revoked``
    answer, by revocation time and as a distribution."""
    s = result.scenario
    axis = TimeAxis.for_run(s.duration, s.start_date)
    stale = result.extra["ocsp_staleness"]
    names = [str(n) for n in result.extra["ocsp"]["ocsp"]]
    observed = stale["staleness"].dropna().to_numpy(dtype=float)
    scale, unit = duration_unit(float(observed.max()) if len(observed) else 3600.0)
    fig = new_figure((12.5, 8.0), pyplot=pyplot)
    grid = fig.add_gridspec(2, 1, height_ratios=[3, 2])
    over_time, dist = fig.add_subplot(grid[0]), fig.add_subplot(grid[1])
    draw_title(fig, result, "OCSP staleness (revocation → first \"revoked\" answer, per "
                            "OCSP instance)")
    revoked = stale["revoked_at"].to_numpy(dtype=float)
    value = stale["staleness"].to_numpy(dtype=float)
    visible = stale["visible_staleness"].to_numpy(dtype=float)
    who = stale["ocsp"].astype(str).to_numpy()
    for name, color in zip(names, _COLORS * 4, strict=False):
        mine = np.flatnonzero((who == name) & ~np.isnan(value))
        if len(mine):
            pick = mine[stride(len(mine), MAX_POINTS // max(1, len(names)))]
            over_time.scatter(axis.x(revoked[pick]), value[pick] / scale, s=8, lw=0, alpha=0.6,
                              color=color, label=f"{name} ({len(mine):,})", rasterized=True,
                              zorder=3)
            dist.hist(value[mine] / scale, bins=60, histtype="step", color=color, lw=1.4,
                      label=f"{name}: p50 {np.quantile(value[mine], 0.5) / scale:.2g} {unit}")
    first = np.flatnonzero((who == names[0]) & ~np.isnan(visible)) if names else []
    if len(first):
        pick = first[stride(len(first), MAX_POINTS // 2)]
        over_time.scatter(axis.x(revoked[pick]), visible[pick] / scale, s=10, marker="+",
                          lw=0.7, color="#555555", alpha=0.6, zorder=2,
                          label=f"CRL in {names[0]}'s replica")
    over_time.set_ylabel(f"staleness ({unit})")
    over_time.set_title("Staleness of each revocation, by revocation time")
    over_time.legend(**LEGEND_OUTSIDE)
    dist.set_title("Distribution per OCSP instance")
    dist.set_xlabel(f"revocation → first \"revoked\" answer ({unit})")
    dist.set_ylabel("revocations")
    if len(observed):
        dist.legend(loc="upper right", fontsize=8)
    draw_faults([over_time], result, axis)
    axis.setup(over_time, s.duration)
    return fig


__all__ = ["has_ocsp", "ocsp_figure", "ocsp_table"]
