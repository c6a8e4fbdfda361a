"""Files: Parquet and CSV round trips, Jepsen JSON Lines, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from history_builders import clean_topology, replica_race

from pkisim.history import History, HistoryFormatError, Op, OpType
from pkisim.ids.config import IdKind
from pkisim.ids.events import ClaimFailed, RangeState


def rich_history() -> History:
    """Every kind of cell: 128-bit and longer values, None, issuers, notes, odd names."""
    h = clean_topology()
    odd = h.process('ca "three", with commas')
    h.issue(50.0, odd, Op.ISSUE_CERT, 2**127 + 3, replica=h.replica("ds2"))
    h.issue(50.5, odd, Op.ISSUE_REQUEST, 2**300, OpType.INFO, issuer=h.issuer("CN=Other CA"))
    h.issue(51.0, odd, Op.ISSUE_CERT, None, OpType.INVOKE)
    h.event(52.0, odd, ClaimFailed(IdKind.REQUEST, RangeState(1, 5), "no\nreplica", (7, 9)))
    h.note(53.0, odd, Op.RESTART, OpType.OK, "restart after crash, \"clean\"")
    h.process("never used")
    return h


@pytest.mark.parametrize("name", ["history.parquet", "history.csv"])
def test_round_trip_gives_identical_frames(tmp_path: Path, name: str) -> None:
    h = rich_history()
    path = tmp_path / name
    h.save(path)
    back = History.load(path)
    pd.testing.assert_frame_equal(back.to_frame(), h.to_frame())
    pd.testing.assert_frame_equal(back.events_frame(), h.events_frame())
    assert back.events == h.events
    assert back.process_names == h.process_names


@pytest.mark.parametrize("name", ["history.parquet", "history.csv"])
def test_saving_twice_gives_the_same_bytes(tmp_path: Path, name: str) -> None:
    h = rich_history()
    h.save(tmp_path / f"a-{name}")
    h.save(tmp_path / f"b-{name}")
    History.load(tmp_path / f"a-{name}").save(tmp_path / f"c-{name}")
    a, b, c = ((tmp_path / f"{x}-{name}").read_bytes() for x in "abc")
    assert a == b == c


def test_parquet_is_a_plain_table_for_other_tools(tmp_path: Path) -> None:
    path = tmp_path / "h.parquet"
    replica_race().save(path)
    frame = pd.read_parquet(path)
    assert frame["process"].tolist()[-2:] == ["ca2", "ca3"]
    assert frame["value_lo"].tolist()[-1] == 0x1000005
    meta = json.loads(pq.read_schema(path).metadata[b"pkisim"])
    assert meta["processes"] == ["ca2", "ca3"] and len(meta["events"]["rows"]) == 6


def test_csv_is_one_readable_history(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    replica_race().save(path)
    lines = path.read_text().splitlines()
    assert lines[0].startswith("# pkisim history 1 ")
    assert lines[1].startswith("table,time,process,replica,type,f,value,issuer,kind,")
    assert lines[2].startswith("event,0.0,ca2,,ok,receive,")
    assert lines[-1] == "issue,1900.4,ca3,,ok,issue_cert,16777221," + "," * 13
    frame = pd.read_csv(path, skiprows=1)
    assert len(frame) == 13


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def jsonl(*ops: dict) -> str:
    return "".join(json.dumps(op) + "\n" for op in ops)


def test_jepsen_json_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "h.jsonl", jsonl(
        {"process": 0, "type": "invoke", "f": "generate", "value": None, "time": 10},
        {"process": 0, "type": "ok", "f": "generate", "value": 16, "time": 12},
        {"process": 1, "type": "ok", "f": ":serial", "value": "0x10", "issuer": "CN=B"},
        {"process": 2, "type": "info", "f": "generate", "value": str(2**128 - 1)},
        {"process": "nemesis", "type": "info", "f": "start-partition", "value": ["n1"]},
        {"process": 3, "type": "fail", "f": "generate"},
    ) + "\n")
    h = History.load(path)
    frame = h.to_frame()
    assert frame["type"].tolist() == ["invoke", "ok", "ok", "info", "fail"]
    assert frame["process"].tolist() == ["0", "0", "1", "2", "3"]
    assert frame["time"].tolist() == [10.0, 12.0, 3.0, 4.0, 6.0]  # no time: the line number
    assert h.values() == [None, 16, 16, 2**128 - 1, None]
    assert frame["issuer"].tolist() == ["", "", "CN=B", "", ""]
    (nemesis,) = h.events
    assert nemesis.op is Op.OTHER and nemesis.detail == "start-partition"


MALFORMED_JSONL = [
    ('{"process": 0, "type": "okay", "f": "generate", "value": 1}',
     "h.jsonl:2: \"type\" = 'okay': expected invoke, ok, fail or info"),
    ('{"process": 0, "type": "ok", "f": "generate", "value": 1',
     "h.jsonl:2: invalid JSON (Expecting ',' delimiter at column 57)"),
    ("[1, 2]", "h.jsonl:2: expected a JSON object, found list"),
    ('{"type": "ok", "f": "generate", "value": 1}', 'h.jsonl:2: "process": missing'),
    ('{"process": 0, "f": "generate", "value": 1}', 'h.jsonl:2: "type": missing'),
    ('{"process": 0, "type": "ok", "value": 1}', 'h.jsonl:2: "f": missing'),
    ('{"process": 0, "type": "ok", "f": "generate"}',
     'h.jsonl:2: "value" = None: an ok generate must carry the ID it acknowledges'),
    ('{"process": 0, "type": "ok", "f": "generate", "value": "12ab"}',
     "h.jsonl:2: \"value\" = '12ab': expected a decimal or 0x integer"),
    ('{"process": 0, "type": "ok", "f": "generate", "value": 1.5}',
     'h.jsonl:2: "value" = 1.5: expected an integer'),
    ('{"process": 0, "type": "ok", "f": "generate", "value": -3}',
     'h.jsonl:2: "value" = -3: an ID cannot be negative'),
    ('{"process": 0, "type": "ok", "f": "generate", "value": 1, "time": "noon"}',
     "h.jsonl:2: \"time\" = 'noon': expected a number"),
    ('{"process": [0], "type": "ok", "f": "generate", "value": 1}',
     'h.jsonl:2: "process" = [0]: expected an integer or a string'),
    ('{"process": 0, "type": "ok", "f": 7, "value": 1}', 'h.jsonl:2: "f" = 7: expected a string'),
]


@pytest.mark.parametrize(("line", "message"), MALFORMED_JSONL)
def test_malformed_json_lines_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    good = '{"process": 0, "type": "ok", "f": "generate", "value": 1}\n'
    path = write(tmp_path, "h.jsonl", good + line + "\n")
    with pytest.raises(HistoryFormatError) as err:
        History.load(path)
    assert str(err.value).replace(str(tmp_path) + "/", "") == message
    assert "\n" not in str(err.value)


def csv_text(body: str) -> str:
    header = ("table,time,process,replica,type,f,value,issuer,kind,begin,end,cur_begin,cur_end,"
              "next_begin,next_end,counter,record_begin,record_end,last,from_next,detail\n")
    return header + body


MALFORMED_CSV = [
    ("issue,1.0,ca1,,okay,issue_cert,5,,,,,,,,,,,,,,",
     "h.csv:3: column \"type\" = 'okay': expected invoke, ok, fail or info"),
    ("issue,1.0,ca1,,ok,issue_cert,5x,,,,,,,,,,,,,,",
     "h.csv:3: column \"value\" = '5x': expected a decimal or 0x integer"),
    ("issue,soon,ca1,,ok,issue_cert,5,,,,,,,,,,,,,,",
     "h.csv:3: column \"time\" = 'soon': expected a number"),
    ("issue,1.0,ca1,,ok,mint,5,,,,,,,,,,,,,,",
     "h.csv:3: column \"f\" = 'mint': expected a pkisim op name"),
    ("row,1.0,ca1,,ok,issue_cert,5,,,,,,,,,,,,,,",
     "h.csv:3: column \"table\" = 'row': expected issue or event"),
    ("event,1.0,ca1,,ok,claim,,,cert,11,x,,,,,,,,,,",
     "h.csv:3: column \"end\" = 'x': expected a decimal or 0x integer"),
    ("event,1.0,ca1,,ok,claim,,,certs,,,,,,,,,,,,",
     "h.csv:3: column \"kind\" = 'certs': expected cert, request or replica"),
    ("issue,1.0,ca1,,ok,issue_cert,5", "h.csv:3: 7 cells where the header has 21"),
]


@pytest.mark.parametrize(("row", "message"), MALFORMED_CSV)
def test_malformed_csv_names_file_line_and_column(tmp_path: Path, row: str, message: str) -> None:
    path = write(tmp_path, "h.csv", csv_text("issue,0.5,ca1,,ok,issue_cert,4" + "," * 14 + "\n"
                                             + row + "\n"))
    with pytest.raises(HistoryFormatError) as err:
        History.load(path)
    assert str(err.value).replace(str(tmp_path) + "/", "") == message


def test_csv_header_must_name_every_column(tmp_path: Path) -> None:
    path = write(tmp_path, "h.csv", "table,time,process\nissue,1.0,ca1\n")
    with pytest.raises(HistoryFormatError, match=r'h.csv:1: column "replica": missing'):
        History.load(path)


def test_foreign_and_broken_files(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.parquet"
    pq.write_table(pa.table({"x": [1, 2]}), foreign)
    with pytest.raises(HistoryFormatError, match="without pkisim metadata"):
        History.load(foreign)
    truncated = tmp_path / "truncated.parquet"
    truncated.write_bytes(b"PAR1" + b"\0" * 20)
    with pytest.raises(HistoryFormatError, match=r"truncated\.parquet"):
        History.load(truncated)
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b'{"process": 0}\n\xff\xfe\n')
    with pytest.raises(HistoryFormatError, match="not UTF-8"):
        History.load(binary)
    with pytest.raises(HistoryFormatError, match=r"missing\.csv"):
        History.load(tmp_path / "missing.csv")


def test_empty_files_are_empty_histories(tmp_path: Path) -> None:
    assert len(History.load(write(tmp_path, "e.jsonl", ""))) == 0
    assert len(History.load(write(tmp_path, "e.csv", csv_text("")))) == 0
