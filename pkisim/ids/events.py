"""What a repository tells its driver: frozen records of range changes.

A repository (the sans-IO allocator of one ID space) knows neither the time nor
which CA it belongs to; it puts these events in its outbox, and the driver that
runs its operations takes them after each step and stamps them with the time,
the CA and the directory replica before it records them in the history.  Every
event carries the repository's range state *after* the change, so that a
checker can tell which ranges each CA held at any time without replaying the
allocation logic.
"""

from __future__ import annotations

from dataclasses import dataclass

from pkisim.ids.config import IdKind


@dataclass(frozen=True, slots=True)
class RangeState:
    """A repository's ranges: what CS.cfg holds (bounds inclusive; ``None`` = no next range)."""

    begin: int
    end: int
    next_begin: int | None = None
    next_end: int | None = None

    @property
    def size(self) -> int:
        """Numbers in the current range (0 when depleted)."""
        return max(0, self.end - self.begin + 1)

    @property
    def next_size(self) -> int:
        if self.next_begin is None or self.next_end is None:
            return 0
        return max(0, self.next_end - self.next_begin + 1)


@dataclass(frozen=True, slots=True)
class RangeEvent:
    """Base class: ``kind`` is the ID space, ``state`` the ranges after the event."""

    kind: IdKind
    state: RangeState


@dataclass(frozen=True, slots=True)
class CacheLoaded(RangeEvent):
    """Start-up recovery (``initCache``): ``last`` is the highest number found in
    the directory within the current range, or begin - 1."""

    last: int


@dataclass(frozen=True, slots=True)
class RangeClaimed(RangeEvent):
    """``getNextRange`` succeeded: the CAS on ``nextRange`` moved it from
    ``counter`` to ``counter + increment`` and a ``pkiRange`` record was added.

    ``begin``/``end`` are the range the CA really holds; ``record_begin`` /
    ``record_end`` what the ``pkiRange`` record says (they differ for SSNv1
    certificates, whose decimal counter is re-read as hexadecimal).
    """

    begin: int
    end: int
    counter: str
    record_begin: int
    record_end: int


@dataclass(frozen=True, slots=True)
class ClaimFailed(RangeEvent):
    """``getNextRange`` returned null: Dogtag logs it and retries at the next
    update-task run.  ``burned`` is the record range when the CAS succeeded but
    the record could not be added (the range is lost and unrecorded)."""

    reason: str
    burned: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class SwitchedToNextRange(RangeEvent):
    """The current range overflowed and the next range became current."""

    begin: int
    end: int


@dataclass(frozen=True, slots=True)
class RangeTransferred(RangeEvent):
    """Donor side of a clone transfer (``UpdateNumberRange``): ``[begin, end]``
    went to a clone, cut from the top of the current range or, when
    ``from_next``, of the next range."""

    begin: int
    end: int
    from_next: bool


@dataclass(frozen=True, slots=True)
class RangeReceived(RangeEvent):
    """A repository that starts with a range it did not claim itself: the
    master's initial range, a clone's transferred slice, a DNA peer's gift."""

    begin: int
    end: int
    source: str


@dataclass(frozen=True, slots=True)
class ConflictDropped(RangeEvent):
    """``hasRangeConflict`` found replication-conflict ``pkiRange`` entries,
    deleted them and dropped the next range."""

    dns: tuple[str, ...]
