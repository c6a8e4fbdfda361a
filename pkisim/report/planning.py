"""Planning plots: how long the serial space lasts, which low-water mark is
safe at which rate, how latency grows with load; each against its closed form.

``plot_space_remaining``   serials left over a run and extrapolated to the
                           exhaustion date (:func:`~pkisim.analysis.theory.days_to_exhaustion`)
``plot_failure_heatmap``   a sweep's failure metric over (low-water mark, rate),
                           each cell annotated with the closed-form chance that a
                           CA runs out between two update-task runs
``plot_latency_vs_load``   a sweep's mean latency (with its confidence interval)
                           against utilisation, under Erlang C's curve

Each returns a :class:`~pkisim.report.style.PlotFigure` registered with pyplot:
Jupyter shows it, a script's ``plt.show()`` opens it (``pyplot=False``: a bare
figure that pyplot does not keep, for writing many PNGs).  :func:`write_png`
saves one the way the run report does (:mod:`pkisim.report.style`: the same
style and dpi, no ``Software`` metadata; written to a temporary file and renamed
into place), so the same inputs give the same bytes.  Bad input is one
:class:`ValueError` line naming the column or parameter.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pkisim.analysis.queueing import MMc, mgc_mean_wait
from pkisim.analysis.theory import days_to_exhaustion, exhaustion_probability
from pkisim.errors import ConfigError
from pkisim.report.forecast import YEAR_DAYS, never_text
from pkisim.report.style import new_figure, report_style, save_png, styled
from pkisim.scenario import parse_rate
from pkisim.sim.metrics import forecast_date

__all__ = ["plot_failure_heatmap", "plot_latency_vs_load", "plot_space_remaining", "write_png"]

DAY = 86400.0
#: How far ahead a space that never runs out is drawn, in days.
DEFAULT_HORIZON_DAYS = 10 * 365.0


def write_png(figure: Figure, path: str | os.PathLike[str]) -> Path:
    """Save ``figure`` as a deterministic PNG at ``path``; returns the path.

    Written to a temporary file beside ``path`` and renamed onto it: a failure
    leaves any previous file as it was.  An unwritable place is one line.
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise ValueError(f"write_png: cannot write {str(path)!r}: {err.strerror}") from None
    os.close(fd)
    try:
        with report_style():
            save_png(figure, tmp)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 is for the temporary file only
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _require(frame: object, columns: Iterable[str], who: str, what: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{who}: {what} must be a pandas DataFrame, not {type(frame).__name__}")
    for column in columns:
        if column not in frame.columns:
            raise ValueError(f"{who}: {what} has no column {column!r} "
                             f"(columns: {', '.join(map(str, frame.columns))})")
    return frame


# --------------------------------------------------------------------------- space remaining
@styled
def plot_space_remaining(forecast: pd.DataFrame, *, duration: float, start_date: str,
                         space: pd.DataFrame | None = None, kind: str = "cert",
                         measure: str = "space", growth_per_year: float = 0.0,
                         horizon_days: float | None = None,
                         pyplot: bool = True) -> Figure:
    """Serial numbers remaining over the run and after it, with the exhaustion date.

    ``forecast`` and ``space`` are a run's tables (``RunResult.forecast``,
    ``RunResult.space``; ``duration`` and ``start_date`` its scenario's).
    ``measure``: ``space`` (everything still to hand out: what the CAs hold
    plus what ``nextRange`` can still give) or ``held`` (only what the CAs
    hold).  After the run the line continues at the run's mean rate
    (``rate_per_day``), growing by ``growth_per_year``, until it reaches zero:
    the exhaustion date, marked.  A space that outlasts ``horizon_days``
    (default: the exhaustion date plus 15 %, or ten years) is drawn to the
    horizon and labelled with the date (or "never").
    """
    who = "plot_space_remaining"
    if measure not in ("space", "held"):
        raise ValueError(f"{who}: measure = {measure!r}: choose space or held")
    _require(forecast, ("kind", measure, "used", "rate_per_day"), who, "forecast")
    if not (math.isfinite(duration) and duration > 0):
        raise ValueError(f"{who}: duration = {duration!r}: must be > 0 seconds")
    start = _iso_date(start_date, who)
    rows = forecast[forecast["kind"] == kind]
    if rows.empty:
        raise ValueError(f"{who}: forecast has no row for kind {kind!r} "
                         f"(kinds: {', '.join(map(str, forecast['kind']))})")
    row = rows.iloc[0]
    left_at_end, used, rate = float(row[measure]), float(row["used"]), float(row["rate_per_day"])
    run_days = duration / DAY
    days_left = days_to_exhaustion(left_at_end, rate, growth_per_year=growth_per_year)
    exhausted_at = run_days + days_left
    if horizon_days is None:
        horizon_days = exhausted_at * 1.15 if exhausted_at < 200 * 365 else max(
            DEFAULT_HORIZON_DAYS, 2 * run_days)
    elif not (math.isfinite(horizon_days) and horizon_days > run_days):
        raise ValueError(f"{who}: horizon_days = {horizon_days!r}: must be after the run "
                         f"({run_days:.4g} days)")
    origin = mdates.date2num(dt.datetime.combine(start, dt.time()))

    fig = new_figure((9.0, 4.8), pyplot=pyplot)
    ax = fig.subplots()
    if space is not None:
        t, left = _run_curve(space, kind, measure, left_at_end, used, who)
        ax.plot(origin + t / DAY, left, color="#1f77b4", lw=1.8, label="simulated run")
    else:
        ax.plot([origin + run_days], [left_at_end], "o", color="#1f77b4",
                label="end of the simulated run")
    end = min(exhausted_at, horizon_days)
    future = np.linspace(run_days, end, 200)
    ax.plot(origin + future, _left_after(left_at_end, rate, future - run_days, growth_per_year),
            "--", color="#ff7f0e", lw=1.6, label=_rate_label(rate, growth_per_year))
    if exhausted_at <= horizon_days:
        when = start + dt.timedelta(days=exhausted_at)
        ax.axvline(origin + exhausted_at, color="#d62728", lw=1.2)
        ax.annotate(f"exhausted {when.isoformat()}\n({days_left:,.1f} days after the run)",
                    (origin + exhausted_at, 0), xytext=(-6, 30), textcoords="offset points",
                    ha="right", color="#d62728", fontsize=9)
    else:
        text = never_text(days_left) or \
            f"exhausted after the horizon: {_date_text(start, exhausted_at)}"
        ax.annotate(text, (1, 1), xycoords="axes fraction", xytext=(-6, -14),
                    textcoords="offset points", ha="right", color="#d62728", fontsize=9)
    ax.axvline(origin + run_days, color="#7f7f7f", lw=0.8, ls=":")
    locator = mdates.AutoDateLocator(minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_xlim(origin, origin + horizon_days)
    ax.set_ylim(bottom=0)
    what = "numbers left to hand out" if measure == "space" else "numbers the CAs hold"
    ax.set_ylabel(f"{kind} {what}")
    ax.set_title(f"{kind.capitalize()} ID space remaining ({measure})")
    ax.legend(loc="upper right" if exhausted_at <= horizon_days else "lower left")
    return fig


def _iso_date(text: str, who: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except (TypeError, ValueError):
        raise ValueError(f"{who}: start_date = {text!r}: not an ISO date (YYYY-MM-DD)") from None


def _date_text(start: dt.date, days: float) -> str:
    return forecast_date(start.isoformat(), days) or f"in {days / YEAR_DAYS:,.0f} years"


def _run_curve(space: pd.DataFrame, kind: str, measure: str, left_at_end: float, used: float,
               who: str) -> tuple[np.ndarray, np.ndarray]:
    """Numbers left at each sample of the run: what the CAs held (``held``), or
    the space left at the end plus what was issued after each sample (``space``)."""
    _require(space, ("time", "kind", "issued", "remaining"), who, "space")
    rows = space[space["kind"] == kind]
    if rows.empty:
        raise ValueError(f"{who}: space has no rows for kind {kind!r}")
    by_time = rows.groupby("time", sort=True)
    t = np.asarray(by_time.size().index, dtype=float)
    if measure == "held":
        return t, by_time["remaining"].sum().to_numpy(dtype=float)
    issued = by_time["issued"].sum().to_numpy(dtype=float)
    return t, left_at_end + used - issued


def _left_after(left: float, rate: float, days: np.ndarray, growth: float) -> np.ndarray:
    if growth == 0:
        return np.maximum(0.0, left - rate * days)
    k = math.log1p(growth) / 365.0
    return np.maximum(0.0, left - rate * np.expm1(k * days) / k)


def _rate_label(rate: float, growth: float) -> str:
    text = f"at the run's rate, {rate:,.0f}/day"
    return text + (f", +{growth:.0%}/year" if growth else "")


# --------------------------------------------------------------------------- heatmap
@styled
def plot_failure_heatmap(summary: pd.DataFrame, *, x: str, y: str, metric: str,
                         value: str = "mean", update_interval: float | None = None,
                         cas: int = 1, title: str | None = None,
                         pyplot: bool = True) -> Figure:
    """A sweep's ``metric`` over two swept parameters, one cell per point.

    ``summary`` is a sweep summary (columns ``metric``, ``mean``, ``ci_low``,
    ``ci_high``, ``half_width`` and one column per swept parameter, named by
    its dotted key); ``x`` is the low-water-mark column and ``y`` the
    enrollment-rate column (per second, over ``cas`` CAs behind the balancer).
    Each cell shows ``value`` with the interval's half width; with
    ``update_interval`` (``ca.serialNumberUpdateInterval``, seconds) also the
    closed-form chance that a CA at that low-water mark runs out between two
    update-task runs (:func:`~pkisim.analysis.theory.exhaustion_probability`).
    """
    who = "plot_failure_heatmap"
    _require(summary, ("metric", x, y, value), who, "summary")
    if update_interval is not None and not (math.isfinite(update_interval)
                                            and update_interval > 0):
        raise ValueError(f"{who}: update_interval = {update_interval!r}: must be > 0 seconds")
    if isinstance(cas, bool) or not isinstance(cas, int) or cas < 1:
        raise ValueError(f"{who}: cas = {cas!r}: must be an integer >= 1")
    rows = summary[summary["metric"] == metric]
    if rows.empty:
        names = ", ".join(sorted(map(str, summary["metric"].unique())))
        raise ValueError(f"{who}: no rows for metric {metric!r} (metrics: {names})")
    if rows.duplicated([x, y]).any():
        raise ValueError(f"{who}: several rows per ({x}, {y}) for metric {metric!r}: select one "
                         "value of the other swept parameters first")
    xs = sorted(rows[x].unique(), key=lambda v: _number(v, x, who))
    ys = sorted(rows[y].unique(), key=lambda v: _number(v, y, who))
    grid = rows.pivot(index=y, columns=x, values=value).reindex(index=ys, columns=xs)
    half = (rows.pivot(index=y, columns=x, values="half_width").reindex(index=ys, columns=xs)
            if "half_width" in rows.columns else None)
    cells = grid.to_numpy(dtype=float)

    fig = new_figure((1.6 + 1.25 * len(xs), 1.4 + 0.8 * len(ys)), pyplot=pyplot)
    ax = fig.subplots()
    image = ax.pcolormesh(np.arange(len(xs) + 1) - 0.5, np.arange(len(ys) + 1) - 0.5,
                          np.ma.masked_invalid(cells), cmap="Reds", shading="flat",
                          vmin=0.0, vmax=max(float(np.nanmax(cells)), 1e-12))
    fig.colorbar(image, ax=ax, label=f"{metric} ({value})")
    top = float(np.nanmax(cells)) if np.isfinite(cells).any() else 0.0
    for j, yv in enumerate(ys):
        for i, xv in enumerate(xs):
            lines = [_cell_text(cells[j, i], None if half is None else half.iat[j, i])]
            if update_interval is not None:
                p = exhaustion_probability(int(_number(xv, x, who)),
                                           _number(yv, y, who) / cas, update_interval)
                lines.append(f"P={_prob_text(p)}")
            dark = math.isfinite(cells[j, i]) and top > 0 and cells[j, i] > 0.6 * top
            ax.text(i, j, "\n".join(lines), ha="center", va="center", fontsize=8,
                    color="white" if dark else "black")
    ax.set_xticks(range(len(xs)), [_tick(v) for v in xs])
    ax.set_yticks(range(len(ys)), [_tick(v) for v in ys])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.grid(False)
    note = "" if update_interval is None else (
        f"; P = closed-form chance a CA runs out between update runs (T = {update_interval:g} s"
        + (f", rate / {cas} CAs)" if cas > 1 else ")"))
    ax.set_title(title or f"{metric} by {x} and {y}{note}", fontsize=9.5, wrap=True)
    return fig


def _cell_text(mean: float, half: float | None) -> str:
    if not math.isfinite(mean):
        return "–"
    if half is None or not math.isfinite(half):
        return f"{mean:.3g}"
    return f"{mean:.3g}±{half:.2g}"


def _prob_text(p: float) -> str:
    if p == 0:
        return "0"
    return f"{p:.2f}" if p >= 0.01 else f"{p:.0e}"


def _number(value: object, column: str, who: str) -> float:
    """A swept value as a number: as given, or written as in a sweep file
    (``"2/s"``, ``"5000/day"``, ``"0x80"``)."""
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool):
        return float(value)
    try:
        text = str(value).strip()
        if "/" in text:
            return parse_rate(text, key=column)
        return float(int(text, 16)) if text.lower().startswith("0x") else float(text)
    except (ConfigError, ValueError):
        raise ValueError(f"{who}: {column} = {value!r}: not a number or a rate") from None


def _tick(v: object) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return f"{v:g}" if isinstance(v, float) else str(v)


# --------------------------------------------------------------------------- latency
@styled
def plot_latency_vs_load(points: pd.DataFrame, *, servers: int, service_mean: float,
                         x: str = "workload.enroll_rate", metric: str | None = None,
                         quantity: str = "response", cas: int = 1, extra: float = 0.0,
                         service_cv: float = 1.0, title: str | None = None,
                         pyplot: bool = True) -> Figure:
    """Simulated mean latency (points with their confidence interval) against
    utilisation, under Erlang C's curve for ``servers`` threads per CA with
    exponential service of mean ``service_mean`` seconds.

    ``points`` has the arrival rate (column ``x``, per second, spread over
    ``cas`` CAs) and ``mean``, ``ci_low``, ``ci_high``; with ``metric`` only
    the rows of that sweep metric are used (a sweep summary holds several
    metrics: without ``metric`` it is an error, not every metric's mean drawn
    as latency).  ``quantity``: ``response`` (the
    curve is ``Wq + service_mean + extra``, ``extra`` being e.g. the
    certificate store's latency) or ``wait`` (``Wq`` alone, log scale).
    ``service_cv`` is the service time's coefficient of variation: other than
    1 (exponential), the curve is Allen and Cunneen's M/G/c approximation
    (:func:`~pkisim.analysis.queueing.mgc_mean_wait`; a CA's default
    enrollment time is lognormal with cv 0.5).
    """
    who = "plot_latency_vs_load"
    _require(points, (x, "mean", "ci_low", "ci_high", *(("metric",) if metric else ())),
             who, "points")
    if quantity not in ("response", "wait"):
        raise ValueError(f"{who}: quantity = {quantity!r}: choose response or wait")
    if isinstance(servers, bool) or not isinstance(servers, int) or servers < 1:
        raise ValueError(f"{who}: servers = {servers!r}: must be an integer >= 1")
    if not (math.isfinite(service_mean) and service_mean > 0):
        raise ValueError(f"{who}: service_mean = {service_mean!r}: must be > 0 seconds")
    if isinstance(cas, bool) or not isinstance(cas, int) or cas < 1:
        raise ValueError(f"{who}: cas = {cas!r}: must be an integer >= 1")
    if not (math.isfinite(service_cv) and service_cv >= 0):
        raise ValueError(f"{who}: service_cv = {service_cv!r}: must be a finite number >= 0")
    if metric is None and "metric" in points.columns:
        names = sorted(map(str, points["metric"].unique()))
        if len(names) > 1:
            raise ValueError(f"{who}: points hold several metrics ({', '.join(names)}): "
                             "choose the latency one with metric=")
    rows = points if metric is None else points[points["metric"] == metric]
    if rows.empty:
        raise ValueError(f"{who}: no points" + (f" for metric {metric!r}" if metric else ""))
    rate = np.array([_number(v, x, who) for v in rows[x]], dtype=float)
    order = np.argsort(rate, kind="stable")
    rows, rate = rows.iloc[order], rate[order]
    rho = rate / cas * service_mean / servers
    if not ((rho >= 0) & (rho < 1)).all():
        bad = rows[x].to_numpy()[(rho < 0) | (rho >= 1)][0]
        raise ValueError(f"{who}: {x} = {bad!r}: utilisation must be in [0, 1) for "
                         f"{servers} threads x {cas} CAs at {service_mean} s")
    mean = rows["mean"].to_numpy(dtype=float)
    low = np.maximum(0.0, mean - rows["ci_low"].to_numpy(dtype=float))
    high = np.maximum(0.0, rows["ci_high"].to_numpy(dtype=float) - mean)

    first = 0.0 if quantity == "response" else max(0.02, 0.5 * float(rho.min()))
    grid = np.linspace(first, min(0.99, max(rho.max() + 0.02, 0.3)), 300)
    theory = np.array([_mgc_curve(servers, r, service_mean, service_cv, quantity, extra)
                       for r in grid])
    name = f"Erlang C, M/M/{servers}" if service_cv == 1 else \
        f"Allen-Cunneen, M/G/{servers} (cv {service_cv:g})"
    formula = "Wq" if quantity == "wait" else "Wq + 1/μ" + (f" + {extra:g} s" if extra else "")
    fig = new_figure((8.0, 4.8), pyplot=pyplot)
    ax = fig.subplots()
    ax.plot(grid, theory, color="#ff7f0e", lw=1.6, label=f"{name}: {formula}")
    ax.errorbar(rho, mean, yerr=np.vstack([low, high]), fmt="o", color="#1f77b4", capsize=3,
                ms=4.5, lw=1.2, label="simulated mean (confidence interval)")
    if quantity == "wait":
        ax.set_yscale("log")
        floor = min(np.min(theory[theory > 0], initial=1.0), np.min(mean[mean > 0], initial=1.0))
        ax.set_ylim(bottom=floor / 3)
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"utilisation ρ = λ / (c μ)  (c = {servers} threads per CA"
                  + (f", λ = {x} / {cas}" if cas > 1 else f", λ = {x}") + ")")
    ax.set_ylabel("mean wait (s)" if quantity == "wait" else "mean latency (s)")
    ax.set_title(title or f"Latency against load: simulation and {name.split(',')[0]}")
    ax.legend(loc="upper left")
    return fig


def _mgc_curve(servers: int, rho: float, service_mean: float, cv: float, quantity: str,
               extra: float) -> float:
    wait = mgc_mean_wait(MMc.at_utilisation(servers, rho, service_mean), cv)
    return wait if quantity == "wait" else wait + service_mean + extra
