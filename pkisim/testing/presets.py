"""Named presets: a topology and the faults it enables, ready for another project's CI.

A preset is what a developer adding pkisim to CI picks by name instead of
assembling a :class:`~pkisim.testing.machine.MachineConfig`: whether the
strategy must pass (``expect="pass"``) or the preset exists to show a known
bug is caught (``expect`` names the symptom), and the coverage goals a run of
it must reach (a run that never reaches one fails, naming it).

    from pkisim.testing.presets import PRESETS, run_preset
    run_preset(PRESETS["legacy2-outage"])          # fails naming a goal never reached
    TestLegacy2 = PRESETS["legacy2-one-directory"].machine().TestCase

Together the ``pass`` presets reach every goal of
:data:`pkisim.testing.faults.GOALS`, and a ``bug-*`` preset catches each
planted bug of :mod:`pkisim.testing.variants` (its ``variant``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from hypothesis import settings as Settings
from hypothesis.stateful import run_state_machine_as_test

from pkisim.ids.layout import KRA
from pkisim.testing.faults import Backend
from pkisim.testing.machine import AllocationMachine, MachineConfig, machine

TWO = ("ds1", "ds2")
NO_PARTITION = frozenset({"partition"})


@dataclass(frozen=True)
class Preset:
    """A named :class:`MachineConfig`, what it must show and the goals it must reach."""

    name: str
    config: MachineConfig
    #: ``"pass"``: no schedule may break an invariant.  Otherwise the words the
    #: failure message must contain ("duplicate", "overlap", "liveness",
    #: "would not claim", "CS.cfg").
    expect: str = "pass"
    goals: tuple[str, ...] = ()
    doc: str = ""
    #: Examples a run needs to reach the goals (or find the bug) on the memory model.
    examples: int = 300
    #: Faults a real back end must support to run this preset.
    needs: frozenset[str] = field(default=frozenset(), compare=False)

    @property
    def variant(self) -> str | None:
        return self.config.variant

    def machine(self, backend: Callable[[tuple[str, ...], bool], Backend] | None = None,
                **changes: Any) -> type[AllocationMachine]:
        """The state-machine class for this preset, optionally on another back end."""
        config = self.config if backend is None else replace(self.config, backend=backend)
        if changes:
            config = replace(config, **changes)
        return machine(config)

    def shows(self, message: str) -> bool:
        """Does a failure ``message`` show the bug this preset expects?  Two
        ranges that overlap are duplicates not yet issued: the invariant that
        sees the overlap fails first, so it counts for ``"duplicate"``."""
        return self.expect in message or (self.expect == "duplicate"
                                          and "ranges overlap" in message)

    def settings(self, **changes: Any) -> Settings:
        """Bounded settings for this preset: its examples, 30 steps, no deadline,
        and one failure reported as one (not an ExceptionGroup) when a bug is expected."""
        base: dict[str, Any] = dict(max_examples=self.examples, stateful_step_count=30,
                                    deadline=None, report_multiple_bugs=False)
        base.update(changes)
        return Settings(**base)


@dataclass
class PresetRun:
    """What :func:`run_preset` saw: the failure message (``""`` when none), the
    shrunk schedule and the goals reached."""

    preset: Preset
    machine: type[AllocationMachine]
    message: str = ""
    steps: list[str] = field(default_factory=list)

    @property
    def reached(self) -> dict[str, int]:
        return dict(self.machine.coverage.reached)


def run_preset(preset: Preset, settings: Settings | None = None, *,
               backend: Callable[[tuple[str, ...], bool], Backend] | None = None,
               goals: tuple[str, ...] | None = None, **changes: Any) -> PresetRun:
    """Run ``preset`` and enforce what it promises.

    ``expect="pass"``: an invariant failure propagates as Hypothesis reports it;
    then every goal (``goals``, default the preset's) must have been reached,
    or AssertionError names each one missing.  Otherwise the run must fail with
    a message containing ``expect`` (AssertionError if it never fails or fails
    otherwise); the message and the shrunk schedule are returned.
    """
    cls = preset.machine(backend, **changes)
    settings = settings if settings is not None else preset.settings()
    if preset.expect == "pass":
        run_state_machine_as_test(cls, settings=settings)
        cls.coverage.require(preset.goals if goals is None else goals,
                             f"preset {preset.name!r}")
        return PresetRun(preset, cls)
    try:
        run_state_machine_as_test(cls, settings=settings)
    except AssertionError as err:
        message = str(err)
        if not preset.shows(message):
            raise AssertionError(f"preset {preset.name!r} expected a failure naming "
                                 f"{preset.expect!r}, got: {message}") from err
        cls.coverage.require(preset.goals if goals is None else goals, f"preset {preset.name!r}")
        return PresetRun(preset, cls, message, list(cls.last_steps))
    raise AssertionError(f"preset {preset.name!r}: the machine never found the "
                         f"{preset.expect!r} it exists to show in {settings.max_examples} "
                         f"examples ({preset.doc})")


def _bug(name: str, config: MachineConfig, expect: str, doc: str, examples: int = 1000,
         needs: frozenset[str] = frozenset()) -> Preset:
    return Preset(name or f"bug-{config.variant}", config, expect=expect,
                  doc=doc, examples=examples, needs=needs)


OUTAGE = frozenset({"outage"})
SIZE = frozenset({"size-limit"})

PRESETS: dict[str, Preset] = {p.name: p for p in (
    # ---------------------------------------------------------------- must pass
    Preset("legacy2-one-directory", MachineConfig("legacy2"),
           goals=("range exhausted", "restart mid-range", "transfer out of next range",
                  "claim failed and recovered"),
           doc="Dogtag's default range strategy on one directory: must never overlap; "
               "interleaved update tasks contend for nextRange and lost claims are retried."),
    Preset("legacy-one-directory", MachineConfig("legacy"), goals=("range exhausted",),
           doc="SSNv1 (hex serials, decimal nextRange) on one directory."),
    Preset("legacy2-outage", MachineConfig("legacy2", faults=OUTAGE),
           goals=("directory restarted", "restart during outage reached",
                  "started once the directory was back", "claim failed and recovered"),
           doc="Directories killed and restarted: a CA restarted meanwhile refuses to start "
               "and starts once its directory is back; claims made meanwhile are retried.",
           needs=OUTAGE),
    Preset("legacy2-pair-outage", MachineConfig("legacy2", replicas=TWO, faults=OUTAGE,
                                                disabled=NO_PARTITION),
           goals=("directory restarted", "restart during outage reached"),
           doc="Two replicas, replication before each step, one of them killed and restarted.",
           examples=200, needs=OUTAGE),
    Preset("legacy2-size-limit", MachineConfig("legacy2", faults=SIZE),
           goals=("size-limited search at restart", "started once the directory was back"),
           doc="A non-root bind under a size limit: the restart search fails, the CA refuses "
               "to start until the limit is raised.", examples=1000, needs=SIZE),
    Preset("legacy2-multi-valued-next-range",
           MachineConfig("legacy2", faults=frozenset({"multi-valued"})),
           goals=("multi-valued nextRange reported",),
           doc="A replication race left nextRange multi-valued: Dogtag's claims fail for good; "
               "the failure must say so in one line.", examples=1000,
           needs=frozenset({"multi-valued"})),
    Preset("legacy2-partitioned-replica",
           MachineConfig("legacy2", replicas=TWO, ca_replicas=("ds1",), sync=False),
           goals=("claim during partition",),
           doc="All CAs on ds1, a second replica without a CA: claims during partitions are safe."),
    Preset("random-128", MachineConfig("random"), goals=("rsnv3 process restart",),
           doc="RSNv3: 128-bit random serials, never a duplicate, also across process restarts."),
    Preset("donor-depleted", MachineConfig("legacy2", max_cas=6),
           goals=("donor depleted by transfers",),
           doc="Repeated clone installations empty a donor (Pagure 3055): reported, not a bug "
               "of the machine."),
    Preset("kra-legacy2-one-directory", MachineConfig("legacy2", subsystem=KRA),
           goals=("range exhausted", "restart mid-range", "transfer out of next range"),
           doc="A KRA master and its clones on one directory: key IDs and KRA request IDs "
               "(ou=keyRepository, ou=kra,ou=requests) never overlap."),
    Preset("kra-random", MachineConfig("random", subsystem=KRA), goals=("rsnv3 process restart",),
           doc="RSNv3 key IDs (dbs.key.id.generator=random): never a duplicate, also across "
               "process restarts."),
    # ---------------------------------------------------------------- Dogtag's own bugs
    Preset("legacy2-cross-replica-race", MachineConfig("legacy2", replicas=TWO, sync=False),
           expect="duplicate", examples=1000,
           doc="Two CAs on two replicas claim the same nextRange: Dogtag's known race."),
    Preset("legacy2-short-next-range-transfer",
           MachineConfig("legacy2", guard_transfers=False, max_cas=6, transfer=8),
           expect="overlap", goals=("next range overrun",), examples=3000,
           doc="A clone transfer larger than the donor's next range (Dogtag writes nextEnd "
               "below nextBegin): Dogtag's overlap, reproduced as Dogtag writes CS.cfg."),
    Preset("bug-kra-cross-replica-race",
           MachineConfig("legacy2", subsystem=KRA, replicas=TWO, sync=False),
           expect="duplicate", examples=1000,
           doc="KRA clones on two replicas claim the same key-ID nextRange before replication "
               "(lag or a partition) delivers it: duplicate key IDs (a recovered key that "
               "belongs to someone else)."),
    # ---------------------------------------------------------------- planted bugs
    _bug("", MachineConfig("legacy2", variant="startup-claims-only"), "liveness",
         "Clones that claim only at start-up (BZ 1251606) stay dead once dry."),
    _bug("", MachineConfig("legacy2", variant="transfer-keeps-donor-end", initial_clones=0),
         "overlap", "A transfer that does not lower the donor's end (Pagure 3055)."),
    _bug("", MachineConfig("legacy2", replicas=TWO, sync=False, variant="stale-recovery",
                           disabled=frozenset({"partition", "clone"}), initial_clones=0),
         "duplicate", "Restart recovery from a lagging replica."),
    _bug("bug-random-20-bits", MachineConfig("random", id_length=20, batch=64), "duplicate",
         "RSNv3 with 20 bits: the birthday bound."),
    _bug("", MachineConfig("legacy2", faults=OUTAGE, variant="forget-failed-claim"),
         "would not claim", "Issue 13, item 1: the update task forgets a failed claim.",
         needs=OUTAGE),
    _bug("", MachineConfig("legacy2", faults=OUTAGE, variant="restart-from-range-begin"),
         "duplicate", "Issue 13, item 2: a restart while the directory is down starts the "
         "range over.", needs=OUTAGE),
    _bug("bug-restart-from-range-begin-size-limit",
         MachineConfig("legacy2", faults=SIZE, variant="restart-from-range-begin"),
         "duplicate", "Issue 13, item 2: a size-limited restart search starts the range over.",
         needs=SIZE),
    _bug("", MachineConfig("random", variant="rsnv3-seeded-by-name"), "duplicate",
         "Issue 13, item 3: a restarted RSNv3 process draws its first start's serials again."),
    _bug("", MachineConfig("legacy2", faults=frozenset({"multi-valued"}),
                           variant="multi-valued-nextrange-wedge"),
         "liveness", "Issue 13, item 4: a multi-valued nextRange wedges claims, unexplained.",
         needs=frozenset({"multi-valued"})),
    _bug("", MachineConfig("legacy2", guard_transfers=False, max_cas=6, transfer=8,
                           variant="transfer-overrun-refused"),
         "CS.cfg", "Issue 13, item 6: the CS.cfg Dogtag writes after a transfer overrun is "
         "refused.", examples=3000),
)}

__all__ = ["PRESETS", "Preset", "PresetRun", "run_preset"]
