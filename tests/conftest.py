"""Hypothesis profiles: ``ci`` (derandomised, no deadline, no example database)
and ``dev`` (the default locally: random, 10x the examples)."""

from __future__ import annotations

import importlib
import os
import pkgutil

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, deadline=None, database=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile(
    "dev", deadline=None, max_examples=1000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _import_pkisim() -> None:
    """Import every pkisim module now, before any test runs.  Hypothesis biases
    its draws with constants it finds in the source of the modules loaded at
    the time (its "local constants"), so a derandomised state machine explored
    differently after a test that had imported, say, pkisim.sim: the same
    test passed alone and missed a coverage goal after tests/audit.  With the
    whole package loaded up front, every test sees the same constants
    whichever tests ran before it, in one process or in a pytest-xdist worker."""
    import pkisim

    side_effects = {"pkisim.analysis.worker", "pkisim.cli.__main__"}  # process entry points
    for info in pkgutil.walk_packages(pkisim.__path__, "pkisim."):
        if info.name not in side_effects:
            importlib.import_module(info.name)


_import_pkisim()
