"""The ID spaces Dogtag manages and their parameters, validated.

A CA has three repositories of numbers: certificate serials, request IDs and
replica IDs (389-DS ``nsDS5ReplicaId`` values).  Each is configured by the same
family of ``dbs.*`` keys in CS.cfg; :class:`IdSpaceConfig` holds one family,
with the CS.cfg key names kept for error messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import NamedTuple

from pkisim.errors import ConfigError
from pkisim.ids.layout import subsystem_of
from pkisim.ids.radix import Radix
from pkisim.ids.strategies import (
    STRATEGY,
    IdKind,
    Strategy,
    strategy,
)


class RangeKeys(NamedTuple):
    """The CS.cfg keys of one ID space (without the ``dbs.`` prefix)."""

    begin: str
    end: str
    next_begin: str
    next_end: str
    increment: str
    low_water_mark: str
    clone_transfer_number: str
    dn: str
    range_dn: str


KEYS: dict[IdKind, RangeKeys] = {
    IdKind.CERT: RangeKeys("beginSerialNumber", "endSerialNumber", "nextBeginSerialNumber",
                           "nextEndSerialNumber", "serialIncrement", "serialLowWaterMark",
                           "serialCloneTransferNumber", "serialDN", "serialRangeDN"),
    IdKind.REQUEST: RangeKeys("beginRequestNumber", "endRequestNumber", "nextBeginRequestNumber",
                              "nextEndRequestNumber", "requestIncrement", "requestLowWaterMark",
                              "requestCloneTransferNumber", "requestDN", "requestRangeDN"),
    IdKind.REPLICA: RangeKeys("beginReplicaNumber", "endReplicaNumber", "nextBeginReplicaNumber",
                              "nextEndReplicaNumber", "replicaIncrement", "replicaLowWaterMark",
                              "replicaCloneTransferNumber", "replicaDN", "replicaRangeDN"),
}
# A KRA's CS.cfg names its key IDs with the CA's serial keys (``KeyRepository``
# reads ``dbs.beginSerialNumber``, ...) and its request IDs with the request keys.
KEYS[IdKind.KEY] = KEYS[IdKind.CERT]
KEYS[IdKind.KEY_REQUEST] = KEYS[IdKind.REQUEST]

def check_strategy(name: str, *, key: str = "strategy") -> str:
    """``name`` if it is a strategy; a one-line :class:`ConfigError` otherwise."""
    return strategy(name, key=key).name


def radix_for(kind: IdKind, strategy_name: str) -> Radix:
    """The radix CS.cfg values of this ID space are written in (:meth:`Strategy.radix`)."""
    return strategy(strategy_name).radix(kind)


@dataclass(frozen=True, slots=True)
class IdSpaceConfig:
    """One ID space of one CA, as CS.cfg describes it.

    Bounds are inclusive.  ``next_begin``/``next_end`` are ``None`` when there is
    no next range (Dogtag writes ``-1`` or omits the keys).
    """

    kind: IdKind
    strategy: str
    begin: int
    end: int
    increment: int
    low_water_mark: int
    clone_transfer_number: int | None = None
    next_begin: int | None = None
    next_end: int | None = None
    serial_management: bool = True
    #: ``ca.serialNumberUpdateInterval`` (a KRA's ``kra.keyStatusUpdateInterval``), seconds
    update_interval: float = 600.0
    id_length: int = 128  # dbs.cert.id.length, bits (random strategies)
    host: str = "localhost"  # machineName, written into pkiRange records
    secure_port: int = 8443  # EE HTTPS port, written into pkiRange records
    #: A range emptied by clone transfers (end = begin - 1, Pagure 3055) is a
    #: state Dogtag can reach, not a configuration a user should write.
    depleted: bool = field(default=False, compare=False, repr=False)
    #: A next range that a clone transfer larger than it cut below its begin:
    #: Dogtag's ``UpdateNumberRange`` writes ``nextEnd - T`` unchecked, so
    #: ``dbs.nextEnd*Number`` < ``dbs.nextBegin*Number`` (dogtag-ranges.md 4.3,
    #: 7.5).  It holds no number, yet Dogtag still switches to it and issues its
    #: begin.  A state Dogtag reaches (and writes to CS.cfg), not one to write.
    next_overrun: bool = field(default=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        check_strategy(self.strategy)
        k, fmt = self.keys, self.radix.format
        if self.begin < 0:
            raise ConfigError(f"dbs.{k.begin}", fmt(self.begin), "must not be negative")
        if self.end < self.begin - (1 if self.depleted else 0):
            raise ConfigError(f"dbs.{k.end}", fmt(self.end),
                              f"is below dbs.{k.begin} {fmt(self.begin)}")
        if self.increment <= 0:
            raise ConfigError(f"dbs.{k.increment}", fmt(self.increment), "must be positive")
        if self.low_water_mark < 0:
            raise ConfigError(f"dbs.{k.low_water_mark}", fmt(self.low_water_mark),
                              "must not be negative")
        if self.low_water_mark > self.increment:
            raise ConfigError(f"dbs.{k.low_water_mark}", fmt(self.low_water_mark),
                              f"is larger than dbs.{k.increment} {fmt(self.increment)}: every "
                              "update run would claim again and leak the range it claimed before")
        if (self.next_begin is None) != (self.next_end is None):
            raise ConfigError(f"dbs.{k.next_end}", self.next_end,
                              f"must be set together with dbs.{k.next_begin}")
        if self.next_begin is not None and self.next_end is not None:
            if self.next_end < self.next_begin and not self.next_overrun:
                raise ConfigError(f"dbs.{k.next_end}", fmt(self.next_end),
                                  f"is below dbs.{k.next_begin} {fmt(self.next_begin)}")
            if self.next_begin <= min(self.end, self.next_end) and self.next_end >= self.begin:
                raise ConfigError(f"dbs.{k.next_begin}", fmt(self.next_begin),
                                  "next range overlaps the current range")
        if self.clone_transfer_number is not None:
            if self.clone_transfer_number <= 0:
                raise ConfigError(f"dbs.{k.clone_transfer_number}",
                                  fmt(self.clone_transfer_number), "must be positive")
            size = self.end - self.begin + 1
            if self.clone_transfer_number > max(size, self.increment):
                raise ConfigError(f"dbs.{k.clone_transfer_number}", fmt(self.clone_transfer_number),
                                  f"is larger than the range ({size} numbers)")
        if self.update_interval < 0:
            raise ConfigError(subsystem_of(self.kind).update_key, self.update_interval,
                              "must not be negative (0 disables the update task)")
        if not 8 <= self.id_length <= 1024:
            raise ConfigError(f"dbs.{self.kind.value}.id.length", self.id_length,
                              "must be between 8 and 1024 bits")

    @property
    def keys(self) -> RangeKeys:
        return KEYS[self.kind]

    @property
    def mode(self) -> Strategy:
        """The strategy's row in :data:`pkisim.ids.strategies.STRATEGY`."""
        return strategy(self.strategy)

    @property
    def radix(self) -> Radix:
        return self.mode.radix(self.kind)

    @property
    def has_next(self) -> bool:
        return self.next_begin is not None

    @property
    def next_overrun_by(self) -> int:
        """How far the next range's end lies below its begin (0: it does not)."""
        if self.next_begin is None or self.next_end is None:
            return 0
        return max(0, self.next_begin - self.next_end)

    def fmt(self, number: int) -> str:
        return self.radix.format(number)

    def evolve(self, **changes: object) -> IdSpaceConfig:
        """A copy with some fields changed, validated again."""
        return replace(self, **changes)  # type: ignore[arg-type]


