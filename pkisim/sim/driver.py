"""The CA protocol driven in simulated time: :class:`SimDriver` is the one
driver (:class:`pkisim.driver.Driver`) with a SimPy round trip around every
directory command, and DNA's on-demand range requests run as SimPy processes."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, TypeVar

import simpy

from pkisim.driver import Driver, Executor, Instance
from pkisim.errors import AllocationError
from pkisim.history.history import History, Op, OpType
from pkisim.ids import protocol as p
from pkisim.ids.config import IdKind
from pkisim.ids.repository import Repository
from pkisim.sim.lane import Tick

T = TypeVar("T")
Process = Generator[simpy.Event, Any, Any]


class Aborted(Exception):
    """The CA crashed or stopped while one of its operations was in progress."""


class SimDriver(Driver):
    """The driver of a simulation: time is the world's clock; :meth:`drive`
    costs one ``directory_latency`` sample per command.

    ``call_at(t, action)`` runs ``action`` in SimPy at time ``t`` (the world's
    lane hook); CA instances are :class:`~pkisim.sim.ca.CaNode` objects, with an
    ``epoch`` (crashes and stops) and an ``ldap_latency`` stream.
    """

    def __init__(self, env: simpy.Environment, directory: Executor, history: History,
                 clock: Callable[[], float],
                 call_at: Callable[[float, Callable[[], object]], None]) -> None:
        super().__init__(directory, history, clock)
        self.env = env
        self.call_at = call_at
        self._extending: set[tuple[str, IdKind]] = set()  # DNA range requests in flight

    def drive(self, ca: Any, operation: p.Operation[T], *, tick: bool = False
              ) -> Generator[simpy.Event, Any, T]:
        """Drive a sans-IO operation, one directory round trip per command.
        Raises :class:`Aborted` if ``ca`` crashes or stops meanwhile.  ``tick``:
        the round trips are :class:`~pkisim.sim.lane.Tick` events of ``ca``'s."""
        epoch = ca.epoch
        env = self.env
        try:
            command = self.begin(ca, operation)
            while True:
                latency = ca.ldap_latency.next()
                yield Tick(env, latency, ca) if tick else env.timeout(latency)
                if ca.epoch != epoch:
                    operation.close()
                    raise Aborted(ca.name)
                command = self.resume(ca, operation, self.execute(ca, command))
        except StopIteration as stop:
            return stop.value

    def update_task_run(self, ca: Any) -> Generator[simpy.Event, Any, None]:
        """One run of ``ca``'s update task (a CA's ``SerialNumberUpdateTask``, a
        KRA's key-status update task) if it serves; a failure is only logged
        (a failed claim as a range event, anything else as a note)."""
        if not ca.serving or ca.repos is None:
            return
        try:
            yield from self.drive(ca, ca.repos.update_task(), tick=True)
        except Aborted:
            pass
        except AllocationError as err:
            self.note(ca, Op.CLAIM, OpType.FAIL, f"update task failed: {err}")

    def extend(self, ca: Instance, repo: Repository) -> None:
        """DNA: a repository below its threshold asks a peer for a range, in a
        SimPy process that starts now (one request in flight per repository)."""
        key = (ca.name, repo.kind)
        if key in self._extending:
            return
        self._extending.add(key)

        def run() -> Process:
            try:
                yield from self.drive(ca, repo.check_ranges())
            except (Aborted, AllocationError):
                pass
            finally:
                self._extending.discard(key)

        self.call_at(self.clock(), lambda: self.env.process(run()))


__all__ = ["Aborted", "SimDriver"]
