"""Topology builders shared by the SimPy world's tests."""

from __future__ import annotations

from pkisim.ids.config import IdKind
from pkisim.ids.subsystem import master_configs


def small_ranges(strategy: str, **cert: int) -> dict:
    """A master whose certificate ranges are tiny, so that claims happen in minutes."""
    overrides = dict(begin=1, end=0x100000, increment=2000, low_water_mark=1000,
                     clone_transfer_number=500)
    overrides.update(cert)
    return master_configs(strategy, host="ca1", overrides={IdKind.CERT: overrides})
