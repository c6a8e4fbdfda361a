"""The columnar history: every operation a simulation or a client saw, Jepsen style.

Two tables, both in recording order (the order *is* the history; times are labels):

* the **issue table**, one row per ``issue`` call (serials, request IDs, replica
  IDs; invokes and completions), kept as numpy columns (below):
  time (float64), process (int32 code), replica (int16 code, -1 = none), op and
  type (uint8), the value as two uint64 halves ``lo``/``hi`` and a flag (uint8)
  saying whether the row has a value at all (``hi`` and the flag take memory
  only once some row needs them: 24 bytes a row for 64-bit IDs).  A value
  outside ``[0, 2**128)`` (rare: a longer RSNv3 serial, or a negative number a
  broken allocator produced), or no integer at all (a Jepsen history's string,
  UUID or ``[node counter]`` ID, a tuple here), keeps flag :data:`VALUE_OTHER`
  and lives, exactly, in a side dict keyed by row;
* the **event table**, a list of :class:`EventRecord` rows for the rare
  operations: the range events a repository emits (claims, switches, clone
  transfers, cache loads, ...) and notes (crash, restart, a failure's cause).
  Each event row knows its ``position``: how many issue rows were recorded
  before it, so a checker knows exactly which issuances saw which range state
  even when they share one simulated instant.

The hot path (:meth:`History.issue`) appends to plain Python lists (twice as
fast as ``array.array.append``); every :data:`CHUNK` rows they are converted in
C loops.  A compact history (the default) keeps consecutive IDs of one CA and
op as **runs** (:mod:`pkisim.history.runtable`; :meth:`History.issue_runs`):
9 bytes an issuance instead of 24; the checkers read the runs and
:meth:`History.columns` expands them.  Columns double when full, untouched
spare pages take no memory, and views never block further recording.
"""

from __future__ import annotations

import array
import enum
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from pkisim.history.columns import VALUE_NONE as VALUE_NONE  # re-exported: the flags
from pkisim.history.columns import VALUE_OTHER as VALUE_OTHER
from pkisim.history.columns import VALUE_PRESENT as VALUE_PRESENT
from pkisim.history.columns import (
    Column,
    exact_values,
    value_column,
)
from pkisim.history.runtable import (
    MAX_RUNS,
    RunColumns,
    RunTable,
    check_runs,
    coalesce,
    expand_rows,
    expand_window,
    rows_at,
)
from pkisim.ids.config import IdKind
from pkisim.ids.events import (
    CacheLoaded,
    ClaimFailed,
    ConflictDropped,
    RangeClaimed,
    RangeEvent,
    RangeReceived,
    RangeTransferred,
    SwitchedToNextRange,
)


class OpType(enum.IntEnum):
    """Jepsen's operation types: ``ok`` happened, ``fail`` certainly did not,
    ``info`` is unknown (a timeout, a crash mid-operation)."""

    INVOKE = 0
    OK = 1
    FAIL = 2
    INFO = 3


class Op(enum.IntEnum):
    """What an operation did; its lower-case name is the ``f`` of the frame."""

    ISSUE_CERT = 0
    ISSUE_REQUEST = 1
    ISSUE_REPLICA = 2
    CLAIM = 3
    TRANSFER = 4
    SWITCH = 5
    RECEIVE = 6
    CACHE_LOAD = 7
    CONFLICT_DROP = 8
    RESTART = 9
    CRASH = 10
    REVOKE = 11
    CRL = 12
    DECOMMISSION = 13  # a CA removed from the topology: its ranges are gone for good
    OTHER = 14  # an operation of a foreign history (Jepsen nemesis, reads, ...): f in detail
    ISSUE_KEY = 15  # a KRA's archived-key ID
    ISSUE_KEY_REQUEST = 16  # a KRA's request ID


#: The ID space each issuing operation draws from.
ISSUE_OPS: dict[Op, IdKind] = {
    Op.ISSUE_CERT: IdKind.CERT,
    Op.ISSUE_REQUEST: IdKind.REQUEST,
    Op.ISSUE_REPLICA: IdKind.REPLICA,
    Op.ISSUE_KEY: IdKind.KEY,
    Op.ISSUE_KEY_REQUEST: IdKind.KEY_REQUEST,
}
#: The issuing operation of each ID space.
ISSUE_OP: dict[IdKind, Op] = {kind: op for op, kind in ISSUE_OPS.items()}

