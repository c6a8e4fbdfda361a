"""Records added as runs, as they travel between replicas.

When a CA's records are added in one go (:meth:`~pkisim.directory.runs.
RecordRuns.add_record_runs`), the records one replica added travel as one
:class:`Bundle`: the time and CSN sequence number of each record in the order
they were added, and the runs they belong to (:class:`BundleRun`: consecutive
numbers under one container).  Each outgoing link holds one :class:`Transit`
through it: how far the destination has got, and when each record is ready
there, exactly as if each record had been queued on its own (FIFO behind what
was queued before, no later than a lag change allows).  A destination applies
the records that have arrived as a block per run whenever no record of the
block can meet another (:meth:`~pkisim.directory.delivery.Replication.
_apply_batch`); otherwise one by one.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right

from pkisim.directory.entries import Csn


class Bundle:
    """The records one replica added in one go, in the order they were added.

    Record ``j`` was added at ``times[j]`` with CSN ``csn(j)``; it belongs to
    one of ``runs``.
    """

    __slots__ = ("origin", "runs", "sent", "seqs", "start", "times")

    def __init__(self, origin: int, times: list[float], seqs: list[int], start: float) -> None:
        self.origin = origin
        self.times = times  # the time of each add: ready at time + lag
        self.seqs = seqs  # the CSN sequence number of each add, increasing
        self.start = start  # CSN times never go back: max(start, time)
        self.runs: list[BundleRun] = []
        self.sent = len(times)  # records sent so far (all, once the adds are done)

    def __len__(self) -> int:
        return len(self.times)

    def csn(self, j: int) -> Csn:
        t = self.times[j]
        return (t if t > self.start else self.start, self.seqs[j], self.origin)

    def pieces(self, lo: int, hi: int) -> list[tuple[BundleRun, int, int]]:
        """The records ``lo..hi-1`` as (run, first rank, end rank) per run."""
        out = []
        for run in self.runs:
            index = run.index
            a, b = bisect_left(index, lo), bisect_left(index, hi)
            if a < b:
                out.append((run, a, b))
        return out


class BundleRun:
    """The records of one run in a bundle: numbers ``first, first + 1, ...``
    under the container ``key``; rank ``r`` is the bundle's record ``index[r]``."""

    __slots__ = ("bundle", "container_dn", "first", "index", "key", "seqs")

    def __init__(self, bundle: Bundle, key: str, container_dn: str, first: int,
                 index: list[int], seqs: list[int]) -> None:
        self.bundle, self.key, self.container_dn, self.first = bundle, key, container_dn, first
        self.index = index  # increasing
        self.seqs = seqs  # the CSN sequence number of each rank (``bundle.seqs`` at ``index``)

    def __len__(self) -> int:
        return len(self.index)

    def csn(self, rank: int) -> Csn:
        return self.bundle.csn(self.index[rank])

    def rank_from(self, seq: int) -> int:
        """The first rank whose CSN sequence number is >= ``seq``."""
        return bisect_left(self.seqs, seq)

    def rank_of(self, csn: Csn) -> int | None:
        """The rank of the record whose CSN is ``csn``, if it is one of this run's."""
        if csn[2] != self.bundle.origin:
            return None
        rank = self.rank_from(csn[1])
        return rank if rank < len(self.seqs) and self.csn(rank) == csn else None


class Transit:
    """A bundle on one link: records ``lo..`` still to deliver.  Record ``j``
    is ready at ``min(max(times[j] + lag, low), cap)``: ``low`` is when what
    was queued before it is ready (FIFO), ``cap`` the limit set by lag changes
    since (``lag`` is the link's lag when it was sent, ``inf`` for manual)."""

    __slots__ = ("bundle", "cap", "lag", "lo", "low")

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self.lo = 0
        self.lag = 0.0
        self.low = -math.inf
        self.cap = math.inf

    def ready(self, j: int) -> float:
        ready = self.bundle.times[j] + self.lag
        if ready < self.low:
            ready = self.low
        return ready if ready < self.cap else self.cap

    def ready_end(self, now: float, sent: int | None = None) -> int:
        """The end of the records from ``lo`` on that are ready by ``now`` among
        the first ``sent`` (default: all that are sent)."""
        bundle = self.bundle
        if sent is None:
            sent = bundle.sent
        if self.lo >= sent:
            return self.lo
        if self.cap <= now:  # a lag change since: ready by the cap, whatever came before
            return sent
        if self.low > now:
            return self.lo
        lag = self.lag
        return bisect_right(bundle.times, now, self.lo, sent, key=lambda t: t + lag)

    def before(self, seq: int) -> int:
        """The end of the records from ``lo`` on (sent) whose CSN sequence is < ``seq``."""
        bundle = self.bundle
        return bisect_right(bundle.seqs, seq - 1, self.lo, bundle.sent)


__all__ = ["Bundle", "BundleRun", "Transit"]
