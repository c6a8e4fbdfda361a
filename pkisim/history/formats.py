"""History files: pkisim's Parquet and CSV, and Jepsen-style JSON Lines.

**Parquet** (what :meth:`History.save` writes unless the name ends in ``.csv``):
one file holding the issue table, one row per issue op, with columns ``time``
(double), ``process``, ``replica``, ``type``, ``f``, ``issuer`` (dictionary-
encoded strings; ``replica`` null when none), ``value_lo``/``value_hi`` (uint64
halves of the value, null when the row has no value) and ``value_text`` (the
decimal value, set only for values outside ``[0, 2**128)``).  The schema
metadata key ``pkisim`` holds JSON: format name and version, the process,
replica and issuer names in code order, and the event table as
``{"columns": [...], "rows": [[...], ...]}`` with integers as decimal strings
(so that 128-bit bounds survive any JSON reader).  ``pd.read_parquet`` reads the
issue table as is.  Same history, same bytes: no timestamps, fixed options.

**CSV**: line 1 is ``# pkisim history 1 {json}`` with the name lists (skip it
with ``skiprows=1``); then a header and one row per operation, in recording
order: column ``table`` says ``issue`` or ``event``, ``value`` and the range
columns are decimal, empty cells mean none.  Event positions are implied by
where the event rows stand.

**JSON Lines** (read only): one Jepsen operation per line with ``process``,
``type`` (invoke/ok/fail/info), ``f`` and ``value``, optional ``time`` and
``issuer``.  ``f`` = ``generate`` or ``serial`` is a certificate issuance
(pkisim's own ``issue_cert``/``issue_request``/``issue_replica`` names work
too); its value is an int, a decimal string or a ``0x`` string.  Any other
``f`` is kept as an ``other`` note.  Without ``time`` an operation's time is its
line number.

Every reader reports a malformed file as a :class:`HistoryFormatError`: one line
naming the file, the line and the column or key; :func:`load` is the boundary
where any other failure of a reader becomes one too.  The same rules hold in
every format (and for other readers, through :func:`parse_id` and
:func:`load_json`): an ID is an integer (never a boolean), never negative, at
most 1024 bits, and text longer than that is refused before it is converted; a
time is a finite number; JSON holds no NaN and nests at most 32 levels.
"""

from __future__ import annotations

import csv
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pkisim.errors import ConfigError, PkisimError, one_line, shown
from pkisim.history.history import (
    EVENT_INT_FIELDS,
    KIND_NAMES,
    OP_NAMES,
    TYPE_NAMES,
    VALUE_NONE,
    VALUE_OTHER,
    VALUE_PRESENT,
    EventRecord,
    History,
    IssueColumns,
    Op,
    OpType,
)
from pkisim.ids.config import IdKind
from pkisim.limits import MAX_DEPTH, MAX_ID_DIGITS, LimitError, check_document, id_number

FORMAT = "pkisim-history"
VERSION = 1
_METADATA_KEY = b"pkisim"
_CSV_MAGIC = "# pkisim history "
CSV_COLUMNS = ("table", "time", "process", "replica", "type", "f", "value", "issuer", "kind",
               *EVENT_INT_FIELDS[:6], "counter", *EVENT_INT_FIELDS[6:], "from_next", "detail")
_MISSING = object()


class HistoryFormatError(PkisimError, ValueError):
    """A history file that cannot be read; renders as one line, e.g.
    ``history.jsonl:17: "type" = 'okay': expected invoke, ok, fail or info``."""

    def __init__(self, source: str, reason: str, *, line: int | None = None,
                 key: str | None = None, value: object = _MISSING) -> None:
        self.source, self.reason, self.line, self.key, self.value = source, reason, line, key, value
        where = f"{source}:{line}" if line is not None else source
        what = "" if key is None else (f"{key}: " if value is _MISSING else
                                       f"{key} = {shown(value)}: ")
        super().__init__(one_line(f"{where}: {what}{reason.strip()}"))


# -- dispatch -------------------------------------------------------------------

