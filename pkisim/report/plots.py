"""The report's plots: three PNG files an operator can read at a glance.

``timeline.png``       latency and throughput over time, failures by cause
                       (:mod:`pkisim.report.timeline`)
``serial-space.png``   certificate serials issued per CA over the ranges each
                       CA held; serials left per CA (:mod:`pkisim.report.serial_space`)
``crl-staleness.png``  time from a revocation to the first CRL listing it
                       (:mod:`pkisim.report.crl_staleness`)
``ocsp-staleness.png`` with OCSP instances only: revocation to the first
                       "revoked" answer per instance (:mod:`pkisim.report.ocsp`)

Every figure carries the fault windows and topology changes
(:mod:`pkisim.report.figure`) and is drawn and saved under the report's style
(:mod:`pkisim.report.style`): the same result gives the same bytes.  Called
directly, each returns a figure registered with pyplot: Jupyter shows it, a
script's ``plt.show()`` opens it.  The writer draws bare figures (``pyplot=False``),
so ``pkisim run`` never loads pyplot.
"""

from __future__ import annotations

from pathlib import Path

from pkisim.report.crl_staleness import crl_figure
from pkisim.report.ocsp import has_ocsp, ocsp_figure
from pkisim.report.serial_space import space_figure
from pkisim.report.style import report_style, save_png
from pkisim.report.timeline import timeline_figure
from pkisim.sim.metrics import RunResult

PLOT_FILES = ("timeline.png", "serial-space.png", "crl-staleness.png")


def write_plots(result: RunResult, directory: Path) -> list[Path]:
    """Draw the three plots into ``directory``; returns their paths."""
    paths = [directory / name for name in PLOT_FILES]
    with report_style():
        for draw, path in zip((timeline_figure, space_figure, crl_figure), paths, strict=True):
            save_png(draw(result, pyplot=False), path)
        if has_ocsp(result):  # the OCSP instances' staleness (pkisim.report.ocsp)
            paths.append(directory / "ocsp-staleness.png")
            save_png(ocsp_figure(result, pyplot=False), paths[-1])
    return paths


__all__ = ["PLOT_FILES", "crl_figure", "space_figure", "timeline_figure", "write_plots"]
