"""Where a sweep's runs execute: in this process, in a pool of processes, or on a
Dask cluster.  Each backend takes chunks of runs and yields their outcomes as
chunks finish; the caller sorts them, so the results never depend on the backend
or on the number of workers.

A worker runs :func:`run_chunk`: it simulates each run and sends back only a
small dict of metrics (:func:`summary_metrics`), never the run's tables.  An
exception in a run comes back as text naming the run; a worker that dies
(killed, out of memory) raises :class:`SweepError` naming the runs it held.
"""

from __future__ import annotations

import math
import multiprocessing
import signal
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol, Self

from pkisim.analysis.sweepfile import selects
from pkisim.errors import PkisimError
from pkisim.interrupts import deferred
from pkisim.sim import Scenario, simulate

__all__ = ["DaskExecutor", "Executor", "LocalExecutor", "Outcome", "ProcessExecutor",
           "SweepError", "Task", "chunked", "make_executor", "proportion_trials", "run_chunk",
           "summary_metrics"]

#: Summary keys that describe the run rather than measure it.
_INPUTS = ("scenario", "seed", "duration", "strategy")
#: Verdict keys repeated at the top of the summary, or keyed by serial number.
_VERDICT_SKIP = ("valid", "issued", "duplicated_count", "possible_duplicated_count",
                 "range_violations", "serials", "explanations", "duplicated",
                 "possible_duplicates", "duplicated_issuers", "first")


class SweepError(PkisimError):
    """A run failed or a backend broke; the message is one line."""


@dataclass(frozen=True, slots=True)
class Task:
    """One run: replication ``replication`` of point ``point``."""

    point: int
    replication: int
    seed: int
    scenario: Scenario


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a worker sends back for one run."""

    point: int
    replication: int
    seed: int
    metrics: Mapping[str, float]
    valid: bool
    error: str | None = None
    #: The trials behind each proportion among ``metrics`` (:func:`proportion_trials`).
    trials: Mapping[str, float] = field(default_factory=dict)


Chunk = tuple[tuple[str, ...] | None, tuple[Task, ...]]


# --------------------------------------------------------------------------- the worker side


def summary_metrics(summary: Mapping[str, Any]) -> dict[str, float]:
    """Every numeric leaf of ``RunResult.summary()`` by dotted name
    (``latency.enroll.p95``, ``forecast.cert.days_to_exhaustion``,
    ``requests.failed_fraction``); booleans as 0/1; strings and missing values
    (None) left out.  The verdict adds only what the top level lacks (request
    IDs, range violations by kind, the CRL)."""
    return _metrics(summary)[0]


#: Metrics that are a run's proportion of several trials, and the metric counting them.
FRACTIONS = {"requests.failed_fraction": "requests.attempts"}


def proportion_trials(summary: Mapping[str, Any]) -> dict[str, float]:
    """The proportions among :func:`summary_metrics` and the trials behind each
    in this run: one for a yes/no (boolean) metric, the attempts for
    ``requests.failed_fraction``.  A sweep gives them Wilson intervals."""
    metrics, booleans = _metrics(summary)
    trials = dict.fromkeys(booleans, 1.0)
    for name, count in FRACTIONS.items():
        if name in metrics and metrics.get(count):
            trials[name] = metrics[count]
    return trials


def _metrics(summary: Mapping[str, Any]) -> tuple[dict[str, float], list[str]]:
    """The numeric leaves, and the names of the boolean ones."""
    out: dict[str, float] = {}
    booleans: list[str] = []
    for key, value in summary.items():
        if key in _INPUTS:
            continue
        if key == "verdict":
            value = _without(value, _VERDICT_SKIP)
        elif key == "forecast":
            value = {f["kind"]: f for f in value}
        _leaves(key, value, out, booleans)
    return out, booleans


def _without(value: Any, skip: Sequence[str]) -> Any:
    if isinstance(value, Mapping):
        return {k: _without(v, skip) for k, v in value.items() if k not in skip}
    return value


def _leaves(name: str, value: Any, out: dict[str, float], booleans: list[str]) -> None:
    if isinstance(value, Mapping):
        for key, sub in value.items():
            _leaves(f"{name}.{key}", sub, out, booleans)
    elif isinstance(value, bool | int | float):  # booleans as 0/1
        out[name] = float(value)
        if isinstance(value, bool):
            booleans.append(name)


def _keep(metrics: dict[str, float], patterns: tuple[str, ...] | None) -> dict[str, float]:
    return metrics if patterns is None else {k: v for k, v in metrics.items()
                                             if selects(patterns, k)}


def run_chunk(chunk: Chunk) -> list[Outcome]:
    """Simulate every run of ``chunk`` (in a worker); one outcome per run."""
    patterns, tasks = chunk
    outcomes = []
    for task in tasks:
        try:
            summary = simulate(task.scenario, seed=task.seed).summary()
        except Exception as err:  # reported by the parent, naming the run
            text = str(err).splitlines()[0] if str(err) else ""
            outcomes.append(Outcome(task.point, task.replication, task.seed, {}, False,
                                    f"{type(err).__name__}: {text}".rstrip(": ")))
            continue
        valid = bool(summary.get("valid")) and not summary.get("range_violations")
        metrics = _keep(summary_metrics(summary), patterns)
        trials = {k: v for k, v in proportion_trials(summary).items() if k in metrics}
        outcomes.append(Outcome(task.point, task.replication, task.seed, metrics, valid,
                                trials=trials))
    return outcomes


def _ready(_: int) -> int:
    """A trivial task that makes a pool start its processes (and import pkisim)."""
    time.sleep(0.05)
    return 0


def chunked(tasks: Sequence[Task], workers: int) -> list[tuple[Task, ...]]:
    """Tasks in chunks small enough to balance the load (about 32 per worker)
    and big enough to amortise the hand-off (at most 16 runs)."""
    size = max(1, min(16, math.ceil(len(tasks) / (max(workers, 1) * 32))))
    return [tuple(tasks[i:i + size]) for i in range(0, len(tasks), size)]


# --------------------------------------------------------------------------- the backends


class Executor(Protocol):
    """Runs chunks; yields each chunk's outcomes when it finishes."""

    workers: int

    def run(self, chunks: Iterable[Chunk]) -> Iterator[list[Outcome]]: ...

    def close(self, abort: bool = False) -> None: ...


