"""What a run measured: compact recorders during the run, tidy DataFrames after.

During the run, rows go into typed ``array.array`` columns (a request row costs
about 40 bytes, not a tuple of boxed Python objects), so a run of ten million
issuances fits in memory.  :class:`RunResult` holds one DataFrame per table:

``requests``       id, client, kind, attempt, arrival, start, end, latency, ca, outcome, cause
``throughput``     time (bin start), kind, ok, failed
``failures``       cause, kind, count
``claims``         time, ca, kind, event, begin, end, counter, replica, outcome
``space``          time, ca, kind, issued, remaining, stranded, begin, end, next_begin, next_end
``forecast``       kind, strategy, ceiling, counter, held, space, used, rate_per_day,
                   held_days, days_to_exhaustion, forecast_date
``crl``            time, ca, number, size
``crl_staleness``  serial, ca, revoked_at, in_crl_at, served_at, staleness, served_staleness
``faults``         kind, target, start, end
"""

from __future__ import annotations

import datetime as dt
import math
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pkisim.history.history import History, Op, OpType
from pkisim.sim.config import Scenario
from pkisim.sim.workload import KIND_NAMES

OK, FAIL, TIMEOUT, INFO = 0, 1, 2, 3
OUTCOMES = ("ok", "fail", "timeout", "info")
_CHUNK = 1 << 14  # request rows buffered as tuples before they go into typed columns
#: The request columns' types (id, client, kind, attempt, arrival, wait, latency, ca,
#: outcome, cause), as the Recorder stores them.
_DTYPES = (np.int32, np.int32, np.int8, np.int16, np.float64, np.float32, np.float32, np.int16,
           np.int8, np.int16)

#: The largest number each ID space can hold: RFC 5280 serials are positive
#: and at most 20 octets; request IDs are Java longs; 389-DS replica IDs 1-65534.
CEILINGS = {"cert": 2**159 - 1, "request": 2**63 - 1}
# a KRA's key IDs are stored as certificate serials are, its request IDs as requests
CEILINGS.update({"key": CEILINGS["cert"], "key-request": CEILINGS["request"]})


def bin_count(duration: float, bin_width: float) -> int:
    """Throughput bins in a run: the last one also takes whatever ends after ``duration``."""
    return max(1, math.ceil(duration / bin_width))


