"""Capacity planning: sweeps with replications and confidence intervals, and
the closed forms that check the simulation (Erlang C, the birthday bound, time
to exhaustion, a low-water-mark recommendation).

Sweeps are :mod:`pkisim.analysis.sweep`; statistics are
:mod:`pkisim.analysis.stats`; closed forms are :mod:`pkisim.analysis.theory`.
The planning plots drawn from them are :mod:`pkisim.report.planning`.
"""

# sweep: public names (added with pkisim.analysis.sweep)
from pkisim.analysis.executors import (
    DaskExecutor,
    LocalExecutor,
    ProcessExecutor,
    SweepError,
    summary_metrics,
)
from pkisim.analysis.stats import (
    Interval,
    mean_ci,
    proportion_ci,
    t_cdf,
    t_quantile,
    wilson_interval,
)
from pkisim.analysis.sweep import SweepResult, run_seed, run_sweep
from pkisim.analysis.sweepfile import Point, Sweep, Target, load_sweep, sweep_from_dict

# theory: public names (added with pkisim.analysis.theory)
# isort: split
from pkisim.analysis.queueing import MMc, erlang_b, erlang_c, mgc_mean_wait
from pkisim.analysis.theory import (
    LowWaterMark,
    collision_probability,
    collisions_approx,
    days_to_exhaustion,
    exhaustion_date,
    exhaustion_probability,
    expected_collisions,
    max_issuances,
    poisson_sf,
    recommend_low_water_mark,
)

__all__ = ["DaskExecutor", "Interval", "LocalExecutor", "LowWaterMark", "MMc", "Point",
           "ProcessExecutor", "Sweep", "SweepError", "SweepResult", "Target",
           "collision_probability", "collisions_approx", "days_to_exhaustion", "erlang_b",
           "erlang_c", "exhaustion_date", "exhaustion_probability", "expected_collisions",
           "load_sweep", "max_issuances", "mean_ci", "mgc_mean_wait", "poisson_sf",
           "proportion_ci", "recommend_low_water_mark", "run_seed", "run_sweep", "summary_metrics",
           "sweep_from_dict", "t_cdf", "t_quantile", "wilson_interval"]
