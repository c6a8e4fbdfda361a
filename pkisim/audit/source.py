"""Read a deployment: an LDIF export or a live directory (read-only), and CS.cfg files.

Both sources give the same entries to :func:`reconstruct`, which finds Dogtag's
tree (:class:`~pkisim.ids.tree.DogtagTree`) below the base DN: the
``nextRange`` counters, the ``pkiRange`` records, the ``cn=<n>`` certificate and
request records with their creation times, and every replication conflict entry.

Dogtag's entries are read against Dogtag's schema: the attributes of its object
classes ``repository``, ``pkiRange``, ``certificateRecord`` and ``request``
(:data:`DOGTAG_CLASSES`, any attribute with ``extensibleObject``), plus the
operational attributes OpenLDAP and 389-DS export (``createTimestamp``,
``entryUUID``, ``nsUniqueId``, ``nsds5ReplConflict``, ``aci``, ...).  An
attribute beyond them (another Dogtag version's, a local extension) is noted
once per attribute (:class:`~pkisim.audit.model.UnknownAttribute`) and not
read; only values the audit needs and cannot interpret (a ``nextRange`` that is
no number, a ``SecurePort`` that is no port, a truncated entry) are refused.
Numbers follow the rules of every reader (:mod:`pkisim.limits`).  Other
entries (containers, people, the 389-DS RUV) are not checked.
"""

from __future__ import annotations

import calendar
import contextlib
import dataclasses
import re
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from pkisim.audit.ldif import LdifEntry, normalize_dn, read_ldif
from pkisim.audit.model import (
    V1,
    V2,
    CaConfig,
    ConflictEntry,
    Counter,
    Deployment,
    Issued,
    RangeRecord,
    UnknownAttribute,
)
from pkisim.audit.ocsp import CRL_POINT_ATTRIBUTES, CRL_POINT_CLASS, CrlPoint, crl_point
from pkisim.errors import ConfigError, DirectoryError
from pkisim.ids.config import IdKind
from pkisim.ids.cscfg import CSCfg, load_subsystem
from pkisim.ids.layout import CA, KRA
from pkisim.ids.tree import DEFAULT_BASE, DogtagTree
from pkisim.limits import id_digits, port

OPERATIONAL = frozenset({
    "objectclass", "createtimestamp", "modifytimestamp", "creatorsname", "modifiersname",
    "entryuuid", "entrycsn", "entrydn", "structuralobjectclass", "subschemasubentry",
    "hassubordinates", "numsubordinates", "contextcsn", "nsuniqueid", "nsds5replconflict",
    "nscpentrydn", "parentid", "entryid", "aci", "entryusn", "nstombstonecsn",
    "nsparentuniqueid", "nsaccountlock"})

#: Dogtag's object classes and their MUST and MAY attributes, as Dogtag's schema
#: (``base/server/database/ds/schema.ldif``) defines them, in lower case.
DOGTAG_CLASSES: dict[str, frozenset[str]] = {
    "repository": frozenset({"ou", "serialno", "description", "nextrange", "publishingstatus"}),
    "pkirange": frozenset({"cn", "beginrange", "endrange", "host", "secureport"}),
    "certificaterecord": frozenset({
        "cn", "serialno", "dateofcreate", "dateofmodify", "certstatus", "autorenew",
        "issueinfo", "metainfo", "revinfo", "version", "duration", "notafter", "notbefore",
        "algorithmid", "subjectname", "signingalgorithmid", "usercertificate", "issuedby",
        "revokedby", "revokedon", "extension", "publickeydata", "issuername"}),
    "request": frozenset({
        "cn", "requestid", "dateofcreate", "dateofmodify", "requeststate", "requestresult",
        "requestowner", "requestagentgroup", "requestsourceid", "requesttype", "requestflag",
        "requesterror", "usermessages", "adminmessages", "realm"}),
    CRL_POINT_CLASS: CRL_POINT_ATTRIBUTES,
}
#: ``extensibleObject`` (RFC 4512) allows any attribute: Dogtag adds it to request
#: entries for their ``extdata-*`` attributes.
_ANY_ATTRIBUTE = "extensibleobject"
_PKIRANGE_MUST = ("cn", "beginrange", "endrange", "host", "secureport")
_TIME = re.compile(r"(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(?:[.,](\d+))?(Z|[+-]\d{4})")

#: One LDAP search reads the whole subtree, conflict entries (ldapsubentry) included.
LIVE_FILTER = "(|(objectClass=*)(objectClass=ldapsubentry))"
LIVE_ATTRS = ("*", "createTimestamp", "nsds5ReplConflict", "nsUniqueId", "entryUUID")


