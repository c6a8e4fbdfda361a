"""Capacity planning: sweeps with replications and confidence intervals, the
closed forms that check the simulation (Erlang C, the birthday bound, time to
exhaustion, a low-water-mark recommendation) and the planning plots.

Sweeps are :mod:`pkisim.analysis.sweep`; statistics are
:mod:`pkisim.analysis.stats`; closed forms are :mod:`pkisim.analysis.theory`;
plots are :mod:`pkisim.analysis.plots` (matplotlib, imported only there).
"""

# sweep: public names (added with pkisim.analysis.sweep)
from pkisim.analysis.executors import (
    DaskExecutor,
    LocalExecutor,
    ProcessExecutor,
    SweepError,
    summary_metrics,
)
from pkisim.analysis.stats import Interval, mean_ci, t_cdf, t_quantile, wilson_interval
from pkisim.analysis.sweep import SweepResult, run_seed, run_sweep
from pkisim.analysis.sweepfile import Point, Sweep, Target, load_sweep, sweep_from_dict

# theory: public names (added with pkisim.analysis.theory)

__all__ = ["DaskExecutor", "Interval", "LocalExecutor", "Point", "ProcessExecutor", "Sweep",
           "SweepError", "SweepResult", "Target", "load_sweep", "mean_ci", "run_seed",
           "run_sweep", "summary_metrics", "sweep_from_dict", "t_cdf", "t_quantile",
           "wilson_interval"]
