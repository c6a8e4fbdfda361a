"""The SimPy world: master and clones behind a load balancer, the CRL CA, faults.

>>> from pkisim.sim import simulate
>>> result = simulate(scenario)          # doctest: +SKIP
>>> result.summary()["valid"]            # doctest: +SKIP
True
"""

from pkisim.sim.config import (
    Burst,
    CaSpec,
    CrlSpec,
    DirectorySpec,
    Distribution,
    Fault,
    LoadBalancer,
    RandomFaults,
    RetryPolicy,
    Scenario,
    Workload,
)
from pkisim.sim.metrics import RunResult
from pkisim.sim.world import Simulation, simulate

__all__ = ["Burst", "CaSpec", "CrlSpec", "DirectorySpec", "Distribution", "Fault",
           "LoadBalancer", "RandomFaults", "RetryPolicy", "RunResult", "Scenario", "Simulation",
           "Workload", "simulate"]
