"""Real servers as back ends of the allocation state machine
(:class:`~pkisim.testing.machine.MachineConfig`): one slapd for one replica,
a replicating slapd pair or a 389-DS pair for two.

Every back end has the machine's faults (:mod:`pkisim.testing.faults`):
``kill`` is a real SIGKILL of the server process and ``revive`` starts it
again on the same data and port; ``limit_size`` switches the CAs' commands to
a non-root bind whose searches are limited to
:data:`~pkisim.testing.faults.SIZE_LIMIT` entries (slapd's ``limits``,
389-DS's ``nsSizeLimit``/``nsPagedSizeLimit`` on the user entry).
"""

from __future__ import annotations

import itertools
from typing import Any

from pkisim.ids import protocol as p
from pkisim.ldap.directory import LdapDirectory
from pkisim.testing.faults import SIZE_LIMIT
from pkisim.testing.servers.base import ServerError, new_password
from pkisim.testing.servers.ds389 import Ds389Pair
from pkisim.testing.servers.slapd import Slapd, SlapdPair

#: Commands that write nothing: no need to wait for the pair to converge.
_READS = (p.Read, p.Search, p.LastNumberInRange, p.NumberExists)

#: The non-root bind (Dogtag's ``pkidbuser``), below the tree's base.
USER_RDN = "cn=pkidbuser"


def _slapd_limits(base: str) -> str:
    """slapd.conf lines of the main database: the user's size limit and write access."""
    user = f"{USER_RDN},{base}"
    return (f'limits dn.exact="{user}" size={SIZE_LIMIT}\n'
            f'access to * by dn.exact="{user}" write by * read')


def _add_user(directory: LdapDirectory, dn: str, password: str,
              extra: list[tuple[str, list[bytes]]] = ()) -> None:  # type: ignore[assignment]
    directory.connect()
    directory._conn.add_s(dn, [("objectClass", [b"person", b"simpleSecurityObject"]),
                               ("cn", [b"pkidbuser"]), ("sn", [b"pkidbuser"]),
                               ("userPassword", [password.encode()]), *extra])


class SlapdBackend:
    """A fresh single slapd as the state machine's one replica
    (``MachineConfig(backend=slapd_backend)``): every write is immediately
    visible, so ``sync`` holds trivially; partitions do not apply."""

    def __init__(self, replicas: tuple[str, ...], sync: bool) -> None:
        if len(replicas) != 1:
            raise ValueError(f"one slapd serves one replica, not {replicas}")
        self.replicas = tuple(replicas)
        self.server = Slapd()
        self.server.replication = _slapd_limits(self.server.base)
        self.server.start()
        self.root = self.server.directory(timeout=2)
        self.user_password = new_password()
        _add_user(self.root, f"{USER_RDN},{self.server.base}", self.user_password)
        self.limited = LdapDirectory(self.server.url, f"{USER_RDN},{self.server.base}",
                                     self.user_password, base=self.server.base, timeout=2)
        self.size_limited = False

    def execute(self, command: Any, *, replica: str, now: float) -> Any:
        return (self.limited if self.size_limited else self.root).execute(command)

    def bootstrap(self, adds: Any, now: float = 0.0) -> None:
        self.root.bootstrap(adds)

    def deliver(self, src: str | None = None, dst: str | None = None, *, now: float,
                count: int | None = None) -> int:
        return 0

    def partition(self, groups: Any, now: float) -> None:
        pass

    def heal_all(self, now: float) -> None:
        pass

    def kill(self, replica: str, now: float) -> None:
        self.server.kill()

    def revive(self, replica: str, now: float) -> None:
        self.server.start()

    def limit_size(self, on: bool) -> None:
        self.size_limited = on

    def close(self) -> None:
        self.root.close()
        self.limited.close()
        self.server.close()


class PairBackend:
    """Two replicating servers as the state machine's two replicas.

    ``sync=True``: the link stays up and every write waits until both servers
    agree (replication before the next step), unless one is down: what it
    missed arrives when it is back, which :meth:`revive` waits for.
    ``sync=False``: the link is cut between deliveries; :meth:`deliver`
    restores it, waits for convergence and cuts it again (all queued changes
    at once: ``count`` is not honoured), unless a partition is on or a server
    is down.  Subclasses say how a server dies and starts and how the pair
    converges.
    """

    pair: Any

    def __init__(self, replicas: tuple[str, ...], sync: bool,
                 directories: dict[str, LdapDirectory],
                 limited: dict[str, LdapDirectory]) -> None:
        if len(replicas) != 2:
            raise ValueError(f"a pair serves two replicas, not {replicas}")
        self.replicas, self.sync = tuple(replicas), sync
        self.directories = directories
        self.limited = limited
        self.partitioned = False
        self.size_limited = False
        self.dead: set[str] = set()

    def _index(self, replica: str) -> int:
        return self.replicas.index(replica)

    def execute(self, command: Any, *, replica: str, now: float) -> Any:
        directory = (self.limited if self.size_limited else self.directories)[replica]
        result = directory.execute(command)
        if self.sync and not self.dead and not isinstance(command, _READS):
            self.pair.wait_converged()
        return result

    def bootstrap(self, adds: Any, now: float = 0.0) -> None:
        self.directories[self.replicas[0]].bootstrap(adds)
        self.pair.wait_converged()
        if not self.sync:
            self.pair.cut()

    def deliver(self, src: str | None = None, dst: str | None = None, *, now: float,
                count: int | None = None) -> int:
        if self.sync or self.partitioned or self.dead:
            return 0
        self.pair.restore()
        self.pair.wait_converged()
        self.pair.cut()
        return 1

    def partition(self, groups: Any, now: float) -> None:
        self.partitioned = True

    def heal_all(self, now: float) -> None:
        self.partitioned = False

    def kill(self, replica: str, now: float) -> None:
        self._kill(self._index(replica))
        self.dead.add(replica)

    def revive(self, replica: str, now: float) -> None:
        self._start(self._index(replica))
        self.dead.discard(replica)
        if self.sync and not self.dead:
            self.pair.wait_converged()

    def limit_size(self, on: bool) -> None:
        self.size_limited = on

    def _kill(self, index: int) -> None:
        raise NotImplementedError

    def _start(self, index: int) -> None:
        raise NotImplementedError

    def _close_connections(self) -> None:
        for directory in [*self.directories.values(), *self.limited.values()]:
            directory.close()