def _layout() -> dict[str, list[tuple[str, IdKind, str]]]:
    """Relative DN (lower case, without the base) -> its roles (counter, ranges or
    records container) with (kind, family).  One entry can have two roles: SSNv1's
    certificate repository holds ``nextRange`` and the records; SSNv2's range
    container holds ``nextRange`` and the ``pkiRange`` records."""
    out: dict[str, list[tuple[str, IdKind, str]]] = {}

    def put(dn: str, role: str, kind: IdKind, family: str) -> None:
        roles = out.setdefault(dn[:-len(",o=x")].lower(), [])
        if not any(r[0] == role for r in roles):
            roles.append((role, kind, family))
    for sub in (CA, KRA):  # a KRA's request ranges share the CA's DNs: see _kra_requests
        tree = DogtagTree("o=x", sub)
        for kind in sub.spaces:
            _roles(tree, kind, put)
    return out


def _roles(tree: DogtagTree, kind: IdKind, put: Callable[[str, str, IdKind, str], None]) -> None:
    """The counter, ranges and records DNs of one ID space in ``tree``."""
    for family, strategy in ((V1, "legacy"), (V2, "legacy2")):
        family = family if kind is not IdKind.REPLICA else V1
        put(tree.counter_dn(kind, strategy), "counter", kind, family)
        put(tree.range_container_dn(kind, strategy), "ranges", kind, family)
    if kind is not IdKind.REPLICA:
        put(tree.records_dn(kind), "records", kind, V1)


_LAYOUT = _layout()
#: Entries only a KRA's database has.
_KRA_MARKERS = frozenset({"ou=kra", "ou=keyrepository,ou=kra", "ou=kra,ou=requests"})


def _kra_requests(items: list[Any]) -> list[Any]:
    """In a KRA's database the request ranges (``ou=requests,ou=ranges``, SSNv2's
    ``ou=requests,ou=ranges_v2``) are the KRA's request IDs, not a CA's."""
    return [dataclasses.replace(i, kind=IdKind.KEY_REQUEST) if i.kind is IdKind.REQUEST else i
            for i in items]


def generalized_time(text: str) -> float:
    """``20260301120000Z`` (fraction and offset allowed) -> POSIX seconds; ValueError."""
    m = _TIME.fullmatch(text.strip())
    if m is None:
        raise ValueError(text)
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    seconds = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))
    if (mo, d, h, mi, s) != tuple(time.gmtime(seconds)[1:6]):
        raise ValueError(text)
    if m.group(7):
        seconds += float("0." + m.group(7))
    zone = m.group(8)
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[3:5]) * 60)
    return float(seconds)


def reconstruct(entries: Iterable[LdifEntry], source: str, base: str | None = None,
                cas: Sequence[CaConfig] = ()) -> Deployment:
    """The deployment the entries describe; ``base`` defaults to the first entry's DN."""
    counters: list[Counter] = []
    ranges: list[RangeRecord] = []
    issued: list[Issued] = []
    conflicts: list[ConflictEntry] = []
    points: list[CrlPoint] = []
    unknown = _Unknown()
    nbase = normalize_dn(base) if base else None
    count = 0
    kra = False
    for entry in entries:
        count += 1
        ndn = entry.ndn
        if nbase is None:
            nbase, base = ndn, entry.dn
        if ndn != nbase and not ndn.endswith("," + nbase):
            continue
        unknown.add(entry)
        conflict = entry.first("nsds5replconflict")
        if conflict is not None:
            conflicts.append(ConflictEntry(entry.dn, conflict, _where(entry)))
        relative = ndn[:-len(nbase)].rstrip(",")
        kra = kra or relative in _KRA_MARKERS
        rdn, _, parent = relative.partition(",")
        point = crl_point(entry, relative, _where(entry))
        if point is not None:
            points.append(point)
        for role, kind, family in _LAYOUT.get(relative, ()):
            if role == "counter" and entry.get("nextrange"):
                counters.append(_counter(entry, kind, family))
        number = _rdn_cn(rdn)
        for role, kind, family in _LAYOUT.get(parent, ()):
            if role == "ranges" and "pkirange" in entry.object_classes:
                ranges.append(_range(entry, kind, family, conflict))
            elif role == "records" and number is not None and _is_number(number):
                try:
                    serial = id_digits(number, 10, "cn", number)
                except ConfigError as err:
                    raise entry.error("dn", entry.dn, f"cn: {err.reason}") from None
                issued.append(Issued(kind, serial, entry.dn, _time(entry), conflict))
    if count == 0:
        raise ConfigError("file", source, "holds no entries")
    if not (counters or ranges or issued or points):
        raise ConfigError("base", base, "no Dogtag tree below it (no nextRange, pkiRange or "
                          "cn=<serial> entries): give the right --base", source=source)
    if kra:
        counters, ranges, issued = (_kra_requests(counters), _kra_requests(ranges),
                                    _kra_requests(issued))
    issued.sort(key=lambda r: (r.kind.value, r.number, r.dn))
    ranges.sort(key=lambda r: (r.kind.value, r.family, r.begin, r.dn))
    return Deployment(source, base or DEFAULT_BASE, tuple(counters), tuple(ranges),
                      tuple(issued), tuple(conflicts), tuple(cas), count, unknown.found(),
                      tuple(points), "kra" if kra else "ca")


