"""Run-length issue rows: a window of issuances stored as runs, not rows.

A batched simulation hands out, in one window, consecutive numbers from each
CA's range: CA 1 serials 0x1000-0x10ff, CA 1 request IDs 4096-4351, CA 2 ...
interleaved in the order they happened.  :meth:`History.issue_runs` records such
a window as one **block**: the runs (one row of the **run table** each:
process, replica, op, type, issuer, first value, count, first and last row and
time) and, per issuance, only its time (float64) and which run of the block it
belongs to (uint8), 9 bytes an issuance instead of the issue table's 24.  The
value of an issuance is its run's first value plus its rank within the run.

A block occupies consecutive logical rows of the history (rows recorded one by
one before it come before, rows after it after), so no event lies inside a
block: every issuance of a run saw the same range state.  A block holds at most
one run per (process, op): the rows of one CA and ID space never interleave
between runs, so a CA's IDs increase in row order within each run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from pkisim.history.columns import Column

_MASK64 = (1 << 64) - 1
#: Runs one block can hold (the ``which`` column is uint8); a window of more
#: runs (128 CAs and more) is recorded row by row.
MAX_RUNS = 1 << 8


class RunColumns(NamedTuple):
    """Read-only views of the run table, one row per run, in recording order."""

    row: np.ndarray  # int64 logical issue row of the run's first issuance
    last_row: np.ndarray  # int64 logical issue row of its last issuance
    count: np.ndarray  # int64 issuances (consecutive values)
    time: np.ndarray  # float64 time of the first issuance
    last_time: np.ndarray  # float64 time of the last issuance
    process: np.ndarray  # int32 code
    replica: np.ndarray  # int16 code, -1 = none
    op: np.ndarray  # uint8 Op
    type: np.ndarray  # uint8 OpType
    lo: np.ndarray  # uint64 first value & (2**64 - 1)
    hi: np.ndarray  # uint64 first value >> 64
    issuer: np.ndarray  # int32 code


_DTYPES = (np.int64, np.int64, np.int64, np.float64, np.float64, np.int32, np.int16,
           np.uint8, np.uint8, np.uint64, np.uint64, np.int32)


def ranks(which: np.ndarray) -> np.ndarray:
    """For each element, how many equal elements precede it (its rank in its run)."""
    order = np.argsort(which, kind="stable")
    ordered = which[order]
    start = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    size = np.diff(np.r_[start, len(which)])
    out = np.empty(len(which), np.int64)
    out[order] = np.arange(len(which)) - np.repeat(start, size)
    return out


def add128(lo: np.ndarray, hi: np.ndarray, offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) + offset (a non-negative int64 array), with the carry."""
    new_lo = lo + offset.astype(np.uint64)
    return new_lo, hi + (new_lo < lo).astype(np.uint64)