class SlapdPairBackend(PairBackend):
    """A fresh :class:`SlapdPair` (see :class:`PairBackend`)."""

    def __init__(self, replicas: tuple[str, ...], sync: bool) -> None:
        self.pair = SlapdPair()
        for server in self.pair.servers:
            server.replication = _slapd_limits(self.pair.base) + "\n" + server.replication
        self.pair.start()
        dirs = {n: s.directory(timeout=2) for n, s in zip(SlapdPair.names, self.pair.servers,
                                                           strict=True)}
        user, password = f"{USER_RDN},{self.pair.base}", new_password()
        _add_user(dirs["ds1"], user, password)
        limited = {n: LdapDirectory(s.url, user, password, base=self.pair.base, timeout=2)
                   for n, s in zip(SlapdPair.names, self.pair.servers, strict=True)}
        names = dict(zip(replicas, SlapdPair.names, strict=True))
        super().__init__(replicas, sync, {r: dirs[n] for r, n in names.items()},
                         {r: limited[n] for r, n in names.items()})

    def _kill(self, index: int) -> None:
        self.pair.servers[index].kill()

    def _start(self, index: int) -> None:
        self.pair.servers[index].start()

    def close(self) -> None:
        self._close_connections()
        self.pair.close()


class Ds389PairBackend(PairBackend):
    """One example on a long-lived, started :class:`Ds389Pair` (a pair takes
    a minute to set up): each example works below its own base
    (``ou=ex<N>,<suffix>``), so examples never see each other's entries.
    :meth:`close` restarts a server the example killed and restores the
    replication link; the pair itself is the caller's to close."""

    counter = itertools.count(1)

    def __init__(self, pair: Ds389Pair, replicas: tuple[str, ...], sync: bool) -> None:
        self.pair = pair
        if pair.is_cut:
            pair.restore()
        self.base = f"ou=ex{next(self.counter)},{pair.base}"
        dirs = {n: LdapDirectory(u, d.bind_dn, pair.password, base=self.base, timeout=5)
                for (n, u), d in zip(zip(pair.names, pair.url, strict=True),
                                     pair.directories().values(), strict=True)}
        user, password = f"{USER_RDN},{self.base}", new_password()
        self._user = (user, password)
        limited = {n: LdapDirectory(u, user, password, base=self.base, timeout=5)
                   for n, u in zip(pair.names, pair.url, strict=True)}
        names = dict(zip(replicas, pair.names, strict=True))
        super().__init__(replicas, sync, {r: dirs[n] for r, n in names.items()},
                         {r: limited[n] for r, n in names.items()})

    def bootstrap(self, adds: Any, now: float = 0.0) -> None:
        adds = list(adds)
        first = self.directories[self.replicas[0]]
        first.bootstrap(adds[:1])  # the example's base
        user, password = self._user
        limit = str(SIZE_LIMIT).encode()
        _add_user(first, user, password, [("nsSizeLimit", [limit]),
                                          ("nsPagedSizeLimit", [limit])])
        aci = (f'(targetattr="*")(version 3.0; acl "pkidbuser"; allow (all) '
               f'userdn="ldap:///{user}";)').encode()
        import ldap  # type: ignore[import-untyped]

        first._conn.modify_s(self.base, [(ldap.MOD_ADD, "aci", [aci])])
        super().bootstrap(adds[1:], now)

    def _kill(self, index: int) -> None:
        process = self.pair.processes[index]
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        self.pair.processes[index] = None

    def _start(self, index: int) -> None:
        self.pair.start_server(index)

    def close(self) -> None:
        self._close_connections()
        try:
            for replica in sorted(self.dead):
                self._start(self._index(replica))
            if self.pair.is_cut:
                self.pair.restore()
        except ServerError:
            pass  # the next example's wait_converged names what is wrong


def slapd_backend(replicas: tuple[str, ...], sync: bool) -> SlapdBackend | SlapdPairBackend:
    """A backend factory for :class:`~pkisim.testing.machine.MachineConfig`:
    one slapd for one replica, a replicating pair for two."""
    if len(replicas) == 1:
        return SlapdBackend(replicas, sync)
    return SlapdPairBackend(replicas, sync)


def ds389_backend(pair: Ds389Pair) -> Any:
    """A backend factory on a started :class:`Ds389Pair` (two replicas): every
    example gets its own base below the pair's suffix (see :class:`Ds389PairBackend`)."""
    def factory(replicas: tuple[str, ...], sync: bool) -> Ds389PairBackend:
        return Ds389PairBackend(pair, replicas, sync)
    return factory


__all__ = ["Ds389PairBackend", "PairBackend", "SlapdBackend", "SlapdPairBackend",
           "ds389_backend", "slapd_backend"]