def _where(entry: LdifEntry) -> str:
    return f"{entry.source}:{entry.line}" if entry.line else f"{entry.source} {entry.dn}"


def _is_number(text: str) -> bool:
    """ASCII digits only (``str.isdigit`` also takes "²" and "٣")."""
    return text.isascii() and text.isdigit()


def _rdn_cn(rdn: str) -> str | None:
    """``cn=5`` or a conflict's ``cn=5+nsuniqueid=...`` -> ``"5"``."""
    for ava in rdn.split("+"):
        name, _, value = ava.partition("=")
        if name.strip() == "cn":
            return value.strip()
    return None


def _unknown_attributes(entry: LdifEntry) -> list[str]:
    """The attributes of a Dogtag entry that its object classes do not have."""
    classes = entry.object_classes
    dogtag = classes & DOGTAG_CLASSES.keys()
    if not dogtag or _ANY_ATTRIBUTE in classes:
        return []
    allowed = OPERATIONAL.union(*(DOGTAG_CLASSES[c] for c in dogtag))
    return [name for name in entry.attrs if name not in allowed]


class _Unknown:
    """Attributes outside Dogtag's schema, tallied once per attribute."""

    def __init__(self) -> None:
        self.seen: dict[str, UnknownAttribute] = {}

    def add(self, entry: LdifEntry) -> None:
        for name in _unknown_attributes(entry):
            first = self.seen.get(name)
            if first is None:
                classes = "/".join(sorted(entry.object_classes & DOGTAG_CLASSES.keys()))
                where = (f"{entry.source}:{entry.lines.get(name, entry.line)}" if entry.line
                         else f"{entry.source} {entry.dn}")
                self.seen[name] = UnknownAttribute(name, classes, 1, where)
            else:
                self.seen[name] = dataclasses.replace(first, count=first.count + 1)

    def found(self) -> tuple[UnknownAttribute, ...]:
        return tuple(self.seen[name] for name in sorted(self.seen))


def _decimal(entry: LdifEntry, name: str) -> int:
    value = entry.first(name)
    if value is None:
        raise entry.error("dn", entry.dn, f"has no {name} (truncated entry?)")
    try:
        return id_digits(value.strip(), 10, name, value)
    except ConfigError as err:
        raise entry.error(name, value, err.reason) from None


def _counter(entry: LdifEntry, kind: IdKind, family: str) -> Counter:
    values = []
    for value in entry.get("nextrange"):
        try:
            values.append(id_digits(value.strip(), 10, "nextRange", value))
        except ConfigError as err:
            raise entry.error("nextRange", value, err.reason) from None
    return Counter(kind, family, entry.dn, tuple(sorted(values)), _where(entry))


def _range(entry: LdifEntry, kind: IdKind, family: str, conflict: str | None) -> RangeRecord:
    for name in _PKIRANGE_MUST:
        if not entry.get(name):
            raise entry.error("dn", entry.dn, f"pkiRange has no {name} (truncated entry?)")
    begin, end = _decimal(entry, "beginrange"), _decimal(entry, "endrange")
    if end < begin:
        raise entry.error("endRange", end, f"is below beginRange {begin}")
    value = entry.first("secureport")
    try:
        secure_port = port(_decimal(entry, "secureport"), "SecurePort", value)
    except ConfigError as err:
        raise entry.error("SecurePort", value, err.reason) from None
    return RangeRecord(kind, family, entry.dn, begin, end, (entry.first("host") or "").strip(),
                       secure_port, _where(entry), conflict)


def _time(entry: LdifEntry) -> float | None:
    """When the record was created: ``dateOfCreate``, else ``createTimestamp``
    (both must be times when present)."""
    times = []
    for name in ("dateofcreate", "createtimestamp"):
        value = entry.first(name)
        if value is not None:
            try:
                times.append(generalized_time(value))
            except ValueError:
                raise entry.error(name, value, "is not an LDAP generalized time "
                                  "(YYYYMMDDHHMMSSZ)") from None
    return times[0] if times else None


