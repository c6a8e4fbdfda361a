"""Hypothesis machinery shipped with pkisim: the allocation state machine and planted bugs.

Needs the ``test`` extra (Hypothesis).  The names below load on first use, so
that the pytest plugin (:mod:`pkisim.testing.plugin`, which every pytest run
loads where pkisim is installed) imports neither the state machine nor pandas
until a test asks for them.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

_WHERE = {"AllocationMachine": "machine", "Backend": "faults", "Coverage": "faults",
          "MachineConfig": "config", "machine": "machine", "memory_backend": "faults",
          "VARIANTS": "variants", "Variant": "variants"}

__all__ = ["VARIANTS", "AllocationMachine", "Backend", "Coverage", "MachineConfig", "Variant",
           "machine", "memory_backend"]


class _Package(types.ModuleType):
    """``pkisim.testing.machine`` names the function, as when this package
    imported it eagerly, even after the submodule of that name is imported."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "machine" and isinstance(value, types.ModuleType):
            value = value.machine
        super().__setattr__(name, value)

    def __getattr__(self, name: str) -> Any:
        if name not in _WHERE:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
        setattr(self, name, value)
        return value

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(__all__))


sys.modules[__name__].__class__ = _Package