#: Rows buffered in Python lists before they are converted to columns.
CHUNK = 1 << 14
_MASK64 = (1 << 64) - 1
#: The names of :class:`OpType`, :class:`Op` and :class:`IdKind` in code order:
#: the categories of the frames' ``type``, ``f`` and ``kind`` columns and the
#: text history files use.
TYPE_NAMES = tuple(t.name.lower() for t in OpType)
OP_NAMES = tuple(o.name.lower() for o in Op)
KIND_NAMES = tuple(k.value for k in IdKind)


class EventRecord(NamedTuple):
    """One row of the event table.  ``begin``/``end`` is the range the event is
    about; ``cur_*``/``next_*`` the repository's ranges after it (``None`` for
    notes).  ``counter`` is the ``nextRange`` value a claim read; ``record_*``
    the ``pkiRange`` record it wrote (or the range a failed claim burned);
    ``last`` the number a cache load resumes after."""

    position: int
    time: float
    process: int
    replica: int
    op: Op
    type: OpType
    kind: IdKind | None = None
    begin: int | None = None
    end: int | None = None
    cur_begin: int | None = None
    cur_end: int | None = None
    next_begin: int | None = None
    next_end: int | None = None
    counter: str | None = None
    record_begin: int | None = None
    record_end: int | None = None
    last: int | None = None
    from_next: bool | None = None
    detail: str = ""


#: Event-table columns holding integers (written as decimal text in files).
EVENT_INT_FIELDS = ("begin", "end", "cur_begin", "cur_end", "next_begin", "next_end",
                    "record_begin", "record_end", "last")


class IssueColumns(NamedTuple):
    """Read-only numpy views of the issue table (valid forever: recording more
    rows never changes them)."""

    time: np.ndarray  # float64
    process: np.ndarray  # int32 code
    replica: np.ndarray  # int16 code, -1 = none
    op: np.ndarray  # uint8 Op
    type: np.ndarray  # uint8 OpType
    lo: np.ndarray  # uint64, value & (2**64 - 1)
    hi: np.ndarray  # uint64, value >> 64
    flag: np.ndarray  # uint8 VALUE_PRESENT / VALUE_NONE / VALUE_OTHER
    issuer: np.ndarray  # int32 code, 0 = the history's own issuer


