"""What a run or a planning study leaves behind: files and plots.

* :mod:`pkisim.report.output`: the run directory (``pkisim run``), written in a
  staging directory and renamed into place; deterministic Parquet and JSON
  writers; the code version a seed replays with;
* :mod:`pkisim.report.plots`: the run report's three PNG files, drawn by
  :mod:`~pkisim.report.timeline`, :mod:`~pkisim.report.serial_space` and
  :mod:`~pkisim.report.crl_staleness` on a shared frame (:mod:`~pkisim.report.figure`);
* :mod:`pkisim.report.planning`: the capacity-planning plots, each against its
  closed form (:mod:`pkisim.analysis`);
* :mod:`pkisim.report.style`: the look and the byte-for-byte PNG writer they share.

matplotlib is imported only by the plotting modules, so writing a run without
plots never loads it; import the modules themselves (this package imports none).
"""

#: No names of its own: import :mod:`pkisim.report.output`, :mod:`pkisim.report.plots`
#: or :mod:`pkisim.report.planning` (so that writing a run never loads matplotlib).
__all__: list[str] = []
