"""Capacity planning: sweeps with replications and confidence intervals, the
closed forms that check the simulation (Erlang C, the birthday bound, time to
exhaustion, a low-water-mark recommendation) and the planning plots.

Sweeps are :mod:`pkisim.analysis.sweep`; statistics are
:mod:`pkisim.analysis.stats`; closed forms are :mod:`pkisim.analysis.theory`;
plots are :mod:`pkisim.analysis.plots` (matplotlib, imported only there).
"""

from pkisim.analysis.stats import Interval, mean_ci, t_cdf, t_quantile, wilson_interval

# sweep: public names (added with pkisim.analysis.sweep)

# theory: public names (added with pkisim.analysis.theory)

__all__ = ["Interval", "mean_ci", "t_cdf", "t_quantile", "wilson_interval"]
