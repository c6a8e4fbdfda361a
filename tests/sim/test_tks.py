"""TKS clones as a topology element (issue 16, item 3)."""

from __future__ import annotations

import pytest

from pkisim.errors import ConfigError
from pkisim.scenario import scenario_from_dict
from pkisim.sim import Simulation


def _doc() -> dict[str, object]:
    return {"duration": "2h", "directory": {"replicas": ["ds1", "ds2", "ds3"]},
            "ca": [{"name": "ca1", "role": "master", "replica": "ds1"}],
            "tks": {"instance": [{"name": "tks1", "role": "master", "replica": "ds1"},
                                 {"name": "tks2", "replica": "ds2", "donor": "tks1"},
                                 {"name": "tks3", "replica": "ds3", "donor": "tks2",
                                  "created_at": "30m"}],
                    "replica_ids": {"beginReplicaNumber": 201, "endReplicaNumber": 300},
                    "faults": [{"kind": "down", "target": "tks2", "at": "1h", "duration": "10m"}]}}


def test_tks_clones_install_replicate_and_go_down() -> None:
    world = Simulation(scenario_from_dict(_doc()), seed=2)
    result = world.run()
    tks = world.pki.tks
    assert tks is not None
    assert all(node.installed and node.serving for node in tks.nodes.values())
    assert tks.node("tks2").changes == [(0.0, True), (3600.0, False), (4200.0, True)]
    ids = result.extra["replica_ids"]
    mine = ids[ids["subsystem"] == "TKS"].set_index("server")["replica_id"].to_dict()
    # tks1's range 201-300: tks2's slice 296-300 (ds1, ds2), tks3's from tks2 after a claim
    assert mine["ds1"] == 296 and mine["ds2"] == 297 and mine["ds3"] >= 1000
    assert ("tks-down", "tks2") in set(zip(result.faults["kind"], result.faults["target"],
                                           strict=True))
    assert result.summary()["tks"]["tks3"] == {"installed": True, "serving": True}
    # the subsystem's replica-ID ranges are checked in its own ID space
    assert result.summary()["replica_ids"]["valid"]


def test_tks_errors_name_the_key() -> None:
    doc = _doc()
    doc["tks"]["instance"][2]["replica"] = "ds9"  # type: ignore[index]
    with pytest.raises(ConfigError, match=r"tks\.instance\[2\]\.replica"):
        scenario_from_dict(doc)
    doc = _doc()
    doc["tks"]["faults"][0]["kind"] = "publish-fail"  # type: ignore[index]
    with pytest.raises(ConfigError, match=r"tks\.faults\[0\]\.kind"):
        scenario_from_dict(doc)