def save(history: History, path: Path) -> None:
    """Write ``history`` atomically: CSV for ``*.csv``, else Parquet."""
    writer = _write_csv if path.suffix.lower() == ".csv" else _write_parquet
    _atomic_write(path, lambda tmp: writer(history, tmp))


def load(path: Path) -> History:
    """Read a history, choosing the reader by content and name."""
    source = str(path)
    try:
        with path.open("rb") as f:
            head = f.read(4)
    except OSError as err:
        raise HistoryFormatError(source, err.strerror or str(err)) from None
    suffix = path.suffix.lower()
    if head == b"PAR1":
        reader = _read_parquet
    elif suffix == ".edn" or head.lstrip()[:2] in (b"{:", b"#j"):  # Jepsen's history.edn
        reader = _read_edn
    elif suffix != ".csv" and (suffix in (".jsonl", ".ndjson", ".json")
                               or head.lstrip()[:1] == b"{"):
        reader = _read_jsonl
    else:
        reader = _read_csv
    try:
        return reader(path, source)
    except HistoryFormatError:
        raise
    except MemoryError:
        raise HistoryFormatError(source, "too large to read into memory") from None
    except Exception as err:  # the one place where any failure of a reader becomes one line
        reason = str(err).splitlines()[0] if str(err) else ""
        raise HistoryFormatError(source, f"cannot be read: {type(err).__name__}: "
                                         f"{reason}".rstrip(": ")) from None


def _read_edn(path: Path, source: str) -> History:
    """Jepsen's ``history.edn`` (:mod:`pkisim.history.jepsen`, the ``jepsen`` extra)."""
    del source
    from pkisim.history.jepsen import read_edn

    return read_edn(path)


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _names_json(history: History) -> dict[str, list[str]]:
    return {"processes": list(history.process_names), "replicas": list(history.replica_names),
            "issuers": list(history.issuer_names)}


def _int_text(value: int | None) -> str | None:
    return None if value is None else str(value)


# -- Parquet --------------------------------------------------------------------

def _dictionary(codes: np.ndarray, names: tuple[str, ...]) -> pa.DictionaryArray:
    indices = pa.array(codes.astype(np.int32), mask=codes < 0)
    return pa.DictionaryArray.from_arrays(indices, pa.array(list(names), pa.string()))


def _event_json_row(history: History, r: EventRecord) -> list[object]:
    return [r.position, r.time, history.process_names[r.process],
            None if r.replica < 0 else history.replica_names[r.replica],
            OP_NAMES[r.op], TYPE_NAMES[r.type], None if r.kind is None else r.kind.value,
            *(_int_text(getattr(r, f)) for f in EVENT_INT_FIELDS), r.counter, r.from_next,
            r.detail]


_EVENT_JSON_COLUMNS = ["position", "time", "process", "replica", "f", "type", "kind",
                       *EVENT_INT_FIELDS, "counter", "from_next", "detail"]


def _write_parquet(history: History, path: Path) -> None:
    """One row group per 2**20 rows, written a chunk of rows at a time (runs
    expand one chunk at a time)."""
    others = history.other_values
    meta = {"format": FORMAT, "version": VERSION, **_names_json(history),
            "events": {"columns": _EVENT_JSON_COLUMNS,
                       "rows": [_event_json_row(history, r) for r in history.events]}}
    blob = json.dumps(meta, sort_keys=True, separators=(",", ":")).encode()
    writer = None
    start = 0
    try:
        for c in history.column_chunks(_ROW_GROUP):
            table = _issue_table(history, c, start, others)
            table = table.replace_schema_metadata({_METADATA_KEY: blob})
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema, compression="zstd")
            writer.write_table(table, row_group_size=_ROW_GROUP)
            start += len(c.time)
        if writer is None:  # no issue rows
            empty = _issue_table(history, history.columns(), 0, others)
            pq.write_table(empty.replace_schema_metadata({_METADATA_KEY: blob}), path,
                           compression="zstd", row_group_size=_ROW_GROUP)
    finally:
        if writer is not None:
            writer.close()


_ROW_GROUP = 1 << 20


