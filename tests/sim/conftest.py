"""Small topologies for the SimPy world's tests (seconds, not minutes)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pkisim.sim import CaSpec, DirectorySpec, Scenario, Workload


@pytest.fixture
def steady() -> Callable[..., Scenario]:
    """1 master + 3 clones on one replica (the issue's steady state)."""

    def build(*, duration: float = 600.0, rate: float = 20.0, **changes: object) -> Scenario:
        clones = tuple(CaSpec(f"ca{i}", "ds1", donor="ca1") for i in (2, 3, 4))
        cas = (CaSpec("ca1", "ds1", role="master"), *clones)
        fields: dict = dict(name="steady", duration=duration, cas=cas,
                            directory=DirectorySpec(("ds1",)),
                            workload=Workload(enroll_rate=rate))
        fields.update(changes)
        return Scenario(**fields)

    return build
