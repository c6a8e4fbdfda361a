"""Realistic deployments for the audit tests: an LDIF export as 389-DS's
``db2ldif``/``ldapsearch`` writes it (Dogtag's certificate and request records
with their usual attributes, operational attributes, folded lines, base64
values, non-Dogtag entries) and CS.cfg files derived from a real one
(scenarios/data/master-CS.cfg), all deterministic."""

from __future__ import annotations

import base64
import calendar
import hashlib
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from pkisim.ids.config import IdKind, IdSpaceConfig
from pkisim.ids.cscfg import CSCfg, store_id_space
from pkisim.ids.tree import DogtagTree
from pkisim.ldap.directory import encode_number

ROOT = Path(__file__).resolve().parents[2]
MASTER_CS_CFG = ROOT / "scenarios" / "data" / "master-CS.cfg"
DATA = Path(__file__).resolve().parent / "data"
END = float(calendar.timegm((2026, 3, 10, 12, 0, 0, 0, 0, 0)))  # 2026-03-10T12:00:00Z
DAY = 86400.0


def gtime(seconds: float) -> str:
    return time.strftime("%Y%m%d%H%M%SZ", time.gmtime(seconds))


def fold(line: str, width: int = 78) -> str:
    """RFC 2849 folding: continuation lines start with one space."""
    out, rest = [line[:width]], line[width:]
    while rest:
        out.append(" " + rest[:width - 1])
        rest = rest[width - 1:]
    return "\n".join(out)


@dataclass
class Export:
    """An LDIF export under construction."""

    base: str = "o=pki-tomcat"
    entries: list[list[tuple[str, str]]] = field(default_factory=list)
    uid: int = 0

    @property
    def tree(self) -> DogtagTree:
        return DogtagTree(self.base)

    def add(self, dn: str, attrs: list[tuple[str, str]], created: float = END - 400 * DAY) -> None:
        self.uid += 1
        h = hashlib.sha1(f"{dn}{self.uid}".encode()).hexdigest()
        ops = [("creatorsName", "cn=directory manager"), ("modifiersName", "cn=directory manager"),
               ("createTimestamp", gtime(created)), ("modifyTimestamp", gtime(created)),
               ("nsUniqueId", f"{h[:8]}-{h[8:16]}-{h[16:24]}-{h[24:32]}")]
        self.entries.append([("dn", dn), *attrs, *ops])

    def skeleton(self, counters: dict[str, list[int]]) -> None:
        """The suffix, Dogtag's containers, people; ``counters``: DN -> nextRange values."""
        for dn in self.tree.containers():
            rdn = dn.split(",", 1)[0]
            attr, value = rdn.split("=", 1)
            if attr == "o":
                attrs = [("objectClass", "top"), ("objectClass", "organization"), ("o", value),
                         ("aci", '(targetattr="*")(version 3.0; acl "pkisim test"; allow (read) '
                                 'userdn="ldap:///anyone";)')]
            elif dn in counters:
                attrs = [("objectClass", "top"), ("objectClass", "repository"), ("ou", value)]
                attrs += [("nextRange", str(v)) for v in counters[dn]]
                if "certificateRepository,ou=ca" in dn:
                    attrs.append(("serialno", "011"))
            else:
                attrs = [("objectClass", "top"), ("objectClass", "organizationalUnit"),
                         ("ou", value)]
            self.add(dn, attrs)
        self.add(f"ou=people,{self.base}", [("objectClass", "top"),
                                             ("objectClass", "organizationalUnit"),
                                             ("ou", "people")])
        self.add(f"uid=caadmin,ou=people,{self.base}", [
            ("objectClass", "top"), ("objectClass", "person"),
            ("objectClass", "organizationalPerson"), ("objectClass", "inetOrgPerson"),
            ("uid", "caadmin"), ("sn", "caadmin"), ("cn", "CA Administrator"),
            ("mail", "caadmin@example.com"), ("description", "2;7;CN=CA Signing Certificate")])

    def range_record(self, kind: IdKind, strategy: str, begin: int, end: int, host: str,
                     port: int = 8443, conflict: str | None = None) -> None:
        dn = self.tree.range_record_dn(kind, strategy, begin)
        attrs = [("objectClass", "top"), ("objectClass", "pkiRange"), ("cn", str(begin)),
                 ("beginRange", str(begin)), ("endRange", str(end)), ("host", host),
                 ("SecurePort", str(port))]
        if conflict is not None:
            dn = dn.replace(f"cn={begin},", f"cn={begin}+nsuniqueid={conflict},", 1)
            attrs.insert(1, ("objectClass", "ldapsubentry"))
            original = self.tree.range_record_dn(kind, strategy, begin)
            attrs.append(("nsds5ReplConflict", f"namingConflict (ADD) {original}"))
        self.add(dn, attrs, END - 30 * DAY)

    def cert(self, serial: int, at: float, conflict: str | None = None) -> None:
        dn = self.tree.record_dn(IdKind.CERT, serial)
        der = hashlib.sha256(f"cert {serial}".encode()).digest() * 4
        attrs = [("objectClass", "top"), ("objectClass", "certificateRecord"),
                 ("cn", str(serial)), ("serialno", encode_number(serial)),
                 ("certStatus", "VALID"), ("autoRenew", "ENABLED"),
                 ("issuedBy", "system"), ("issuerName", "CN=CA Signing Certificate,O=EXAMPLE"),
                 ("subjectName", f"CN=server{serial}.example.com,O=EXAMPLE"),
                 ("notBefore", gtime(at)), ("notAfter", gtime(at + 730 * DAY)),
                 ("dateOfCreate", gtime(at)), ("dateOfModify", gtime(at)),
                 ("duration", "00000063072000000"), ("algorithmId", "1.2.840.113549.1.1.1"),
                 ("signingAlgorithmId", "1.2.840.113549.1.1.11"),
                 ("metaInfo", f"requestId:{serial}"), ("metaInfo", "profileId:caServerCert"),
                 ("userCertificate;binary", "\0" + base64.b64encode(der).decode())]
        if conflict is not None:
            dn = dn.replace(f"cn={serial},", f"cn={serial}+nsuniqueid={conflict},", 1)
            attrs.insert(1, ("objectClass", "ldapsubentry"))
            attrs.append(("nsds5ReplConflict",
                          f"namingConflict (ADD) {self.tree.record_dn(IdKind.CERT, serial)}"))
        self.add(dn, attrs, at)

    def request(self, number: int, at: float) -> None:
        dn = self.tree.record_dn(IdKind.REQUEST, number)
        self.add(dn, [("objectClass", "top"), ("objectClass", "request"),
                      ("objectClass", "extensibleObject"), ("cn", str(number)),
                      ("requestId", encode_number(number)), ("requestState", "complete"),
                      ("requestType", "enrollment"), ("requestSourceId", "caServerCert"),
                      ("requestOwner", "caadmin"), ("dateOfCreate", gtime(at)),
                      ("dateOfModify", gtime(at)), ("extdata-profileid", "caServerCert"),
                      ("extdata-cert--005frequest--005ftype", "pkcs10")], at)

    def text(self) -> str:
        lines = ["version: 1", ""]
        for entry in self.entries:
            for name, value in entry:
                if value.startswith("\0"):
                    lines.append(fold(f"{name}:: {value[1:]}"))
                else:
                    lines.append(fold(f"{name}: {value}"))
            lines.append("")
        return "\n".join(lines)