def _issue_table(history: History, c: IssueColumns, start: int,
                 others: dict[int, object]) -> pa.Table:
    """Rows ``start:start + len(c.time)`` of the issue table as an Arrow table."""
    absent = c.flag != VALUE_PRESENT
    texts: list[str | None] | None = None
    if others:
        texts = [None] * len(c.time)
        for row, value in others.items():
            if start <= row < start + len(c.time):
                texts[row - start] = str(value)
    return pa.table({
        "time": pa.array(c.time),
        "process": _dictionary(c.process, history.process_names),
        "replica": _dictionary(c.replica, history.replica_names),
        "type": _dictionary(c.type, TYPE_NAMES),
        "f": _dictionary(c.op, OP_NAMES),
        "value_lo": pa.array(c.lo, mask=absent),
        "value_hi": pa.array(c.hi, mask=absent),
        "value_text": pa.array(texts, pa.string()) if texts and any(texts)
        else pa.nulls(len(c.time), pa.string()),
        "issuer": _dictionary(c.issuer, history.issuer_names),
    })


def _codes(column: pa.ChunkedArray, names: list[str], source: str, what: str,
           dtype: type[np.integer]) -> np.ndarray:
    """Dictionary column -> our codes (-1 for null), checked against ``names``."""
    lookup = {name: code for code, name in enumerate(names)}
    parts = []
    for chunk in column.chunks:
        if not pa.types.is_dictionary(chunk.type):
            chunk = pc.dictionary_encode(chunk)
        dictionary = chunk.dictionary.to_pylist()
        unknown = [d for d in dictionary if d not in lookup]
        if unknown:
            raise HistoryFormatError(source, "not among the names in the file's metadata",
                                     key=f'column "{what}"', value=unknown[0])
        mapping = np.array([lookup[d] for d in dictionary] or [0], dtype=dtype)
        if chunk.null_count:
            indices = pc.fill_null(chunk.indices, 0).to_numpy(zero_copy_only=False)
            valid = chunk.is_valid().to_numpy(zero_copy_only=False)
            parts.append(np.where(valid, mapping[indices], -1).astype(dtype))
        else:
            parts.append(mapping[chunk.indices.to_numpy(zero_copy_only=False)])
    return np.concatenate(parts) if parts else np.zeros(0, dtype)


def _read_parquet(path: Path, source: str) -> History:
    try:
        return _parquet_history(path, source)
    except HistoryFormatError:
        raise
    except (pa.ArrowException, KeyError, TypeError, ValueError, IndexError) as err:
        raise HistoryFormatError(source, f"not a readable pkisim history ({err})") from None