# ---------------------------------------------------------------- the two sources
def read_ldif_deployment(path: str | Path, base: str | None = None,
                         cas: Sequence[CaConfig] = ()) -> Deployment:
    return reconstruct(read_ldif(path), str(path), base, cas)


def read_live(url: str, bind_dn: str, password: str, base: str = DEFAULT_BASE,
              cas: Sequence[CaConfig] = (), timeout: float = 5.0) -> Deployment:
    """Read the subtree below ``base`` from a live server (search only, never a write).

    DirectoryError (one line: URL, DN, reason; never the password) when the server
    cannot be reached, refuses the bind, or has no such base.
    """
    entries = list(_search(url, bind_dn, password, base, timeout))
    return reconstruct(entries, url, base, cas)


def _search(url: str, bind_dn: str, password: str, base: str,
            timeout: float) -> Iterable[LdifEntry]:
    import ldap  # type: ignore[import-untyped]
    import ldap.controls  # type: ignore[import-untyped]
    import ldapurl  # type: ignore[import-untyped]

    if not ldapurl.isLDAPUrl(url):
        raise DirectoryError(url, bind_dn, "not an LDAP URL (ldap://host:port/ or ldaps://...)")
    try:
        conn = ldap.initialize(url)
    except ldap.LDAPError as err:
        raise DirectoryError(url, bind_dn, f"not a usable LDAP URL: {_describe(err)}") from None
    conn.set_option(ldap.OPT_NETWORK_TIMEOUT, timeout)
    conn.set_option(ldap.OPT_TIMEOUT, timeout * 6)
    conn.set_option(ldap.OPT_REFERRALS, 0)
    try:
        conn.simple_bind_s(bind_dn, password)
    except ldap.LDAPError as err:
        raise DirectoryError(url, bind_dn, f"cannot bind: {_describe(err)}") from None
    out: list[LdifEntry] = []
    page = ldap.controls.SimplePagedResultsControl(True, size=1000, cookie="")
    try:
        while True:
            msgid = conn.search_ext(base, ldap.SCOPE_SUBTREE, LIVE_FILTER, list(LIVE_ATTRS),
                                    serverctrls=[page])
            _, data, _, controls = conn.result3(msgid)
            for dn, attrs in data:
                if dn is None:  # a referral
                    continue
                out.append(LdifEntry(dn, {k.lower(): tuple(_text(v) for v in vs)
                                          for k, vs in attrs.items()}, url))
            cookie = next((c.cookie for c in controls if c.controlType
                           == ldap.controls.SimplePagedResultsControl.controlType), b"")
            if not cookie:
                break
            page.cookie = cookie
    except ldap.NO_SUCH_OBJECT:
        raise DirectoryError(url, base, "no such entry (wrong --base?)") from None
    except ldap.LDAPError as err:
        raise DirectoryError(url, base, f"search failed: {_describe(err)}") from None
    finally:
        with contextlib.suppress(ldap.LDAPError):
            conn.unbind_s()
    return out


def _text(value: bytes) -> str:
    return value.decode("utf-8", "replace")


def _describe(err: Any) -> str:
    info = err.args[0] if err.args and isinstance(err.args[0], dict) else {}
    text = info.get("desc") or type(err).__name__
    return f"{text} ({info['info']})" if info.get("info") else text


# ---------------------------------------------------------------- CS.cfg
def load_cas(paths: Sequence[str | Path]) -> tuple[CaConfig, ...]:
    """The CAs (and KRAs: ``cs.type=KRA``) the CS.cfg files describe (one-line
    ConfigError naming file:line)."""
    cas: list[CaConfig] = []
    for path in paths:
        cfg = CSCfg.read(path)
        sub = KRA if cfg.get("cs.type", "CA").strip().upper() == "KRA" else CA
        spaces = load_subsystem(cfg, sub)
        config = spaces[sub.main]
        name = config.host
        ca = CaConfig(name=name, source=str(path), secure_port=config.secure_port,
                      spaces=spaces,
                      clone=bool(cfg.get(f"master.{sub.name}.agent.host", "").strip()),
                      crl_master=cfg.get("ca.crl.MasterCRL.enableCRLUpdates",
                                         "").strip().lower() == "true", subsystem=sub.name)
        twin = next((c for c in cas if c.holder == ca.holder and c.subsystem == ca.subsystem),
                    None)
        if twin is not None:
            raise ConfigError("machineName", name, f"same CA (host and port) as {twin.source}",
                              source=str(path), line=cfg.line_of("machineName"))
        cas.append(ca)
    return tuple(cas)
