"""The fast lane: request events in a plain heap, drained between SimPy events.

Requests are too many for a SimPy process each.  A :class:`Lane` keeps their
events as ``(time, seq, code, payload)`` in a heap and schedules a single SimPy
wake-up for the earliest one; when it fires, the lane handles every event due
before the next SimPy event (``env.peek()``), in ``(time, seq)`` order, by
calling ``handlers[code](payload, time)``.  So everything still happens in
global time order, and a tie between events goes to the one pushed first.

While the lane drains, :meth:`Lane.now` is the time of the event being
handled (SimPy's clock has not moved); anything a handler starts in SimPy
goes through :meth:`Lane.call_at`, which also ends the drain before it.

A *window* hook may take over a drain (:mod:`pkisim.sim.batch` computes
quiet windows in one go): it looks at the events due with :meth:`Lane.due` and
:meth:`Lane.next_seq`, and either changes nothing (returns ``None``: the lane
handles the rest of the drain event by event) or handles the events before
some time, handing back what stays in the lane through :meth:`Lane.commit`;
the lane then handles the events up to the one it could not take itself and
asks the hook again.

A window may also go *past* SimPy events, those of periodic runs that change
nothing it does and see nothing it changes, or that it accounts for itself
(:class:`Tick`, :func:`turn`, :meth:`Lane.ahead`; :mod:`pkisim.sim.batch`
says which): the drain then ends there, and SimPy steps those runs at their
own, earlier, times before the lane goes on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from heapq import heapify, heappop, heappush
from itertools import count
from typing import Any

import simpy

#: One lane event: ``(time, sequence number, handler code, payload)``.
Item = tuple[float, int, int, Any]
Handler = Callable[[Any, float], None]
#: ``window(horizon)``: ``None`` (declined), or the number of lane events it
#: handled and the time up to which (inclusive) the lane handles events itself
#: before asking again (``horizon``: it handled everything before it).
Window = Callable[[float], tuple[int, float] | None]


class Lane:
    """The fast lane of one run in ``env``; see the module text."""

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.events = 0  # lane events handled (or stood for by a window)
        self._heap: list[Item] = []
        self._seq = count()
        self._time: float | None = None  # the event being handled, while draining
        self._horizon = math.inf
        self._wake: simpy.Event | None = None
        self._wake_time = math.inf
        self._handlers: Sequence[Handler] = ()
        self._window: Window | None = None
        self._max_window = math.inf

    def serve(self, handlers: Sequence[Handler], window: Window | None = None,
              max_window: float = math.inf) -> None:
        """Who handles the events: ``handlers[code]``, and a window hook (or none).

        ``max_window`` caps how much simulated time one drain covers: a window
        the hook declines goes event by event as a whole, so long quiet
        stretches (no SimPy event for minutes) are cut into windows of about
        this length.  The results do not depend on it (a window is exact for
        any horizon); only the speed does."""
        self._handlers = handlers
        self._window = window
        self._max_window = max_window

    # ------------------------------------------------------------ time
    def now(self) -> float:
        """The current simulated time (the lane's, while it drains)."""
        t = self._time
        return self.env.now if t is None else t

    def call_at(self, t: float, action: Callable[[], object]) -> None:
        """Run ``action`` in SimPy at time ``t >= now`` (from the lane or a process)."""
        event = self.env.timeout(t - self.env.now)
        event.callbacks.append(lambda _: action())
        if t < self._horizon:
            self._horizon = t

    def limit(self, t: float) -> None:
        """Something in SimPy happens at ``t``: a drain in progress stops before it."""
        if t < self._horizon:
            self._horizon = t

    # ------------------------------------------------------------ events
    def push(self, t: float, code: int, payload: Any) -> None:
        """Schedule an event: ``handlers[code](payload, t)`` at time ``t``."""
        heappush(self._heap, (t, next(self._seq), code, payload))
        if self._time is None and t < self._wake_time:
            self._schedule_wake(t)

    def pending(self, code: int) -> int:
        """How many events with ``code`` are waiting."""
        return sum(1 for item in self._heap if item[2] == code)

    def _schedule_wake(self, t: float) -> None:
        event = self.env.timeout(t - self.env.now)
        event.callbacks.append(self._drain)
        self._wake, self._wake_time = event, t

    def _drain(self, event: simpy.Event) -> None:
        if event is not self._wake:
            return  # superseded by an earlier wake-up
        self._wake, self._wake_time = None, math.inf
        heap, handlers = self._heap, self._handlers
        self._horizon = min(self.env.peek(), self.env.now + self._max_window)
        window = self._window
        done = 0
        try:
            while heap and heap[0][0] < self._horizon:
                upto = math.inf  # handle events one by one up to this time (declined: all)
                if window is not None:
                    batched = window(self._horizon)
                    if batched is None:
                        window = None  # declined: the rest of this drain event by event
                    else:
                        self.events += batched[0]
                        upto = batched[1]
                        if upto > self._horizon:  # past SimPy events (quiet runs)
                            if batched[0]:
                                break  # they come first now, then the lane from there
                            upto = self._horizon
                        if not heap or heap[0][0] >= self._horizon:
                            break
                while True:  # at least the event the window left
                    t = heap[0][0]
                    _, _, code, payload = heappop(heap)
                    self._time = t
                    handlers[code](payload, t)
                    done += 1
                    if not heap or heap[0][0] >= self._horizon or heap[0][0] > upto:
                        break
        finally:
            self._time = None
            self.events += done
        if heap:
            self._schedule_wake(heap[0][0])

    # ------------------------------------------------------------ windows
    def ahead(self, limit: float) -> list[tuple[float, Any]]:
        """The SimPy events due before ``limit``: ``(time, owner)``, the owner
        of a periodic task's run (:func:`turn`, :class:`Tick`) or ``None``.

        A window may go past the events of runs that change nothing it does
        and see nothing it changes (the batch decides); SimPy then processes
        them after it, at their own times, before anything else.  (SimPy has
        no public view of what is pending: this reads ``Environment._queue``.)"""
        return [(when, getattr(event, "owner", None))
                for when, _, _, event in self.env._queue if when < limit]

    @property
    def cap(self) -> float:
        """How far a drain may reach from now at most (see :meth:`serve`)."""
        return self.env.now + self._max_window

    def due(self, horizon: float) -> list[Item]:
        """The events due before ``horizon`` (a snapshot, in no particular order)."""
        return [item for item in self._heap if item[0] < horizon]

    def next_seq(self) -> int:
        """The sequence number the next :meth:`push` would get (nothing is consumed)."""
        seq = next(self._seq)
        self._seq = count(seq)
        return seq

    def commit(self, horizon: float, added: Iterable[Item], next_seq: int) -> None:
        """A window handled every event due before ``horizon``: drop them, add
        the events it left (with the sequence numbers their pushes would have
        had), and continue numbering at ``next_seq``."""
        heap = self._heap
        kept = [item for item in heap if item[0] >= horizon]
        kept.extend(added)
        heapify(kept)
        heap[:] = kept
        self._seq = count(next_seq)


#: SimPy orders events due at the same time by priority, then by when they
#: were scheduled.  :func:`turn` events come first, in turn order.
FIRST = -(1 << 30)


class _Turn(simpy.events.Event):
    """A timeout that comes before every other event due at its time; two due
    at the same time go in ``turn`` order (see :func:`turn`)."""

    def __init__(self, env: simpy.Environment, delay: float, turn: int, owner: Any) -> None:
        super().__init__(env)
        self._ok = True
        self._value = None
        self.owner = owner
        env.schedule(self, FIRST + turn, delay)


def turn(env: simpy.Environment, delay: float, turn: int, owner: Any = None) -> simpy.Event:
    """A timeout of ``delay`` whose place among the events due at the same
    time does not depend on when it was scheduled: before all others, and in
    ``turn`` order among its kind.  A periodic process computed in closed form
    (sleeping, then scheduled at once for a run far ahead) then meets a
    simultaneous event in the same order as when it steps every run.
    ``owner``: see :class:`Tick`."""
    return _Turn(env, delay, turn, owner)


class Tick(simpy.events.Timeout):
    """A plain timeout in a run of ``owner``'s periodic task: a CA's update
    task, the space sampler (:mod:`pkisim.sim.space`), or :data:`OBSERVER`.
    The batch may compute a window past it, and SimPy process it after the
    window, when the run can change nothing the window does nor see anything
    it changes, or sees it as it was at the run's time (:meth:`Lane.ahead`)."""

    def __init__(self, env: simpy.Environment, delay: float, owner: Any) -> None:
        super().__init__(env, delay)
        self.owner = owner


#: The owner of periodic runs that read only what no window changes (the
#: KRAs' space table, the progress callback): a window always goes past them.
OBSERVER = object()


def exact_delay(now: float, at: float) -> float:
    """The delay whose SimPy timeout fires at exactly ``at`` (``now + delay == at``
    in floating point), so that skipped periodic runs leave the schedule as stepping would."""
    delay = at - now
    while now + delay < at:
        delay = math.nextafter(delay, math.inf)
    while now + delay > at:
        delay = math.nextafter(delay, -math.inf)
    return delay


__all__ = ["FIRST", "OBSERVER", "Item", "Lane", "Tick", "exact_delay", "turn"]
