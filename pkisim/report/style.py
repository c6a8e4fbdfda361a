"""How every pkisim plot looks and is saved, so that the same figure gives the
same PNG bytes: matplotlib's default style plus ours (whatever the user's
matplotlibrc says), a fixed dpi, and no metadata that changes (``Software``
dropped).  Figures are drawn on an Agg canvas, without pyplot.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import matplotlib as mpl
import matplotlib.style
from matplotlib.figure import Figure

DPI = 110
STYLE = {
    "svg.hashsalt": "pkisim", "font.size": 9.5, "axes.titlesize": 10.5,
    "axes.titleweight": "bold", "axes.titlelocation": "left", "axes.grid": True,
    "grid.alpha": 0.3, "grid.linewidth": 0.6, "axes.spines.top": False,
    "axes.spines.right": False, "legend.fontsize": 8.5, "legend.framealpha": 0.9,
    "figure.facecolor": "white", "savefig.facecolor": "white",
}


@contextmanager
def report_style() -> Iterator[None]:
    """Draw and save under matplotlib's default style plus :data:`STYLE`."""
    with mpl.style.context("default"), mpl.rc_context(STYLE):
        yield


def save_png(figure: Figure, path: str | os.PathLike[str]) -> None:
    """Save ``figure`` as a PNG at :data:`DPI` without the ``Software``
    metadata (call it under :func:`report_style`)."""
    figure.savefig(path, dpi=DPI, format="png", metadata={"Software": None})


__all__ = ["DPI", "STYLE", "report_style", "save_png"]