def issue_times(rng: random.Random, count: int, days: float, *, burst: int = 0) -> list[float]:
    """``count`` creation times spread over the ``days`` before END, plus a burst
    of ``burst`` in one hour a day before END."""
    times = [END - rng.uniform(0, days * DAY) for _ in range(count)]
    times += [END - DAY - rng.uniform(0, 3600) for _ in range(burst)]
    return sorted(times)


def cs_cfg(path: Path, host: str, spaces: dict[IdKind, IdSpaceConfig], *, clone: bool,
           interval: int | None = None) -> Path:
    """A CS.cfg like the real one, with ``host``'s ranges written the way Dogtag writes them."""
    text = MASTER_CS_CFG.read_text()
    text = "".join(line for line in text.splitlines(keepends=True) if not line.startswith("# "))
    cfg = CSCfg.parse(text, str(path))
    cfg.set("machineName", host)
    cfg.set("service.machineName", host)
    strategy = spaces[IdKind.CERT].strategy
    if strategy in ("legacy2", "random"):
        cfg.set("dbs.cert.id.generator", strategy)
        cfg.set("dbs.request.id.generator", strategy)
    if clone:
        cfg.set("master.ca.agent.host", "ca1.example.com")
        cfg.set("master.ca.agent.port", "8443")
        cfg.set("ca.crl.MasterCRL.enableCRLUpdates", "false")
        cfg.set("ca.listenToCloneModifications", "false")
    if interval is not None:
        cfg.set("ca.serialNumberUpdateInterval", str(interval))
    for config in spaces.values():
        store_id_space(cfg, config)
    path.write_text(cfg.text())
    return path
