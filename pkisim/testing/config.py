"""What the allocation state machine (:mod:`pkisim.testing.machine`) explores:
the strategy, the replicas and how changes reach them, tiny ranges, the
faults switched on and the planted bug."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pkisim.errors import ConfigError
from pkisim.ids.config import IdKind
from pkisim.ids.layout import CA, Subsystem
from pkisim.testing.faults import FAULTS, Backend, memory_backend


@dataclass(frozen=True)
class MachineConfig:
    """What the machine explores.

    Ranges are tiny so that exhaustion, claims and transfers happen within a
    few steps.  ``variant`` plants a known bug (:mod:`pkisim.testing.variants`);
    ``faults`` enables faults by name (:data:`pkisim.testing.faults.FAULTS`).

    ``sync`` makes every change reach every replica that is up and linked
    before the next step; otherwise Hypothesis decides when changes arrive.
    ``sync`` alone is *not* Dogtag's safe case: partitions stay on unless
    ``disabled`` holds ``"partition"``, and a partitioned pair with ``sync``
    still runs two claims on one ``nextRange`` value (found in 4 steps).  What
    is safe with several replicas is replication before the next claim *and*
    no partition: ``sync=True, disabled=frozenset({"partition"})`` (the CAs
    then see one counter, as on one directory), or all CAs bound to one
    replica (``ca_replicas``), which serialises their compare-and-swaps.
    A killed replica (the ``outage`` fault) is a partition too: what it misses
    arrives when it is back, and a CA bound to it cannot claim meanwhile.
    """

    strategy: str
    replicas: tuple[str, ...] = ("ds1",)
    #: The replicas CAs bind to, round-robin (default: all).  A replica with no
    #: CA, like a FreeIPA replica without the CA role, still takes part in
    #: replication and partitions.
    ca_replicas: tuple[str, ...] | None = None
    sync: bool = True
    max_cas: int = 4
    initial_clones: int = 1
    begin: int = 1
    end: int = 24
    increment: int = 24
    low_water_mark: int = 12
    transfer: int = 12
    id_length: int = 128
    #: IDs per batch of the ``issue`` rule (1 to 16 batches a step).  Statistical
    #: bugs (short random serials) need thousands of draws: big batches keep the
    #: failing schedule short and quick to shrink.
    batch: int = 1
    variant: str | None = None
    backend: Callable[[tuple[str, ...], bool], Backend] = memory_backend
    #: Clone only from donors that hold the numbers they would give (see
    #: :func:`pkisim.testing.faults.can_transfer`); off, the machine finds
    #: Dogtag's short-next-range overlap.
    guard_transfers: bool = True
    #: Rules switched off for this backend or property ("partition", "crash", "clone", ...).
    disabled: frozenset[str] = frozenset()
    #: Faults switched on (``"outage"``, ``"size-limit"``, ``"multi-valued"``).
    faults: frozenset[str] = frozenset()
    #: The subsystem whose clones allocate (:data:`~pkisim.ids.layout.KRA`: key
    #: IDs and KRA request IDs instead of serials and request IDs).
    subsystem: Subsystem = CA

    def __post_init__(self) -> None:
        unknown = sorted(set(self.faults) - set(FAULTS))
        if unknown:
            raise ConfigError("faults", ", ".join(unknown), f"choose from {', '.join(FAULTS)}")

    def ids(self, kind: IdKind) -> dict[str, object]:
        if kind is IdKind.REPLICA:
            return dict(begin=1, end=40, increment=40, low_water_mark=10, clone_transfer_number=4)
        return dict(begin=self.begin, end=self.end, increment=self.increment,
                    low_water_mark=self.low_water_mark, clone_transfer_number=self.transfer,
                    id_length=self.id_length, update_interval=1.0)


__all__ = ["MachineConfig"]
