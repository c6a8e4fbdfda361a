"""Jepsen's own files and conventions: ``history.edn`` in, ``unique-ids`` out.

**history.edn** is what Jepsen writes for every test (``jepsen.store``): one
operation per line, ``prn``-ed as an EDN map with keyword keys, e.g.::

    {:index 0, :time 2361203, :type :invoke, :process 0, :f :generate, :value nil}
    {:index 1, :time 3125034, :type :ok, :process 0, :f :generate, :value 1}

:func:`read_edn` reads it with the ``edn-format`` package (the ``jepsen``
extra: ``pip install 'pkisim[jepsen]'``) into a :class:`History`, exactly as the
JSON Lines reader reads the same operations: ``:f :generate`` (or ``:serial``,
or pkisim's own ``issue_cert``/``issue_request``/``issue_replica``) issues an
ID; any other ``:f`` (a nemesis's ``:start``, a read) is kept as a note.
``:time`` (Jepsen's nanoseconds) becomes seconds; without it an operation's
time is its line number.  Records written as ``#jepsen.history.Op{...}`` read as
maps.  An ID is what Jepsen's checker compares: an integer, a string, a keyword,
a UUID (``#uuid "..."``) or a vector of these (``[node counter]``, a tuple
here).  What a hostile file cannot do: an integer ID is not negative and has at
most :data:`MAX_ID_DIGITS` digits, an ID nests vectors at most
:data:`MAX_ID_DEPTH` deep, a line nested too deeply for the parser is an error
(the history readers' rules for IDs, all in :func:`_id`).  Every problem is one
:class:`HistoryFormatError` line naming the file and line.

**unique-ids**: :func:`unique_ids` is the map Jepsen's ``unique-ids`` checker
(``jepsen.checker``) returns for the same history, with Jepsen's field names,
``valid?``, ``attempted-count`` (invokes only), ``acknowledged-count``,
``duplicated-count``, ``duplicated`` (the 48 most repeated IDs, the largest of
equally repeated ones, sorted by ID) and ``range`` (``[lowest highest]``, or
``null`` without acknowledged IDs), JSON-ready the way Cheshire, Jepsen's JSON
library, writes EDN values (keywords as their names, UUIDs as strings, vectors
as arrays, map keys as their text).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pkisim import limits
from pkisim.history.formats import JEPSEN_ISSUE_F, HistoryFormatError, too_many_digits
from pkisim.history.history import OP_NAMES, TYPE_NAMES, History, Keyword, Op, OpType
from pkisim.history.timeline import id_key, id_text
from pkisim.history.uniqueness import UniquenessResult

__all__ = ["MAX_ID_DEPTH", "MAX_ID_DIGITS", "read_edn", "unique_ids"]

#: The most decimal digits an integer ID may have (128-bit serials have 39).
MAX_ID_DIGITS = 100
#: How deep an ID may nest vectors (``[node counter]`` is 1).
MAX_ID_DEPTH = 8
#: The longest number a line may hold before it is parsed at all (any field).
_DIGIT_RUN = re.compile(rf"\d{{{limits.MAX_ID_DIGITS[10] + 1},}}")
#: Jepsen records that may appear tagged in a history.
_RECORD_TAGS = ("jepsen.history.Op",)


def read_edn(path: str | Path) -> History:
    """Read Jepsen's ``history.edn`` (one EDN map per line) into a :class:`History`."""
    source = str(path)
    edn = _edn(source)
    history = History()
    try:
        with Path(path).open(encoding="utf-8") as f:
            for line, text in enumerate(f, 1):
                if text.strip() and not text.lstrip().startswith(";"):
                    _operation(history, _map(edn, text, source, line), source, line,
                               edn.Keyword)
    except OSError as err:
        raise HistoryFormatError(source, err.strerror or str(err)) from None
    except UnicodeDecodeError as err:
        raise HistoryFormatError(source, f"not UTF-8 text ({err.reason})") from None
    history.singles()  # convert the last chunk: its errors surface here
    return history


def _edn(source: str) -> Any:
    try:
        import edn_format
    except ImportError:
        raise HistoryFormatError(source, "reading Jepsen's EDN needs the edn-format package: "
                                 "pip install 'pkisim[jepsen]'") from None
    for tag in _RECORD_TAGS:
        edn_format.add_tag(tag, lambda form: form)
    return edn_format


def _map(edn: Any, text: str, source: str, line: int) -> dict[str, object]:
    """The line's one EDN map, keys as plain names."""
    longest = max((len(m) for m in _DIGIT_RUN.findall(text)), default=0)
    if longest:  # refused before Python's int() refuses it less clearly
        raise HistoryFormatError(source, too_many_digits(longest), line=line)
    try:
        forms = edn.loads_all(text)
    except RecursionError:
        raise HistoryFormatError(source, "EDN nested too deeply", line=line) from None
    except Exception as err:  # edn-format raises many kinds; each is a malformed line
        reason = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
        raise HistoryFormatError(source, f"invalid EDN ({reason})", line=line) from None
    if len(forms) != 1 or not isinstance(forms[0], Mapping):
        found = f"{len(forms)} forms" if len(forms) != 1 else type(forms[0]).__name__
        raise HistoryFormatError(source, f"expected one EDN map per line, found {found}",
                                 line=line)
    return {_name(key): value for key, value in forms[0].items()}