def _parquet_history(path: Path, source: str) -> History:
    try:
        pf = pq.ParquetFile(path)
        blob = (pf.schema_arrow.metadata or {}).get(_METADATA_KEY)
        if blob is None:
            raise HistoryFormatError(source, "a Parquet file without pkisim metadata: "
                                     "not a pkisim history")
        meta = _metadata(load_json(blob, source, None, "metadata"), source)
        table = pf.read()
    except (pa.ArrowException, OSError) as err:
        raise HistoryFormatError(source, f"unreadable Parquet: {err}") from None
    missing = [name for name in ("time", "process", "replica", "type", "f", "value_lo",
                                 "value_hi", "value_text", "issuer")
               if name not in table.column_names]
    if missing:
        raise HistoryFormatError(source, "missing", key=f'column "{missing[0]}"')
    history = History()
    for name in meta["processes"]:
        history.process(name)
    for name in meta["replicas"]:
        history.replica(name)
    for name in meta["issuers"]:
        history.issuer(name)
    codes = {what: _codes(table.column(what), names, source, what, dtype)
             for what, names, dtype in (
                 ("process", meta["processes"], np.int32), ("replica", meta["replicas"], np.int16),
                 ("type", list(TYPE_NAMES), np.int16), ("f", list(OP_NAMES), np.int16),
                 ("issuer", meta["issuers"], np.int32))}
    for what in ("process", "type", "f", "issuer"):
        if (codes[what] < 0).any():
            raise HistoryFormatError(source, "null in a column that needs a value",
                                     key=f'column "{what}"')
    lo_col, hi_col = table.column("value_lo"), table.column("value_hi")
    present = lo_col.is_valid().to_numpy(zero_copy_only=False)
    lo = pc.fill_null(lo_col, 0).to_numpy().astype(np.uint64, copy=False)
    hi = pc.fill_null(hi_col, 0).to_numpy().astype(np.uint64, copy=False)
    flag = np.where(present, VALUE_PRESENT, VALUE_NONE).astype(np.uint8)
    others: dict[int, int] = {}
    texts = table.column("value_text")
    if texts.null_count < len(texts):
        for row in np.flatnonzero(texts.is_valid().to_numpy(zero_copy_only=False)).tolist():
            others[row] = parse_id(texts[row].as_py(), source, None, 'column "value_text"')
            flag[row] = VALUE_OTHER
    history.append_columns([table.column("time").to_numpy().astype(np.float64, copy=False),
                            codes["process"], codes["replica"], codes["f"].astype(np.uint8),
                            codes["type"].astype(np.uint8), lo, hi, flag],
                           others, {row: int(code) for row, code in _nonzero(codes["issuer"])})
    columns = meta["events"]["columns"]
    position = 0
    for number, row in enumerate(meta["events"]["rows"], 1):
        fields = dict(zip(columns, row, strict=True))
        event = _event_from_fields(history, fields, source, None, f"event {number}: ")
        if not position <= event.position <= history.issue_rows:
            raise HistoryFormatError(source, "out of order or beyond the issue table",
                                     key=f'event {number}: "position"', value=event.position)
        position = event.position
        history.append_event(event)
    return history


def _metadata(meta: object, source: str) -> dict[str, Any]:
    """The ``pkisim`` schema metadata, its shape checked before anything reads it."""
    if not isinstance(meta, dict):
        raise HistoryFormatError(source, f"expected a JSON object, found {type(meta).__name__}",
                                 key="metadata")
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise HistoryFormatError(source, f"unsupported history format {shown(meta.get('format'))}"
                                 f" version {shown(meta.get('version'))}")
    for name in ("processes", "replicas", "issuers"):
        names = meta.get(name)
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise HistoryFormatError(source, "expected a list of names", key=f'metadata "{name}"',
                                     value=names)
    events = meta.get("events")
    if not (isinstance(events, dict) and isinstance(events.get("columns"), list)
            and all(isinstance(c, str) for c in events["columns"])
            and isinstance(events.get("rows"), list)
            and all(isinstance(r, list) and len(r) == len(events["columns"])
                    for r in events["rows"])):
        raise HistoryFormatError(source, "expected {\"columns\": [names], \"rows\": [[values], "
                                 "...]} with one value per column", key='metadata "events"')
    return meta


def _nonzero(codes: np.ndarray) -> Iterator[tuple[int, int]]:
    rows = np.flatnonzero(codes)
    return zip(rows.tolist(), codes[rows].tolist(), strict=True)


# -- parsing helpers (shared by CSV, JSONL and Parquet's event table) ------------

def parse_id(value: object, source: str, line: int | None, key: str) -> int:
    """One ID of a history, in any format: an integer (not a boolean) or a
    string of decimal digits or ``0x`` and hex digits; never negative, at most
    1024 bits (:func:`pkisim.limits.id_number`).  Else a :class:`HistoryFormatError`
    naming ``source``, ``line`` and ``key``."""
    try:
        return id_number(value, key)
    except ConfigError as err:
        raise HistoryFormatError(source, err.reason, line=line, key=key, value=value) from None


