"""An allocator a program can use against a real directory: Dogtag's range
management (any pkisim strategy) driven over python-ldap.

The allocation logic is the sans-IO core of :mod:`pkisim.ids`, the same code the
simulation and the Hypothesis machine drive; :class:`LdapAllocator` only
executes its commands on an :class:`~pkisim.ldap.directory.LdapDirectory`:

* :meth:`~LdapAllocator.next_serial` / :meth:`~LdapAllocator.next_request_id`
  take the next number from the held range with no round trip
  (``issue_now``).  The update task (``checkRanges``) runs on its schedule
  whatever happened to issuances, as Dogtag's timer does: before the attempt
  that makes ``update_every`` attempts (failed ones count) or
  ``update_interval`` seconds (``ca.serialNumberUpdateInterval``) since the
  last run.  A claim that failed is so retried at the next run, and meanwhile
  an exhausted range says that the claim failed and why;
* issued records (``cn=<n>``) are stored as ``records`` says: ``"each"`` (one
  add per number, as Dogtag does), ``"batch"`` (all of them, pipelined, every
  ``batch_size`` numbers), ``"checkpoint"`` (only the highest number of each
  batch: restart recovery only needs the highest record in a range) or
  ``"none"``;
* a number counts as issued (``ok`` in the history) once its record, or a
  checkpoint above it, is stored: after a crash, numbers handed out but not yet
  flushed may be handed out again, as Dogtag re-uses a serial whose record was
  never written.  Call :meth:`~LdapAllocator.flush` before relying on them;
* every acknowledged issuance and every range event goes into a
  :class:`~pkisim.history.History` (the CA name as process, the server URL as
  replica) and, optionally, a :class:`Journal` file that survives ``kill -9``
  and that :func:`replay` merges across processes;
* ``state_path`` keeps the CA's ranges (what CS.cfg holds) in a JSON file,
  rewritten at every range change, so that a restarted process resumes from
  them as Dogtag resumes from CS.cfg;
* random serials (RSNv3, RSNv1) come from the operating system's entropy
  (``secrets``'s source).  A test that passes ``seed`` gets deterministic draws,
  new at every process start: the streams of start *n* derive from
  ``Seeds(seed).child(f"start {n}")``, and *n* (counted by :meth:`start`,
  :meth:`restart` and, with ``state_path``, across processes) never repeats.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TextIO

from pkisim.driver import Driver, Instance, UpdateSchedule
from pkisim.errors import ConfigError, DirectoryError
from pkisim.history import History, Op, OpType
from pkisim.history.history import ISSUE_OP
from pkisim.ids import events as ev
from pkisim.ids import protocol as p
from pkisim.ids.config import IdKind, IdSpaceConfig
from pkisim.ids.subsystem import CaRepositories, Streams, master_configs
from pkisim.ldap.directory import LdapDirectory
from pkisim.seeding import Seeds

RECORD_MODES = ("each", "batch", "checkpoint", "none")

#: Called after every directory command with the command and its result (tests
#: use it to crash a process at an exact point of a claim).
CommandHook = Callable[[p.Command, p.Result], None]


class AllocatorDriver(Driver):
    """The one driver, on a real server at the wall clock.  A claim is stamped
    with the time its compare-and-swap returned; before a range event, the
    allocator's pending records are flushed (issuances before a range change are
    recorded before it); events also go to the journal and the state file."""

    def __init__(self, allocator: LdapAllocator) -> None:
        super().__init__(allocator.directory, allocator.history, allocator.clock)
        self.allocator = allocator
        self.cas_time = 0.0

    def execute(self, ca: Instance, command: p.Command) -> p.Result:
        result = super().execute(ca, command)
        if isinstance(command, p.Modify) and result.ok:
            # merged histories then order claims by CAS, not by their pkiRange add
            self.cas_time = self.clock()
        if self.allocator.after_command is not None:
            self.allocator.after_command(command, result)
        return result

    def record_event(self, ca: Instance, event: ev.RangeEvent) -> None:
        allocator = self.allocator
        allocator.flush()
        now = self.cas_time if isinstance(event, ev.RangeClaimed) else self.clock()
        self.history.event(now, ca.pid, event, ca.rid)
        if allocator.journal is not None:
            allocator.journal.event(now, ca.name, ca.replica, event)
        allocator.save_state()


class LdapAllocator:
    """Serial numbers and request IDs for one CA, from ranges claimed on a real directory.

    ``update_every`` (issuance attempts) and ``update_interval`` (seconds; by
    default the configuration's ``ca.serialNumberUpdateInterval``, 0 = off)
    schedule the update task.  Random strategies draw from the operating
    system's entropy unless a test passes ``seed`` (see the module text).
    """

    def __init__(self, directory: LdapDirectory, name: str,
                 configs: Mapping[IdKind, IdSpaceConfig] | None = None, strategy: str = "legacy2",
                 history: History | None = None, *, records: str = "each",
                 batch_size: int = 1000, update_every: int | None = 1000,
                 update_interval: float | None = None,
                 journal: Journal | None = None, state_path: str | Path | None = None,
                 after_command: CommandHook | None = None,
                 clock: Callable[[], float] = time.time, seed: int | None = None) -> None:
        if records not in RECORD_MODES:
            raise ConfigError("records", records, f"choose one of {', '.join(RECORD_MODES)}")
        if batch_size < 1:
            raise ConfigError("batch_size", batch_size, "must be at least 1")
        if update_every is not None and update_every < 1:
            raise ConfigError("update_every", update_every, "must be at least 1 (or None)")
        if update_interval is not None and update_interval < 0:
            raise ConfigError("update_interval", update_interval, "must not be negative")
        self.directory, self.name = directory, name
        self.state_path = Path(state_path) if state_path is not None else None
        #: Process starts of this CA so far (kept in the state file, if any).
        self.starts = 0
        if self.state_path is not None and self.state_path.exists():
            self.starts = load_starts(self.state_path)
            if configs is None:
                configs = load_state(self.state_path)
        if configs is None:
            configs = master_configs(strategy, host=name)
        self.strategy = configs[IdKind.CERT].strategy
        self.history = history if history is not None else History()
        self.journal = journal
        self.records, self.batch_size = records, batch_size
        interval = (configs[IdKind.CERT].update_interval if update_interval is None
                    else update_interval)
        self.schedule = UpdateSchedule(update_every, interval)
        self.after_command = after_command
        self.clock = clock
        self.seed = seed
        self._pending: dict[IdKind, list[int]] = {IdKind.CERT: [], IdKind.REQUEST: []}
        self.failed_stores = 0
        self.driver = AllocatorDriver(self)
        self.ca = self.driver.instance(name, directory.server)
        self.starts += 1
        self.repos = CaRepositories(name, configs, directory.tree, streams=self._streams(),
                                    source="initial" if self.starts == 1 else "restart")
        self.driver.attach(self.ca, self.repos)
        self.save_state()

    def __repr__(self) -> str:
        return f"LdapAllocator({self.name!r}, {self.strategy!r}, {self.directory!r})"

    # ------------------------------------------------------------ plumbing
    def _run(self, operation: p.Operation[Any]) -> Any:
        return self.driver.run(self.ca, operation)

    def _streams(self) -> Streams:
        """The random generators of this process start."""
        if self.seed is None:
            return _entropy
        return Seeds(self.seed).child(f"start {self.starts}").random

    def save_state(self) -> None:
        """Write the ranges (what CS.cfg holds) to ``state_path``, if any."""
        if self.state_path is not None and hasattr(self, "repos"):
            save_state(self.state_path, self.repos.configs(), starts=self.starts)

    def claim_failures(self) -> dict[IdKind, str]:
        """Why the last range claim of each ID space failed, for those whose
        last claim failed (cleared by a successful claim)."""
        return {repo.kind: repo.claim_failure.reason for repo in self.repos
                if repo.claim_failure is not None}

    # ------------------------------------------------------------ life cycle
    def start(self) -> None:
        """Dogtag's start-up: bind, check the schema and the ``nextRange``
        entries, then ``checkRanges`` for requests and certificates.

        DirectoryError for an unreachable server, a wrong password, a missing
        schema or a missing ``nextRange`` entry.
        """
        self.directory.connect()
        self.directory.ensure_schema()
        for kind in (IdKind.REQUEST, IdKind.CERT):
            repo = self.repos[kind]
            if repo.ranged and repo.serial_management:
                self.directory.require(repo.counter_dn, "nextRange")
        self.schedule.ran(self.clock())
        self._run(self.repos.start())

    def update_task(self) -> None:
        """One run of ``SerialNumberUpdateTask`` (the schedule runs it; call it
        from your own timer as well if you like).  A claim that fails is not
        raised: :meth:`claim_failures` and the next exhaustion name it."""
        self.flush()
        self.schedule.ran(self.clock())
        self._run(self.repos.update_task())

    def restart(self, *, flush: bool = True) -> None:
        """The CA process restarts: the in-memory counters go, the ranges stay
        (CS.cfg); start-up recovery reads the highest stored record, and
        random serials come from new generators.  ``flush=False`` is a crash:
        unflushed numbers are forgotten.  DirectoryUnavailable (one line) when
        the directory cannot answer that search: the CA does not start."""
        if flush:
            self.flush()
        else:
            for pending in self._pending.values():
                pending.clear()
        self.driver.note(self.ca, Op.RESTART, OpType.OK, "crash" if not flush else "")
        self.starts += 1
        self.repos.restart(self._streams())
        self.save_state()
        self.schedule.ran(self.clock())
        self._run(self.repos.start())

    def close(self) -> None:
        self.flush()
        if self.journal is not None:
            self.journal.close()
        self.directory.close()

    def __enter__(self) -> LdapAllocator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ issuance
    def next_serial(self) -> int:
        """The next certificate serial number."""
        return self._next(IdKind.CERT)

    def next_request_id(self) -> int:
        """The next request ID."""
        return self._next(IdKind.REQUEST)

    def _next(self, kind: IdKind) -> int:
        if self.schedule.attempt(self.clock()):
            self.update_task()
        number = self.driver.take(self.ca, self.repos[kind])
        if self.records == "each":
            self._store_each(kind, number)
        else:
            pending = self._pending[kind]
            pending.append(number)
            if len(pending) >= self.batch_size:
                self.flush()
        return number

    def _store_each(self, kind: IdKind, number: int) -> None:
        result = self.driver.store(self.ca, self.repos[kind], number)
        self._acknowledge(kind, [number], result.ok)
        if not result.ok:
            self.failed_stores += 1
            raise DirectoryError(self.directory.server, self.directory.tree.record_dn(kind, number),
                                 f"record not stored: {result.code.name}: {result.message}")

    def flush(self) -> tuple[int, int]:
        """Store the pending records; returns (acknowledged, failed) numbers.

        Failed stores are recorded as ``fail`` in the history (never raised:
        a flush also runs inside range switches)."""
        acked = failed = 0
        for kind, pending in self._pending.items():
            if not pending:
                continue
            numbers = list(pending)
            pending.clear()
            repo = self.repos[kind]
            if self.records == "batch":
                adds = [repo.record_add(n) for n in numbers]
                results = self.directory.add_many((add.dn, add.attrs) for add in adds)
                good = [n for n, r in zip(numbers, results, strict=True) if r.ok]
                bad = [n for n, r in zip(numbers, results, strict=True) if not r.ok]
            elif self.records == "checkpoint":
                ok = self.driver.store(self.ca, repo, max(numbers)).ok
                good, bad = (numbers, []) if ok else ([], numbers)
            else:  # "none"
                good, bad = numbers, []
            self._acknowledge(kind, good, True)
            self._acknowledge(kind, bad, False)
            acked, failed = acked + len(good), failed + len(bad)
        self.failed_stores += failed
        return acked, failed

    def _acknowledge(self, kind: IdKind, numbers: list[int], ok: bool) -> None:
        if not numbers:
            return
        now = self.clock()
        record, ca = self.driver.record_issue, self.ca
        outcome = OpType.OK if ok else OpType.FAIL
        for number in numbers:
            record(ca, kind, number, outcome, now)
        if self.journal is not None:
            self.journal.issued(now, self.name, self.directory.server, kind, numbers, ok)


def _entropy(name: str) -> random.Random:
    """A real CA's random numbers: the operating system's (``secrets``'s source)."""
    del name
    return random.SystemRandom()


# ---------------------------------------------------------------- CS.cfg state
def save_state(path: Path, configs: Mapping[IdKind, IdSpaceConfig], *, starts: int = 0) -> None:
    """Write the ranges atomically (a temporary file renamed over the old one),
    with the number of process starts so far."""
    data: dict[str, Any] = {kind.value: {**dataclasses.asdict(config), "kind": kind.value}
                            for kind, config in configs.items()}
    data["starts"] = starts
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def load_state(path: Path) -> dict[IdKind, IdSpaceConfig]:
    """The ranges a state file holds (what CS.cfg held at the last range change)."""
    data = json.loads(Path(path).read_text())
    kinds = {kind.value for kind in IdKind}
    return {IdKind(k): IdSpaceConfig(**{**v, "kind": IdKind(v["kind"])})
            for k, v in data.items() if k in kinds}


def load_starts(path: Path) -> int:
    """How many times the CA of a state file has started."""
    return int(json.loads(Path(path).read_text()).get("starts", 0))


# ---------------------------------------------------------------- the journal
class Journal:
    """An append-only JSON-lines log of one allocator: range events and
    acknowledged issuances (as runs of consecutive numbers).  Each line is
    written through at once, so a ``kill -9`` loses nothing acknowledged.
    ``path=None`` keeps the lines in memory (``lines``)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.lines: list[str] = []
        self._file: TextIO | None = (open(self.path, "a", buffering=1)  # noqa: SIM115
                                     if self.path is not None else None)

    def _write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":"))
        if self._file is not None:
            self._file.write(line + "\n")
        else:
            self.lines.append(line)

    def event(self, time: float, ca: str, replica: str, event: ev.RangeEvent) -> None:
        fields = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
        fields["kind"] = event.kind.value
        fields["state"] = dataclasses.asdict(event.state)
        self._write({"t": time, "ca": ca, "replica": replica, "event": type(event).__name__,
                     "fields": fields})

    def issued(self, time: float, ca: str, replica: str, kind: IdKind, numbers: list[int],
               ok: bool = True) -> None:
        self._write({"t": time, "ca": ca, "replica": replica, "kind": kind.value, "ok": ok,
                     "runs": _runs(numbers)})

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _runs(numbers: list[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    for n in numbers:
        if runs and runs[-1][1] + 1 == n:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return runs


def _event_from(name: str, fields: dict[str, Any]) -> ev.RangeEvent:
    cls = getattr(ev, name)
    if not (isinstance(cls, type) and issubclass(cls, ev.RangeEvent)):
        raise ValueError(f"not a range event: {name!r}")
    values = dict(fields)
    values["kind"] = IdKind(values["kind"])
    values["state"] = ev.RangeState(**values["state"])
    for key in ("burned", "dns"):
        if values.get(key) is not None:
            values[key] = tuple(values[key])
    return cls(**values)


def read_journal(source: str | Path | Journal) -> list[dict[str, Any]]:
    """The records of a journal file (a torn last line, from a kill, is dropped)."""
    if isinstance(source, Journal):
        if source.path is None:
            return [json.loads(line) for line in source.lines]
        source = source.path
    out = []
    for line in Path(source).read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def replay(journals: Iterable[str | Path | Journal | list[dict[str, Any]]],
           history: History | None = None) -> History:
    """Merge the journals of several allocators (processes, runs) into one
    history, in time order (each journal's own order kept for equal times)."""
    history = history if history is not None else History()
    records: list[tuple[float, int, int, dict[str, Any]]] = []
    for j, source in enumerate(journals):
        lines = source if isinstance(source, list) else read_journal(source)
        records += [(float(r["t"]), j, i, r) for i, r in enumerate(lines)]
    records.sort(key=lambda x: (x[0], x[1], x[2]))
    for t, _, _, r in records:
        process, replica = history.process(r["ca"]), history.replica(r["replica"])
        if "event" in r:
            history.event(t, process, _event_from(r["event"], r["fields"]), replica)
            continue
        op = ISSUE_OP[IdKind(r["kind"])]
        outcome = OpType.OK if r["ok"] else OpType.FAIL
        for a, b in r["runs"]:
            for n in range(a, b + 1):
                history.issue(t, process, op, n, outcome, replica)
    return history
