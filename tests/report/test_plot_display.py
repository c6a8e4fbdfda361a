"""pkisim's plots are shown where users look: a script's ``plt.show()`` opens
every plot function's figure, and a fresh Jupyter kernel (no ``%matplotlib``,
no ``MPLBACKEND``) shows each figure exactly once, as the PNG pkisim writes."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

#: Draws one figure with each of pkisim's six plot functions (small inputs).
DRAW_ALL = textwrap.dedent("""
    import test_planning_plots as t
    from pkisim import load_scenario, simulate
    from pkisim.report.plots import crl_figure, space_figure, timeline_figure
    run = simulate(load_scenario("scenarios/master-outage.toml",
                                 overrides={"duration": "1d"}), seed=2)
    figures = [timeline_figure(run), space_figure(run), crl_figure(run),
               *t.draw_all(t.small_space.__wrapped__()).values()]
""")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(HERE)])
    return {**env, **extra}


def test_a_script_plt_show_opens_every_plot() -> None:
    script = DRAW_ALL + textwrap.dedent("""
        import matplotlib.pyplot as plt
        import shown_backend
        assert plt.get_fignums() == [f.number for f in figures], plt.get_fignums()
        plt.show()
        assert [id(f) for f in shown_backend.SHOWN] == [id(f) for f in figures]
        # pyplot=False: a bare figure that pyplot does not keep
        bare = t.plot_latency_vs_load(t.latency_points(), servers=4, service_mean=0.5,
                                      pyplot=False)
        assert bare.canvas.manager is None and len(plt.get_fignums()) == len(figures)
        print("shown", len(shown_backend.SHOWN))
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, env=_env(MPLBACKEND="module://shown_backend"), timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["shown", "7"]


def _png_outputs(cell: nbformat.NotebookNode) -> list[bytes]:
    return [base64.b64decode(output["data"]["image/png"]) for output in cell.outputs
            if "image/png" in output.get("data", {})]


def test_a_fresh_jupyter_kernel_shows_each_figure_once_as_its_png(tmp_path, monkeypatch) -> None:
    cells = [
        "import os, sys\n"
        f"os.chdir({str(ROOT)!r}); sys.path.insert(0, {str(HERE)!r})\n"
        "assert 'MPLBACKEND' not in os.environ or 'inline' in os.environ['MPLBACKEND']\n"
        + DRAW_ALL,
        # the last line of a cell: one image (not two: pyplot's end-of-cell one is not repeated)
        "t.plot_latency_vs_load(t.latency_points(), servers=4, service_mean=0.5)",
        # assigned: shown when the cell ends, like any pyplot figure
        "fig = t.plot_latency_vs_load(t.latency_points(), servers=4, service_mean=0.5)",
        # shown again on request
        "fig",
        # bare: shown only on request
        "bare = t.plot_latency_vs_load(t.latency_points(), servers=4, service_mean=0.5,"
        " pyplot=False)",
        "bare",
        "from pkisim.report.style import png_bytes\n"
        "import base64\nprint(base64.b64encode(png_bytes(fig)).decode())",
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    monkeypatch.delenv("MPLBACKEND", raising=False)
    monkeypatch.setenv("PYTHONPATH", _env()["PYTHONPATH"])
    NotebookClient(notebook, timeout=300, kernel_name="python3").execute()
    shown = [_png_outputs(cell) for cell in notebook.cells]
    assert len(shown[0]) == 7  # the six plot functions' figures, as the cell ends
    assert [len(images) for images in shown[1:6]] == [1, 1, 1, 0, 1]
    written = base64.b64decode(notebook.cells[6].outputs[0]["text"].strip())
    assert shown[2][0] == shown[3][0] == written  # the PNG pkisim writes, byte for byte
    assert all(image[:8] == b"\x89PNG\r\n\x1a\n" for images in shown for image in images)


def test_pkisim_run_writes_its_plots_without_loading_pyplot(tmp_path) -> None:
    script = textwrap.dedent(f"""
        import sys
        from pkisim.cli import main
        status = main(["run", "scenarios/refill-race.toml", "--seed", "1", "--quiet",
                       "--set", "duration=10m", "--out", {str(tmp_path / "run")!r}])
        assert status == 0, status
        assert "matplotlib.pyplot" not in sys.modules
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, env=_env(), timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "run" / "timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
