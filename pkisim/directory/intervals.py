"""Sets of record numbers: :class:`IntervalSet`, maximal runs of consecutive
numbers plus a set of isolated ones, so that a sequential CA appending
``last + 1`` costs O(1) and almost no memory while random serials stay a plain
set."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from heapq import merge


class IntervalSet:
    """A set of non-negative ints, stored canonically as maximal runs of at
    least two consecutive numbers plus a set of isolated numbers.

    Two IntervalSets holding the same numbers are equal field by field, so
    replicas compare cheaply.  Appending ``max + 1`` to a run is O(1); other
    additions are O(log runs) plus a list insert when a new run starts.
    """

    __slots__ = ("_ends", "_hint", "_single", "_size", "_sorted", "_stale", "_starts")

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._single: set[int] = set()
        self._size = 0
        self._hint = 0  # the run the last addition extended: a CA appends to its own run
        self._sorted: list[int] = []  # sorted view of _single, rebuilt lazily
        self._stale: list[int] | None = []  # singles added since; None = rebuild all

    def __len__(self) -> int:
        return self._size

    def __contains__(self, n: object) -> bool:
        if n in self._single:
            return True
        if not isinstance(n, int):
            return False
        i = bisect_right(self._starts, n) - 1
        return i >= 0 and n <= self._ends[i]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IntervalSet):
            return NotImplemented
        return (self._starts == other._starts and self._ends == other._ends
                and self._single == other._single)

    __hash__ = None  # type: ignore[assignment]

    def __iter__(self) -> Iterator[int]:
        """The numbers in increasing order."""
        runs = (n for s, e in zip(self._starts, self._ends, strict=True) for n in range(s, e + 1))
        return merge(runs, self._sorted_singles())

    def __repr__(self) -> str:
        runs = ", ".join(f"{s}-{e}" for s, e in zip(self._starts, self._ends, strict=True))
        return f"IntervalSet(runs=[{runs}], single={sorted(self._single)})"

    def copy(self) -> IntervalSet:
        other = IntervalSet()
        other._starts, other._ends = self._starts.copy(), self._ends.copy()
        other._single, other._size = self._single.copy(), self._size
        other._stale = None
        return other

    @property
    def runs(self) -> int:
        return len(self._starts)

    def add(self, n: int) -> bool:
        """Add ``n``; ``False`` if it was already there."""
        starts, ends, single = self._starts, self._ends, self._single
        h = self._hint
        if (h < len(ends) and ends[h] == n - 1 and (h + 1 == len(ends) or starts[h + 1] != n + 1)
                and n + 1 not in single):  # a sequential CA appends to its run
            ends[h] = n
            self._size += 1
            return True
        if n in single:
            return False
        i = bisect_right(starts, n) - 1
        if i >= 0 and n <= ends[i]:
            return False
        below = i >= 0 and ends[i] == n - 1
        above = i + 1 < len(starts) and starts[i + 1] == n + 1
        if below and above:  # n joins two runs
            ends[i] = ends[i + 1]
            del starts[i + 1], ends[i + 1]
        elif below:
            ends[i] = n if n + 1 not in single else self._take(n + 1, n)
            self._hint = i
        elif above:
            starts[i + 1] = self._take(n - 1, n)
        else:
            low, high = self._take(n - 1, n), self._take(n + 1, n)
            if low == high:
                single.add(n)
                if self._stale is not None:
                    self._stale.append(n)
            else:
                starts.insert(i + 1, low)
                ends.insert(i + 1, high)
                self._hint = i + 1
        self._size += 1
        return True

    def add_run(self, first: int, last: int) -> None:
        """Add ``first..last``, none of which is in the set yet (the caller
        checked with :meth:`last_in`): O(log runs), the same set as adding
        them one by one."""
        if first == last:
            self.add(first)
            return
        starts, ends, single = self._starts, self._ends, self._single
        i = bisect_right(starts, first)
        low, high = first, last
        if i and ends[i - 1] == first - 1:
            i -= 1
            low = starts[i]
            del starts[i], ends[i]
        elif first - 1 in single:
            low = self._take(first - 1, first)
        if i < len(starts) and starts[i] == last + 1:
            high = ends[i]
            del starts[i], ends[i]
        elif last + 1 in single:
            high = self._take(last + 1, last)
        starts.insert(i, low)
        ends.insert(i, high)
        self._hint = i
        self._size += last - first + 1

    def _take(self, neighbour: int, n: int) -> int:
        """Absorb an isolated ``neighbour`` of ``n`` if there is one."""
        if neighbour in self._single:
            self._single.remove(neighbour)
            self._stale = None
            return neighbour
        return n

    def discard(self, n: int) -> bool:
        """Remove ``n``; ``False`` if it was not there."""
        if n in self._single:
            self._single.remove(n)
            self._stale = None
            self._size -= 1
            return True
        starts, ends = self._starts, self._ends
        i = bisect_right(starts, n) - 1
        if i < 0 or n > ends[i]:
            return False
        low, high = starts[i], ends[i]
        del starts[i], ends[i]
        for a, b in ((n + 1, high), (low, n - 1)):  # insert right piece, then left
            if a == b:
                self._single.add(a)
                if self._stale is not None:
                    self._stale.append(a)
            elif a < b:
                starts.insert(i, a)
                ends.insert(i, b)
        self._size -= 1
        return True

    def _sorted_singles(self) -> list[int]:
        if self._stale is None:
            self._sorted = sorted(self._single)
        elif self._stale:
            self._sorted = sorted(self._sorted + self._stale)  # two sorted runs: linear
        self._stale = []
        return self._sorted

    def last_in(self, begin: int, end: int) -> int | None:
        """The highest number in ``[begin, end]``, or ``None``."""
        best: int | None = None
        i = bisect_right(self._starts, end) - 1
        if i >= 0 and self._ends[i] >= begin:
            best = min(self._ends[i], end)
        if self._single:
            singles = self._sorted_singles()
            j = bisect_right(singles, end) - 1
            if j >= 0 and singles[j] >= begin and (best is None or singles[j] > best):
                best = singles[j]
        return best


__all__ = ["IntervalSet"]
