"""A subsystem's three repositories together: start-up, the update task,
restart and the clone transfer, which act on all its ID spaces at once.

One class for every subsystem (:class:`SubsystemRepositories`, parametrised
by a :class:`~pkisim.ids.layout.Subsystem`): a CA's are certificate serials,
request IDs and replica IDs (:class:`CaRepositories`), a KRA's archived-key
IDs, its request IDs and replica IDs (:class:`KraRepositories`), with the
same code paths.

dogtag-ranges.md sections 3 and 4.3.  Still sans-IO: every method that needs
the directory is a generator of commands.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping

import pkisim.ids.protocol as p
import pkisim.ids.tree as dtree
from pkisim.errors import ConfigError
from pkisim.ids.config import IdKind, IdSpaceConfig, check_strategy, pkispawn_defaults
from pkisim.ids.dna import DnaRepository
from pkisim.ids.events import RangeEvent
from pkisim.ids.layout import CA, KRA, Subsystem
from pkisim.ids.random_serials import LegacyRandomRepository, RandomRepository
from pkisim.ids.repository import NaiveRepository, RangeRepository, RangeRepositoryV2, Repository
from pkisim.ids.strategies import STRATEGY

#: The class that implements each strategy (each class names its row of the table).
REPOSITORY_CLASSES: dict[str, type[Repository]] = {
    cls.mode.name: cls for cls in (RangeRepository, RangeRepositoryV2, LegacyRandomRepository,
                                   RandomRepository, NaiveRepository, DnaRepository)}

#: Dogtag's start-up order (``CAEngine.startupSubsystems``: requests, then certs).
START_ORDER = CA.kinds

#: Gives each repository its random stream, by name (``"ca2/cert"``).
Streams = Callable[[str], random.Random]


def new_repository(config: IdSpaceConfig, tree: dtree.DogtagTree | None = None, *,
                   rng: random.Random | None = None, outbox: list[RangeEvent] | None = None,
                   source: str = "initial") -> Repository:
    """The repository class for ``config.strategy``.  Random strategies need
    ``rng``; there is no default seed."""
    cls = REPOSITORY_CLASSES[check_strategy(config.strategy)]
    return cls(config, tree, rng=rng, outbox=outbox, source=source)


def replica_strategy(strategy: str) -> str:
    """Replica IDs stay ranged whatever the certificate generator is."""
    return STRATEGY[check_strategy(strategy)].replica_strategy


def master_configs(strategy: str = "legacy2", *, host: str = "ca1", secure_port: int = 8443,
                   serial_management: bool = False,
                   overrides: Mapping[IdKind, Mapping[str, object]] | None = None,
                   subsystem: Subsystem = CA) -> dict[IdKind, IdSpaceConfig]:
    """pkispawn's configuration of a new master for the subsystem's three ID
    spaces (a CA's by default).

    Serial management starts off, as pkispawn writes it; the master turns it on
    when it serves its first clone.
    """
    check_strategy(strategy)
    overrides = overrides or {}
    out = {}
    for kind in subsystem.spaces:
        out[kind] = pkispawn_defaults(kind, subsystem.strategy_for(kind, strategy), host=host,
                                      secure_port=secure_port,
                                      serial_management=serial_management,
                                      **dict(overrides.get(kind, {})))
    return out


class SubsystemRepositories:
    """The three repositories of one subsystem instance (a CA or a KRA)."""

    #: Which subsystem; subclasses fix it.
    subsystem: Subsystem = CA

    def __init__(self, name: str, configs: Mapping[IdKind, IdSpaceConfig],
                 tree: dtree.DogtagTree | None = None, *, streams: Streams,
                 source: str = "initial") -> None:
        """``streams`` gives each repository its own random generator by name
        (``Seeds(seed).random`` in a simulation; the OS's entropy for a real CA)."""
        self.name = name
        sub = self.subsystem
        self.tree = tree or dtree.DogtagTree(sub.base, sub)
        if self.tree.subsystem is not sub:
            raise ConfigError("tree", self.tree.base, f"is a {self.tree.subsystem.name} "
                              f"database, not a {sub.name} one ({name})")
        missing = [k.value for k in sub.spaces if k not in configs]
        if missing:
            raise ConfigError("id spaces", ", ".join(missing),
                              f"missing for {sub.name.upper()} {name}")
        #: One outbox for the three repositories: their events in the order they happened.
        self.outbox: list[RangeEvent] = []
        self.repositories: dict[IdKind, Repository] = {
            kind: new_repository(configs[kind], self.tree, rng=streams(f"{name}/{kind.value}"),
                                 outbox=self.outbox, source=source)
            for kind in sub.kinds}

    def take_events(self) -> list[RangeEvent]:
        """The range events of all three repositories since the last call."""
        events = self.outbox[:]
        self.outbox.clear()
        return events

    def __getitem__(self, kind: IdKind) -> Repository:
        return self.repositories[kind]

    def __iter__(self) -> Iterator[Repository]:
        return iter(self.repositories.values())

    @property
    def main(self) -> Repository:
        """The repository of what the subsystem keeps (certificates, keys)."""
        return self.repositories[self.subsystem.main]

    @property
    def request(self) -> Repository:
        return self.repositories[self.subsystem.request]

    @property
    def serial_management(self) -> bool:
        return self.main.serial_management

    def enable_serial_management(self) -> None:
        """``dbs.enableSerialManagement=true``: one CS.cfg key for all repositories."""
        for repo in self:
            repo.serial_management = True

    def configs(self) -> dict[IdKind, IdSpaceConfig]:
        """What this CA's CS.cfg holds now."""
        return {kind: repo.to_config() for kind, repo in self.repositories.items()}

    def start(self) -> p.Operation[None]:
        """Start-up: ``checkRanges`` for requests, then certificates (replica IDs
        are checked only before a transfer).  A directory that cannot be read or
        does not answer aborts the start (:class:`~pkisim.errors.DirectoryUnavailable`),
        as an exception in Dogtag's start-up does."""
        yield from p.unless_unreachable(self._start(), f"{self.name} start-up")

    def _start(self) -> p.Operation[None]:
        yield from self.request.start()
        yield from self.main.start()

    def update_task(self) -> p.Operation[None]:
        """One run of ``SerialNumberUpdateTask`` (a KRA's key-status update
        task): ``checkRanges`` for the main repository, then requests."""
        yield from self.main.check_ranges()
        yield from self.request.check_ranges()

    def restart(self, streams: Streams | None = None) -> None:
        """The CA process restarts: counters in memory go, CS.cfg stays.  A new
        process has new random generators: pass ``streams`` (one per
        repository, by name, as at construction); without it the old ones go on."""
        for kind, repo in self.repositories.items():
            repo.restart(streams(f"{self.name}/{kind.value}") if streams is not None else None)

    def transfer_to_clone(self, host: str, secure_port: int = 8443,
                          ) -> p.Operation[dict[IdKind, IdSpaceConfig]]:
        """Donor side of clone installation: one ``UpdateNumberRange`` per ID
        space (request, then serial, then replica ID), each cutting a slice from
        this CA.  Returns the clone's configuration: the slices as current
        ranges, no next range, serial management on.  Strategies without
        ranges give the clone the donor's configuration (RSNv3) or an empty
        range that DNA fills from its peers.  Serving the replica-ID transfer
        turns on this CA's serial management.
        """
        clone: dict[IdKind, IdSpaceConfig] = {}
        for kind in self.subsystem.kinds:
            repo = self.repositories[kind]
            common = dict(host=host, secure_port=secure_port, serial_management=True,
                          next_begin=None, next_end=None)
            if not repo.ranged:
                if repo.mode.on_demand:  # DNA: the clone asks its peers
                    clone[kind] = repo.config.evolve(begin=1, end=0, depleted=True, **common)
                else:
                    clone[kind] = repo.config.evolve(**common)
                continue
            if kind is IdKind.REPLICA:
                yield from repo.check_ranges()
            begin, end = yield from repo.clone_transfer()
            clone[kind] = repo.config.evolve(begin=begin, end=end, **common)
            if kind is IdKind.REPLICA:
                self.enable_serial_management()
        return clone


class CaRepositories(SubsystemRepositories):
    """The certificate, request and replica-ID repositories of one CA."""

    subsystem = CA

    @property
    def cert(self) -> Repository:
        return self.repositories[IdKind.CERT]


class KraRepositories(SubsystemRepositories):
    """The archived-key, request and replica-ID repositories of one KRA."""

    subsystem = KRA

    @property
    def key(self) -> Repository:
        return self.repositories[IdKind.KEY]


def repositories_class(subsystem: Subsystem) -> type[SubsystemRepositories]:
    """The repositories class of ``subsystem``."""
    return KraRepositories if subsystem is KRA else CaRepositories


__all__ = ["REPOSITORY_CLASSES", "CaRepositories", "DnaRepository", "KraRepositories",
           "LegacyRandomRepository", "SubsystemRepositories", "master_configs",
           "new_repository", "repositories_class"]
