"""The allocation strategies as data: one row per strategy, read wherever the
code must know what a strategy does (never by comparing its name).

``legacy`` (SSNv1), ``legacy2`` (SSNv2), ``legacy-random`` (RSNv1) and
``random`` (RSNv3) are Dogtag's ID generators (dogtag-ranges.md section 0);
``dna`` is 389-DS's Distributed Numeric Assignment (section 9) and ``naive``
a deliberately unsafe baseline (read ``nextRange``, then overwrite it).  The
class that implements a strategy names its row (``Repository.mode``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from pkisim.errors import ConfigError
from pkisim.ids.radix import Radix


class IdKind(enum.Enum):
    """Which repository an ID belongs to."""

    CERT = "cert"
    REQUEST = "request"
    REPLICA = "replica"
    #: The KRA's archived-key IDs (``KeyRepository``, ``dbs.key.id.*``).
    KEY = "key"
    #: The KRA's request IDs (its own ``RequestRepository``, ``ou=kra,ou=requests``).
    KEY_REQUEST = "key-request"


@dataclass(frozen=True, slots=True)
class Strategy:
    """What one allocation strategy is."""

    #: pkisim's name (``--strategy``, scenario files, ``IdSpaceConfig.strategy``).
    name: str
    #: Dogtag's (or 389-DS's) name for it.
    dogtag: str
    #: The ``dbs.*.id.generator`` value that selects it (``None``: not a Dogtag generator).
    generator: str | None
    #: Claims ranges from the shared ``nextRange`` counter and serves clone transfers.
    ranged: bool
    #: Hands out ``last + 1, last + 2, ...`` from a held range without I/O
    #: (so a batched caller may take a run of consecutive numbers at once).
    sequential: bool
    #: Issuance talks to the directory (RSNv1 probes every candidate against it).
    issue_through_directory: bool
    #: Serials are drawn at random: "random bits" is what the CA/B Forum counts.
    random: bool
    #: Ranges are asked of peer servers when low, not claimed by the update task (DNA).
    on_demand: bool
    #: ``nextRange`` lives on the range container under ``ou=ranges_v2`` (SSNv2's layout).
    ranges_v2: bool
    #: The radix of CS.cfg values per ID space (see :meth:`radix`).
    cert_radix: Radix
    request_radix: Radix
    replica_radix: Radix
    #: A claim swaps ``nextRange`` with delete-old/add-new (a compare-and-swap on
    #: one server), so the counter never goes back; the naive baseline overwrites it.
    compare_and_swap: bool
    #: The strategy of this CA's replica-ID repository (always ranged).
    replica_strategy: str

    @property
    def shared_counter(self) -> bool:
        """Does a ``nextRange`` counter entry exist for this strategy?"""
        return self.ranged

    @property
    def full_length_random(self) -> bool:
        """Every number is ``dbs.*.id.length`` random bits, with no range (RSNv3)."""
        return self.random and not self.ranged

    @property
    def reinterprets_counter(self) -> bool:
        """SSNv1 certificates: the decimal ``nextRange`` digits are re-read in
        hex, and ``pki-server ca-range-update`` reads the hex end as decimal."""
        return self.cert_radix is Radix.HEX

    def radix(self, kind: IdKind) -> Radix:
        """The radix CS.cfg values of ``kind`` are written in.

        SSNv2 writes ``0x`` only for certificates; its request values stay
        decimal.  Replica IDs are decimal in every mode, ``0x`` accepted
        (``ReplicaIDRepository`` reads them with ``ConfigStore.getBigInteger``);
        the naive baseline writes everything with ``0x``.
        """
        if kind is IdKind.CERT or kind is IdKind.KEY:  # dbs.key.id.radix: 16, as certificates
            return self.cert_radix
        if kind is IdKind.REQUEST or kind is IdKind.KEY_REQUEST:
            return self.request_radix
        return self.replica_radix


_ROWS = (
    Strategy("legacy", "SSNv1", "legacy", ranged=True, sequential=True,
             issue_through_directory=False, random=False, on_demand=False, ranges_v2=False,
             cert_radix=Radix.HEX, request_radix=Radix.DECIMAL, replica_radix=Radix.DECIMAL_0X,
             compare_and_swap=True, replica_strategy="legacy"),
    Strategy("legacy2", "SSNv2", "legacy2", ranged=True, sequential=True,
             issue_through_directory=False, random=False, on_demand=False, ranges_v2=True,
             cert_radix=Radix.PREFIXED, request_radix=Radix.DECIMAL_0X,
             replica_radix=Radix.DECIMAL_0X, compare_and_swap=True, replica_strategy="legacy2"),
    Strategy("legacy-random", "RSNv1", "legacy", ranged=True, sequential=False,
             issue_through_directory=True, random=True, on_demand=False, ranges_v2=False,
             cert_radix=Radix.HEX, request_radix=Radix.DECIMAL, replica_radix=Radix.DECIMAL_0X,
             compare_and_swap=True, replica_strategy="legacy"),
    Strategy("random", "RSNv3", "random", ranged=False, sequential=False,
             issue_through_directory=False, random=True, on_demand=False, ranges_v2=False,
             cert_radix=Radix.DECIMAL, request_radix=Radix.DECIMAL, replica_radix=Radix.DECIMAL_0X,
             compare_and_swap=False, replica_strategy="legacy"),
    Strategy("naive", "read-then-overwrite baseline", None, ranged=True, sequential=True,
             issue_through_directory=False, random=False, on_demand=False, ranges_v2=True,
             cert_radix=Radix.PREFIXED, request_radix=Radix.PREFIXED, replica_radix=Radix.PREFIXED,
             compare_and_swap=False, replica_strategy="legacy"),
    Strategy("dna", "389-DS DNA", None, ranged=False, sequential=True,
             issue_through_directory=False, random=False, on_demand=True, ranges_v2=False,
             cert_radix=Radix.DECIMAL, request_radix=Radix.DECIMAL, replica_radix=Radix.DECIMAL_0X,
             compare_and_swap=False, replica_strategy="legacy"),
)

#: Every strategy by name, in the order users see them.
STRATEGY: dict[str, Strategy] = {row.name: row for row in _ROWS}
#: Their names.
STRATEGIES = tuple(STRATEGY)
#: Strategies that manage ranges through ``nextRange`` (and so take part in clone transfers).
RANGED_STRATEGIES = frozenset(row.name for row in _ROWS if row.ranged)


def strategy(name: str, *, key: str = "strategy") -> Strategy:
    """The row of ``name``; a one-line :class:`ConfigError` naming ``key`` if unknown."""
    row = STRATEGY.get(name) if isinstance(name, str) else None
    if row is None:
        raise ConfigError(key, name, f"unknown strategy; choose one of {', '.join(STRATEGIES)}")
    return row
