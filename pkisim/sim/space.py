"""The run's space table: each CA's serial and request IDs at regular intervals.

A row per CA and ID space (``time, ca, kind, issued, remaining, stranded``
and the ranges held) every ``max(throughput_bin, duration / 500)`` and at the
end.  A batched window (:mod:`pkisim.sim.batch`) goes past the sampler's
runs: it issues numbers after a sample's time before SimPy steps the sample,
so it leaves, for that time, how many numbers of each CA and kind it issued
at or after it (:meth:`SpaceSampler.behind`), and the row is what it was then.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any

import simpy

from pkisim.ids.config import IdKind
from pkisim.ids.repository import Repository
from pkisim.sim.lane import Tick
from pkisim.sim.metrics import Recorder

if TYPE_CHECKING:
    from pkisim.sim.ca import CaNode

Process = Generator[simpy.Event, Any, Any]
#: What a window issued at or after a sample's time: ``(CA index, kind) -> count``.
Behind = dict[tuple[int, IdKind], int]


class SpaceSampler:
    """Samples ``nodes``' ID spaces into ``recorder.space`` every ``interval``."""

    def __init__(self, env: simpy.Environment, clock: Callable[[], float],
                 nodes: Sequence[CaNode], recorder: Recorder, interval: float) -> None:
        self.env, self.clock, self.nodes, self.recorder = env, clock, nodes, recorder
        self.interval = interval
        self._behind: dict[float, Behind] = {}

    def process(self) -> Process:
        """A row set now, then one every interval (runs a window may go past)."""
        while True:
            self.record()
            yield Tick(self.env, self.interval, self)

    def runs(self, first: float, limit: float) -> list[float]:
        """The times of the runs before ``limit`` from the one due at ``first``
        on (a window going past them sees only the first in SimPy's queue)."""
        times = []
        t = first
        while t < limit:
            times.append(t)
            t = t + self.interval  # SimPy's own addition: now + delay
        return times

    def behind(self, t: float, counts: Behind) -> None:
        """A window went past the sample due at ``t``: it issued ``counts`` at or after ``t``."""
        self._behind[t] = counts

    def record(self) -> None:
        """One row per CA and kind, as it was at the current time."""
        t = self.clock()
        behind = self._behind.pop(t, None) if self._behind else None
        for node in self.nodes:
            if node.repos is None:
                continue
            for kind in (IdKind.CERT, IdKind.REQUEST):
                repo = node.repos[kind]
                late = behind.get((node.index, kind), 0) if behind else 0
                state = repo.state
                remaining = 0 if node.gone else _remaining(repo, late)
                self.recorder.space.append((
                    t, node.name, kind.value, node.issued(kind) - late, float(remaining),
                    node.stranded.get(kind, 0), state.begin, state.end, state.next_begin,
                    state.next_end))


def _remaining(repo: Repository, late: int) -> int:
    """What ``repo.remaining()`` was ``late`` numbers ago (from the same range:
    a window neither switches nor claims ranges)."""
    if not late:
        return repo.remaining()
    last = repo.last
    assert last is not None
    repo.last = last - late
    try:
        return repo.remaining()
    finally:
        repo.last = last


__all__ = ["Behind", "SpaceSampler"]