class History:
    """A recorder of operations and the tables a checker reads.

    >>> h = History()
    >>> ca1 = h.process("ca1")
    >>> h.issue(12.5, ca1, Op.ISSUE_CERT, 0x1000005)
    >>> h.issued_count(Op.ISSUE_CERT)
    1
    """

    def __init__(self, *, compact: bool = True) -> None:
        #: Store :meth:`issue_runs` windows as runs (else row by row; readers see the same rows).
        self.compact = compact
        self._runs = RunTable()
        self._names: dict[str, tuple[list[str], dict[str, int]]] = {
            "process": ([], {}), "replica": ([], {}), "issuer": ([""], {"": 0})}
        self._time = Column(np.float64)
        self._process = Column(np.int32)
        self._replica = Column(np.int16)
        self._op = Column(np.uint8)
        self._type = Column(np.uint8)
        self._lo = Column(np.uint64)
        self._hi = Column(np.uint64, sparse=True)
        self._flag = Column(np.uint8, sparse=True)
        self._rows = 0
        self._others: dict[int, object] = {}  # row -> value not an int in [0, 2**128)
        self._issuers: dict[int, int] = {}  # row -> issuer code other than 0
        self._issuer_column: np.ndarray | None = None  # built from _issuers by columns()
        self._pending: tuple[list, list, list, list, list, list] = ([], [], [], [], [], [])
        self._events: list[EventRecord] = []

    # -- names ---------------------------------------------------------------

    def _code(self, table: str, name: str) -> int:
        names, codes = self._names[table]
        code = codes.get(name)
        if code is None:
            if not isinstance(name, str):
                raise TypeError(f"a {table} name must be a str, not {name!r}")
            code = codes[name] = len(names)
            names.append(name)
        return code

    def process(self, name: str) -> int:
        """The code of a CA (or client) ``name``, registering it on first use."""
        return self._code("process", name)

    def replica(self, name: str) -> int:
        """The code of a directory replica ``name``, registering it on first use."""
        return self._code("replica", name)

    def issuer(self, name: str) -> int:
        """The code of an issuer DN; ``""`` (code 0) is the history's own issuer,
        shared by every CA of one topology."""
        return self._code("issuer", name)

    @property
    def process_names(self) -> tuple[str, ...]:
        return tuple(self._names["process"][0])

    @property
    def replica_names(self) -> tuple[str, ...]:
        return tuple(self._names["replica"][0])

    @property
    def issuer_names(self) -> tuple[str, ...]:
        return tuple(self._names["issuer"][0])

    # -- recording -------------------------------------------------------------

    def issue(self, time: float, process: int, op: Op, value: object,
              type: OpType = OpType.OK, replica: int = -1, issuer: int = 0) -> None:
        """Record one issuing operation (the hot path; see benchmarks/bench_history.py).

        ``value`` is the ID handed out: an int of any size, or any hashable ID
        (a Jepsen history's string or tuple); ``None`` when there is none (an
        invoke, a failed issuance).  Codes come from :meth:`process`,
        :meth:`replica` and :meth:`issuer`; bad codes are reported (ValueError)
        when the chunk they are in is converted, and that chunk is dropped.
        """
        times, processes, ops, values, types, replicas = self._pending
        times.append(time)
        processes.append(process)
        ops.append(op)
        values.append(value)
        types.append(type)
        replicas.append(replica)
        if issuer:
            self._issuers[self._rows + len(times) - 1] = issuer
        if len(times) >= CHUNK:
            self._flush()

    def issue_block(self, time: np.ndarray, process: np.ndarray, op: np.ndarray,
                    value: np.ndarray, type: np.ndarray, replica: np.ndarray) -> None:
        """Record many issue rows at once, as :meth:`issue` would one by one:
        values in ``[0, 2**64)``, codes already valid, the history's own issuer."""
        self._flush()
        size = len(time)
        chunk = (np.asarray(time, np.float64), np.asarray(process, np.int32),
                 np.asarray(replica, np.int16), np.asarray(op, np.uint8),
                 np.asarray(type, np.uint8), np.asarray(value, np.uint64),
                 np.zeros(size, np.uint64), np.zeros(size, np.uint8))
        for column, data in zip(self._columns_raw(), chunk, strict=True):
            column.extend(data)
        self._rows += size

    def issue_runs(self, time: Sequence[float] | np.ndarray, which: np.ndarray,
                   process: Sequence[int], op: Sequence[int], first: Sequence[int],
                   type: Sequence[int] | None = None,
                   replica: Sequence[int] | None = None,
                   issuer: Sequence[int] | None = None) -> None:
        """Record a window of runs of consecutive IDs (a batched simulation's
        path): row ``i`` happened at ``time[i]`` in run ``which[i]``; run ``r``
        is ``process[r]``'s ``op[r]`` handing out ``first[r]``, ``first[r] + 1``,
        ... with ``type`` (ok), ``replica`` (none), ``issuer`` (0) per run, one
        run per (process, op).  A compact history keeps runs, any other rows:
        readers see the same rows (:mod:`pkisim.history.runtable`)."""
        self._flush()
        size = len(time)
        if not size:
            return
        limits = (len(self._names["process"][0]), len(Op), len(OpType),
                  len(self._names["replica"][0]), len(self._names["issuer"][0]))
        per_run, values = check_runs(size, which, process, op, first, type, replica, issuer,
                                     limits)
        time, which = np.ascontiguousarray(time, np.float64), np.asarray(which, np.int64)
        if self.compact and len(values) <= MAX_RUNS:
            self._runs.add(self._rows, time, which.astype(np.uint8), per_run[0], per_run[3],
                           per_run[1], per_run[2], values, per_run[4])
            self._rows += size
            return
        columns = expand_window(time, which, per_run, values)
        issuers = {int(i): int(columns[8][i]) for i in np.flatnonzero(columns[8])}
        self.append_columns(columns[:8], issuers=issuers)

    def issue_run(self, time: Sequence[float] | np.ndarray, process: int, op: Op, first: int,
                  type: OpType = OpType.OK, replica: int = -1, issuer: int = 0) -> None:
        """Record ``len(time)`` issuances of consecutive IDs from ``first``, one run."""
        self.issue_runs(time, np.zeros(len(time), np.uint8), [process], [op], [first], [type],
                        [replica], [issuer])

    def event(self, time: float, process: int, event: RangeEvent, replica: int = -1) -> None:
        """Record a range event a repository emitted (ClaimFailed as ``fail``)."""
        self._events.append(_event_record(self._position(), float(time), process, replica, event))

    def note(self, time: float, process: int, op: Op, type: OpType, detail: str = "",
             replica: int = -1, *, kind: IdKind | None = None, begin: int | None = None,
             end: int | None = None, position: int | None = None) -> None:
        """Record a rare operation without range state: a crash, a restart, a
        decommissioning, a failure with its cause; ``kind``/``begin``/``end``
        name the range it is about (a slice a failed clone install never got).

        ``position`` places it after that many issue rows instead of after all
        of them (a batched window records its issues first, then its notes):
        at least the position of the last note, at most :attr:`position`."""
        here = self._position()
        if position is None:
            position = here
        elif not (self._events[-1].position if self._events else 0) <= position <= here:
            raise ValueError(f"note position {position} outside the rows it can follow")
        self._events.append(EventRecord(position, float(time), process, replica,
                                        Op(op), OpType(type), kind=kind, begin=begin, end=end,
                                        detail=detail))

    def append_event(self, record: EventRecord) -> None:
        """Append a ready event row, as it was recorded: the history file
        readers' path (:mod:`pkisim.history.formats`).  ``record.position``
        is taken as given; the caller has checked its codes."""
        self._flush()
        self._events.append(record)

    def _position(self) -> int:
        return self._rows + len(self._pending[0])

    @property
    def position(self) -> int:
        """How many issue rows there are: where a note recorded now goes."""
        return self._position()

    def _flush(self) -> None:
        size = len(self._pending[0])
        if not size:
            return
        row0 = self._rows
        try:
            chunk = self._convert(row0)
        except BaseException:
            for row in [r for r in self._issuers if r >= row0]:
                del self._issuers[row]
            raise
        finally:
            for pending in self._pending:
                pending.clear()
        if self.compact:  # consecutive IDs become runs
            single = coalesce(self._runs, row0, chunk, self._issuers, self._events, _cuts_runs)
            chunk = chunk if single is None else tuple(data[single] for data in chunk)
        for column, data in zip(self._columns_raw(), chunk, strict=True):
            column.extend(data)
        self._rows += size

    def _convert(self, row0: int) -> tuple[np.ndarray, ...]:
        times, processes, ops, values, types, replicas = self._pending
        size = len(times)
        try:
            process = np.frombuffer(array.array("Q", processes), np.uint64)
            op = np.frombuffer(bytes(ops), np.uint8)
            kind = np.frombuffer(bytes(types), np.uint8)
            replica = (np.full(size, replicas[0], np.int64)  # usually one value: -1
                       if replicas.count(replicas[0]) == size and isinstance(replicas[0], int)
                       else np.frombuffer(array.array("q", replicas), np.int64))
        except (OverflowError, ValueError, TypeError) as err:
            raise ValueError(f"History.issue: a process, op, type or replica code is out of "
                             f"range in rows {row0}-{row0 + size - 1} ({err})") from None
        for what, codes, limit in (("process", process, len(self._names["process"][0])),
                                   ("op", op, len(Op)), ("type", kind, len(OpType))):
            if codes.max() >= limit:
                raise ValueError(f"History.issue: unknown {what} code {int(codes.max())} "
                                 f"in rows {row0}-{row0 + size - 1}")
        if replica.min() < -1 or replica.max() >= len(self._names["replica"][0]):
            raise ValueError("History.issue: unknown replica code in rows "
                             f"{row0}-{row0 + size - 1}")
        lo, hi, flag = _split_values(values, row0, self._others)
        time = np.fromiter(times, np.float64, size)
        return (time, process.astype(np.int32), replica.astype(np.int16), op, kind, lo, hi, flag)

    def append_columns(self, columns: Sequence[np.ndarray],
                       others: dict[int, object] | None = None,
                       issuers: dict[int, int] | None = None) -> None:
        """Append whole issue-table columns (time, process, replica, op, type,
        lo, hi, flag, as in :class:`IssueColumns`), rows of ``others`` (values
        outside ``[0, 2**128)``) and ``issuers`` (codes other than 0) counted
        from the first new row: the history file readers' path
        (:mod:`pkisim.history.formats`).  The caller has checked the codes."""
        self._flush()
        row0 = self._rows
        for column, data in zip(self._columns_raw(), columns, strict=True):
            column.extend(data)
        self._rows += len(columns[0])
        self._others.update({row0 + row: value for row, value in (others or {}).items()})
        self._issuers.update({row0 + row: code for row, code in (issuers or {}).items()})

    def _columns_raw(self) -> tuple[Column, ...]:
        return (self._time, self._process, self._replica, self._op, self._type,
                self._lo, self._hi, self._flag)

    # -- reading ---------------------------------------------------------------

    def __len__(self) -> int:
        """Every operation recorded: issue rows plus event rows."""
        return self._position() + len(self._events)

    @property
    def issue_rows(self) -> int:
        return self._position()

    def columns(self) -> IssueColumns:
        """Zero-copy, read-only numpy views of the issue table; runs are expanded
        into new arrays (checkers read :meth:`runs` and :meth:`singles`)."""
        singles = self.singles()
        if not self.has_runs:
            return singles
        return IssueColumns(*expand_rows(self._runs, self.singles(), 0, self._rows))

    def column_chunks(self, size: int = 1 << 20) -> Iterator[IssueColumns]:
        """The issue table ``size`` rows at a time: runs expanded a chunk at a time."""
        self._flush()
        for start in range(0, self._rows, size):
            yield IssueColumns(*expand_rows(self._runs, self.singles(), start,
                                             min(self._rows, start + size)))

    @property
    def has_runs(self) -> bool:
        """Are some issue rows kept as runs (:meth:`issue_runs` on a compact history)?"""
        self._flush()
        return bool(self._runs.blocks)

    def runs(self) -> RunColumns:
        """The run table: a row per run of consecutive IDs (:mod:`pkisim.history.runtable`)."""
        self._flush()
        return self._runs.columns()

    def singles(self) -> IssueColumns:
        """Views of the issue rows stored one by one (every row, without runs);
        :meth:`single_rows` gives their logical rows."""
        self._flush()
        cached = self._issuer_column
        n = self._time._size
        if cached is None or len(cached) != n:
            cached = np.zeros(n, np.int32)
            if self._issuers:
                rows = np.fromiter(self._issuers.keys(), np.int64, len(self._issuers))
                cached[self._runs.locate(rows)[1]] = np.fromiter(self._issuers.values(),
                                                                 np.int32, len(self._issuers))
            cached.flags.writeable = False
            self._issuer_column = cached
        return IssueColumns(*(c.view() for c in self._columns_raw()), cached)

    def single_rows(self) -> np.ndarray:
        """The logical issue row of each row of :meth:`singles`."""
        return self._runs.single_rows(len(self.singles().time))

    def run_rows(self, run: int, rank: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """Logical rows and times of the issuances of run ``run`` at ``rank``."""
        return self._runs.run_rows(run, np.asarray(rank, np.int64))

    def rows_at(self, rows: Sequence[int] | np.ndarray) -> IssueColumns:
        """The issue-table fields of some logical rows, runs or not, without
        expanding the table (a few rows: a witness's)."""
        return IssueColumns(*rows_at(self._runs, self.singles(), np.asarray(rows, np.int64)))

    @property
    def events(self) -> tuple[EventRecord, ...]:
        """The event table, in recording order."""
        return tuple(self._events)

    @property
    def other_values(self) -> dict[int, object]:
        """Row -> value, for the rows whose value is not an int in ``[0, 2**128)``."""
        self._flush()
        return dict(self._others)

    @property
    def integer_ids(self) -> bool:
        """Is every ID an integer?  (The range, waste and compliance checkers need it.)"""
        self._flush()
        return all(isinstance(v, int) for v in self._others.values())

    def values(self, rows: Sequence[int] | np.ndarray | None = None) -> list[object]:
        """The exact values of some issue rows (all rows by default); None
        where a row has no value."""
        if rows is not None and self.has_runs:
            index = np.asarray(rows, dtype=np.int64)
            return exact_values(self.rows_at(index), self._others, np.arange(len(index)),
                                 index)
        c = self.columns()
        index = np.arange(len(c.time)) if rows is None else np.asarray(rows, dtype=np.int64)
        return exact_values(c, self._others, index)

    def issued_count(self, op: Op = Op.ISSUE_CERT, type: OpType | None = OpType.OK) -> int:
        """Issue rows of ``op`` with ``type`` (``None``: any type)."""
        c, r = self.singles(), self.runs()
        mask, runs = c.op == op, r.op == op
        if type is not None:
            mask &= c.type == type
            runs &= r.type == type
        return int(np.count_nonzero(mask)) + int(r.count[runs].sum())

    @property
    def nbytes(self) -> int:
        """Bytes the issue table's rows use in its columns (excluding the pending chunk)."""
        return sum(c.nbytes for c in self._columns_raw()) + self._runs.nbytes

    # -- frames ------------------------------------------------------------------

    def to_frame(self) -> pd.DataFrame:
        """One row per issue op.

        ``process``, ``replica``, ``issuer``, ``type`` and ``f`` are categoricals
        (``replica`` is NaN when none was given).  ``value`` is the ID: pandas'
        nullable ``UInt64`` when every value fits in 64 bits, else an ``object``
        column of Python ints; ``None``/``<NA>`` when a row has no value.
        ``value_lo``/``value_hi`` are the uint64 halves (0 without a value) for
        vectorised work.
        """
        c = self.columns()
        names = self._names
        frame = pd.DataFrame({
            "time": c.time.copy(),
            "process": pd.Categorical.from_codes(c.process, names["process"][0]),
            "replica": pd.Categorical.from_codes(c.replica, names["replica"][0]),
            "type": pd.Categorical.from_codes(c.type, TYPE_NAMES),
            "f": pd.Categorical.from_codes(c.op, OP_NAMES),
            "value": value_column(c, self._others),
            "value_lo": c.lo.copy(),
            "value_hi": c.hi.copy(),
            "issuer": pd.Categorical.from_codes(c.issuer, names["issuer"][0]),
        })
        return frame

    def events_frame(self) -> pd.DataFrame:
        """The event table: ``f``/``type``/``kind`` categoricals, integer columns
        as ``object`` (Python ints or None, any size), ``from_next`` nullable
        boolean, ``position`` = issue rows recorded before the event."""
        rows = self._events
        names = self._names

        def codes(field: str) -> list:
            return [getattr(r, field) for r in rows]

        def ints(field: str) -> pd.Series:
            return pd.Series(codes(field), dtype=object)

        kinds = [-1 if r.kind is None else KIND_NAMES.index(r.kind.value) for r in rows]
        data: dict[str, object] = {
            "position": np.array(codes("position"), dtype=np.int64),
            "time": np.array(codes("time"), dtype=np.float64),
            "process": pd.Categorical.from_codes(codes("process"), names["process"][0]),
            "replica": pd.Categorical.from_codes(codes("replica"), names["replica"][0]),
            "type": pd.Categorical.from_codes([int(t) for t in codes("type")], TYPE_NAMES),
            "f": pd.Categorical.from_codes([int(o) for o in codes("op")], OP_NAMES),
            "kind": pd.Categorical.from_codes(kinds, KIND_NAMES),
        }
        for field in EVENT_INT_FIELDS[:6]:
            data[field] = ints(field)
        data["counter"] = pd.Series(codes("counter"), dtype=object)
        for field in EVENT_INT_FIELDS[6:]:
            data[field] = ints(field)
        data["from_next"] = pd.array(codes("from_next"), dtype="boolean")
        data["detail"] = pd.Series(codes("detail"), dtype=object)
        return pd.DataFrame(data)

    # -- files ---------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write the history: ``*.csv`` as pkisim's CSV export, anything else as
        one Parquet file (see :mod:`pkisim.history.formats`)."""
        from pkisim.history import formats

        if not self.integer_ids:
            raise ValueError(f"{path}: a history whose IDs are not all integers (a Jepsen "
                             "history's) cannot be saved as a pkisim history")
        formats.save(self, Path(path))

    @classmethod
    def load(cls, path: str | Path) -> History:
        """Read pkisim's Parquet or CSV, or a Jepsen-style JSON Lines history.

        A malformed file raises :class:`~pkisim.history.formats.HistoryFormatError`
        whose text is one line naming the file and the line or column."""
        from pkisim.history import formats

        return formats.load(Path(path))


def _cuts_runs(event: EventRecord) -> bool:
    """Range snapshots and crashes, restarts, decommissionings end a block of runs."""
    return event.kind is not None or event.op in (Op.CRASH, Op.RESTART, Op.DECOMMISSION)


def _split_values(values: list, row0: int,
                  others: dict[int, object]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """lo/hi/flag columns of a chunk of values, fastest path first."""
    size = len(values)
    try:  # all ints in [0, 2**64)
        lo = np.frombuffer(array.array("Q", values), np.uint64)
        return lo, np.zeros(size, np.uint64), np.zeros(size, np.uint8)
    except (TypeError, OverflowError):
        pass
    try:  # all ints in [0, 2**128)
        lo = np.frombuffer(array.array("Q", [v & _MASK64 for v in values]), np.uint64)
        hi = np.frombuffer(array.array("Q", [v >> 64 for v in values]), np.uint64)
        return lo, hi, np.zeros(size, np.uint8)
    except (TypeError, OverflowError):
        pass
    lo_list, hi_list, flags = [0] * size, [0] * size, bytearray(size)
    for i, v in enumerate(values):
        if v is None:
            flags[i] = VALUE_NONE
        elif isinstance(v, int) and 0 <= v < 1 << 128:
            lo_list[i], hi_list[i] = v & _MASK64, v >> 64
        elif isinstance(v, int) or is_jepsen_id(v):
            flags[i] = VALUE_OTHER
            others[row0 + i] = int(v) if isinstance(v, int) else v
        else:
            raise TypeError(f"History.issue: value {v!r} at row {row0 + i} is not an int "
                            "(nor a string, UUID, keyword or tuple of these)")
    return (np.frombuffer(array.array("Q", lo_list), np.uint64),
            np.frombuffer(array.array("Q", hi_list), np.uint64), np.frombuffer(flags, np.uint8))


@dataclass(frozen=True, slots=True)
class Keyword:
    """A Clojure keyword used as an ID in a Jepsen history (``:a`` or ``:ns/a``)."""

    name: str

    def __str__(self) -> str:
        return f":{self.name}"


def is_jepsen_id(value: object, depth: int = 0) -> bool:
    """Is ``value`` an ID a Jepsen history may use besides an integer: a string,
    a UUID, a keyword, or a tuple (an EDN vector) of IDs, nested at most 8 deep?"""
    if isinstance(value, str | uuid.UUID | Keyword) or (isinstance(value, int)
                                                       and not isinstance(value, bool)):
        return True
    return isinstance(value, tuple) and depth < 8 and all(is_jepsen_id(v, depth + 1)
                                                          for v in value)


def _event_record(position: int, time: float, process: int, replica: int,
                  event: RangeEvent) -> EventRecord:
    if not isinstance(event, RangeEvent):
        raise TypeError(f"History.event: not a range event: {event!r}")
    s = event.state
    base = dict(position=position, time=time, process=process, replica=replica, kind=event.kind,
                cur_begin=s.begin, cur_end=s.end, next_begin=s.next_begin, next_end=s.next_end)
    match event:
        case RangeClaimed():
            return EventRecord(op=Op.CLAIM, type=OpType.OK, begin=event.begin, end=event.end,
                               counter=event.counter, record_begin=event.record_begin,
                               record_end=event.record_end, **base)
        case ClaimFailed():
            burned = event.burned or (None, None)
            return EventRecord(op=Op.CLAIM, type=OpType.FAIL, record_begin=burned[0],
                               record_end=burned[1], detail=event.reason, **base)
        case CacheLoaded():
            return EventRecord(op=Op.CACHE_LOAD, type=OpType.OK, begin=s.begin, end=s.end,
                               last=event.last, **base)
        case SwitchedToNextRange():
            return EventRecord(op=Op.SWITCH, type=OpType.OK, begin=event.begin, end=event.end,
                               **base)
        case RangeTransferred():
            return EventRecord(op=Op.TRANSFER, type=OpType.OK, begin=event.begin, end=event.end,
                               from_next=event.from_next, **base)
        case RangeReceived():
            return EventRecord(op=Op.RECEIVE, type=OpType.OK, begin=event.begin, end=event.end,
                               detail=event.source, **base)
        case ConflictDropped():
            return EventRecord(op=Op.CONFLICT_DROP, type=OpType.OK, detail="; ".join(event.dns),
                               **base)
    raise TypeError(f"History.event: not a range event: {event!r}")
