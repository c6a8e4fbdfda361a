"""Dogtag's range mode as a sans-IO state machine (``Repository`` in Dogtag's words).

One :class:`Repository` manages one ID space (certificate serials, request IDs
or replica IDs) of one CA.  It never does I/O: operations that need the
directory are generators that yield :mod:`pkisim.ids.protocol` commands
and are sent the results (``protocol.run`` drives one synchronously; the SimPy
world and the LDAP driver drive them their own way).  Issuance from a held
range needs no directory at all and has a plain fast path, :meth:`issue_now`.

Behaviour follows dogtag-ranges.md sections 3-4:

* ``checkRanges`` runs at start-up and every update interval, never on demand;
  it claims when (remaining in current + size of next) < low-water mark;
* a claim reads the first ``nextRange`` value, swaps it with one modify
  (delete old value, add new value) and adds a ``pkiRange`` record; any failure
  returns nothing, with no retry and no rollback;
* overflow switches to the next range only with serial management on, and does
  not claim; with nothing left issuance fails with "All serial numbers are used";
* after a restart the CA resumes from the highest number present in *its*
  replica within its current range;
* a clone transfer hands out the top T of the donor's current range, or of its
  next range when fewer than T remain above the donor's next number.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, ClassVar

import pkisim.ids.protocol as p
import pkisim.ids.tree as dtree
from pkisim.errors import DirectoryUnavailable, RangeDepleted, SerialNumbersExhausted, TransferError
from pkisim.ids.events import (
    CacheLoaded,
    ClaimFailed,
    ConflictDropped,
    RangeClaimed,
    RangeEvent,
    RangeReceived,
    RangeState,
    RangeTransferred,
    SwitchedToNextRange,
)
from pkisim.ids.strategies import STRATEGY, Strategy

if TYPE_CHECKING:
    from pkisim.ids.config import IdSpaceConfig


class Repository:
    """Base class: the ranges of one ID space and the operations every strategy has.

    Subclasses set :attr:`mode` (their row of the strategy table) and override
    :meth:`get_next_range` (how a range is claimed), :meth:`issue_now` /
    :meth:`issue` (how a number is picked).

    Range events (claims, switches, transfers, cache loads, ...) are not
    reported through callbacks: the repository appends them to its
    :attr:`outbox`, and the driver that runs an operation takes them with
    :meth:`take_events` after each step and records them (h11's
    ``next_event``).  The repositories of one CA share one outbox, so their
    events keep the order in which they happened.
    """

    mode: ClassVar[Strategy] = STRATEGY["legacy"]
    #: Which range ``hasRangeConflict`` matches: "current" (Dogtag >= 10.11) or "next" (<= 10.10).
    conflict_check: str = "current"

    def __init__(self, config: IdSpaceConfig, tree: dtree.DogtagTree | None = None, *,
                 rng: random.Random | None = None, outbox: list[RangeEvent] | None = None,
                 source: str = "initial") -> None:
        self.config = config
        self.kind = config.kind
        self.tree = tree or dtree.DogtagTree.of(config.kind)
        self.rng = rng
        self.outbox: list[RangeEvent] = [] if outbox is None else outbox
        #: Does issuance need no directory?  Then drivers may call :meth:`issue_now`.
        self.pure_issue = not self.mode.issue_through_directory
        self.begin, self.end = config.begin, config.end
        self.next_begin, self.next_end = config.next_begin, config.next_end
        self.serial_management = config.serial_management
        self.increment, self.low_water_mark = config.increment, config.low_water_mark
        self.last: int | None = None  # in memory only: lost on restart
        #: Why the last range claim failed, until a claim succeeds (in memory
        #: only).  Dogtag only logs it; pkisim names it when the range then runs
        #: dry, so that "exhausted" is not mistaken for the cause.
        self.claim_failure: ClaimFailed | None = None
        self.radix = config.radix
        self.counter_dn = self.tree.counter_dn(self.kind, self.strategy)
        self.records_dn = self.tree.records_dn(self.kind)
        if self.ranged:
            self._emit(RangeReceived(self.kind, self.state, self.begin, self.end, source))

    @property
    def strategy(self) -> str:
        return self.mode.name

    @property
    def ranged(self) -> bool:
        """Does the strategy claim ranges from ``nextRange`` (and take part in transfers)?"""
        return self.mode.ranged

    def take_events(self) -> list[RangeEvent]:
        """The range events since the last call, oldest first (the outbox is emptied)."""
        events = self.outbox[:]
        self.outbox.clear()
        return events

    # ------------------------------------------------------------ state
    @property
    def state(self) -> RangeState:
        return RangeState(self.begin, self.end, self.next_begin, self.next_end)

    @property
    def loaded(self) -> bool:
        """Has the in-memory cache been loaded since start-up?"""
        return self.last is not None

    @property
    def can_issue_now(self) -> bool:
        return self.pure_issue and self.last is not None

    @property
    def wants_check(self) -> bool:
        """Should the driver run :meth:`check_ranges` now, on demand?  Dogtag
        never does (claims wait for the update task); DNA does."""
        return False

    def remaining(self) -> int:
        """Numbers left in the current range plus the next range."""
        last = self.begin - 1 if self.last is None else self.last
        in_range = max(0, self.end - last)
        return in_range + self.state.next_size

    def to_config(self) -> IdSpaceConfig:
        """What CS.cfg holds now (ranges are committed to CS.cfg at every change)."""
        overrun = self.next_begin is not None and self.next_end is not None \
            and self.next_end < self.next_begin
        return self.config.evolve(begin=self.begin, end=self.end, next_begin=self.next_begin,
                                  next_end=self.next_end, serial_management=self.serial_management,
                                  depleted=self.end < self.begin, next_overrun=overrun)

    def restart(self, rng: random.Random | None = None) -> None:
        """The CA process restarts: the in-memory counter is gone, CS.cfg stays.
        A new process draws from a new generator (``rng``; the old one if none)."""
        self.last = None
        self.claim_failure = None
        if rng is not None:
            self.rng = rng

    def _emit(self, event: RangeEvent) -> None:
        self.outbox.append(event)

    # ------------------------------------------------------------ start-up recovery
    def load_cache(self) -> p.Operation[None]:
        """``initCache``: resume after the highest number this CA's replica holds
        in the current range.  A depleted range (begin >= end, which Dogtag's
        check also applies to a one-number range) switches to the next range
        or fails.

        A search the directory does not answer (server down, a size or time
        limit) raises :class:`~pkisim.errors.DirectoryUnavailable` and leaves
        the cache unloaded: "no records" would start the range over and issue
        its numbers a second time.  Dogtag aborts its start-up there.
        """
        if self.begin >= self.end:
            if self.serial_management and self.next_begin is not None:
                self._switch()
                self.last = self.begin - 1
                self._emit(CacheLoaded(self.kind, self.state, self.last))
                return
            raise RangeDepleted("Error in obtaining the last serial number in the repository!")
        result = yield p.LastNumberInRange(self.records_dn, self.begin, self.end)
        if not result.ok:
            raise DirectoryUnavailable(
                f"initCache: cannot read the last number in {self.radix.show(self.begin)}-"
                f"{self.radix.show(self.end)} below {self.records_dn}: {result.code.name}"
                f"{': ' + result.message if result.message else ''}")
        found = result.number
        self.last = found if found is not None and found >= self.begin else self.begin - 1
        self._emit(CacheLoaded(self.kind, self.state, self.last))

    def start(self) -> p.Operation[None]:
        """Start-up: ``checkRanges`` (which loads the cache); with serial
        management off, the cache is loaded here too."""
        yield from self.check_ranges()
        if self.last is None:
            yield from self.load_cache()

    # ------------------------------------------------------------ issuance
    def issue(self) -> p.Operation[int]:
        """Issue one number (loads the cache first if needed)."""
        if self.last is None:
            yield from self.load_cache()
        return self.issue_now()

    def issue_record(self) -> p.Operation[tuple[int, p.Result]]:
        """Issue one number and store its record: the number and the ``Add``'s result.

        The reference path of every issuance; a driver with the cache loaded
        and a strategy that needs no directory may instead call
        :meth:`issue_now` and execute :meth:`record_add` itself.
        """
        number = yield from self.issue()
        stored = yield self.record_add(number)
        return number, stored

    def record_add(self, number: int) -> p.Add:
        """The record Dogtag stores for an issued number (``cn=<n>``)."""
        return self.tree.record_add(self.kind, number)

    def run_fits(self, count: int) -> bool:
        """Can :meth:`issue_run` take ``count`` numbers now: a sequential
        strategy, the cache loaded, all of them in the current range?"""
        return (self.mode.sequential and self.last is not None
                and self.last + count <= self.end)

    def issue_run(self, count: int) -> int:
        """Issue ``count`` consecutive numbers at once (a batched caller): the
        same numbers as ``count`` calls of :meth:`issue_now` that neither switch
        ranges nor run out.  Returns the first; check :meth:`run_fits` first."""
        if not self.run_fits(count):
            raise ValueError(f"issue_run({count}): not {count} numbers left in the current "
                             f"range of a loaded, sequential repository")
        assert self.last is not None
        first = self.last + 1
        self.last += count
        return first

    def issue_now(self) -> int:
        """``getNextSerialNumber`` for a loaded, sequential repository: no I/O."""
        last = self.last
        if last is None:
            raise RuntimeError("issue_now() before the cache was loaded; drive issue() instead")
        last += 1
        self.last = last
        if last <= self.end:
            return last
        if self.serial_management and self.next_begin is not None:
            self._switch()
            self.last = self.begin
            return self.begin
        raise self.exhausted()

    def exhausted(self) -> SerialNumbersExhausted:
        """Dogtag's "All serial numbers are used", with the failed claim that
        left no next range, if one did."""
        cause = self.claim_failure.reason if self.claim_failure is not None else None
        return SerialNumbersExhausted(self.kind.value, self.radix.show(self.end), cause)

    def _switch(self) -> None:
        assert self.next_begin is not None and self.next_end is not None
        self.begin, self.end = self.next_begin, self.next_end
        self.next_begin = self.next_end = None
        self._emit(SwitchedToNextRange(self.kind, self.state, self.begin, self.end))

    # ------------------------------------------------------------ range claims
    def in_range(self) -> int:
        """``end - last``: what ``checkRanges`` compares with the low-water mark."""
        assert self.last is not None
        return self.end - self.last

    def check_ranges(self) -> p.Operation[RangeClaimed | None]:
        """``checkRanges``: claim a next range when running low; then look for
        replication-conflict records of our own ranges.  Returns the claim, if any.

        A failed claim emits :class:`ClaimFailed` and raises nothing: the update
        task only logs it (at start-up Dogtag's CA would fail to start; the
        driver sees the event and decides).
        """
        if not self.serial_management:
            return None
        if self.last is None:
            yield from self.load_cache()
        claimed: RangeClaimed | None = None
        if self._claim_due():
            claimed = yield from self.get_next_range()
            if claimed is None:
                return None  # Dogtag: NullPointerException, logged; conflict check not reached
        if self._conflict_check_due():
            yield from self.has_range_conflict()
        return claimed

    def _claim_due(self) -> bool:
        """(remaining in current + size of next) < low-water mark."""
        return self.in_range() + self.state.next_size < self.low_water_mark

    def _conflict_check_due(self) -> bool:
        return self.in_range() < self.low_water_mark and self.next_begin is not None

    def plan(self) -> tuple[bool, bool, bool]:
        """What :meth:`check_ranges` would do now: (load the cache, claim a
        range, look for range conflicts); all False without serial management."""
        if not self.serial_management:
            return False, False, False
        if self.last is None:
            return True, False, False
        return False, self._claim_due(), self._conflict_check_due()

    def check_due(self) -> bool:
        """Would :meth:`check_ranges` talk to the directory now?"""
        if not self.serial_management:
            return False
        return self.last is None or self._claim_due() or self._conflict_check_due()

    def get_next_range(self) -> p.Operation[RangeClaimed | None]:
        """``getNextRange``: the CAS on ``nextRange`` and the ``pkiRange`` record.

        Dogtag reads the *first* value of ``nextRange``.  A replication race can
        leave several (the attribute is multi-valued); then a stale first value
        makes every compare-and-swap fail (its successor is already there) until
        an administrator leaves one value: the failure says so.
        """
        result = yield p.Read(self.counter_dn)
        values = (result.entry or {}).get("nextrange", ()) if result.ok else ()
        if not values:
            return self._claim_failed(f"cannot read nextRange of {self.counter_dn}: "
                                      f"{result.code.name if not result.ok else 'no value'}")
        text = values[0]
        try:
            counter = int(text, 10)
        except ValueError:
            return self._claim_failed(f"nextRange value {text!r} is not decimal")
        new_counter = counter + self.increment
        swap = yield p.Modify(self.counter_dn, (
            p.Mod(p.ModOp.DELETE, "nextRange", (text,)),
            p.Mod(p.ModOp.ADD, "nextRange", (str(new_counter),))))
        if not swap.ok:
            reason = f"nextRange CAS {text} -> {new_counter} (decimal) failed: {swap.code.name}"
            if len(values) > 1:
                reason += f"; {multi_valued(self.counter_dn, values)}"
            return self._claim_failed(reason)
        return (yield from self._record_claim(text, counter, new_counter))

    def _record_claim(self, text: str, counter: int, new_counter: int,
                      *, ignore_exists: bool = False) -> p.Operation[RangeClaimed | None]:
        record_end = new_counter - 1
        added = yield p.Add(self.tree.range_record_dn(self.kind, self.strategy, counter),
                            dtree.range_record(self.kind, counter, record_end, self.config.host,
                                         self.config.secure_port))
        if not added.ok and not ignore_exists:
            return self._claim_failed(f"pkiRange cn={counter} (decimal) not added: "
                                      f"{added.code.name}", burned=(counter, record_end))
        # Dogtag parses the decimal string with the repository radix: SSNv1
        # certificates read "13" as 0x13 (dogtag-ranges.md 4.4).
        begin = self.radix.reinterpret(text)
        self.next_begin, self.next_end = begin, begin + self.increment - 1
        claim = RangeClaimed(self.kind, self.state, begin, self.next_end, text, counter, record_end)
        self.claim_failure = None
        self._emit(claim)
        return claim

    def _claim_failed(self, reason: str, burned: tuple[int, int] | None = None) -> None:
        self.claim_failure = ClaimFailed(self.kind, self.state, reason, burned)
        self._emit(self.claim_failure)
        return None

    def has_range_conflict(self) -> p.Operation[bool]:
        """``hasRangeConflict``: delete replication-conflict ``pkiRange`` entries
        of this CA and, if there were any, drop the next range."""
        begin = self.begin if self.conflict_check == "current" else self.next_begin
        result = yield p.Search(self.tree.range_container_dn(self.kind, self.strategy), {
            "nsds5ReplConflict": "*", "objectClass": "pkiRange", "host": self.config.host,
            "SecurePort": str(self.config.secure_port), "beginRange": str(begin)})
        if not result.ok or not result.entries:
            return False
        dns = tuple(dn for dn, _ in result.entries)
        for dn in dns:
            yield p.Delete(dn)
        self.next_begin = self.next_end = None
        self._emit(ConflictDropped(self.kind, self.state, dns))
        return True

    # ------------------------------------------------------------ clone transfer
    def peek_next(self) -> int:
        """``peekNextSerialNumber``: the number the next issuance would take."""
        assert self.last is not None
        if self.last + 1 <= self.end:
            return self.last + 1
        if self.next_begin is not None:
            return self.next_begin
        raise TransferError("Current range depleted but no next range available.")

    def transfers_from_current(self, size: int) -> bool:
        """Would a transfer of ``size`` come from the top of the current range
        (else from the top of the next range)?  Needs the cache loaded."""
        return self.end - size + 1 >= self.peek_next()

    def clone_transfer(self, size: int | None = None) -> p.Operation[tuple[int, int]]:
        """Donor side of ``UpdateNumberRange``: cut a slice for a new clone.

        Returns the clone's ``(begin, end)``.  The donor's end (or next end)
        shrinks first, so no number is in both hands.
        """
        if not self.ranged:
            raise TransferError(f"the {self.strategy} strategy has no range to transfer")
        size = size if size is not None else self.config.clone_transfer_number
        if size is None:
            raise TransferError(f"dbs.{self.config.keys.clone_transfer_number} is not set")
        if self.last is None:
            yield from self.load_cache()
        top = self.end
        candidate = top - size + 1
        if self.transfers_from_current(size):
            self.end = candidate - 1
            self._emit(RangeTransferred(self.kind, self.state, candidate, top, False))
            return candidate, top
        if self.next_end is None:
            raise TransferError(f"dbs.{self.config.keys.next_end} is not set: the current range "
                                f"has fewer than {size} numbers left and there is no next range")
        next_top = self.next_end
        self.next_end = next_top - size
        self._emit(RangeTransferred(self.kind, self.state, next_top - size + 1, next_top, True))
        return next_top - size + 1, next_top


def multi_valued(dn: str, values: tuple[str, ...]) -> str:
    """The one-line report of a ``nextRange`` a replication race left with several values."""
    return (f"nextRange of {dn} holds {len(values)} values ({', '.join(values)}; decimal), "
            "left by a replication race: Dogtag reads the first and its claims fail until "
            "an administrator leaves one value, above every claimed range")


class RangeRepository(Repository):
    """SSNv1 (``legacy``): sequential ranges, certificate values in hex."""

    mode = STRATEGY["legacy"]


class RangeRepositoryV2(Repository):
    """SSNv2 (``legacy2``): the same algorithm with a consistent radix; the
    counter lives under ``ou=ranges_v2``."""

    mode = STRATEGY["legacy2"]


class NaiveRepository(Repository):
    """A deliberately unsafe baseline: read ``nextRange``, then overwrite it.

    No compare-and-swap, and a ``pkiRange`` name clash is ignored, so two CAs
    that read the same value claim the same range even on a single directory.
    """

    mode = STRATEGY["naive"]

    def get_next_range(self) -> p.Operation[RangeClaimed | None]:
        result = yield p.Read(self.counter_dn)
        text = p.attr_first(result.entry, "nextRange") if result.ok else None
        if text is None or not text.isdigit():
            return self._claim_failed(f"cannot read nextRange of {self.counter_dn}")
        counter = int(text)
        new_counter = counter + self.increment
        write = yield p.Modify(self.counter_dn,
                               (p.Mod(p.ModOp.REPLACE, "nextRange", (str(new_counter),)),))
        if not write.ok:
            return self._claim_failed(f"nextRange write failed: {write.code.name}")
        return (yield from self._record_claim(text, counter, new_counter, ignore_exists=True))
