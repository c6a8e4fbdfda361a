"""A soak of the real allocator: several CA processes against one real
directory, SIGKILLed and restarted at random, the server too, and at the end
every serial accounted for.

:func:`run_soak` lays out a fresh tree (each CA ``ca<i>`` gets the initial
range ``[(i-1)*increment + 1, i*increment]``; ``nextRange`` starts after the
last), starts one child process per CA (``multiprocessing`` spawn: the bind
password travels through a pipe, never on a command line), each an
:class:`~pkisim.ldap.LdapAllocator` with a :class:`~pkisim.ldap.Journal` and a
state file (its CS.cfg).  At seeded random times (exponential gaps of mean
``kill_every`` and ``kill_server_every`` seconds) it SIGKILLs an allocator and
starts it again at once, and kills the server (through a :class:`ServerControl`,
when the caller started it), waits a seeded moment and starts it again.

The verdict (:func:`account`) merges the journals with :func:`~pkisim.ldap.replay`
and runs :func:`~pkisim.history.check_unique` and
:func:`~pkisim.history.check_ranges`; then every number below the final
``nextRange`` is one of: *issued* (acknowledged in a journal), *wasted* with a
cause (the tail of a range still held at the end, a number whose record store
failed while the server was down, a failed claim that burned its record range)
or *lost* with a cause (a claim whose process was killed before it journaled
it, a ``nextRange`` moved with no ``pkiRange`` record, a checkpoint stored but
not yet journaled when the process was killed).  A number with no cause, or one
issued twice, is a violation.

Only ``legacy2`` (SSNv2 ranges): its numbers are plain decimal ranges.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import multiprocessing
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from pkisim.errors import AllocationError, ConfigError, DirectoryError, PkisimError
from pkisim.history import Op, check_ranges, check_unique
from pkisim.ids import protocol as p
from pkisim.ids.config import IdKind, IdSpaceConfig
from pkisim.ids.subsystem import master_configs
from pkisim.ids.tree import DEFAULT_BASE, DogtagTree
from pkisim.ldap.allocator import Journal, LdapAllocator, load_state, read_journal, replay
from pkisim.ldap.directory import LdapDirectory
from pkisim.seeding import Seeds

STRATEGY = "legacy2"
#: A worker that failed (not killed by us) this many times ends the soak.
MAX_CRASHES = 20


class SoakError(PkisimError):
    """A soak that could not go on: its CA processes keep failing, or the
    server it killed would not start again."""


class ServerControl(Protocol):
    """A server the soak may SIGKILL and start again (one the caller started)."""

    def kill(self) -> None: ...

    def start(self) -> None: ...


@dataclasses.dataclass(frozen=True)
class SoakPlan:
    """What to run: ``processes`` CAs issuing ``serials`` serials each."""

    processes: int = 4
    serials: int = 100_000
    kill_every: float = 0.0  # mean seconds between allocator SIGKILLs; 0 = none
    kill_server_every: float = 0.0  # mean seconds between server SIGKILLs; 0 = none
    seed: int = 0
    increment: int = 5000
    low_water_mark: int = 2000
    batch_size: int = 1000  # a checkpoint record every batch_size serials
    update_every: int = 1000
    downtime: tuple[float, float] = (0.2, 2.0)  # seconds the server stays down
    time_limit: float | None = None  # stop (incomplete) after this many seconds
    max_kills: int | None = None  # at most this many allocator SIGKILLs
    max_server_kills: int | None = None  # at most this many server SIGKILLs

    def check(self) -> None:
        for key in ("processes", "serials", "increment", "batch_size", "update_every"):
            if getattr(self, key) < 1:
                raise ConfigError(key, getattr(self, key), "must be at least 1")
        for key in ("kill_every", "kill_server_every"):
            if getattr(self, key) < 0:
                raise ConfigError(key, getattr(self, key), "must not be negative")
        if not 0 <= self.low_water_mark < self.increment:
            raise ConfigError("low_water_mark", self.low_water_mark,
                              f"must be at least 0 and below increment {self.increment}")


@dataclasses.dataclass(frozen=True)
class Target:
    """Where the allocators bind.  ``password`` never appears in ``repr``."""

    url: str
    bind_dn: str
    password: str = dataclasses.field(repr=False)
    base: str = DEFAULT_BASE

    def directory(self) -> LdapDirectory:
        return LdapDirectory(self.url, self.bind_dn, self.password, base=self.base)


@dataclasses.dataclass(frozen=True)
class _Worker:
    target: Target
    plan: SoakPlan
    name: str
    index: int
    folder: str


def ca_configs(name: str, index: int, plan: SoakPlan) -> dict[IdKind, IdSpaceConfig]:
    """CA ``index`` (0-based): its own initial range of ``increment`` numbers."""
    begin = index * plan.increment + 1
    ids = dict(begin=begin, end=begin + plan.increment - 1, increment=plan.increment,
               low_water_mark=plan.low_water_mark,
               clone_transfer_number=max(1, plan.increment // 2))
    replica = dict(begin=index * 10 + 1, end=index * 10 + 10, increment=10, low_water_mark=0,
                   clone_transfer_number=5)
    return master_configs(STRATEGY, host=name, serial_management=True,
                          overrides={IdKind.CERT: ids, IdKind.REQUEST: ids,
                                     IdKind.REPLICA: replica})


def prepare_tree(directory: LdapDirectory, plan: SoakPlan) -> None:
    """Dogtag's tree with ``nextRange`` after the CAs' initial ranges; ConfigError
    (one line) if the tree is not fresh (a previous soak's entries)."""
    directory.ensure_schema()
    master = ca_configs("master", plan.processes - 1, plan)
    master = {k: dataclasses.replace(c, begin=1) if k is not IdKind.REPLICA else c
              for k, c in master.items()}
    directory.bootstrap(DogtagTree(directory.base).bootstrap(list(master.values())))
    counter = directory.require(directory.tree.counter_dn(IdKind.CERT, STRATEGY), "nextRange")
    expected = str(plan.processes * plan.increment + 1)
    records = directory.execute(p.Search(directory.tree.records_dn(IdKind.CERT), {"cn": "*"}))
    if tuple(counter["nextrange"]) != (expected,) or records.entries:
        raise ConfigError("--url", directory.url,
                          f"holds a used tree under {directory.base} (nextRange "
                          f"{','.join(counter['nextrange'])}, {len(records.entries)} certificate "
                          f"records): the soak needs a fresh one (another --base)")


# ---------------------------------------------------------------- the CA process
class _CountingJournal(Journal):
    """A journal that counts the serials it acknowledged and failed."""

    def __init__(self, path: Path, ok: int) -> None:
        super().__init__(path)
        self.ok, self.failed = ok, 0

    def issued(self, time: float, ca: str, replica: str, kind: IdKind, numbers: list[int],
               ok: bool = True) -> None:
        super().issued(time, ca, replica, kind, numbers, ok)
        if kind is IdKind.CERT:
            if ok:
                self.ok += len(numbers)
            else:
                self.failed += len(numbers)


def journal_path(folder: Path, name: str) -> Path:
    return folder / f"{name}.journal.jsonl"


def acknowledged(path: Path) -> int:
    """Serials a journal acknowledged so far."""
    if not path.exists():
        return 0
    return sum(b - a + 1 for r in read_journal(path) if r.get("ok") and r.get("kind") == "cert"
               for a, b in r["runs"])


def worker_main(spec: _Worker) -> None:
    """One CA process: (re)start from its state file and issue until its journal
    acknowledges ``serials`` serials.  Errors end it with one line in its log."""
    folder = Path(spec.folder)
    try:
        _issue(spec, folder)
    except BaseException as err:  # one line for the supervisor, then a non-zero exit
        with open(folder / f"{spec.name}.log", "a") as log:
            log.write(f"{time.time():.3f} {type(err).__name__}: {err}\n")
        sys.exit(3)


def _issue(spec: _Worker, folder: Path) -> None:
    plan, name = spec.plan, spec.name
    state, jpath = folder / f"{name}.state.json", journal_path(folder, name)
    journal = _CountingJournal(jpath, acknowledged(jpath))
    if journal.ok >= plan.serials:  # killed after its last acknowledgement: done
        journal.close()
        return
    pause = 0.05
    while True:  # a CA whose directory is down does not start: try again
        alloc = LdapAllocator(spec.target.directory(), name,
                              None if state.exists() else ca_configs(name, spec.index, plan),
                              records="checkpoint", batch_size=plan.batch_size,
                              update_every=plan.update_every, update_interval=0,
                              journal=journal, state_path=state)
        try:
            alloc.start()
            break
        except (DirectoryError, AllocationError):
            alloc.directory.close()
            time.sleep(pause)
            pause = min(pause * 2, 1.0)
    start_ok, handed = journal.ok, 0
    while journal.ok < plan.serials:
        outstanding = handed - (journal.ok - start_ok) - journal.failed
        if journal.ok + outstanding < plan.serials:
            failed = journal.failed
            try:
                alloc.next_serial()
                handed += 1
            except AllocationError:  # the claim failed (CAS lost, server down): wait, retry
                time.sleep(0.05)
                _retry(alloc)
            if journal.failed > failed:  # the server is down: do not burn the range
                time.sleep(0.1)
        elif alloc.flush()[1]:
            time.sleep(0.1)
    alloc.close()


def _retry(alloc: LdapAllocator) -> None:
    try:
        alloc.update_task()
    except (DirectoryError, AllocationError):
        time.sleep(0.1)


# ---------------------------------------------------------------- the supervisor
@dataclasses.dataclass
class SoakLog:
    """What the supervisor did: kills, restarts, worker failures."""

    allocator_kills: int = 0
    server_kills: int = 0
    server_down_seconds: float = 0.0
    crashes: list[str] = dataclasses.field(default_factory=list)
    complete: bool = True
    seconds: float = 0.0


def run_soak(target: Target, plan: SoakPlan, folder: Path, *,
             server: ServerControl | None = None,
             progress: Callable[[str], None] | None = None) -> tuple[SoakLog, dict[str, Any]]:
    """Run the soak and account for every serial; returns the supervisor's log
    and :func:`account`'s verdict.  ``server``: kill and start it (only a server
    the caller started)."""
    plan.check()
    if plan.kill_server_every and server is None:
        raise ConfigError("kill_server_every", plan.kill_server_every,
                          "needs a server pkisim started (--server), not --url")
    folder.mkdir(parents=True, exist_ok=True)
    with target.directory() as directory:
        prepare_tree(directory, plan)
    rng = Seeds(plan.seed).random("soak kills")
    ctx = multiprocessing.get_context("spawn")
    names = [f"ca{i + 1}" for i in range(plan.processes)]
    specs = [_Worker(target, plan, n, i, str(folder)) for i, n in enumerate(names)]
    procs: dict[str, Any] = {}
    log, began = SoakLog(), time.monotonic()

    sizes: dict[str, int] = {}

    def journal_size(name: str) -> int:
        path = journal_path(folder, name)
        return path.stat().st_size if path.exists() else 0

    def launch(spec: _Worker) -> None:
        sizes[spec.name] = journal_size(spec.name)  # killed again once it journaled more
        procs[spec.name] = ctx.Process(target=worker_main, args=(spec,), name=spec.name,
                                       daemon=True)
        procs[spec.name].start()

    def gap(mean: float) -> float:
        return rng.expovariate(1 / mean) if mean else float("inf")

    for spec in specs:
        launch(spec)
    next_kill = began + gap(plan.kill_every)
    next_server_kill = began + gap(plan.kill_server_every)
    finished: set[str] = set()
    try:
        while len(finished) < len(specs):
            now = time.monotonic()
            if plan.time_limit is not None and now - began > plan.time_limit:
                log.complete = False
                break
            for spec in specs:
                proc = procs[spec.name]
                if spec.name in finished or proc.is_alive():
                    continue
                if proc.exitcode == 0:
                    finished.add(spec.name)
                    continue
                log.crashes.append(f"{spec.name} exit {proc.exitcode}: {_last_log(folder, spec)}")
                if len(log.crashes) > MAX_CRASHES:
                    raise SoakError(f"soak: CA processes failed {len(log.crashes)} times; "
                                    f"last: {log.crashes[-1]}")
                launch(spec)
            if now >= next_kill and (plan.max_kills is None
                                     or log.allocator_kills < plan.max_kills):
                # only a CA that journaled since its start: each life does some work
                alive = [s for s in specs if s.name not in finished and procs[s.name].is_alive()
                         and journal_size(s.name) > sizes[s.name]]
                if alive:
                    victim = alive[rng.randrange(len(alive))]
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(procs[victim.name].pid, signal.SIGKILL)
                    procs[victim.name].join()
                    log.allocator_kills += 1
                    launch(victim)
                    next_kill = now + gap(plan.kill_every)
            if server is not None and now >= next_server_kill and (
                    plan.max_server_kills is None or log.server_kills < plan.max_server_kills):
                down = rng.uniform(*plan.downtime)
                server.kill()
                log.server_kills += 1
                time.sleep(down)
                try:
                    server.start()
                except Exception as err:  # the test servers' ServerError, one line
                    raise SoakError(f"soak: the server did not start again after SIGKILL "
                                    f"{log.server_kills}: {err}") from None
                log.server_down_seconds += down
                next_server_kill = time.monotonic() + gap(plan.kill_server_every)
            if progress is not None:
                progress(_progress_line(folder, names, began, log))
            time.sleep(min(0.2, max(0.0, min(next_kill, next_server_kill) - time.monotonic())))
    finally:
        for proc in procs.values():
            if proc.is_alive():
                proc.kill()
            proc.join()
    log.seconds = time.monotonic() - began
    with target.directory() as directory:
        verdict = account(directory, folder, names, plan)
    return log, verdict


def _last_log(folder: Path, spec: _Worker) -> str:
    path = folder / f"{spec.name}.log"
    lines = path.read_text().splitlines() if path.exists() else []
    return lines[-1] if lines else "no message (killed by a signal?)"


_last_progress = [0.0]


def _progress_line(folder: Path, names: list[str], began: float, log: SoakLog) -> str:
    if time.monotonic() - _last_progress[0] < 10:
        return ""
    _last_progress[0] = time.monotonic()
    done = sum(acknowledged(journal_path(folder, n)) for n in names)
    return (f"{time.monotonic() - began:7.0f} s: {done:,} serials acknowledged; "
            f"{log.allocator_kills} allocator kills, {log.server_kills} server kills")


# ---------------------------------------------------------------- the account
def account(directory: LdapDirectory, folder: Path, names: list[str],
            plan: SoakPlan) -> dict[str, Any]:
    """The verdict: pkisim's checkers on the merged journals, and every number
    below the final ``nextRange`` issued, wasted or lost with a cause."""
    tree = directory.tree
    journals = [read_journal(journal_path(folder, n)) for n in names]
    history = replay(journals)
    unique = check_unique(history, Op.ISSUE_CERT)
    ranges = check_ranges(history)
    # claims are stamped with each process's clock after its CAS returned: two
    # claims microseconds apart may merge out of CAS order (next-range-decreased);
    # that every CAS moved nextRange to a new value is checked from the counters
    rules = Counter(v.rule for v in ranges.violations if v.rule != "next-range-decreased")
    counter = directory.require(tree.counter_dn(IdKind.CERT, STRATEGY), "nextRange")
    top = int(counter["nextrange"][0]) - 1
    records = directory.execute(p.Search(tree.range_container_dn(IdKind.CERT, STRATEGY),
                                         {"objectClass": "pkiRange"}))
    stored = directory.execute(p.Search(tree.records_dn(IdKind.CERT), {"cn": "*"}))
    if not (records.ok and stored.ok):
        raise DirectoryError(directory.url, tree.records_dn(IdKind.CERT),
                             f"cannot read the records: {records.message or stored.message}")
    checkpoints = sorted(int(a["cn"][0]) for _, a in stored.entries if a["cn"][0].isdigit())

    issued = np.zeros(top + 2, dtype=np.int32)  # issued[n]: acknowledgements of serial n
    failed = np.zeros(top + 2, dtype=bool)
    cause = np.zeros(top + 2, dtype=np.int8)  # index into CAUSES, 0 = none yet
    claims: list[tuple[int, int, str, str]] = []  # begin, end, CA, how it was taken
    outside = 0
    for name, lines in zip(names, journals, strict=True):
        for r in lines:
            if "runs" in r and r["kind"] == "cert":
                for a, b in r["runs"]:
                    if b > top:
                        outside += b - max(a, top + 1) + 1
                        b = top
                    if r["ok"]:
                        issued[a:b + 1] += 1
                    else:
                        failed[a:b + 1] = True
            elif r.get("event") == "RangeClaimed" and r["fields"]["kind"] == "cert":
                f = r["fields"]
                claims.append((f["begin"], f["end"], name, "journal"))
            elif r.get("event") == "ClaimFailed" and r["fields"]["kind"] == "cert" \
                    and r["fields"].get("burned"):
                a, b = r["fields"]["burned"]
                cause[a:min(b, top) + 1] = CAUSES.index("claim failed, record range burned")
    journaled = {(b, e) for b, e, _, _ in claims}
    for _, attrs in records.entries:
        b, e = int(attrs["beginrange"][0]), int(attrs["endrange"][0])
        if (b, e) not in journaled:
            claims.append((b, e, attrs.get("host", ("?",))[0], "record only"))
    for i, name in enumerate(names):
        b = i * plan.increment + 1
        claims.append((b, b + plan.increment - 1, name, "initial"))
    held = _held_at_end(folder, names)

    done = issued > 0
    unjournaled = [n for n in checkpoints if n > top or not done[n]]
    for b, e, name, how in claims:
        e = min(e, top)
        if e < b:
            continue
        inside = np.flatnonzero(done[b:e + 1])
        high = b + int(inside[-1]) if inside.size else b - 1
        numbers = np.arange(b, e + 1)
        gaps = numbers[~done[b:e + 1]]
        _mark_at(cause, gaps[failed[gaps]], "wasted: record store failed (server down)")
        _mark_at(cause, _checkpoint_batches(unjournaled, gaps, plan.batch_size),
                 "lost: checkpoint stored, process killed before it journaled")
        if how == "record only":
            label = "lost: claimed (pkiRange record) by a process killed before it journaled"
        elif (b, e) in held.get(name, ()):
            label = "wasted: range tail still held at the end"
        else:
            label = "wasted: range left with its tail unused"
        _mark(cause, slice(high + 1, e + 1), label)
    unclaimed = (cause[1:top + 1] == 0) & ~done[1:top + 1]
    cover = np.zeros(top + 2, dtype=bool)
    for b, e, _, _ in claims:
        cover[b:min(e, top) + 1] = True
    nowhere = np.flatnonzero(unclaimed & ~cover[1:top + 1]) + 1
    _mark_at(cause, nowhere, "lost: nextRange moved past it with no pkiRange record "
                             "(killed between the CAS and the record add)")
    missing = np.flatnonzero((cause[1:top + 1] == 0) & ~done[1:top + 1]) + 1
    outside_claims = int(np.count_nonzero(done[1:top + 1] & ~cover[1:top + 1]))
    causes = Counter({CAUSES[int(c)]: int(n) for c, n in
                      zip(*np.unique(cause[1:top + 1][~done[1:top + 1]], return_counts=True),
                          strict=True) if c})
    duplicates = int(np.count_nonzero(issued > 1))
    violations = []
    if not unique.valid or duplicates:
        violations.append(f"{unique.duplicated_count:,} serials issued twice (checker), "
                          f"{duplicates:,} by the journals' count")
    if rules:
        violations.append("range rules broken: " + ", ".join(f"{k} x{n}" for k, n in
                                                             rules.items()))
    if missing.size:
        violations.append(f"{missing.size:,} serials unaccounted (first {missing[:5].tolist()})")
    if outside or outside_claims:
        violations.append(f"{outside + outside_claims:,} serials issued outside every claim")
    return {
        "issued": int(np.count_nonzero(done)), "acknowledgements": int(issued.sum()),
        "duplicates": duplicates, "checker_duplicated": unique.duplicated_count,
        "checker_valid": unique.valid, "range_rules_broken": dict(rules),
        "next_range": top + 1, "numbers_below_next_range": top,
        "claims": sum(1 for c in claims if c[3] == "journal"),
        "claims_record_only": sum(1 for c in claims if c[3] == "record only"),
        "checkpoint_records": len(checkpoints), "accounted": dict(causes),
        "unaccounted": int(missing.size), "violations": violations,
        "per_ca": {n: acknowledged(journal_path(folder, n)) for n in names},
    }


CAUSES = ("",
          "claim failed, record range burned",
          "lost: claimed (pkiRange record) by a process killed before it journaled",
          "wasted: range tail still held at the end",
          "wasted: range left with its tail unused",
          "wasted: record store failed (server down)",
          "lost: checkpoint stored, process killed before it journaled",
          "lost: nextRange moved past it with no pkiRange record "
          "(killed between the CAS and the record add)")


def _mark(cause: np.ndarray, where: slice, label: str) -> None:
    part = cause[where]
    part[part == 0] = CAUSES.index(label)


def _mark_at(cause: np.ndarray, at: np.ndarray, label: str) -> None:
    at = at[cause[at] == 0]
    cause[at] = CAUSES.index(label)


def _checkpoint_batches(checkpoints: list[int], gaps: np.ndarray, batch: int) -> np.ndarray:
    """The gap numbers less than ``batch`` below one of ``checkpoints`` (stored
    records that no journal acknowledged: a batch stored, then a kill)."""
    marks = np.asarray(checkpoints, dtype=np.int64)
    if not marks.size:
        return np.empty(0, dtype=np.int64)
    above = np.searchsorted(marks, gaps)  # the first checkpoint at or above each gap
    ok = above < marks.size
    near = np.zeros(gaps.size, dtype=bool)
    near[ok] = marks[above[ok]] - gaps[ok] < batch
    return gaps[near]


def _held_at_end(folder: Path, names: list[str]) -> dict[str, set[tuple[int, int]]]:
    """The certificate ranges each CA's state file (its CS.cfg) holds."""
    out: dict[str, set[tuple[int, int]]] = {}
    for name in names:
        path = folder / f"{name}.state.json"
        if not path.exists():
            continue
        config = load_state(path)[IdKind.CERT]
        out[name] = {(config.begin, config.end)}
        if config.next_begin is not None and config.next_end is not None:
            out[name].add((config.next_begin, config.next_end))
    return out


def write_report(folder: Path, report: dict[str, Any]) -> str:
    """``soak.json`` and ``soak.txt`` in ``folder``; returns the text."""
    (folder / "soak.json").write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    v = report["verdict"]
    lines = [f"pkisim soak: {report['plan']['processes']} x {report['plan']['serials']:,} "
             f"serials on {report['server']} in {report['log']['seconds']:.0f} s "
             f"({'complete' if report['log']['complete'] else 'STOPPED AT THE TIME LIMIT'})",
             f"kills: {report['log']['allocator_kills']} allocator, "
             f"{report['log']['server_kills']} server; worker failures "
             f"{len(report['log']['crashes'])}",
             f"issued {v['issued']:,} distinct serials ({v['acknowledgements']:,} "
             f"acknowledgements), duplicates {v['duplicates']:,}; nextRange "
             f"{v['next_range']:,}; {v['claims']} claims journaled, "
             f"{v['claims_record_only']} only in pkiRange records",
             *(f"  {n:>10,}  {c}" for c, n in sorted(v["accounted"].items())),
             f"unaccounted: {v['unaccounted']:,}",
             "VERDICT: " + ("VALID" if not v["violations"] else
                            "INVALID: " + "; ".join(v["violations"]))]
    text = "\n".join(lines) + "\n"
    (folder / "soak.txt").write_text(text)
    return text