def load_json(text: str | bytes, source: str, line: int | None, key: str = "JSON") -> Any:
    """``text`` as JSON within the limits every reader applies: no NaN or
    Infinity, no number longer than an ID can be, at most
    :data:`~pkisim.limits.MAX_DEPTH` levels of nesting."""
    try:
        data = json.loads(text, parse_constant=_no_constant, parse_int=_json_int)
        check_document(data)
    except json.JSONDecodeError as err:
        raise HistoryFormatError(source, f"invalid JSON ({err.msg} at column {err.colno})",
                                 line=line, key=None if key == "JSON" else key) from None
    except RecursionError:  # json's decoder nests in C and Python frames
        raise HistoryFormatError(source, f"nests deeper than {MAX_DEPTH} levels of arrays and "
                                 "objects", line=line, key=key) from None
    except LimitError as err:
        raise HistoryFormatError(source, err.reason, line=line, key=f"{key} {err.key}",
                                 value=err.value) from None
    except ValueError as err:  # from the hooks: a constant, or a number too long
        raise HistoryFormatError(source, str(err), line=line, key=key) from None
    return data


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a number a history can hold")


def _json_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_ID_DIGITS[10]:
        raise ValueError(too_many_digits(digits))
    return int(text)


def too_many_digits(digits: int) -> str:
    """Why a number written with ``digits`` decimal digits is refused unread."""
    return f"a number of {digits:,} digits: numbers have at most {MAX_ID_DIGITS[10]} (1024 bits)"


