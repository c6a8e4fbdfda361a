"""One seed per run, one independent random stream per component.

Streams are named, not numbered: ``Seeds(42).random("ca2/cert")`` is the same
stream whatever other components exist, so adding a clone to a scenario does
not change the draws of the CAs already there (FoundationDB's discipline; numpy's
``SeedSequence`` does the mixing).
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass

import numpy as np


def _key(name: str) -> tuple[int, ...]:
    data = name.encode()
    return (zlib.crc32(data), zlib.adler32(data), len(data))


@dataclass(frozen=True, slots=True)
class Seeds:
    """The root of a run's randomness (there is no default seed)."""

    seed: int

    def sequence(self, name: str) -> np.random.SeedSequence:
        return np.random.SeedSequence(entropy=self.seed, spawn_key=_key(name))

    def numpy(self, name: str) -> np.random.Generator:
        """A numpy generator for component ``name`` (workloads, service times)."""
        return np.random.Generator(np.random.PCG64(self.sequence(name)))

    def random(self, name: str) -> random.Random:
        """A ``random.Random`` for component ``name`` (big random serials need
        ``getrandbits``, which numpy lacks)."""
        state = self.sequence(name).generate_state(4, np.uint64)
        return random.Random(int.from_bytes(state.tobytes(), "little"))

    def child(self, name: str) -> Seeds:
        """Seeds for a sub-run (a sweep's run, a property-test example): 63 bits,
        so that the seed fits a signed 64-bit column."""
        word = self.sequence(name).generate_state(1, np.uint64)[0]
        return Seeds(int(word >> np.uint64(1)))
