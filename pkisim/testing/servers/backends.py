"""Real servers as back ends of the allocation state machine
(:class:`~pkisim.testing.machine.MachineConfig`): one slapd for one replica,
a replicating slapd pair for two.
"""

from __future__ import annotations

from typing import Any

from pkisim.ids import protocol as p
from pkisim.testing.servers.slapd import Slapd, SlapdPair

#: Commands that write nothing: no need to wait for the pair to converge.
_READS = (p.Read, p.Search, p.LastNumberInRange, p.NumberExists)


class SlapdBackend:
    """A fresh single slapd as the state machine's one replica
    (``MachineConfig(backend=slapd_backend)``): every write is immediately
    visible, so ``sync`` holds trivially; partitions do not apply."""

    def __init__(self, replicas: tuple[str, ...], sync: bool) -> None:
        if len(replicas) != 1:
            raise ValueError(f"one slapd serves one replica, not {replicas}")
        self.replicas = tuple(replicas)
        self.server = Slapd().start()
        self.directory = self.server.directory()

    def execute(self, command: Any, *, replica: str, now: float) -> Any:
        return self.directory.execute(command)

    def bootstrap(self, adds: Any, now: float = 0.0) -> None:
        self.directory.bootstrap(adds)

    def deliver(self, src: str | None = None, dst: str | None = None, *, now: float,
                count: int | None = None) -> int:
        return 0

    def partition(self, groups: Any, now: float) -> None:
        pass

    def heal_all(self, now: float) -> None:
        pass

    def close(self) -> None:
        self.directory.close()
        self.server.close()


class SlapdPairBackend:
    """A fresh :class:`SlapdPair` as the state machine's two replicas.

    ``sync=True``: the link stays up and every write waits until both servers
    agree (replication before the next step).  ``sync=False``: the link is
    cut between deliveries; :meth:`deliver` restores it, waits for
    convergence and cuts it again (all queued changes at once: ``count`` is
    not honoured), unless a partition is on.
    """

    def __init__(self, replicas: tuple[str, ...], sync: bool) -> None:
        if len(replicas) != 2:
            raise ValueError(f"a slapd pair serves two replicas, not {replicas}")
        self.replicas, self.sync = tuple(replicas), sync
        self.pair = SlapdPair().start()
        dirs = self.pair.directories()
        self.directories = {r: dirs[n] for r, n in zip(replicas, SlapdPair.names, strict=True)}
        self.partitioned = False

    def execute(self, command: Any, *, replica: str, now: float) -> Any:
        result = self.directories[replica].execute(command)
        if self.sync and not isinstance(command, _READS):
            self.pair.wait_converged()
        return result

    def bootstrap(self, adds: Any, now: float = 0.0) -> None:
        self.directories[self.replicas[0]].bootstrap(adds)
        self.pair.wait_converged()
        if not self.sync:
            self.pair.cut()

    def deliver(self, src: str | None = None, dst: str | None = None, *, now: float,
                count: int | None = None) -> int:
        if self.sync or self.partitioned:
            return 0
        self.pair.restore()
        self.pair.wait_converged()
        self.pair.cut()
        return 1

    def partition(self, groups: Any, now: float) -> None:
        self.partitioned = True

    def heal_all(self, now: float) -> None:
        self.partitioned = False

    def close(self) -> None:
        for directory in self.directories.values():
            directory.close()
        self.pair.close()


def slapd_backend(replicas: tuple[str, ...], sync: bool) -> SlapdBackend | SlapdPairBackend:
    """A backend factory for :class:`~pkisim.testing.machine.MachineConfig`:
    one slapd for one replica, a replicating pair for two."""
    if len(replicas) == 1:
        return SlapdBackend(replicas, sync)
    return SlapdPairBackend(replicas, sync)


__all__ = ["SlapdBackend", "SlapdPairBackend", "slapd_backend"]
