"""Runs against rows: a history recorded as runs (``History(compact=True)``)
gives every checker the verdicts, samples and witnesses of the same history
recorded row by row, and both agree with a plain row-wise reference
(tests/history/rowwise.py).  Hypothesis draws the histories: windows of
interleaved runs, single issuances (failed, info, invoke, without an ID, of
another issuer, random 128-bit IDs), overlapping ranges and duplicates across
CAs, carries across 2**64."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import rowwise
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pkisim.history import (
    History,
    Op,
    OpType,
    check_compliance,
    check_ranges,
    check_unique,
    explain_duplicates,
    runtable,
    waste_report,
)
from pkisim.ids.config import IdKind
from pkisim.ids.events import RangeClaimed, RangeReceived, RangeState, SwitchedToNextRange

PROCESSES = ("ca1", "ca2", "ca3")
OPS = (Op.ISSUE_CERT, Op.ISSUE_REQUEST)
KINDS = {Op.ISSUE_CERT: IdKind.CERT, Op.ISSUE_REQUEST: IdKind.REQUEST}
TYPES = (OpType.OK, OpType.OK, OpType.OK, OpType.INFO, OpType.FAIL, OpType.INVOKE)

small = st.integers(0, 48)
ids = st.one_of(small, small, st.integers(2**64 - 6, 2**64 + 3), st.integers(0, 2**128 - 9))

event = st.tuples(st.just("event"), st.integers(0, 2), st.sampled_from(OPS),
                  st.sampled_from(("received", "switched", "claimed")), ids,
                  st.integers(0, 30))
single = st.tuples(st.just("single"), st.integers(0, 2), st.sampled_from(OPS),
                   st.one_of(ids, st.none()), st.sampled_from(TYPES), st.booleans())
run = st.tuples(st.integers(0, 2), st.sampled_from(OPS), ids, st.integers(1, 9),
                st.sampled_from(TYPES[:4]))
window = st.tuples(st.just("window"),
                   st.lists(run, min_size=1, max_size=4, unique_by=lambda r: (r[0], r[1])),
                   st.integers(0, 2**32 - 1))
#: The same as a window, recorded row by row: compact histories find the runs.
#: (A note in the middle of it, if any.)
lane = st.tuples(st.just("lane"), window.map(lambda w: w[1]), st.integers(0, 2**32 - 1),
                 st.sampled_from((None, Op.REVOKE, Op.CRASH)))
#: Notes: a revocation does not end a block of runs, a crash or restart does.
note = st.tuples(st.just("note"), st.integers(0, 2), st.sampled_from((Op.REVOKE, Op.CRASH,
                                                                      Op.RESTART)))
operations = st.lists(st.one_of(event, single, window, lane, lane, note), max_size=24)


class Unexpanded(History):
    """A compact history whose runs must never be expanded into rows."""

    def columns(self):  # type: ignore[no-untyped-def]
        assert not self.has_runs, "a checker expanded the runs"
        return super().columns()


def build(ops: list[tuple], compact: bool, texts: bool = False) -> History:
    """The history ``ops`` describe; ``texts``: a single row's ID 7 becomes the string "7".
    A compact history finds runs in rows recorded one by one even in small
    chunks here (every recorded window, however short, becomes runs)."""
    if not compact:
        return record(History(compact=False), ops, texts)
    with mock.patch.multiple(runtable, MIN_ROWS=2, ROWS_PER_RUN=1):
        h = record(Unexpanded(), ops, texts)
        h.singles()  # the last chunk's runs, found while the thresholds are low
    return h


def record(h: History, ops: list[tuple], texts: bool) -> History:
    codes = [h.process(name) for name in PROCESSES]
    other = h.issuer("CN=other")
    h.replica("ds1")
    t = 0.0
    for op in ops:
        t += 1.0
        if op[0] == "event":
            _, p, f, what, begin, size = op
            kind, end = KINDS[f], min(begin + size, 2**128 - 1)
            if what == "received":
                h.event(t, codes[p], RangeReceived(kind, RangeState(begin, end), begin, end,
                                                   "initial"))
            elif what == "switched":
                h.event(t, codes[p], SwitchedToNextRange(kind, RangeState(begin, end), begin,
                                                         end))
            else:
                state = RangeState(None, None, begin, end)
                h.event(t, codes[p], RangeClaimed(kind, state, begin, end, str(begin), begin,
                                                  end), 0)
        elif op[0] == "note":
            h.note(t, codes[op[1]], op[2], OpType.OK)
        elif op[0] == "single":
            _, p, f, value, kind, foreign = op
            if texts and value == 7:
                value = "7"
            h.issue(t, codes[p], f, None if kind is OpType.INVOKE else value, kind,
                    issuer=other if foreign else 0)
        else:
            what, runs, seed, *middle = op
            runs = [(p, f, min(first, 2**128 - n), n, kind) for p, f, first, n, kind in runs]
            which = np.repeat(np.arange(len(runs)), [r[3] for r in runs])
            which = np.random.default_rng(seed).permutation(which)
            times = t + np.arange(len(which)) * 0.125
            t = float(times[-1])
            replicas = [0 if r[0] == 1 else -1 for r in runs]
            if what == "window":
                h.issue_runs(times, which, [codes[r[0]] for r in runs], [r[1] for r in runs],
                             [r[2] for r in runs], [r[4] for r in runs], replicas)
                continue
            rank = [0] * len(runs)
            for i, (time, r) in enumerate(zip(times.tolist(), which.tolist(), strict=True)):
                if middle and middle[0] is not None and i == len(which) // 2:
                    h.note(time, codes[runs[r][0]], middle[0], OpType.OK)
                p, f, first, _, kind = runs[r]
                h.issue(time, codes[p], f, first + rank[r], kind, replicas[r])
                rank[r] += 1
    return h


def pair(ops: list[tuple], texts: bool = False) -> tuple[History, History]:
    compact, rows = build(ops, True, texts), build(ops, False, texts)
    assert not rows.has_runs
    assert compact.has_runs >= any(op[0] == "window" for op in ops)
    return compact, rows


fast = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@fast
@given(operations, st.booleans())
def test_uniqueness_on_runs_equals_rows(ops: list[tuple], texts: bool) -> None:
    compact, rows = pair(ops, texts)
    for op in OPS:
        got = check_unique(compact, op)
        assert got == check_unique(rows, op)
        expected = rowwise.unique(rows, op)
        assert {k: v for k, v in dataclasses.asdict(got).items() if k in expected} == expected
        witnesses = [str(w) for w in explain_duplicates(compact, got, possible=True)]
        assert witnesses == [str(w) for w in explain_duplicates(rows, got, possible=True)]


@fast
@given(operations, st.booleans())
def test_ranges_on_runs_equal_rows(ops: list[tuple], sequential: bool) -> None:
    compact, rows = pair(ops)
    got = check_ranges(compact, sequential=sequential)
    assert got == check_ranges(rows, sequential=sequential)
    ids = {(v.rule, v.process, v.kind, v.time, v.ids[0], v.count) for v in got.violations
           if v.rule in ("before-first-range", "outside-range", "not-increasing")}
    assert ids == rowwise.range_findings(rows, sequential)


@fast
@given(operations)
def test_waste_and_compliance_on_runs_equal_rows(ops: list[tuple]) -> None:
    compact, rows = pair(ops)
    frame = waste_report(compact)
    assert frame.equals(waste_report(rows))
    for r in frame.itertuples():
        process = compact.process_names.index(r.process)
        issued, failed, _, _ = rowwise.usage(rows, process, IdKind(r.kind), r.begin, r.end)
        assert (r.issued, r.failed) == ((0, 0) if r.status == "burned" else (issued, failed))
    for strategy in ("legacy2", "random"):
        assert check_compliance(compact, strategy) == check_compliance(rows, strategy)


@settings(max_examples=60, deadline=None)
@given(operations)
def test_runs_read_and_save_as_rows(tmp_path_factory: pytest.TempPathFactory,
                                    ops: list[tuple]) -> None:
    compact, rows = pair(ops)
    compact.__class__ = History  # reading every row expands the runs
    assert compact.to_frame().equals(rows.to_frame())
    assert compact.values() == rows.values()
    assert compact.issued_count(Op.ISSUE_CERT, None) == rows.issued_count(Op.ISSUE_CERT, None)
    some = np.arange(0, compact.issue_rows, 3)
    assert compact.values(some) == rows.values(some)
    folder = tmp_path_factory.mktemp("runs")
    for name in ("a.parquet", "a.csv"):
        compact.save(folder / f"compact-{name}")
        rows.save(folder / f"rows-{name}")
        assert Path(folder / f"compact-{name}").read_bytes() == \
            Path(folder / f"rows-{name}").read_bytes()


def test_a_window_of_runs_is_a_row_per_run() -> None:
    """Memory grows with runs: a million issuances in two runs take 9 bytes
    each (time, run index), not the issue table's 24."""
    h = History()
    ca = h.process("ca1")
    n = 1_000_000
    which = np.tile(np.array([0, 1], np.uint8), n // 2)
    h.issue_runs(np.arange(n) * 0.001, which, [ca, ca], [Op.ISSUE_REQUEST, Op.ISSUE_CERT],
                 [1, 0x10000000])
    assert len(h.runs().row) == 2 and h.issue_rows == n
    assert h.nbytes <= 9 * n + 4096
    assert check_unique(h).acknowledged_count == n // 2
    assert check_unique(h).highest == 0x10000000 + n // 2 - 1
    row = History(compact=False)
    row.process("ca1")
    row.issue_runs(np.arange(n) * 0.001, which, [ca, ca], [Op.ISSUE_REQUEST, Op.ISSUE_CERT],
                   [1, 0x10000000])
    assert row.nbytes >= 24 * n


def test_a_window_of_more_runs_than_a_block_holds_is_kept_as_rows() -> None:
    h = History()
    cas = [h.process(f"ca{i}") for i in range(300)]
    which = np.arange(600) % 300
    h.issue_runs(np.arange(600.0), which, cas, [Op.ISSUE_CERT] * 300, range(0, 3000, 10))
    assert not h.has_runs and h.values()[:301] == [*range(0, 3000, 10), 1]
    assert check_unique(h).acknowledged_count == 600


def test_two_runs_of_one_ca_and_op_in_a_window_are_refused() -> None:
    h = History()
    ca = h.process("ca1")
    with pytest.raises(ValueError, match="two runs of one process and op"):
        h.issue_runs(np.zeros(2), np.array([0, 1]), [ca, ca], [Op.ISSUE_CERT] * 2, [1, 5])
    with pytest.raises(ValueError, match="leave"):
        h.issue_run(np.zeros(2), ca, Op.ISSUE_CERT, 2**128 - 1)
    assert h.issue_rows == 0


def test_the_driver_records_a_run() -> None:
    from pkisim.driver import Driver

    h = History()
    driver = Driver(None, h, lambda: 0.0)  # type: ignore[arg-type]  # no directory needed
    ca = driver.instance("ca1", "ds1")
    driver.record_issue_run(ca, IdKind.REQUEST, 41, [1.0, 2.0, 3.0])
    driver.record_issue(ca, IdKind.REQUEST, 44, time=4.0)
    assert len(h.runs().row) == 1 and h.values() == [41, 42, 43, 44]
    assert h.to_frame()["replica"].tolist() == ["ds1"] * 4
    assert check_unique(h, Op.ISSUE_REQUEST).acknowledged_count == 4


def test_rows_recorded_one_by_one_become_runs_between_range_events() -> None:
    """Two CAs interleaving sequential serials: runs, cut where a range event
    (or a crash) falls, not where a revocation note does; random serials
    (RSNv3) and other rows stay rows."""
    h = History()
    ca1, ca2 = h.process("ca1"), h.process("ca2")
    received_at = {ca1: 0x1000, ca2: 0x9000}
    for ca, begin in received_at.items():
        h.event(0.0, ca, RangeReceived(IdKind.CERT, RangeState(begin, begin + 0xFFF), begin,
                                       begin + 0xFFF, "initial"))
    rng = np.random.default_rng(1)
    for i in range(2000):
        ca = (ca1, ca2)[i % 2]
        h.issue(float(i), ca, Op.ISSUE_CERT, received_at[ca] + i // 2)
        if i == 700:
            h.note(float(i), ca1, Op.REVOKE, OpType.OK, "0x1005")
        if i == 1200:
            h.note(float(i), ca2, Op.CRASH, OpType.INFO)
    for i in range(100):
        h.issue(3000.0 + i, ca1, Op.ISSUE_CERT, int(rng.integers(1 << 62)) | 1 << 62)
    runs = h.runs()
    assert sorted(runs.row.tolist()) == [0, 1, 1201, 1202]  # the crash cut, the note did not
    assert runs.count.sum() == 2000 and len(h.singles().time) == 100
    assert check_unique(h).acknowledged_count == 2100
    assert check_ranges(h, sequential=False).counts()["outside-range"] == 1  # the random ones
