"""A matplotlib backend for the display tests: ``plt.show()`` records the
figures it would open in windows (``MPLBACKEND=module://shown_backend``)."""

from __future__ import annotations

from matplotlib.backend_bases import FigureManagerBase
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

SHOWN: list[Figure] = []


class FigureManager(FigureManagerBase):
    def show(self) -> None:
        SHOWN.append(self.canvas.figure)


class FigureCanvas(FigureCanvasAgg):
    manager_class = FigureManager
