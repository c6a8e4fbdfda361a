"""The recorder: columns, frames, values of every size, codes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from history_builders import claimed, clean_topology, received

from pkisim.history import History, Op, OpType
from pkisim.history.history import CHUNK
from pkisim.ids.config import IdKind
from pkisim.ids.events import ClaimFailed, ConflictDropped, RangeState


def test_codes_are_small_ints_and_idempotent() -> None:
    h = History()
    assert (h.process("ca1"), h.process("ca2"), h.process("ca1")) == (0, 1, 0)
    assert (h.replica("ds1"), h.replica("ds1")) == (0, 0)
    assert h.issuer("") == 0 and h.issuer("CN=Other") == 1
    assert h.process_names == ("ca1", "ca2")


def test_issue_rows_become_a_frame() -> None:
    h = History()
    ca1, ds1 = h.process("ca1"), h.replica("ds1")
    h.issue(1.5, ca1, Op.ISSUE_CERT, 7)
    h.issue(2.0, ca1, Op.ISSUE_REQUEST, None, OpType.FAIL, ds1)
    h.issue(2.5, ca1, Op.ISSUE_CERT, None, OpType.INVOKE)
    frame = h.to_frame()
    assert list(frame.columns) == ["time", "process", "replica", "type", "f", "value",
                                   "value_lo", "value_hi", "issuer"]
    assert frame["time"].tolist() == [1.5, 2.0, 2.5]
    assert frame["type"].tolist() == ["ok", "fail", "invoke"]
    assert frame["f"].tolist() == ["issue_cert", "issue_request", "issue_cert"]
    assert list(frame["type"].cat.categories) == ["invoke", "ok", "fail", "info"]
    assert frame["replica"].isna().tolist() == [True, False, True]
    assert str(frame["value"].dtype) == "UInt64"
    assert frame["value"].isna().tolist() == [False, True, True]
    assert frame["value"][0] == 7


def test_values_of_every_size_survive_exactly() -> None:
    h = History()
    ca = h.process("ca1")
    values = [0, 2**64 - 1, 2**64, 2**127 + 5, 2**128 - 1, 2**128, 2**200 + 1, -4, None]
    for v in values:
        h.issue(0.0, ca, Op.ISSUE_CERT, v)
    assert h.values() == values
    assert h.values([3, 6]) == [2**127 + 5, 2**200 + 1]
    frame = h.to_frame()
    assert frame["value"].dtype == object
    assert frame["value"].tolist() == values
    assert frame["value_lo"][3] == 5 and frame["value_hi"][3] == 2**63
    assert h.other_values == {5: 2**128, 6: 2**200 + 1, 7: -4}


def test_hot_path_chunks_are_invisible() -> None:
    h = History()
    ca = h.process("ca1")
    n = 2 * CHUNK + 17
    for i in range(n):
        h.issue(i * 0.5, ca, Op.ISSUE_CERT, i + 1)
    c = h.columns()
    assert len(c.time) == n == len(h)
    assert (c.lo == np.arange(1, n + 1, dtype=np.uint64)).all()
    assert not c.lo.flags.writeable
    h.issue(99.0, ca, Op.ISSUE_CERT, 5)  # a view handed out never blocks recording
    assert len(h.columns().time) == n + 1 and len(c.time) == n


def test_bad_codes_are_reported_and_their_chunk_dropped() -> None:
    h = History()
    ca = h.process("ca1")
    h.issue(0.0, ca, Op.ISSUE_CERT, 1)
    h.columns()
    h.issue(1.0, 5, Op.ISSUE_CERT, 2)  # process 5 was never registered
    with pytest.raises(ValueError, match="unknown process code 5"):
        h.columns()
    assert len(h.columns().time) == 1
    h.issue(1.0, ca, Op.ISSUE_CERT, 1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not an int"):
        h.columns()
    ds1 = h.replica("ds1")
    h.issue(1.0, ca, Op.ISSUE_CERT, 2, replica=ds1)
    h.issue(1.0, ca, Op.ISSUE_CERT, 3, replica=ds1 + 1)
    with pytest.raises(ValueError, match="unknown replica code"):
        h.columns()
    h.issue(1.0, ca, Op.ISSUE_CERT, 2, replica=ds1)
    h.issue(1.0, ca, Op.ISSUE_CERT, 3)
    replicas = h.to_frame()["replica"]
    assert replicas.isna().tolist()[-2:] == [False, True] and replicas.iloc[-2] == "ds1"


def test_issued_count_and_len() -> None:
    h = clean_topology()
    assert h.issued_count(Op.ISSUE_CERT) == 25
    assert h.issued_count(Op.ISSUE_CERT, type=None) == 26
    assert h.issued_count(Op.ISSUE_REQUEST) == 0
    assert len(h) == 26 + len(h.events)


def test_events_keep_state_after_and_position() -> None:
    h = History()
    ca, ds = h.process("ca1"), h.replica("ds1")
    received(h, 0.0, ca, 1, 10)
    h.issue(1.0, ca, Op.ISSUE_CERT, 1)
    claimed(h, 2.0, ca, (1, 10), (11, 20), 11, ds)
    h.event(3.0, ca, ClaimFailed(IdKind.CERT, RangeState(1, 10, 11, 20), "LDAP busy", (21, 30)))
    h.event(4.0, ca, ConflictDropped(IdKind.CERT, RangeState(1, 10), ("cn=11+nsuniqueid=x",)))
    h.note(5.0, ca, Op.CRASH, OpType.INFO, "killed")
    frame = h.events_frame()
    assert frame["f"].tolist() == ["receive", "claim", "claim", "conflict_drop", "crash"]
    assert frame["type"].tolist() == ["ok", "ok", "fail", "ok", "info"]
    assert frame["position"].tolist() == [0, 1, 1, 1, 1]
    claim = frame.iloc[1]
    assert (claim["begin"], claim["end"], claim["next_begin"], claim["counter"]) == (11, 20, 11,
                                                                                    "11")
    assert claim["replica"] == "ds1" and claim["kind"] == "cert"
    failed = frame.iloc[2]
    assert (failed["record_begin"], failed["record_end"], failed["detail"]) == (21, 30,
                                                                               "LDAP busy")
    assert frame.iloc[4]["detail"] == "killed" and pd.isna(frame.iloc[4]["kind"])
    assert frame["from_next"].dtype == "boolean"


def test_event_rejects_what_is_not_a_range_event() -> None:
    h = History()
    with pytest.raises(TypeError, match="not a range event"):
        h.event(0.0, h.process("ca1"), "claimed")  # type: ignore[arg-type]


def test_memory_per_row_is_compact() -> None:
    h = History()
    ca = h.process("ca1")
    for i in range(200_000):
        h.issue(float(i), ca, Op.ISSUE_CERT, i)
    h.columns()
    assert h.nbytes / 200_000 <= 40
