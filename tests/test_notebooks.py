"""The notebooks run top to bottom with small parameters (PKISIM_NOTEBOOK_SMALL=1).

Each notebook ends with assertions on its own conclusions, so a model change
that breaks what a notebook tells its reader fails here.  Notebooks are stored
without outputs, so that a diff shows only what was written.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
EXPECTED = {"capacity-planning.ipynb", "strategy-comparison.ipynb", "failover-and-crl.ipynb"}


def test_the_promised_notebooks_are_there() -> None:
    assert {path.name for path in NOTEBOOKS.glob("*.ipynb")} >= EXPECTED


@pytest.mark.parametrize("name", sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")))
def test_notebook_is_stored_clean_and_runs(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code, f"{name} has no code"
    assert all(not cell.outputs and cell.execution_count is None for cell in code), \
        f"{name} is stored with outputs: clear them before committing"
    monkeypatch.setenv("PKISIM_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()  # raises CellExecutionError with the failing cell's traceback
    streams = "".join(output.get("text", "") for cell in code for output in cell.outputs
                      if output.get("output_type") == "stream")
    assert "checked" in streams, f"{name} did not reach its final checks"
