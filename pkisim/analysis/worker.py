"""Imported by the sweep's forkserver alone (its preload, before it forks any
worker; :func:`pkisim.analysis.executors._start_forkserver` starts it with
SIGINT and SIGTERM blocked): the forkserver and every worker it forks ignore
SIGINT from then on, and SIGTERM works again.  Ctrl-C reaches the whole process
group; the parent handles it and stops the workers, so no worker prints a
KeyboardInterrupt, not even while it is still starting."""

import signal

signal.signal(signal.SIGINT, signal.SIG_IGN)
if hasattr(signal, "pthread_sigmask"):
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
