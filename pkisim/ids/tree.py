"""Dogtag's directory tree: where ``nextRange``, ``pkiRange`` records and issued
records live (dogtag-ranges.md section 2), and the entries a new master creates.
"""

from __future__ import annotations

from dataclasses import dataclass

from pkisim.errors import ConfigError
from pkisim.ids.config import REPLICA_NEXT_RANGE_START, IdKind, IdSpaceConfig
from pkisim.ids.protocol import Add, Attributes, normalize_attrs
from pkisim.ids.strategies import STRATEGY

DEFAULT_BASE = "o=pki-tomcat"

#: Attributes a server stores with one value only; replication keeps the later write.
SINGLE_VALUED = frozenset({"beginrange", "endrange", "host", "secureport", "serialno",
                           "certstatus", "dnanextvalue", "dnamaxvalue", "dnaremainingvalues",
                           "dnanextrange", "crlnumber", "description"})

_COUNTER_V1 = {IdKind.CERT: "ou=certificateRepository,ou=ca", IdKind.REQUEST: "ou=ca,ou=requests",
               IdKind.REPLICA: "ou=replica"}
_RANGES_V1 = {IdKind.CERT: "ou=certificateRepository,ou=ranges",
              IdKind.REQUEST: "ou=requests,ou=ranges", IdKind.REPLICA: "ou=replica,ou=ranges"}
_RANGES_V2 = {IdKind.CERT: "ou=certificateRepository,ou=ranges_v2",
              IdKind.REQUEST: "ou=requests,ou=ranges_v2", IdKind.REPLICA: "ou=replica,ou=ranges"}
_RECORDS = {IdKind.CERT: "ou=certificateRepository,ou=ca", IdKind.REQUEST: "ou=ca,ou=requests",
            IdKind.REPLICA: "ou=replica"}

#: The object classes of an issued record, per ID space.
_RECORD_CLASSES = {IdKind.CERT: ("top", "certificateRecord"), IdKind.REQUEST: ("top", "request"),
                   IdKind.REPLICA: ("top",)}


@dataclass(frozen=True, slots=True)
class DogtagTree:
    """The DNs of one Dogtag subsystem database below ``base``."""

    base: str = DEFAULT_BASE

    def dn(self, rdns: str) -> str:
        return f"{rdns},{self.base}"

    def counter_dn(self, kind: IdKind, strategy: str) -> str:
        """The entry whose ``nextRange`` attribute is the shared range counter.

        SSNv1 keeps it on the repository entry; SSNv2 moved it onto the range
        container (``ou=ranges_v2``).  Replica IDs keep it on ``ou=replica``.
        """
        if STRATEGY[strategy].ranges_v2 and kind is not IdKind.REPLICA:
            return self.dn(_RANGES_V2[kind])
        return self.dn(_COUNTER_V1[kind])

    def range_container_dn(self, kind: IdKind, strategy: str) -> str:
        """The container of the ``pkiRange`` records of claimed ranges."""
        table = _RANGES_V2 if STRATEGY[strategy].ranges_v2 else _RANGES_V1
        return self.dn(table[kind])

    def range_record_dn(self, kind: IdKind, strategy: str, begin: int | str) -> str:
        return f"cn={begin},{self.range_container_dn(kind, strategy)}"

    def records_dn(self, kind: IdKind) -> str:
        """Where issued objects live as ``cn=<decimal number>`` entries."""
        return self.dn(_RECORDS[kind])

    def record_dn(self, kind: IdKind, number: int) -> str:
        return f"cn={number},{self.records_dn(kind)}"

    def record_add(self, kind: IdKind, number: int) -> Add:
        """The record an issuance stores: ``cn=<decimal number>`` in the ID
        space's records container (Dogtag's certificate or request record)."""
        return Add(f"cn={number},{self.records_dn(kind)}", record_attrs(kind, number))

    def dna_shared_config_dn(self, kind: IdKind) -> str:
        """Container of DNA's per-server shared config entries (one DNA
        configuration, so one container, per ID space)."""
        return self.dn(f"ou={kind.value},ou=dna,ou=ranges")

    @property
    def crl_record_dn(self) -> str:
        return self.dn("cn=MasterCRL,ou=crlIssuingPoints,ou=ca")

    def containers(self) -> list[str]:
        """Every container entry, parents first."""
        rdns = ["ou=ca", "ou=requests", "ou=ranges", "ou=ranges_v2", "ou=replica",
                "ou=certificateRepository,ou=ca", "ou=ca,ou=requests", "ou=crlIssuingPoints,ou=ca",
                "ou=certificateRepository,ou=ranges", "ou=requests,ou=ranges",
                "ou=replica,ou=ranges", "ou=certificateRepository,ou=ranges_v2",
                "ou=requests,ou=ranges_v2", "ou=dna,ou=ranges"]
        rdns += [f"ou={kind.value},ou=dna,ou=ranges" for kind in IdKind]
        return [self.base] + [self.dn(r) for r in rdns]

    def bootstrap(self, masters: list[IdSpaceConfig]) -> list[Add]:
        """The entries a new master's installation creates (create.ldif plus
        ``pki-server ca-range-update``), as :class:`Add` commands, parents first.

        ``nextRange`` starts at the end of the master's initial range plus one.
        For SSNv1 certificates the hexadecimal ``dbs.endSerialNumber`` string is
        parsed as *decimal* (Dogtag's own comment calls it a bug): end ``12``
        (hex) gives ``nextRange: 13``, and an end with hex letters fails.
        Replica IDs start at 1000, as create.ldif writes.
        """
        counters: dict[str, str] = {}
        for config in masters:
            mode = config.mode
            if not mode.shared_counter:
                continue
            if config.kind is IdKind.REPLICA:
                value = REPLICA_NEXT_RANGE_START
            else:
                text = config.fmt(config.end)
                if not (config.kind is IdKind.CERT and mode.reinterprets_counter):
                    value = config.end + 1
                elif text.isdigit():
                    value = int(text, 10) + 1
                else:
                    raise ConfigError(f"dbs.{config.keys.end}", text,
                                      "pki-server ca-range-update reads this hex value as decimal "
                                      "and cannot (SSNv1); use digits 0-9 only or legacy2")
            counters[self.counter_dn(config.kind, config.strategy)] = str(value)
        adds: list[Add] = []
        for dn in self.containers():
            rdn = dn.split(",", 1)[0]
            attr, value = rdn.split("=", 1)
            attrs: dict[str, object] = {attr: value}
            if attr.lower() == "o":
                attrs["objectClass"] = ("top", "organization")
            elif dn in counters:
                attrs["objectClass"] = ("top", "repository")
                attrs["nextRange"] = counters[dn]
            else:
                attrs["objectClass"] = ("top", "organizationalUnit")
            adds.append(Add(dn, normalize_attrs(attrs)))
        return adds


def record_attrs(kind: IdKind, number: int) -> Attributes:
    """The attributes of an issued record (a real server adds what it derives
    from the DN, such as ``serialno``)."""
    return {"objectclass": _RECORD_CLASSES[kind], "cn": (str(number),)}


def range_record(kind: IdKind, begin: int, end: int, host: str, secure_port: int) -> Attributes:
    """The attributes of a ``pkiRange`` record (values in decimal)."""
    del kind
    return normalize_attrs({"objectClass": ("top", "pkiRange"), "cn": begin, "beginRange": begin,
                            "endRange": end, "host": host, "SecurePort": secure_port})