def _name(key: object) -> str:
    text = str(key)
    return text[1:] if text.startswith(":") else text


def _operation(history: History, op: dict[str, object], source: str, line: int,
               keyword: type) -> None:
    for name in ("process", "type", "f"):
        if name not in op:
            raise HistoryFormatError(source, "missing", line=line, key=f":{name}")
    kind = _type(op["type"], source, line)
    f = op["f"]
    if not isinstance(f, str | keyword):
        raise HistoryFormatError(source, "expected a keyword", line=line, key=":f", value=f)
    f = _name(f)
    process = op["process"]
    if isinstance(process, bool) or not isinstance(process, int | str | keyword):
        raise HistoryFormatError(source, "expected an integer or a keyword", line=line,
                                 key=":process", value=process)
    time = op.get("time")
    if time is None:
        seconds = float(line)
    elif isinstance(time, int | float) and not isinstance(time, bool):
        seconds = time / 1e9  # Jepsen's nanoseconds since the test began
    else:
        raise HistoryFormatError(source, "expected nanoseconds", line=line, key=":time",
                                 value=time)
    code = history.process(_name(process))
    issue_op = JEPSEN_ISSUE_F.get(f)
    if issue_op is None and f in OP_NAMES[:3]:
        issue_op = Op(OP_NAMES.index(f))
    if issue_op is None:
        other = Op(OP_NAMES.index(f)) if f in OP_NAMES else Op.OTHER
        history.note(seconds, code, other, kind, "" if f in OP_NAMES else f)
        return
    value = op.get("value")
    if value is None:
        if kind is OpType.OK:
            raise HistoryFormatError(source, f"an ok {f} must carry the ID it acknowledges",
                                     line=line, key=":value", value=None)
    else:
        value = _id(value, source, line, keyword)
    history.issue(seconds, code, issue_op, value, kind)


def _type(value: object, source: str, line: int) -> OpType:
    name = _name(value)
    if name not in TYPE_NAMES:
        raise HistoryFormatError(source, "expected :invoke, :ok, :fail or :info", line=line,
                                 key=":type", value=str(value))
    return OpType(TYPE_NAMES.index(name))


def _id(value: object, source: str, line: int, keyword: type, depth: int = 0) -> object:
    """An ID as Jepsen compares it, checked against what a hostile file could
    make of it: a tuple for a vector, a :class:`Keyword` for a keyword."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise HistoryFormatError(source, "an ID cannot be negative", line=line,
                                     key=":value", value=value)
        if value >= 10**MAX_ID_DIGITS:
            raise HistoryFormatError(source, f"an ID has at most {MAX_ID_DIGITS} digits",
                                     line=line, key=":value", value=f"{str(value)[:20]}...")
        return value
    if isinstance(value, str | uuid.UUID):
        return value
    if isinstance(value, keyword):
        return Keyword(_name(value))
    if isinstance(value, Sequence) and not isinstance(value, str):  # a vector or a list
        if depth >= MAX_ID_DEPTH:
            raise HistoryFormatError(source, f"an ID nests vectors at most {MAX_ID_DEPTH} "
                                     "deep", line=line, key=":value")
        return tuple(_id(v, source, line, keyword, depth + 1) for v in value)
    raise HistoryFormatError(source, "an ID is an integer, a string, a keyword, a UUID or a "
                             f"vector of these, not {type(value).__name__}", line=line,
                             key=":value", value=id_text(value) if value is not None else None)


# --------------------------------------------------------------------------- unique-ids

def unique_ids(result: UniquenessResult) -> dict[str, object]:
    """Jepsen's ``unique-ids`` result for the history ``result`` checked, with
    Jepsen's field names, JSON-ready as Cheshire writes it."""
    duplicated = sorted(result.duplicated.items(), key=lambda kv: id_key(kv[0]))
    return {
        "valid?": result.valid,
        "attempted-count": result.invoke_count,
        "acknowledged-count": result.acknowledged_count,
        "duplicated-count": result.duplicated_count,
        "duplicated": {_key(value): count for value, count in duplicated},
        "range": None if result.lowest is None else [_json(result.lowest),
                                                     _json(result.highest)],
    }


def _json(value: object) -> object:
    """An ID as Cheshire encodes it: numbers and strings as they are, keywords
    as their names, UUIDs as strings, vectors as arrays."""
    if isinstance(value, int | str):
        return value
    if isinstance(value, Keyword):
        return value.name
    if isinstance(value, tuple):
        return [_json(v) for v in value]
    return str(value)


def _key(value: object) -> str:
    """An ID as a JSON object key, as Cheshire writes a map key: its text."""
    if isinstance(value, Keyword):
        return value.name
    if isinstance(value, tuple):
        return id_text(value)
    return str(value)