class _Closing:
    """``with`` closes the backend (aborting its runs when leaving on an error)."""

    def close(self, abort: bool = False) -> None:
        pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        self.close(abort=kind is not None)


class LocalExecutor(_Closing):
    """Every run in this process, one after another (``workers=1``)."""

    workers = 1

    def run(self, chunks: Iterable[Chunk]) -> Iterator[list[Outcome]]:
        for chunk in chunks:
            yield run_chunk(chunk)


class ProcessExecutor(_Closing):
    """A persistent pool of ``workers`` processes (forkserver: safe beside
    threads, and each process starts from a server that already imported pkisim).
    Reuse one across sweeps to pay the start-up once."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise SweepError(f"workers = {workers}: must be >= 1")
        self.workers = workers
        method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() \
            else "spawn"
        context = multiprocessing.get_context(method)
        if method == "forkserver":
            context.set_forkserver_preload(["pkisim.analysis.worker", "pkisim.analysis.executors"])
            _start_forkserver()
        self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=context,
                                        initializer=_leave_interrupts_to_the_parent)
        self.start()

    def start(self) -> ProcessExecutor:
        """Start every process now rather than on the first chunks; SIGINT and
        SIGTERM wait until they all run (then :meth:`close` can stop them all)."""
        with deferred():
            list(self.pool.map(_ready, range(self.workers * 2)))
        return self

    def run(self, chunks: Iterable[Chunk]) -> Iterator[list[Outcome]]:
        futures = {self.pool.submit(run_chunk, c): c for c in chunks}
        return _as_completed(futures, lambda pending: wait(pending, timeout=_POLL,
                                                           return_when=FIRST_COMPLETED)[0])

    def close(self, abort: bool = False) -> None:
        """Wait for the processes to finish; with ``abort`` (an interrupt, an
        error), stop them now."""
        if abort:  # Python 3.14 has pool.terminate_workers(); before it, the processes
            for process in list((getattr(self.pool, "_processes", None) or {}).values()):
                process.terminate()
        self.pool.shutdown(wait=True, cancel_futures=True)


def _start_forkserver() -> None:
    """Start the forkserver with SIGINT and SIGTERM blocked: it inherits the
    mask, so a Ctrl-C to the process group waits while it starts, until its
    first import (:mod:`pkisim.analysis.worker`) ignores SIGINT and unblocks
    both.  Here, the signals wait the few milliseconds of the spawn."""
    from multiprocessing import forkserver, resource_tracker

    # Started first: starting it unblocks SIGINT and SIGTERM (it blocks them itself).
    resource_tracker.ensure_running()
    if not hasattr(signal, "pthread_sigmask"):
        forkserver.ensure_running()
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        forkserver.ensure_running()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _leave_interrupts_to_the_parent() -> None:
    """In a worker: Ctrl-C (sent to the whole process group) is the parent's to
    handle; it stops the workers (forked by a forkserver, a worker ignores it
    from birth: :mod:`pkisim.analysis.worker`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class DaskExecutor(_Closing):
    """The runs on a Dask cluster (``tcp://host:8786``); needs the extra ``dask``.
    A scheduler where no worker has joined after ``timeout`` seconds is an error
    (``SweepError``), not a wait forever."""

    def __init__(self, address: str, timeout: float = 60.0) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise SweepError(f"--scheduler {address}: Dask is not installed; "
                             "pip install 'pkisim[dask]'") from None
        try:
            self.client = Client(address, timeout="5s", set_as_default=False)
        except (OSError, TimeoutError, ValueError) as err:
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise SweepError(f"--scheduler {address}: cannot connect: {reason}") from None
        try:
            self.client.wait_for_workers(1, timeout=timeout)
        except (TimeoutError, OSError) as err:
            self.client.close()
            raise SweepError(f"--scheduler {address}: no worker joined the scheduler within "
                             f"{timeout:g} s (start one: dask worker {address}; or give "
                             "--scheduler-timeout)") from err
        self.workers = max(1, sum(self.client.nthreads().values()))

    def run(self, chunks: Iterable[Chunk]) -> Iterator[list[Outcome]]:
        from distributed import as_completed

        futures = {self.client.submit(run_chunk, c, pure=False): c for c in chunks}
        finished = as_completed(list(futures), loop=self.client.loop)

        def done(_: set[Any]) -> set[Any]:
            if not finished.has_ready():
                time.sleep(_POLL)
            return set(finished.next_batch(block=False))

        return _as_completed(futures, done)

    def close(self, abort: bool = False) -> None:
        self.client.close()  # cancels what is still queued


#: How long the main thread waits for runs at a time: a signal delivered to another
#: thread is handled (in the main thread) at the latest this much later.
_POLL = 0.25


def _as_completed(futures: dict[Any, Chunk],
                  done: Callable[[set[Any]], set[Any]]) -> Iterator[list[Outcome]]:
    """Outcomes of ``futures`` as they finish (``done`` waits a moment and returns
    the finished ones); a broken worker raises :class:`SweepError` naming its runs;
    leaving early cancels the rest."""
    pending = set(futures)
    try:
        while pending:
            finished = done(pending)
            pending -= finished
            for future in finished:
                try:
                    yield future.result()
                except Exception as err:
                    runs = ", ".join(f"point {t.point} replication {t.replication}"
                                     for t in futures[future][1])
                    reason = str(err).splitlines()[0] if str(err) else type(err).__name__
                    raise SweepError(f"a worker failed running {runs}: {reason}") from None
    finally:
        for future in futures:
            future.cancel()


def make_executor(workers: int = 1, scheduler: str | None = None,
                  scheduler_timeout: float = 60.0) -> Executor:
    """The backend for ``workers`` processes, or the Dask scheduler at ``scheduler``
    (which must have a worker within ``scheduler_timeout`` seconds)."""
    if scheduler is not None:
        return DaskExecutor(scheduler, scheduler_timeout)
    if workers == 1:
        return LocalExecutor()
    return ProcessExecutor(workers)