def bin_index(end: np.ndarray, bin_width: float, nbins: int) -> np.ndarray:
    """The throughput bin of each attempt, by its end time (int32)."""
    return np.minimum(end // bin_width, nbins - 1).astype(np.int32)


class Recorder:
    """Columnar buffers filled during the run: 32 bytes per request attempt
    (waits and latencies as float32 offsets from the float64 arrival time).

    With ``aggregate`` (a scenario's ``[metrics] requests = "aggregate"``) only
    attempts that did not end ``ok`` keep their row; an ``ok`` attempt adds one
    to its (throughput bin, kind) count and its float32 latency to its kind's
    list: 4 bytes per attempt, and the summary's figures stay exact.
    """

    def __init__(self, aggregate: bool = False, bin_width: float = 60.0,
                 duration: float = 60.0) -> None:
        self.ids = array("i")
        self.clients = array("i")
        self.kinds = array("b")
        self.attempts = array("h")
        self.arrivals = array("d")
        self.waits = array("f")
        self.latencies = array("f")
        self.cas = array("h")
        self.outcomes = array("b")
        self.causes = array("h")
        self.cause_codes: dict[str, int] = {"": 0}
        self._rows: list[tuple[Any, ...]] = []
        self.space: list[tuple[Any, ...]] = []
        self.faults: list[tuple[str, str, float, float]] = []
        self.aggregate = aggregate
        self.bin_width = bin_width
        self.nbins = bin_count(duration, bin_width)
        self.ok_bins = np.zeros(self.nbins * len(KIND_NAMES), dtype=np.int64)
        self.ok_latencies = tuple(array("f") for _ in KIND_NAMES)

    def request(self, rid: int, client: int, kind: int, attempt: int, arrival: float,
                start: float, end: float, ca: int, outcome: int, cause: str) -> None:
        """One finished attempt (the hot path: one tuple, typed columns every chunk)."""
        rows = self._rows
        rows.append((rid, client, kind, attempt, arrival, start - arrival, end - arrival, ca,
                     outcome, cause))
        if len(rows) >= _CHUNK:
            self.flush()

    def request_block(self, ids: np.ndarray, clients: np.ndarray, kind: int | np.ndarray,
                      attempts: np.ndarray, arrivals: np.ndarray, starts: np.ndarray,
                      ends: np.ndarray, cas: np.ndarray, outcome: int) -> None:
        """Many finished attempts at once (no cause), as :meth:`request` would record them."""
        self.flush()
        n = len(ids)
        self._store((ids, clients, np.full(n, kind), attempts, arrivals, starts - arrivals,
                     ends - arrivals, cas, np.full(n, outcome), np.zeros(n)))

    def flush(self) -> None:
        """Move the buffered rows into the typed columns."""
        if not self._rows:
            return
        columns: list[Any] = list(zip(*self._rows, strict=True))
        self._rows = []
        codes = self.cause_codes
        for cause in dict.fromkeys(columns[9]):  # first-seen order: deterministic codes
            if cause not in codes:
                codes[cause] = len(codes)
        columns[9] = [codes[cause] for cause in columns[9]]
        self._store(tuple(np.array(c) for c in columns))

    def _store(self, columns: tuple[np.ndarray, ...]) -> None:
        typed = [np.asarray(values).astype(dtype) for values, dtype in
                 zip(columns, _DTYPES, strict=True)]
        if self.aggregate:
            ok = typed[8] == OK
            if ok.any():
                latency, kind = typed[6][ok], typed[2][ok]
                end = typed[4][ok] + latency  # as the table's ``end`` column
                key = bin_index(end, self.bin_width, self.nbins) * len(KIND_NAMES) + kind
                self.ok_bins += np.bincount(key, minlength=len(self.ok_bins))
                for code, buffer in enumerate(self.ok_latencies):
                    buffer.frombytes(latency[kind == code].tobytes())
                typed = [values[~ok] for values in typed]
        for buffer, values in zip(self._buffers(), typed, strict=True):
            buffer.frombytes(values.tobytes())

    def _buffers(self) -> tuple[array, ...]:
        return (self.ids, self.clients, self.kinds, self.attempts, self.arrivals, self.waits,
                self.latencies, self.cas, self.outcomes, self.causes)

    def ok_totals(self) -> OkTotals | None:
        """What an aggregate recorder kept of the ``ok`` attempts (``None``: full rows)."""
        if not self.aggregate:
            return None
        self.flush()
        return OkTotals(self.ok_bins.reshape(self.nbins, len(KIND_NAMES)).copy(),
                        tuple(np.frombuffer(b, dtype=np.float32).copy()
                              for b in self.ok_latencies))

    def requests_frame(self, ca_names: Sequence[str]) -> pd.DataFrame:
        """The request table, in the order attempts finished.  Each buffer is
        released as soon as its column is built, to keep the peak low."""
        self.flush()
        names = [""] * len(self.cause_codes)
        for text, code in self.cause_codes.items():
            names[code] = text

        def take(attr: str, dtype: Any) -> np.ndarray:
            column = np.frombuffer(getattr(self, attr), dtype=dtype).copy()
            setattr(self, attr, array(getattr(self, attr).typecode))
            return column

        arrival = take("arrivals", np.float64)
        start = arrival + take("waits", np.float32)
        latency = take("latencies", np.float32)
        columns = {
            "id": take("ids", np.int32),
            "client": take("clients", np.int32),
            "kind": pd.Categorical.from_codes(take("kinds", np.int8), categories=list(KIND_NAMES)),
            "attempt": take("attempts", np.int16),
            "arrival": arrival,
            "start": start,
            "end": arrival + latency,
            "latency": latency,
            "ca": pd.Categorical.from_codes(take("cas", np.int16), categories=list(ca_names)),
            "outcome": pd.Categorical.from_codes(take("outcomes", np.int8),
                                                 categories=list(OUTCOMES)),
            "cause": pd.Categorical.from_codes(take("causes", np.int16), categories=names),
        }
        return pd.DataFrame(columns, copy=False)


@dataclass(frozen=True)
class OkTotals:
    """The ``ok`` attempts of an aggregate run: counts per (throughput bin, kind)
    and each kind's latencies (float32, in the order the attempts finished)."""

    bins: np.ndarray  # int64, shape (bins, kinds)
    latencies: tuple[np.ndarray, ...]  # one float32 array per kind

    @property
    def count(self) -> int:
        return int(self.bins.sum())


# ---------------------------------------------------------------- derived tables
def throughput_frame(requests: pd.DataFrame, bin_width: float, duration: float,
                     totals: OkTotals | None = None) -> pd.DataFrame:
    """Finished attempts per bin of ``bin_width`` seconds (by end time): ``ok``
    and ``failed`` (fail, timeout or info).  Counted from category codes, with
    one small integer key per row, so that ten million rows stay cheap;
    ``totals`` adds the ``ok`` attempts an aggregate run kept no rows for."""
    nbins = bin_count(duration, bin_width)
    nkinds = len(KIND_NAMES)
    key = bin_index(requests["end"].to_numpy(), bin_width, nbins)
    key *= nkinds
    key += requests["kind"].cat.codes.to_numpy()
    good = requests["outcome"].cat.codes.to_numpy() == OK
    ok = np.bincount(key[good], minlength=nbins * nkinds).reshape(nbins, nkinds)
    failed = np.bincount(key[~good], minlength=nbins * nkinds).reshape(nbins, nkinds)
    del key, good
    if totals is not None:
        ok = ok + totals.bins
    return pd.DataFrame({
        "time": np.tile(np.arange(nbins) * bin_width, nkinds),
        "kind": np.repeat(np.array(KIND_NAMES), nbins),
        "ok": ok.T.reshape(-1), "failed": failed.T.reshape(-1)})


def failures_frame(requests: pd.DataFrame) -> pd.DataFrame:
    """Attempts that did not end ``ok``, by cause and request kind."""
    bad = requests["outcome"].cat.codes.to_numpy() != OK
    causes = requests["cause"].cat
    kinds = requests["kind"].cat
    pairs = pd.DataFrame({"cause": causes.codes.to_numpy()[bad],
                          "kind": kinds.codes.to_numpy()[bad]})
    counts = pairs.groupby(["cause", "kind"]).size().rename("count").reset_index()
    counts["cause"] = np.asarray(causes.categories, dtype=object)[counts["cause"].to_numpy()]
    counts["kind"] = np.asarray(kinds.categories, dtype=object)[counts["kind"].to_numpy()]
    return counts.sort_values(["cause", "kind"], kind="stable").reset_index(drop=True)


#: The ``event`` of each range-event row of the history, by (op, type).
_CLAIM_EVENTS = {(Op.CLAIM, OpType.OK): "claimed", (Op.CLAIM, OpType.FAIL): "claim-failed",
                 (Op.SWITCH, OpType.OK): "switched", (Op.TRANSFER, OpType.OK): "transferred",
                 (Op.RECEIVE, OpType.OK): "received", (Op.CACHE_LOAD, OpType.OK): "cache-loaded",
                 (Op.CONFLICT_DROP, OpType.OK): "conflict-dropped"}


def claims_frame(history: History) -> pd.DataFrame:
    """The range-event timeline, read from the history's event table: every
    range event a repository emitted (notes such as crashes are not range
    events: they carry no range state).  ``begin``/``end`` is the range the
    event is about (a failed claim: the range it burned), ``counter`` the
    ``nextRange`` value a claim read or the number a cache load resumes after,
    ``outcome`` the failure's reason, a received range's source, the dropped
    conflict entries, or else the event's name."""
    processes, replicas = history.process_names, history.replica_names
    rows = []
    for e in history.events:
        if e.cur_begin is None or e.kind is None:
            continue
        name = _CLAIM_EVENTS[(e.op, e.type)]
        begin, end = e.begin, e.end
        if e.op is Op.CLAIM and e.type is OpType.FAIL:
            begin, end = e.record_begin, e.record_end
        counter = e.counter if e.op is Op.CLAIM else str(e.last) if e.op is Op.CACHE_LOAD else None
        rows.append((e.time, processes[e.process], e.kind.value, name, begin, end, counter,
                     replicas[e.replica], e.detail or name))
    columns = ["time", "ca", "kind", "event", "begin", "end", "counter", "replica", "outcome"]
    return pd.DataFrame(rows, columns=columns)


def space_frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    columns = ["time", "ca", "kind", "issued", "remaining", "stranded", "begin", "end",
               "next_begin", "next_end"]
    return pd.DataFrame(rows, columns=columns)


def forecast_date(start_date: str, days: float) -> str | None:
    """The ISO date ``days`` after ``start_date``; ``None`` if never or past the calendar."""
    if not math.isfinite(days):
        return None
    try:
        return (dt.date.fromisoformat(start_date) + dt.timedelta(days=days)).isoformat()
    except OverflowError:  # after 9999-12-31
        return None


def faults_frame(rows: list[tuple[str, str, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["kind", "target", "start", "end"])


def latency_stats(requests: pd.DataFrame, totals: OkTotals | None = None
                  ) -> dict[str, dict[str, float | None]]:
    """Mean and quantiles of the latency of ``ok`` attempts, per request kind
    (from ``totals`` when the run kept no rows for them)."""
    out: dict[str, dict[str, float | None]] = {}
    kinds = requests["kind"].cat.codes.to_numpy()
    good = requests["outcome"].cat.codes.to_numpy() == OK
    latency = requests["latency"].to_numpy()
    for code, kind in enumerate(KIND_NAMES):
        values = (latency[(kinds == code) & good] if totals is None
                  else totals.latencies[code]).astype(np.float64)
        if len(values) == 0:
            continue
        mean = values.mean()  # before the quantiles reorder ``values`` (our own copy)
        p50, p95, p99 = np.quantile(values, [0.5, 0.95, 0.99], overwrite_input=True)
        out[kind] = {"mean": _num(mean), "p50": _num(p50), "p95": _num(p95), "p99": _num(p99)}
    return out


def _num(value: float) -> float | None:
    value = float(value)
    return round(value, 6) if math.isfinite(value) else None


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool | str) or value is None:
        return value
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return _num(float(value))
    return str(value)


@dataclass(frozen=True)
class RunResult:
    """Everything one run measured.  ``summary()`` is the JSON digest."""

    scenario: Scenario
    seed: int
    requests: pd.DataFrame
    throughput: pd.DataFrame
    failures: pd.DataFrame
    claims: pd.DataFrame
    space: pd.DataFrame
    forecast: pd.DataFrame
    crl: pd.DataFrame
    crl_staleness: pd.DataFrame
    faults: pd.DataFrame
    history: Any
    verdict: dict[str, Any]
    stats: dict[str, Any] = field(default_factory=dict)
    #: ``[metrics] requests = "aggregate"``: the ``ok`` attempts, which have no
    #: rows in ``requests`` (which then holds the other attempts only).
    ok_totals: OkTotals | None = None
    #: The rest of the PKI's tables (``ocsp_staleness``, ``replica_ids``, ...) and
    #: summary sections (:mod:`pkisim.sim.topology`); empty in a CA-only run.
    extra: dict[str, pd.DataFrame] = field(default_factory=dict)
    extra_summary: dict[str, Any] = field(default_factory=dict)

    def frames(self) -> dict[str, pd.DataFrame]:
        """The metric tables by name (for writing them out)."""
        return {**{name: getattr(self, name) for name in (
            "requests", "throughput", "failures", "claims", "space", "forecast", "crl",
            "crl_staleness", "faults")}, **self.extra}

    def summary(self) -> dict[str, Any]:
        """A JSON-serialisable digest with a fixed key order."""
        req = self.requests
        counts = np.bincount(req["outcome"].cat.codes.to_numpy(), minlength=len(OUTCOMES))
        totals = self.ok_totals
        if totals is not None:
            counts[OK] += totals.count
        outcomes = {name: int(n) for name, n in zip(OUTCOMES, counts, strict=True)}
        attempts = int(counts.sum())
        failures: dict[str, int] = {}
        for row in self.failures.itertuples(index=False):
            failures[row.cause] = failures.get(row.cause, 0) + int(row.count)
        staleness = self.crl_staleness["staleness"].dropna().to_numpy()
        served = self.crl_staleness["served_staleness"].dropna().to_numpy()
        numbers = self.crl["number"].to_numpy()
        verdict = self.verdict
        out = {
            "scenario": self.scenario.name,
            "seed": self.seed,
            "duration": self.scenario.duration,
            "strategy": self.scenario.strategy,
            "valid": verdict.get("valid"),
            "issued": verdict.get("issued"),
            "duplicated_count": verdict.get("duplicated_count"),
            "possible_duplicated_count": verdict.get("possible_duplicated_count"),
            "range_violations": verdict.get("range_violations"),
            "verdict": verdict,
            "requests": {"attempts": attempts, **outcomes,
                         # the chance that an attempt fails (the planning plots' failure rate)
                         "failed_fraction": (outcomes["fail"] + outcomes["timeout"]) / attempts
                         if attempts else None},
            "failures": dict(sorted(failures.items())),
            "latency": latency_stats(req, totals),
            "claims": int((self.claims["event"] == "claimed").sum()) if len(self.claims) else 0,
            "crl": {
                "generated": len(numbers),
                "numbers_increasing": bool(np.all(np.diff(numbers) > 0)),
                "revocations": len(self.crl_staleness),
                "staleness_p50": _num(np.quantile(staleness, 0.5)) if len(staleness) else None,
                "staleness_max": _num(staleness.max()) if len(staleness) else None,
                "served_staleness_p50": _num(np.quantile(served, 0.5)) if len(served) else None,
                "never_listed": int(self.crl_staleness["in_crl_at"].isna().sum()),
            },
            "faults": len(self.faults),
            "forecast": self.forecast.to_dict(orient="records"),
            "stats": self.stats,
            **self.extra_summary,
        }
        return _jsonable(out)
