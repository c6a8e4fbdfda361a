"""How every pkisim plot looks, is saved and is shown, so that the same figure
gives the same PNG bytes wherever it ends up: matplotlib's default style plus
ours (whatever the user's matplotlibrc says), a fixed dpi, and no metadata that
changes (``Software`` dropped).

A plot function returns a :class:`PlotFigure` registered with pyplot (``pyplot=True``,
the default), so that Jupyter shows it when the cell ends and a script's
``plt.show()`` opens it, like any pyplot figure; ``pyplot=False`` gives a bare
figure that pyplot never holds on to (the run report's writer, a loop writing
many PNGs).  Either way Jupyter shows it once, as the PNG :func:`save_png` writes.
"""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

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
F = TypeVar("F", bound=Callable[..., Figure])


@contextmanager
def report_style() -> Iterator[None]:
    """Draw and save under matplotlib's default style plus :data:`STYLE`."""
    with mpl.style.context("default"), mpl.rc_context(STYLE):
        yield


def styled(draw: F) -> F:
    """Draw under the report's style, whatever the user's matplotlibrc says.

    The first pyplot figure loads pyplot's backend, inside the style; Jupyter's
    inline backend switches interactive mode on as it loads (so that figures
    show when a cell ends), which leaving the style's ``rc_context`` would undo:
    that one setting is carried out of the style.
    """

    @functools.wraps(draw)
    def wrapper(*args: object, **kwargs: object) -> Figure:
        with report_style():
            figure = draw(*args, **kwargs)
            interactive = mpl.is_interactive()
        mpl.interactive(interactive)
        return figure

    return wrapper  # type: ignore[return-value]


def save_png(figure: Figure, path: str | os.PathLike[str] | io.BytesIO) -> None:
    """Save ``figure`` as a PNG at :data:`DPI` without the ``Software``
    metadata (call it under :func:`report_style`)."""
    figure.savefig(path, dpi=DPI, format="png", metadata={"Software": None})


def png_bytes(figure: Figure) -> bytes:
    """The PNG :func:`save_png` writes, as bytes."""
    buffer = io.BytesIO()
    with report_style():
        save_png(figure, buffer)
    return buffer.getvalue()


class PlotFigure(Figure):
    """A pkisim plot: a matplotlib figure that Jupyter shows once, as its PNG."""

    def _ipython_display_(self) -> None:
        """Show the figure in Jupyter now, as the PNG pkisim writes.

        pyplot's inline backend shows every figure it holds when the cell ends,
        so a figure shown here leaves pyplot (else a figure returned by the
        cell's last line would appear twice).  On a GUI or widget backend the
        figure is that backend's to show."""
        from IPython.display import display

        if self.canvas.manager is not None:
            if "inline" not in mpl.get_backend():
                display({"text/plain": repr(self)}, raw=True)
                return
            import matplotlib.pyplot as plt

            plt.close(self)
        display({"image/png": png_bytes(self), "text/plain": repr(self)}, raw=True)


def new_figure(figsize: tuple[float, float], *, pyplot: bool) -> PlotFigure:
    """An empty :class:`PlotFigure` (constrained layout), registered with pyplot
    or bare.  pyplot is imported only for a registered one."""
    if not pyplot:
        return PlotFigure(figsize=figsize, layout="constrained")
    import matplotlib.pyplot as plt

    return plt.figure(figsize=figsize, layout="constrained", FigureClass=PlotFigure)


__all__ = ["DPI", "STYLE", "PlotFigure", "new_figure", "png_bytes", "report_style", "save_png",
           "styled"]
