"""Dogtag's random serial numbers: RSNv1 (random inside the CA's own range,
checked against the database) and RSNv3 (N random bits, no check at all).

dogtag-ranges.md section 5.  Both draw from the generator the repository is
given (one stream per component, derived from the run's seed): never from a
global ``random``.
"""

from __future__ import annotations

import random
from typing import ClassVar

import pkisim.ids.protocol as p
from pkisim.errors import AllocationError
from pkisim.ids.events import CacheLoaded, RangeClaimed
from pkisim.ids.repository import Repository
from pkisim.ids.strategies import STRATEGY


def _generator(repo: Repository) -> random.Random:
    if repo.rng is None:
        raise ValueError(f"{repo.mode.dogtag} draws numbers at random: pass rng= (one stream "
                         "per repository, derived from the run's seed or the OS's entropy)")
    return repo.rng


class LegacyRandomRepository(Repository):
    """RSNv1 (``legacy`` generator with ``dbs.enableRandomSerialNumbers=true``).

    A serial is ``begin + offset`` with a uniformly drawn offset in the current
    range.  Each candidate is checked against the CA's own replica; on a
    collision it probes ``+1, -1, +2, -2, ...`` up to ``collision_recovery_steps``
    within the range, then draws again up to ``collision_recovery_regenerations``
    times, then fails.  The range counts as used up once the counter exceeds
    ``size - lowWaterMark / 2``: it switches to the next range if there is one,
    else keeps going until the counter reaches the size.
    """

    mode = STRATEGY["legacy-random"]
    collision_recovery_steps: ClassVar[int] = 10
    collision_recovery_regenerations: ClassVar[int] = 3
    minimum_random_bits: ClassVar[int] = 4

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.draws = _generator(self)
        #: ``dbs.randomSerialNumberCounter``: serials used in the current range.
        #: Dogtag persists it with a timestamp and recounts the records created
        #: since; pkisim keeps the exact count across restarts.
        self.counter = 0

    def restart(self, rng: random.Random | None = None) -> None:
        super().restart(rng)
        self.draws = _generator(self)

    def in_range(self) -> int:
        return self.end - self.begin - self.counter

    def remaining(self) -> int:
        return max(0, self.end - self.begin + 1 - self.counter) + self.state.next_size

    def load_cache(self) -> p.Operation[None]:
        self.last = self.begin - 1  # RSNv1 has no "last": the counter is what matters
        self._emit(CacheLoaded(self.kind, self.state, self.last))
        return
        yield

    def _switch(self) -> None:
        super()._switch()
        self.counter = 0

    def peek_next(self) -> int:
        # A transfer must not cut numbers the CA may still draw: RSNv1 draws from
        # the whole range, so only a fully unused top slice is safe.  Dogtag peeks
        # the sequential counter; pkisim reports the highest number in use instead.
        return self.begin + self.counter if self.counter == 0 else self.end + 1

    def issue(self) -> p.Operation[int]:
        if self.last is None:
            yield from self.load_cache()
        size = self.end - self.begin + 1
        if self.counter > size - self.low_water_mark // 2:
            if self.serial_management and self.next_begin is not None:
                self._switch()
                size = self.end - self.begin + 1
            elif self.counter >= size:
                raise self.exhausted()
        bits = size.bit_length()
        if bits < self.minimum_random_bits:
            raise AllocationError(f"range {self.radix.show(self.begin)}-"
                                  f"{self.radix.show(self.end)} has fewer than "
                                  f"{self.minimum_random_bits} random bits")
        for _ in range(1 + self.collision_recovery_regenerations):
            first = self.begin + ((self.draws.getrandbits(bits) * size) >> bits)
            for candidate in self._probe_order(first):
                found = yield p.NumberExists(self.records_dn, candidate)
                if found.ok and found.number is None:
                    self.counter += 1
                    return candidate
        raise AllocationError("nextSerialNumber is null")

    def _probe_order(self, first: int) -> list[int]:
        order = [first]
        for step in range(1, self.collision_recovery_steps + 1):
            order += [c for c in (first + step, first - step) if self.begin <= c <= self.end]
        return order

    def issue_now(self) -> int:
        raise RuntimeError("RSNv1 checks every serial against the directory: drive issue()")


class RandomRepository(Repository):
    """RSNv3 (``random`` generator): ``id_length`` random bits, no range, no
    database check.  A collision surfaces only when the record is added."""

    mode = STRATEGY["random"]

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.draws = _generator(self)
        self.bits = self.config.id_length
        self.last = 0  # nothing to load

    def restart(self, rng: random.Random | None = None) -> None:
        """Nothing in memory matters to RSNv3 but its generator: a new process
        draws from a new one (``rng``)."""
        if rng is not None:
            self.rng = self.draws = rng

    def remaining(self) -> int:
        return 1 << self.bits

    def load_cache(self) -> p.Operation[None]:
        return
        yield

    def issue_now(self) -> int:
        return self.draws.getrandbits(self.bits)

    def check_ranges(self) -> p.Operation[RangeClaimed | None]:
        return None
        yield

    def check_due(self) -> bool:
        return False
