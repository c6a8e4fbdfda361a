"""SIGINT and SIGTERM at the moments a step must not be cut in two.

The ``pkisim`` command turns both signals into an exception that unwinds and
cleans up (:mod:`pkisim.cli.util`).  A few steps must finish first: the two
renames of a report commit, the start of a pool of worker processes (a worker
forked while its parent exits finds the parent's semaphores gone).  Inside
:func:`deferred` a signal is only noted; it is handled, by whatever handler
was installed, when the step is done.

A step that is done for good (a report in place) says so with :func:`settle`:
the command that ends on a later interrupt, at whatever moment it lands (while
the summary prints, while a lock file is removed), tells the user.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_settled: list[str] = []


def settle(note: str) -> None:
    """Record that a step is done for good (``note`` says what, e.g. where the
    new report is): an interrupt from now on does not undo it, and says so."""
    _settled.append(note)


def settled(*, forget: bool = False) -> list[str]:
    """The notes of :func:`settle`, oldest first; ``forget``: start a new list."""
    notes = list(_settled)
    if forget:
        _settled.clear()
    return notes


@contextmanager
def deferred() -> Iterator[None]:
    """SIGINT and SIGTERM that arrive inside are handled when the block ends
    (in the main thread; elsewhere signals cannot be handled at all)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = {number: signal.signal(number, lambda n, _: pending.append(n))
                for number in SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if pending:
            handler = previous[pending[0]]
            if callable(handler):
                handler(pending[0], None)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(pending[0])
