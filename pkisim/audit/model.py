"""What an audit reconstructs from a directory (or its LDIF export) and CS.cfg files.

Numbers in the directory are what Dogtag wrote there: ``nextRange`` and the
``pkiRange`` records are decimal strings; for SSNv1 certificates the CA reads
the *same digits* as hexadecimal (dogtag-ranges.md section 4.4), so a record
``cn=49`` (49-66) is the range 0x49-0x5a in the CA.  :attr:`RangeRecord.actual`
is always the range in the CA's own numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pkisim.ids.config import IdKind, IdSpaceConfig
from pkisim.ids.radix import Radix
from pkisim.ids.strategies import STRATEGY

if TYPE_CHECKING:
    from pkisim.audit.ocsp import CrlPoint

#: Range families: where a strategy keeps its records (``ou=ranges`` or ``ou=ranges_v2``).
V1, V2 = "v1", "v2"


def family_of(strategy: str) -> str:
    return V2 if STRATEGY[strategy].ranges_v2 else V1


def reinterpreted(kind: IdKind, family: str, decimal: int) -> int:
    """A decimal number from the directory as the CA reads it (SSNv1 certs: as hex digits)."""
    if (kind is IdKind.CERT or kind is IdKind.KEY) and family == V1:  # a KRA's keys too
        return Radix.HEX.reinterpret(str(decimal))
    return decimal


PROBLEM, NOTE = "problem", "note"


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing the audit found: a ``problem`` (exit status 1) or a ``note``."""

    code: str
    severity: str
    message: str
    kind: IdKind | None = None
    ca: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {"code": self.code, "severity": self.severity,
                "kind": self.kind.value if self.kind else None, "ca": self.ca,
                "message": self.message}


@dataclass(frozen=True, slots=True)
class Counter:
    """A ``nextRange`` attribute; several values mean a past replication race."""

    kind: IdKind
    family: str
    dn: str
    values: tuple[int, ...]  # decimal, as stored
    where: str

    @property
    def actual(self) -> tuple[int, ...]:
        """Where the next claims will begin, in the CA's numbers."""
        return tuple(reinterpreted(self.kind, self.family, v) for v in self.values)


@dataclass(frozen=True, slots=True)
class RangeRecord:
    """A ``pkiRange`` entry: a range claimed from ``nextRange`` and who claimed it."""

    kind: IdKind
    family: str
    dn: str
    begin: int  # beginRange, decimal as stored
    end: int  # endRange
    host: str
    secure_port: int
    where: str
    conflict: str | None = None  # nsds5ReplConflict: the loser of a replicated add

    @property
    def actual(self) -> tuple[int, int]:
        """The range in the CA's numbers (SSNv1 certs: hex reinterpretation, same size)."""
        begin = reinterpreted(self.kind, self.family, self.begin)
        return begin, begin + self.end - self.begin

    @property
    def holder(self) -> str:
        return f"{self.host}:{self.secure_port}"


@dataclass(frozen=True, slots=True)
class Issued:
    """A certificate or request record ``cn=<decimal number>`` and when it was created."""

    kind: IdKind
    number: int
    dn: str
    time: float | None  # POSIX seconds (dateOfCreate, else createTimestamp)
    conflict: str | None = None


@dataclass(frozen=True, slots=True)
class ConflictEntry:
    """Any entry that 389-DS tagged with ``nsds5ReplConflict``."""

    dn: str
    conflict: str
    where: str


@dataclass(frozen=True, slots=True)
class CaConfig:
    """One CA as its CS.cfg describes it."""

    name: str  # machineName
    source: str  # the CS.cfg path
    secure_port: int
    spaces: Mapping[IdKind, IdSpaceConfig]
    clone: bool  # master.ca.agent.host is set (pkispawn writes it on clones)
    crl_master: bool  # ca.crl.MasterCRL.enableCRLUpdates
    #: ``ca`` or ``kra`` (``cs.type``): which database its ranges live in.
    subsystem: str = "ca"

    @property
    def holder(self) -> str:
        return f"{self.name}:{self.secure_port}"

    def held(self, kind: IdKind) -> list[tuple[str, int, int]]:
        """(``current``/``next``, begin, end) of a ranged ID space; empty for random.

        A next range a transfer cut below its begin holds no number, yet
        Dogtag's switch to it issues its begin: that one number is held."""
        config = self.spaces.get(kind)
        if config is None or not config.mode.ranged:  # another subsystem's; RSNv3; DNA
            return []
        out = [("current", config.begin, config.end)]
        if config.next_begin is not None and config.next_end is not None:
            out.append(("next", config.next_begin, max(config.next_end, config.next_begin)))
        return out


@dataclass(frozen=True, slots=True)
class UnknownAttribute:
    """An attribute that Dogtag's schema does not give the object classes of
    the entries that carry it (another Dogtag version, a local extension): noted,
    not read."""

    name: str  # lower case, as read
    classes: str  # the Dogtag object classes of the first entry, "certificaterecord"
    count: int  # entries that carry it
    where: str  # the first one: file:line, or server and DN


@dataclass(frozen=True, slots=True)
class Deployment:
    """Everything an audit read: the directory's counters, records and conflicts, and the CAs."""

    source: str  # LDIF path or server URL
    base: str
    counters: tuple[Counter, ...] = ()
    ranges: tuple[RangeRecord, ...] = ()
    issued: tuple[Issued, ...] = ()
    conflicts: tuple[ConflictEntry, ...] = ()
    cas: tuple[CaConfig, ...] = ()
    entries: int = 0
    unknown: tuple[UnknownAttribute, ...] = ()
    #: CRL issuing points, the CA's and the OCSP's (:mod:`pkisim.audit.ocsp`).
    crl_points: tuple[CrlPoint, ...] = ()
    #: ``ca``, or ``kra`` for a KRA's database (``ou=keyRepository,ou=kra``).
    subsystem: str = "ca"

    @property
    def own_cas(self) -> tuple[CaConfig, ...]:
        """The CS.cfg files of this database's subsystem (a KRA's ranges are
        not a CA's, and each database has its own replica IDs)."""
        return tuple(ca for ca in self.cas if ca.subsystem == self.subsystem)
