"""The notebooks run top to bottom with small parameters (PKISIM_NOTEBOOK_SMALL=1)
in a fresh kernel, as a reader opens them: no ``MPLBACKEND``, no ``%matplotlib``.

Each notebook ends with assertions on its own conclusions, so a model change
that breaks what a notebook tells its reader fails here; every cell that draws
(a pkisim plot function, ``plt.show()``) must show exactly that many images, and
no other cell any.  Notebooks are stored without outputs, so that a diff shows
only what was written.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
EXPECTED = {"capacity-planning.ipynb", "strategy-comparison.ipynb", "failover-and-crl.ipynb"}
#: A call that draws a figure the reader must see.
DRAWS = re.compile(r"\b(?:plot_space_remaining|plot_failure_heatmap|plot_latency_vs_load|"
                   r"timeline_figure|space_figure|crl_figure)\(|\bplt\.show\(\)")


def test_the_promised_notebooks_are_there() -> None:
    assert {path.name for path in NOTEBOOKS.glob("*.ipynb")} >= EXPECTED


@pytest.mark.parametrize("name", sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")))
def test_notebook_is_stored_clean_runs_and_shows_its_plots(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code, f"{name} has no code"
    assert all(not cell.outputs and cell.execution_count is None for cell in code), \
        f"{name} is stored with outputs: clear them before committing"
    assert not any("%matplotlib" in cell.source for cell in code), name
    monkeypatch.setenv("PKISIM_NOTEBOOK_SMALL", "1")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # what a fresh Jupyter kernel has
    # the kernel imports this checkout's pkisim, not an installed one
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()  # raises CellExecutionError with the failing cell's traceback
    streams = "".join(output.get("text", "") for cell in code for output in cell.outputs
                      if output.get("output_type") == "stream")
    assert "checked" in streams, f"{name} did not reach its final checks"
    drawn = [(len(DRAWS.findall(cell.source)),
              sum("image/png" in output.get("data", {}) for output in cell.outputs))
             for cell in code]
    assert sum(wanted for wanted, _ in drawn) > 0, f"{name} draws nothing"
    for number, (wanted, shown) in enumerate(drawn):
        assert shown == wanted, (f"{name}: code cell {number} draws {wanted} figure(s) and "
                                 f"shows {shown} image(s)")
