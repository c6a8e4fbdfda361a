"""Which ID spaces each Dogtag subsystem has, and how it names them.

A CA issues certificate serials and request IDs; a KRA archived-key IDs and
its own request IDs (dogtag-ranges.md sections 0-1: the KRA's
``KeyRepository`` and ``RequestRepository`` are the same ``Repository`` with
the same ``dbs.*`` keys, the update task runs every
``kra.keyStatusUpdateInterval`` seconds, and RSNv3 is chosen by
``dbs.key.id.generator``).  Both have a replica-ID repository.  A
:class:`Subsystem` is that description as data, so that the repositories,
the directory tree and CS.cfg are written once for every subsystem.
"""

from __future__ import annotations

from dataclasses import dataclass

from pkisim.errors import ConfigError
from pkisim.ids.strategies import STRATEGY, IdKind, strategy


@dataclass(frozen=True, slots=True)
class Subsystem:
    """One kind of Dogtag subsystem, as its ID spaces see it."""

    #: Dogtag's name, lower case (``ca``, ``kra``): the ``ou=`` of its records.
    name: str
    #: The ID space of the objects it keeps (certificates, archived keys).
    main: IdKind
    #: Its request-ID space.
    request: IdKind
    #: The CS.cfg key of its update task's period.
    update_key: str
    #: The ``pki-server <name>-range-update`` command that writes ``nextRange`` at install.
    range_update: str
    #: The default base DN of its database.
    base: str

    @property
    def kinds(self) -> tuple[IdKind, IdKind, IdKind]:
        """Its ID spaces in Dogtag's start-up order: requests, then the main
        repository, then replica IDs (checked only before a transfer)."""
        return (self.request, self.main, IdKind.REPLICA)

    @property
    def spaces(self) -> tuple[IdKind, IdKind, IdKind]:
        """Its ID spaces in the order reports list them: main, requests, replica IDs."""
        return (self.main, self.request, IdKind.REPLICA)

    def strategy_for(self, kind: IdKind, name: str) -> str:
        """The strategy of ``kind`` when the subsystem runs ``name``.

        Replica IDs stay ranged whatever the generator.  RSNv1
        (``dbs.enableRandomSerialNumbers``) is a certificate-repository option:
        a KRA under ``legacy-random`` hands out sequential SSNv1 key and
        request IDs [inference: only ``CertificateRepository`` reads the key].
        """
        row = strategy(name)
        if kind is IdKind.REPLICA:
            return row.replica_strategy
        if self is KRA and row.random and row.ranged:
            return STRATEGY["legacy"].name
        return row.name


CA = Subsystem("ca", IdKind.CERT, IdKind.REQUEST, "ca.serialNumberUpdateInterval",
               "pki-server ca-range-update", "o=pki-tomcat")
KRA = Subsystem("kra", IdKind.KEY, IdKind.KEY_REQUEST, "kra.keyStatusUpdateInterval",
                "pki-server kra-range-update", "o=pki-tomcat-KRA")

#: Every subsystem with ID spaces, by name.
SUBSYSTEMS: dict[str, Subsystem] = {s.name: s for s in (CA, KRA)}


def subsystem_of(kind: IdKind) -> Subsystem:
    """The subsystem an ID space belongs to (replica IDs: the CA's, by convention)."""
    return KRA if kind is IdKind.KEY or kind is IdKind.KEY_REQUEST else CA


def subsystem(name: str, *, key: str = "subsystem") -> Subsystem:
    """The subsystem called ``name``; a one-line :class:`ConfigError` naming ``key`` if unknown."""
    found = SUBSYSTEMS.get(name) if isinstance(name, str) else None
    if found is None:
        raise ConfigError(key, name, f"unknown subsystem; choose one of {', '.join(SUBSYSTEMS)}")
    return found


__all__ = ["CA", "KRA", "SUBSYSTEMS", "Subsystem", "subsystem", "subsystem_of"]