# pkispawn's values for a new master (dogtag-ranges.md section 1).  SSNv1 writes
# the certificate values as the hex digit strings "10000000", "2000000", "10000";
# SSNv2 writes the same numbers with 0x.
_PKISPAWN = {
    IdKind.CERT: dict(begin=1, end=0x10000000, increment=0x10000000, low_water_mark=0x2000000,
                      clone_transfer_number=0x10000),
    IdKind.REQUEST: dict(begin=1, end=10000000, increment=10000000, low_water_mark=2000000,
                         clone_transfer_number=10000),
    IdKind.REPLICA: dict(begin=1, end=100, increment=100, low_water_mark=20,
                         clone_transfer_number=5),
}
# pkispawn's KRA values are the CA's (``pki_serial_number_range_*``,
# ``pki_request_number_range_*``).
_PKISPAWN[IdKind.KEY] = _PKISPAWN[IdKind.CERT]
_PKISPAWN[IdKind.KEY_REQUEST] = _PKISPAWN[IdKind.REQUEST]

#: The value create.ldif gives the replica ``nextRange``.
REPLICA_NEXT_RANGE_START = 1000


def pkispawn_defaults(kind: IdKind, strategy: str = "legacy2",
                      **overrides: object) -> IdSpaceConfig:
    """The configuration pkispawn writes for a new master, with overrides."""
    base: dict[str, object] = dict(_PKISPAWN[kind])
    if strategy in STRATEGY:
        strategy = subsystem_of(kind).strategy_for(kind, strategy)
    base.update(overrides)
    return IdSpaceConfig(kind=kind, strategy=strategy, **base)  # type: ignore[arg-type]


__all__ = ["KEYS", "REPLICA_NEXT_RANGE_START", "IdKind", "IdSpaceConfig", "RangeKeys",
           "check_strategy", "pkispawn_defaults", "radix_for"]
