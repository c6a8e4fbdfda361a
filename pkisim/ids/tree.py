"""Dogtag's directory tree: where ``nextRange``, ``pkiRange`` records and issued
records live (dogtag-ranges.md section 2), and the entries a new master creates.
"""

from __future__ import annotations

from dataclasses import dataclass

from pkisim.errors import ConfigError
from pkisim.ids.config import REPLICA_NEXT_RANGE_START, IdKind, IdSpaceConfig
from pkisim.ids.layout import CA, Subsystem, subsystem_of
from pkisim.ids.protocol import Add, Attributes, normalize_attrs
from pkisim.ids.radix import Radix
from pkisim.ids.strategies import STRATEGY

DEFAULT_BASE = "o=pki-tomcat"

#: Attributes a server stores with one value only; replication keeps the later write.
SINGLE_VALUED = frozenset({"beginrange", "endrange", "host", "secureport", "serialno",
                           "certstatus", "dnanextvalue", "dnamaxvalue", "dnaremainingvalues",
                           "dnanextrange", "crlnumber", "description"})

_COUNTER_V1 = {IdKind.CERT: "ou=certificateRepository,ou=ca", IdKind.REQUEST: "ou=ca,ou=requests",
               IdKind.REPLICA: "ou=replica", IdKind.KEY: "ou=keyRepository,ou=kra",
               IdKind.KEY_REQUEST: "ou=kra,ou=requests"}
_RANGES_V1 = {IdKind.CERT: "ou=certificateRepository,ou=ranges",
              IdKind.REQUEST: "ou=requests,ou=ranges", IdKind.REPLICA: "ou=replica,ou=ranges",
              IdKind.KEY: "ou=keyRepository,ou=ranges",
              IdKind.KEY_REQUEST: "ou=requests,ou=ranges"}
_RANGES_V2 = {IdKind.CERT: "ou=certificateRepository,ou=ranges_v2",
              IdKind.REQUEST: "ou=requests,ou=ranges_v2", IdKind.REPLICA: "ou=replica,ou=ranges",
              IdKind.KEY: "ou=keyRepository,ou=ranges_v2",
              IdKind.KEY_REQUEST: "ou=requests,ou=ranges_v2"}
_RECORDS = _COUNTER_V1

#: The object classes of an issued record, per ID space.
_RECORD_CLASSES = {IdKind.CERT: ("top", "certificateRecord"), IdKind.REQUEST: ("top", "request"),
                   IdKind.REPLICA: ("top",), IdKind.KEY: ("top", "keyRecord"),
                   IdKind.KEY_REQUEST: ("top", "request")}


@dataclass(frozen=True, slots=True)
class DogtagTree:
    """The DNs of one Dogtag subsystem database below ``base``.

    ``subsystem`` chooses the containers a new database gets: a CA's
    (``ou=certificateRepository,ou=ca``, ``ou=ca,ou=requests``, ...) or a
    KRA's (``ou=keyRepository,ou=kra``, ``ou=kra,ou=requests``, ...), which
    lives in a database of its own (``o=pki-tomcat-KRA``).
    """

    base: str = DEFAULT_BASE
    subsystem: Subsystem = CA

    @classmethod
    def of(cls, kind: IdKind) -> DogtagTree:
        """The default database of the subsystem ``kind`` belongs to."""
        sub = subsystem_of(kind)
        return cls(sub.base, sub)

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
        sub = self.subsystem
        main, request = sub.main, sub.request
        rdns = [f"ou={sub.name}", "ou=requests", "ou=ranges", "ou=ranges_v2", "ou=replica",
                _RECORDS[main], _RECORDS[request]]
        if sub is CA:
            rdns.append("ou=crlIssuingPoints,ou=ca")
        rdns += [_RANGES_V1[main], _RANGES_V1[request], "ou=replica,ou=ranges",
                 _RANGES_V2[main], _RANGES_V2[request], "ou=dna,ou=ranges"]
        rdns += [f"ou={kind.value},ou=dna,ou=ranges" for kind in sub.spaces]
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
                # ``pki-server ca-range-update`` and ``kra-range-update`` alike
                if not (config.radix is Radix.HEX and mode.reinterprets_counter):
                    value = config.end + 1
                elif text.isdigit():
                    value = int(text, 10) + 1
                else:
                    raise ConfigError(f"dbs.{config.keys.end}", text,
                                      f"{self.subsystem.range_update} reads this hex value as "
                                      "decimal and cannot (SSNv1); use digits 0-9 only or legacy2")
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