class RunTable:
    """The blocks and runs of one history (see the module docstring)."""

    def __init__(self) -> None:
        self._blocks: list[tuple[int, int, int, int, int]] = []  # row0, at, size, run0, runs
        self._time = Column(np.float64)
        self._which = Column(np.uint8)
        self._runs = tuple(Column(dtype, sparse=i in (10, 11)) for i, dtype in enumerate(_DTYPES))
        self.rows = 0  # issuances in runs
        self._cache: tuple[int, RunColumns] | None = None

    def __len__(self) -> int:
        """Runs recorded."""
        return self._runs[0]._size

    @property
    def blocks(self) -> int:
        return len(self._blocks)

    @property
    def nbytes(self) -> int:
        return sum(c.nbytes for c in (self._time, self._which, *self._runs))

    def add(self, row0: int, time: np.ndarray, which: np.ndarray, process: np.ndarray,
            replica: np.ndarray, op: np.ndarray, type: np.ndarray, first: list[int],
            issuer: np.ndarray) -> None:
        """Append a block at logical row ``row0``; the caller checked the codes."""
        n = len(first)
        counts, rows, last_rows = runs_of(which, n)
        lo = np.array([v & _MASK64 for v in first], np.uint64)
        hi = np.array([v >> 64 for v in first], np.uint64)
        run0 = len(self)
        data = (rows + row0, last_rows + row0, counts, time[rows], time[last_rows],
                process, replica, op, type, lo, hi, issuer)
        for column, values, dtype in zip(self._runs, data, _DTYPES, strict=True):
            column.extend(np.asarray(values, dtype))
        self._blocks.append((row0, self._time._size, len(time), run0, n))
        self._time.extend(time)
        self._which.extend(which)
        self.rows += len(time)

    def columns(self) -> RunColumns:
        cached = self._cache
        if cached is None or cached[0] != len(self):
            cached = self._cache = (len(self), RunColumns(*(c.view() for c in self._runs)))
        return cached[1]

    def block_starts(self) -> tuple[np.ndarray, np.ndarray]:
        """Each block's first logical row and its number of rows."""
        blocks = np.array(self._blocks, np.int64).reshape(-1, 5)
        return blocks[:, 0], blocks[:, 2]

    def block_at(self, k: int) -> tuple[int, np.ndarray, np.ndarray, int]:
        """Block ``k``'s first logical row, its times and run indices, its first run."""
        row0, at, size, run0, _ = self._blocks[k]
        return (row0, self._time.view()[at:at + size], self._which.view()[at:at + size], run0)

    def expand(self, k: int, start: int = 0, stop: int | None = None) -> tuple[np.ndarray, ...]:
        """Rows ``start:stop`` of block ``k`` as issue-table columns (time,
        process, replica, op, type, lo, hi, flag, issuer)."""
        _, time, which, run0 = self.block_at(k)
        stop = len(time) if stop is None else stop
        g = run0 + which.astype(np.int64)
        rank = ranks(which)[start:stop]
        g = g[start:stop]
        r = self.columns()
        lo, hi = add128(r.lo[g], r.hi[g], rank)
        return (time[start:stop], r.process[g], r.replica[g], r.op[g], r.type[g], lo, hi,
                np.zeros(len(g), np.uint8), r.issuer[g])

    def block_of_run(self, run: int) -> int:
        run0s = np.array([b[3] for b in self._blocks], np.int64)
        return int(np.searchsorted(run0s, run, side="right")) - 1

    def run_rows(self, run: int, rank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Logical rows and times of the issuances of ``run`` at ``rank``."""
        row0, time, which, run0 = self.block_at(self.block_of_run(run))
        at = np.flatnonzero(which == run - run0)[np.asarray(rank, np.int64)]
        return at + row0, time[at]

    def locate(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For logical rows: the block holding each (-1: a single row) and the
        offset in it (or, for a single row, its index among the single rows)."""
        rows = np.asarray(rows, np.int64)
        if not self._blocks:
            return np.full(len(rows), -1, np.int64), rows
        starts, sizes = self.block_starts()
        k = np.searchsorted(starts, rows, side="right") - 1
        inside = (k >= 0) & (rows < starts[np.maximum(k, 0)] + sizes[np.maximum(k, 0)])
        before = np.r_[0, np.cumsum(sizes)]  # block rows before block k
        single = rows - before[np.where(k >= 0, k + 1, 0)]
        return (np.where(inside, k, -1),
                np.where(inside, rows - starts[np.maximum(k, 0)], single))

    def single_rows(self, singles: int) -> np.ndarray:
        """The logical rows of the ``singles`` rows stored one by one."""
        index = np.arange(singles, dtype=np.int64)
        if not self._blocks:
            return index
        starts, sizes = self.block_starts()
        before = np.r_[0, np.cumsum(sizes)][:-1]
        singles_before = starts - before  # single rows recorded before each block
        k = np.searchsorted(singles_before, index, side="right")
        return index + np.r_[0, np.cumsum(sizes)][k]


def runs_of(which: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Count, first and last index of each of the ``n`` runs in ``which``."""
    counts = np.bincount(which, minlength=n).astype(np.int64)
    if len(counts) != n or not counts.all():
        raise ValueError(f"History.issue_runs: each of the {n} runs needs at least one row "
                         "and every row a run below that number")
    first = np.full(n, len(which), np.int64)
    np.minimum.at(first, which.astype(np.int64), np.arange(len(which)))
    last = np.zeros(n, np.int64)
    np.maximum.at(last, which.astype(np.int64), np.arange(len(which)))
    return counts, first, last


def check_runs(size: int, which: np.ndarray, process: Sequence[int], op: Sequence[int],
               first: Sequence[int], type: Sequence[int] | None,
               replica: Sequence[int] | None, issuer: Sequence[int] | None,
               limits: tuple[int, ...]) -> tuple[tuple[np.ndarray, ...], list[int]]:
    """Check :meth:`History.issue_runs`' arguments (``limits``: the number of
    process, op, type, replica and issuer codes); the per-run code arrays
    (process, op, type, replica, issuer) and first values."""
    n = len(first)
    per_run = (np.asarray(process, np.int64), np.asarray(op, np.int64),
               np.full(n, 1, np.int64) if type is None else np.asarray(type, np.int64),
               np.full(n, -1, np.int64) if replica is None else np.asarray(replica, np.int64),
               np.zeros(n, np.int64) if issuer is None else np.asarray(issuer, np.int64))
    for what, codes, limit in zip(("process", "op", "type", "replica", "issuer"), per_run,
                                  limits, strict=True):
        least = -1 if what == "replica" else 0
        if len(codes) != n or (n and (codes.max() >= limit or codes.min() < least)):
            raise ValueError(f"History.issue_runs: a {what} code is unknown or missing")
    if len(set(zip(per_run[0].tolist(), per_run[1].tolist(), strict=True))) != n:
        raise ValueError("History.issue_runs: two runs of one process and op in one window")
    which = np.asarray(which)
    if len(which) != size or (size and (which.min() < 0 or which.max() >= n)):
        raise ValueError(f"History.issue_runs: a row's run is not one of the {n} runs")
    counts = np.bincount(which.astype(np.int64), minlength=n).tolist()
    values = [int(v) for v in first]
    if any(v < 0 or v + c - 1 >= 1 << 128 for v, c in zip(values, counts, strict=True)):
        raise ValueError("History.issue_runs: a run's IDs leave [0, 2**128)")
    return per_run, values


def expand_window(time: np.ndarray, which: np.ndarray, per_run: tuple[np.ndarray, ...],
                  first: list[int]) -> tuple[np.ndarray, ...]:
    """A window :meth:`History.issue_runs` was given (``per_run``: process,
    op, type, replica, issuer) as issue-table columns and an issuer column."""
    process, op, kind, replica, issuer = (codes[which] for codes in per_run)
    lo, hi = add128(np.array([v & _MASK64 for v in first], np.uint64)[which],
                    np.array([v >> 64 for v in first], np.uint64)[which], ranks(which))
    return (time, process.astype(np.int32), replica.astype(np.int16), op.astype(np.uint8),
            kind.astype(np.uint8), lo, hi, np.zeros(len(time), np.uint8), issuer)


def expand_rows(table: RunTable, singles: tuple[np.ndarray, ...], start: int,
                stop: int) -> list[np.ndarray]:
    """Logical rows ``start:stop`` as new issue-table columns: the rows stored
    one by one (``singles``, the history's columns) and the runs' rows, merged."""
    starts, sizes = table.block_starts()
    before = np.r_[0, np.cumsum(sizes)]
    k = int(np.searchsorted(starts + sizes, start, side="right"))
    pieces: list[tuple[np.ndarray, ...]] = []
    row = start
    while row < stop:
        if k < len(starts) and starts[k] <= row:
            end = min(stop, int(starts[k] + sizes[k]))
            pieces.append(table.expand(k, row - int(starts[k]), end - int(starts[k])))
            k += 1
        else:
            end = min(stop, int(starts[k])) if k < len(starts) else stop
            at = row - int(before[k])
            pieces.append(tuple(col[at:at + end - row] for col in singles))
        row = end
    out = [col[:0].copy() if not pieces
           else np.concatenate([p[i] for p in pieces]).astype(col.dtype, copy=False)
           if len(pieces) > 1 else np.array(pieces[0][i], col.dtype)
           for i, col in enumerate(singles)]
    for column in out:
        column.flags.writeable = False  # as the views of a history without runs
    return out


def rows_at(table: RunTable, singles: tuple[np.ndarray, ...], rows: np.ndarray
            ) -> list[np.ndarray]:
    """The issue-table columns of some logical ``rows`` (a few)."""
    if not table.blocks:
        return [col[rows] for col in singles]
    block, offset = table.locate(rows)
    alone = block < 0
    out = [np.empty(len(rows), col.dtype) for col in singles]
    for target, col in zip(out, singles, strict=True):
        target[alone] = col[offset[alone]]
    for i in np.flatnonzero(~alone).tolist():
        at = int(offset[i])
        for target, part in zip(out, table.expand(int(block[i]), at, at + 1), strict=True):
            target[i] = part[0]
    return out


#: A block is kept only if it holds at least ``MIN_ROWS`` rows and ``ROWS_PER_RUN``
#: rows per run: below that, rows one by one take less memory than the runs.
MIN_ROWS = 16
ROWS_PER_RUN = 6


def coalesce(table: RunTable, row0: int, chunk: tuple[np.ndarray, ...],
             issuers: dict[int, int], events: Sequence[Any],
             cuts_at: Callable[[Any], bool]) -> np.ndarray | None:
    """:func:`find_runs` in a chunk of rows recorded one by one, logical rows
    ``row0`` on (``issuers``: row -> issuer code other than 0; ``events``:
    the event table; the positions of those ``cuts_at`` picks cut blocks);
    None when all rows stay single."""
    size = len(chunk[0])
    if size < MIN_ROWS:
        return None
    issuer = np.zeros(size, np.int32)
    for row in range(row0, row0 + size) if issuers else ():
        issuer[row - row0] = issuers.get(row, 0)
    cuts: set[int] = set()
    for event in reversed(events):  # the events recorded during the chunk
        if event.position <= row0:
            break
        if event.position < row0 + size and cuts_at(event):
            cuts.add(event.position - row0)
    single = find_runs(table, row0, chunk, issuer, np.array(sorted(cuts), np.int64))
    return None if single.all() else single


def find_runs(table: RunTable, row0: int, chunk: tuple[np.ndarray, ...], issuer: np.ndarray,
              cuts: np.ndarray) -> np.ndarray:
    """Find runs in a chunk of rows recorded one by one (logical rows ``row0``
    on; ``chunk`` = time, process, replica, op, type, lo, hi, flag) and add
    them to ``table`` as blocks; returns the mask of the rows left single.

    A row continues the run of the previous row of its process and op when its
    ID is one more and its type and replica are the same (64-bit IDs of the
    history's own issuer only).  Blocks never span an event (``cuts``: the
    chunk-relative rows before which an event was recorded) nor a single row,
    and hold one run per process and op."""
    time, process, replica, op, kind, lo, hi, flag = chunk
    n = len(time)
    index = np.arange(n)
    candidate = (flag == 0) & (hi == 0) & (issuer == 0)
    key = np.where(candidate, process.astype(np.int64) * 256 + op, -1 - index)
    order = np.argsort(key, kind="stable")  # by process and op, then row
    ks, ls = key[order], lo[order]
    same = ks[1:] == ks[:-1]
    if len(cuts):
        segment = np.searchsorted(cuts, index, side="right")[order]
        same &= segment[1:] == segment[:-1]
    kd, rp = kind[order], replica[order]
    # continues the previous row of its key (in the sorted order)
    follows = same & (ls[:-1] != np.uint64(_MASK64)) & (ls[1:] == ls[:-1] + np.uint64(1))
    follows &= (kd[1:] == kd[:-1]) & (rp[1:] == rp[:-1])
    chain = np.cumsum(np.r_[True, ~follows], dtype=np.int64) - 1
    single = np.empty(n, bool)
    single[order] = np.bincount(chain)[chain] < 2
    restart = np.zeros(n, bool)  # starts a new run after an earlier row of its key
    restart[order[1:]] = same & ~follows
    begins = np.zeros(n, bool)
    begins[0] = True
    begins[cuts[(cuts > 0) & (cuts < n)]] = True
    begins[1:] |= single[:-1]
    begins |= restart
    block = np.where(single, -1, np.cumsum(begins, dtype=np.int64) - 1)
    kept = ~single
    if not kept.any():
        return single
    rows_in = np.flatnonzero(kept)
    # one run per (block, process and op): keys below 2**40, blocks below 2**23
    pairs, first_at, inverse = np.unique(block[rows_in] << 40 | key[rows_in],
                                         return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    run_block = pairs >> 40
    blocks, block_run0, runs_per = np.unique(run_block, return_index=True, return_counts=True)
    sizes = np.bincount(block[rows_in])[blocks]
    for b, run0, runs, size in zip(blocks.tolist(), block_run0.tolist(), runs_per.tolist(),
                                   sizes.tolist(), strict=True):
        if size < MIN_ROWS or size < ROWS_PER_RUN * runs or runs > MAX_RUNS:
            single[rows_in[block[rows_in] == b]] = True
            continue
        mine = rows_in[block[rows_in] == b]
        lead = rows_in[first_at[run0:run0 + runs]]  # each run's first row
        which = (inverse[block[rows_in] == b] - run0).astype(np.uint8)
        table.add(row0 + int(mine[0]), time[mine], which, process[lead], replica[lead],
                  op[lead], kind[lead], lo[lead].tolist(), np.zeros(runs, np.int32))
    return single
