"""Named presets: a topology and the faults it enables, ready for another project's CI.

A preset is what a developer adding pkisim to CI picks by name instead of
assembling a :class:`~pkisim.testing.machine.MachineConfig`: whether the
strategy must pass (``expect="pass"``) or the preset exists to show a known
bug is caught (``expect`` names the symptom), and the coverage goals a run of
it must reach (a run that never reaches one fails, naming it).

    from pkisim.testing.presets import PRESETS
    TestLegacy2 = PRESETS["legacy2-one-directory"].machine().TestCase
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from pkisim.testing.machine import AllocationMachine, Backend, MachineConfig, machine

TWO = ("ds1", "ds2")


@dataclass(frozen=True)
class Preset:
    """A named :class:`MachineConfig`, what it must show and the goals it must reach."""

    name: str
    config: MachineConfig
    #: ``"pass"``: no schedule may break an invariant.  Otherwise the words the
    #: failure message must contain ("duplicate", "overlap", "liveness").
    expect: str = "pass"
    goals: tuple[str, ...] = ()
    doc: str = ""

    def machine(self, backend: Callable[[tuple[str, ...], bool], Backend] | None = None,
                **changes: Any) -> type[AllocationMachine]:
        """The state-machine class for this preset, optionally on another back end."""
        config = self.config if backend is None else replace(self.config, backend=backend)
        if changes:
            config = replace(config, **changes)
        return machine(config)


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("legacy2-one-directory", MachineConfig("legacy2"), goals=("range exhausted",),
           doc="Dogtag's default range strategy on one directory: must never overlap."),
    Preset("legacy2-cross-replica-race", MachineConfig("legacy2", replicas=TWO, sync=False),
           expect="duplicate",
           doc="Two CAs on two replicas claim the same nextRange: Dogtag's known race."),
    Preset("random-128", MachineConfig("random"),
           doc="RSNv3: 128-bit random serials, never a duplicate."),
)}

__all__ = ["PRESETS", "Preset"]
