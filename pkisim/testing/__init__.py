"""Hypothesis machinery shipped with pkisim: the allocation state machine and planted bugs.

Needs the ``test`` extra (Hypothesis).
"""

from pkisim.testing.machine import (
    AllocationMachine,
    Backend,
    Coverage,
    MachineConfig,
    machine,
    memory_backend,
)
from pkisim.testing.variants import VARIANTS, Variant

__all__ = ["VARIANTS", "AllocationMachine", "Backend", "Coverage", "MachineConfig", "Variant",
           "machine", "memory_backend"]
