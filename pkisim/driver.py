"""The one driver of the CA protocol: what the SimPy world, the real LDAP
allocator and the Hypothesis state machine have in common.

The core (:mod:`pkisim.ids`) never does I/O: its operations yield directory
commands and take results, and it puts range events in an outbox.  A
:class:`Driver` executes those commands for one CA at a time against any
directory (the embedded replicated model or a real server), answers DNA's
range requests from the peer CA's repository, takes the range events out of
the outbox after every step and stamps them into the :class:`History` (with
the time, the CA and its replica), and records issuances.  Subclasses choose
only what differs: the clock, how a step costs time (the SimPy world adds a
simulated round trip around each command), and what else an event is
written to (a journal, a CS.cfg state file).

Issuance is "take a number, then store its ``cn=<n>`` record"
(:meth:`Driver.take`, :meth:`Driver.store`, both at once in
:meth:`Driver.issue`); a caller that must act between the two (a CA that
crashes after signing, a batched flush) calls them separately.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

from pkisim.history.history import ISSUE_OP, History, Op, OpType
from pkisim.ids import protocol as p
from pkisim.ids.config import IdKind
from pkisim.ids.events import RangeEvent
from pkisim.ids.repository import Repository
from pkisim.ids.subsystem import CaRepositories

T = TypeVar("T")
CA = TypeVar("CA", bound="Instance")


class Executor(Protocol):
    """A directory as the driver sees it: one command for a client of ``replica``."""

    def execute(self, command: p.Command, *, replica: str, now: float) -> p.Result: ...


class UpdateSchedule:
    """When a driver without a timer thread runs the range-update task
    (``SerialNumberUpdateTask``): Dogtag runs it every
    ``ca.serialNumberUpdateInterval`` seconds whatever happened to issuances,
    so that a claim that failed is retried at the next run.

    A driver calls :meth:`attempt` before every issuance attempt, successful or
    not; it answers whether the task is due: ``every`` attempts since the last
    run, or ``interval`` seconds of the driver's clock (``None`` or ``0``: that
    trigger is off).  Counting only successful issuances would never run the
    task again once the range ran dry after a failed claim.
    """

    def __init__(self, every: int | None, interval: float | None) -> None:
        self.every = every or None
        self.interval = interval or None
        self.attempts = 0
        self.last_run: float | None = None

    def __repr__(self) -> str:
        return f"UpdateSchedule(every={self.every}, interval={self.interval})"

    def attempt(self, now: float) -> bool:
        """Count one issuance attempt at ``now``: is the update task due first?"""
        self.attempts += 1
        if self.every is not None and self.attempts >= self.every:
            return True
        return (self.interval is not None and self.last_run is not None
                and now - self.last_run >= self.interval)

    def ran(self, now: float) -> None:
        """The task ran (or the CA started, which runs ``checkRanges``) at ``now``."""
        self.attempts = 0
        self.last_run = now


class Instance:
    """One CA (or KRA) instance as the driver knows it: its name, the directory
    replica it is bound to, its codes in the history (``pid``, ``rid``), its
    repositories (once installed) and whether it serves (answers peers: a
    crashed CA does not)."""

    def __init__(self, name: str, replica: str, pid: int, rid: int) -> None:
        self.name, self.replica, self.pid, self.rid = name, replica, pid, rid
        self.repos: CaRepositories | None = None
        self.serving = True

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r} on {self.replica!r})"


class Driver:
    """Executes the core's operations for CA instances; see the module text."""

    def __init__(self, directory: Executor, history: History, clock: Callable[[], float]) -> None:
        self.directory = directory
        self.history = history
        self.clock = clock
        self.instances: list[Instance] = []

    # ------------------------------------------------------------ instances
    def instance(self, name: str, replica: str) -> Instance:
        """A new CA instance bound to ``replica`` (its repositories come later)."""
        return self.add(Instance(name, replica, self.history.process(name),
                                 self.history.replica(replica)))

    def add(self, ca: CA) -> CA:
        """Know ``ca``, so that it can answer its peers."""
        self.instances.append(ca)
        return ca

    def attach(self, ca: Instance, repos: CaRepositories) -> None:
        """Give ``ca`` its repositories and record what they announced (the
        ranges they start with)."""
        ca.repos = repos
        self.record_events(ca)

    def serves(self, ca: Instance) -> bool:
        """Does ``ca`` answer a peer now?"""
        return ca.serving and ca.repos is not None

    # ------------------------------------------------------------ commands
    def execute(self, ca: Instance, command: p.Command) -> p.Result:
        """Run one command for ``ca`` now: on its directory replica, or, for
        DNA's range request, on the peer CA's repository."""
        if isinstance(command, p.RequestRange):
            return self.request_range(command)
        return self.directory.execute(command, replica=ca.replica, now=self.clock())

    def request_range(self, command: p.RequestRange) -> p.Result:
        """DNA's range-request extended operation, answered by the peer whose
        ``dnaHostname`` it names (``dna_release_range``)."""
        kind = IdKind(command.kind)
        for peer in self.peers(command.peer, kind):
            given = peer.repos[kind].release_range()  # type: ignore[union-attr, attr-defined]
            self.record_events(peer)
            if given is not None:
                return p.Result(number=given[0], upper=given[1])
        return p.Result(p.ResultCode.UNWILLING_TO_PERFORM, message="no range to give")

    def peers(self, host: str, kind: IdKind) -> Iterator[Instance]:
        """The serving instances whose ``kind`` repository is DNA's ``host``."""
        for ca in self.instances:
            if self.serves(ca) and ca.repos is not None:
                repo = ca.repos[kind]
                if repo.mode.on_demand and repo.config.host == host:
                    yield ca

    def run(self, ca: Instance, operation: p.Operation[T]) -> T:
        """Drive an operation to its end now, recording its events as they come."""
        try:
            command = self.begin(ca, operation)
            while True:
                command = self.resume(ca, operation, self.execute(ca, command))
        except StopIteration as stop:
            return stop.value

    def begin(self, ca: Instance, operation: p.Operation[Any]) -> p.Command:
        """The first command of an operation (StopIteration if it needs none);
        what it emitted on the way is recorded.  With :meth:`resume`, for a
        driver that interleaves operations or spends time between commands."""
        try:
            return next(operation)
        finally:
            self.record_events(ca)

    def resume(self, ca: Instance, operation: p.Operation[Any], result: p.Result) -> p.Command:
        """Send ``result`` in; the operation's next command (StopIteration at its end)."""
        try:
            return operation.send(result)
        finally:
            self.record_events(ca)

    # ------------------------------------------------------------ events
    def record_events(self, ca: Instance) -> None:
        """Take ``ca``'s range events out of its repositories' outbox into the history."""
        if ca.repos is not None and ca.repos.outbox:
            for event in ca.repos.take_events():
                self.record_event(ca, event)

    def record_event(self, ca: Instance, event: RangeEvent) -> None:
        """One range event into the history, stamped now (subclasses add sinks)."""
        self.history.event(self.clock(), ca.pid, event, ca.rid)

    def note(self, ca: Instance, op: Op, type_: OpType, detail: str = "", *,
             time: float | None = None, **fields: Any) -> None:
        """A rare operation without range state: a crash, a restart, a failure's cause."""
        self.history.note(self.clock() if time is None else time, ca.pid, op, type_, detail,
                          ca.rid, **fields)

    # ------------------------------------------------------------ issuance
    def take(self, ca: Instance, repo: Repository) -> int:
        """Issue one number from ``repo`` (raises AllocationError when none can
        be had).  Its range events are recorded before the issuance itself, and
        a DNA repository below its threshold asks a peer for a range."""
        try:
            if repo.can_issue_now:
                return repo.issue_now()
            return self.run(ca, repo.issue())
        finally:
            if ca.repos is not None and ca.repos.outbox:
                self.record_events(ca)
            if repo.mode.on_demand and repo.wants_check:  # DNA looks after every assignment
                self.extend(ca, repo)

    def extend(self, ca: Instance, repo: Repository) -> None:
        """DNA: ask a peer for a range now (the world does it after a round trip)."""
        self.run(ca, repo.check_ranges())

    def store(self, ca: Instance, repo: Repository, number: int) -> p.Result:
        """Store the record of an issued number on ``ca``'s replica."""
        return self.execute(ca, repo.record_add(number))

    def issue(self, ca: Instance, kind: IdKind) -> tuple[int, p.Result]:
        """Take a number and store its record; the history gets ``ok`` or ``fail``."""
        assert ca.repos is not None
        repo = ca.repos[kind]
        number = self.take(ca, repo)
        stored = self.store(ca, repo, number)
        self.record_issue(ca, kind, number, OpType.OK if stored.ok else OpType.FAIL)
        return number, stored

    def record_issue(self, ca: Instance, kind: IdKind, number: int | None,
                     type_: OpType = OpType.OK, time: float | None = None) -> None:
        self.history.issue(self.clock() if time is None else time, ca.pid, ISSUE_OP[kind],
                           number, type_, ca.rid)

    def record_issue_run(self, ca: Instance, kind: IdKind, first: int, times: Sequence[float],
                         type_: OpType = OpType.OK) -> None:
        """``len(times)`` consecutive numbers from ``first``, issued at ``times``:
        one run in the history (:meth:`History.issue_run`), not a row each."""
        self.history.issue_run(times, ca.pid, ISSUE_OP[kind], first, type_, ca.rid)


__all__ = ["Driver", "Executor", "Instance", "UpdateSchedule"]