def _time(value: object, source: str, line: int | None, key: str) -> float:
    """A time: a finite number (not a boolean), or its text."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise HistoryFormatError(source, "expected a number", line=line, key=key, value=value)
    try:
        time = float(value)
    except (ValueError, OverflowError):
        raise HistoryFormatError(source, "expected a number", line=line, key=key,
                                 value=value) from None
    if not math.isfinite(time):
        raise HistoryFormatError(source, "must be a finite number", line=line, key=key,
                                 value=value)
    return time


def _choice(text: object, names: tuple[str, ...], source: str, line: int | None,
            key: str, expected: str) -> int:
    if isinstance(text, str):
        s = text[1:] if text.startswith(":") else text
        if s in names:
            return names.index(s)
    raise HistoryFormatError(source, f"expected {expected}", line=line, key=key, value=text)


_TYPES_EXPECTED = "invoke, ok, fail or info"


def _event_from_fields(history: History, fields: dict[str, object], source: str,
                       line: int | None, prefix: str = "") -> EventRecord:
    """An event row from named text/JSON fields (None or "" = absent)."""
    def key(name: str) -> str:
        return f'{prefix}"{name}"' if line is None else f'column "{name}"'

    def opt_int(name: str) -> int | None:
        value = fields.get(name)
        return None if value is None or value == "" else parse_id(value, source, line, key(name))

    def text(name: str) -> str:
        value = fields.get(name)
        return "" if value is None else str(value)

    op = Op(_choice(fields.get("f"), OP_NAMES, source, line, key("f"), "a pkisim op name"))
    kind_text = fields.get("kind")
    kind = None if kind_text in (None, "") else IdKind(KIND_NAMES[_choice(
        kind_text, KIND_NAMES, source, line, key("kind"), "cert, request or replica")])
    replica = fields.get("replica")
    from_next = fields.get("from_next")
    if isinstance(from_next, str):
        if from_next not in ("", "true", "false"):
            raise HistoryFormatError(source, "expected true, false or empty", line=line,
                                     key=key("from_next"), value=from_next)
        from_next = None if from_next == "" else from_next == "true"
    time = _time(fields.get("time"), source, line, key("time"))
    position = fields.get("position") or 0
    if isinstance(position, bool) or not isinstance(position, int) or position < 0:
        raise HistoryFormatError(source, "expected an integer >= 0", line=line,
                                 key=key("position"), value=position)
    return EventRecord(
        position=position, time=time,
        process=history.process(text("process")),
        replica=-1 if replica in (None, "") else history.replica(str(replica)),
        op=op, type=OpType(_choice(fields.get("type"), TYPE_NAMES, source, line, key("type"),
                                   _TYPES_EXPECTED)),
        kind=kind, **{f: opt_int(f) for f in EVENT_INT_FIELDS},
        counter=None if fields.get("counter") in (None, "") else text("counter"),
        from_next=from_next, detail=text("detail"))


# -- CSV ----------------------------------------------------------------------

def _write_csv(history: History, path: Path) -> None:
    events = history.events
    names = (history.process_names, history.replica_names, history.issuer_names)
    with path.open("w", newline="", encoding="utf-8") as f:
        names_json = json.dumps(_names_json(history), sort_keys=True)
        f.write(f"{_CSV_MAGIC}{VERSION} {names_json}\n")
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        pad = [""] * (len(CSV_COLUMNS) - 8)
        e = row = 0
        for c in history.column_chunks(_ROW_GROUP):
            values = _chunk_values(history, c, row)
            rows = zip(c.time.tolist(), c.process.tolist(), c.replica.tolist(),
                       c.type.tolist(), c.op.tolist(), values, c.issuer.tolist(), strict=True)
            for time, process, replica, kind, op, value, issuer in rows:
                while e < len(events) and events[e].position <= row:
                    writer.writerow(_event_csv_row(history, events[e]))
                    e += 1
                writer.writerow(["issue", repr(time), names[0][process],
                                 "" if replica < 0 else names[1][replica], TYPE_NAMES[kind],
                                 OP_NAMES[op], "" if value is None else str(value),
                                 names[2][issuer], *pad])
                row += 1
        for event in events[e:]:
            writer.writerow(_event_csv_row(history, event))


def _chunk_values(history: History, c: IssueColumns, start: int) -> list[object]:
    """The exact values of a chunk of issue rows starting at logical row ``start``."""
    lo, hi = c.lo.tolist(), c.hi.tolist()
    out: list[object] = [low | high << 64 if high else low
                         for low, high in zip(lo, hi, strict=True)]
    others = history.other_values
    for i in np.flatnonzero(c.flag != VALUE_PRESENT).tolist():
        out[i] = None if c.flag[i] == VALUE_NONE else others[start + i]
    return out


def _event_csv_row(history: History, r: EventRecord) -> list[str]:
    def cell(value: object) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    return ["event", repr(r.time), history.process_names[r.process],
            "" if r.replica < 0 else history.replica_names[r.replica], TYPE_NAMES[r.type],
            OP_NAMES[r.op], "", "", "" if r.kind is None else r.kind.value,
            *(cell(getattr(r, f)) for f in EVENT_INT_FIELDS[:6]), cell(r.counter),
            *(cell(getattr(r, f)) for f in EVENT_INT_FIELDS[6:]), cell(r.from_next), r.detail]


def _read_csv(path: Path, source: str) -> History:
    history = History()
    try:
        with path.open(newline="", encoding="utf-8") as f:
            first = f.readline()
            consumed = 1
            if first.startswith(_CSV_MAGIC):
                _register_csv_names(history, first, source)
                first = f.readline()
                consumed = 2
            header = next(csv.reader([first]), [])
            missing = [name for name in CSV_COLUMNS if name not in header]
            if missing:
                raise HistoryFormatError(source, "missing from the header", line=consumed,
                                         key=f'column "{missing[0]}"')
            reader = csv.reader(f)
            for cells in reader:
                line = consumed + reader.line_num
                if not cells:
                    continue
                if len(cells) != len(header):
                    raise HistoryFormatError(source, f"{len(cells)} cells where the header has "
                                             f"{len(header)}", line=line)
                _csv_row(history, dict(zip(header, cells, strict=True)), source, line)
    except UnicodeDecodeError as err:
        raise HistoryFormatError(source, f"not UTF-8 text ({err.reason})") from None
    except csv.Error as err:
        raise HistoryFormatError(source, f"bad CSV ({err})") from None
    history.singles()  # convert the last chunk: its errors surface here
    return history


def _register_csv_names(history: History, first: str, source: str) -> None:
    try:
        version, blob = first[len(_CSV_MAGIC):].split(" ", 1)
        names = load_json(blob, source, 1, "preamble")
        if version != str(VERSION):
            raise ValueError
        for name in names["processes"]:
            history.process(name)
        for name in names["replicas"]:
            history.replica(name)
        for name in names["issuers"]:
            history.issuer(name)
    except (ValueError, KeyError, TypeError):
        raise HistoryFormatError(source, "bad pkisim CSV preamble", line=1) from None


def _csv_row(history: History, row: dict[str, str], source: str, line: int) -> None:
    table = row["table"]
    if table == "event":
        fields: dict[str, object] = dict(row)
        fields["position"] = history.issue_rows
        history.append_event(_event_from_fields(history, fields, source, line))
        return
    if table != "issue":
        raise HistoryFormatError(source, "expected issue or event", line=line,
                                 key='column "table"', value=table)
    time = _time(row["time"], source, line, 'column "time"')
    value = None if row["value"] == "" else parse_id(row["value"], source, line,
                                                     'column "value"')
    op = Op(_choice(row["f"], OP_NAMES, source, line, 'column "f"', "a pkisim op name"))
    kind = OpType(_choice(row["type"], TYPE_NAMES, source, line, 'column "type"',
                          _TYPES_EXPECTED))
    history.issue(time, history.process(row["process"]), op, value, kind,
                  -1 if row["replica"] == "" else history.replica(row["replica"]),
                  history.issuer(row["issuer"]))


# -- JSON Lines ----------------------------------------------------------------------

#: Jepsen ``f`` values that issue an ID, and the op they become.
JEPSEN_ISSUE_F = {"generate": Op.ISSUE_CERT, "serial": Op.ISSUE_CERT}


def _read_jsonl(path: Path, source: str) -> History:
    history = History()
    try:
        with path.open(encoding="utf-8") as f:
            for line, text in enumerate(f, 1):
                if text.strip():
                    _jsonl_op(history, text, source, line)
    except UnicodeDecodeError as err:
        raise HistoryFormatError(source, f"not UTF-8 text ({err.reason})") from None
    history.singles()  # convert the last chunk: its errors surface here
    return history


def _jsonl_op(history: History, text: str, source: str, line: int) -> None:
    op = load_json(text.rstrip("\r\n"), source, line)
    if not isinstance(op, dict):
        raise HistoryFormatError(source, f"expected a JSON object, found {type(op).__name__}",
                                 line=line)
    for name in ("process", "type", "f"):
        if name not in op:
            raise HistoryFormatError(source, "missing", line=line, key=f'"{name}"')
    process = op["process"]
    if isinstance(process, bool) or not isinstance(process, int | str):
        raise HistoryFormatError(source, "expected an integer or a string", line=line,
                                 key='"process"', value=process)
    kind = OpType(_choice(op["type"], TYPE_NAMES, source, line, '"type"', _TYPES_EXPECTED))
    f = op["f"]
    if not isinstance(f, str):
        raise HistoryFormatError(source, "expected a string", line=line, key='"f"', value=f)
    f = f.removeprefix(":")
    if not f:
        raise HistoryFormatError(source, "expected an operation name", line=line, key='"f"',
                                 value=op["f"])
    time = op.get("time", line)
    if isinstance(time, str):
        raise HistoryFormatError(source, "expected a number", line=line, key='"time"', value=time)
    time = _time(time, source, line, '"time"')
    code = history.process(str(process))
    issue_op = JEPSEN_ISSUE_F.get(f)
    if issue_op is None and f in OP_NAMES[:3]:
        issue_op = Op(OP_NAMES.index(f))
    if issue_op is None:
        detail = f if f not in OP_NAMES else ""
        other = Op.OTHER if detail else Op(OP_NAMES.index(f))
        history.note(time, code, other, kind, detail)
        return
    value = op.get("value")
    if value is not None:
        value = parse_id(value, source, line, '"value"')
    elif kind is OpType.OK:
        raise HistoryFormatError(source, f"an ok {f} must carry the ID it acknowledges",
                                 line=line, key='"value"', value=None)
    issuer = op.get("issuer")
    if issuer is not None and (isinstance(issuer, bool) or not isinstance(issuer, str | int)):
        raise HistoryFormatError(source, "expected a string", line=line, key='"issuer"',
                                 value=issuer)
    history.issue(time, code, issue_op, value, kind,
                  issuer=0 if issuer is None else history.issuer(str(issuer)))
