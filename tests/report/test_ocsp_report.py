"""The OCSP part of a run's report: its table, plot and console rows."""

from __future__ import annotations

from pathlib import Path

from pkisim.report.ocsp import has_ocsp, ocsp_table
from pkisim.report.plots import PLOT_FILES, write_plots
from pkisim.scenario import load_scenario
from pkisim.sim import Simulation

ROOT = Path(__file__).resolve().parents[2]


def test_ocsp_plot_and_table_are_written_and_deterministic(tmp_path: Path) -> None:
    scenario = load_scenario(ROOT / "scenarios" / "ocsp-clones.toml",
                             overrides={"duration": "2d"})
    result = Simulation(scenario).run()
    assert has_ocsp(result)
    table = ocsp_table(result)
    assert list(table["ocsp"]) == ["ocsp1", "ocsp2", "ocsp3"]
    assert (table["staleness_p50"] > 0).all()
    paths = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        paths.append(write_plots(result, tmp_path / name))
    assert [p.name for p in paths[0]] == [*PLOT_FILES, "ocsp-staleness.png"]
    assert paths[0][-1].read_bytes() == paths[1][-1].read_bytes()
