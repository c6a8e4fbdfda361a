"""CRL issuing points in an audited directory: the CA's and the OCSP's.

A CA keeps its CRL state in ``cn=MasterCRL,ou=crlIssuingPoints,ou=ca,<base>``;
an OCSP responder keeps each CRL the CRL CA published to it in a
``crlIssuingPointRecord`` of its own database (RHCS planning guide 2.7.5:
only the OCSP master receives them; its clones read the replicated record).
The audit reads every ``crlIssuingPointRecord`` below the base
(:func:`crl_point`; an issuing point below ``ou=ca`` is the CA's, any other
one an OCSP's, so a base that holds both -- FreeIPA's ``o=ipaca`` -- compares
them) and finds:

* ``crl-past-next-update`` (problem): an issuing point whose ``nextUpdate`` is
  before the audit's time: an OCSP answers from a CRL that has expired (the
  publisher stopped reaching it, or the CRL CA stopped generating);
* ``ocsp-crl-behind`` (problem): an OCSP issuing point whose ``crlNumber`` is
  below the CA's: the last CRLs never reached the OCSP (a publishing failure,
  a publisher configured only on a CA that no longer generates CRLs);
* ``crl-issuing-point`` (note): each one's CRL number and update times.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pkisim.audit.forecast import iso
from pkisim.audit.ldif import LdifEntry
from pkisim.audit.model import NOTE, PROBLEM, Finding
from pkisim.errors import ConfigError
from pkisim.limits import id_digits

#: Dogtag's schema for CRL issuing points (``base/server/database/ds/schema.ldif``).
CRL_POINT_CLASS = "crlissuingpointrecord"
CRL_POINT_ATTRIBUTES = frozenset({
    "cn", "id", "crlnumber", "deltanumber", "crlsize", "deltasize", "thisupdate", "nextupdate",
    "firstunsaved", "certificaterevocationlist", "deltarevocationlist", "crlcache",
    "revokedcerts", "unrevokedcerts", "expiredcerts", "cacertificate", "description"})


@dataclass(frozen=True, slots=True)
class CrlPoint:
    """One ``crlIssuingPointRecord``: ``owner`` is ``ca`` or ``ocsp``."""

    dn: str
    owner: str
    number: int | None
    this_update: float | None
    next_update: float | None
    where: str


def crl_point(entry: LdifEntry, relative: str, where: str) -> CrlPoint | None:
    """The issuing point ``entry`` is (``relative``: its DN without the base), or ``None``."""
    if CRL_POINT_CLASS not in entry.object_classes:
        return None
    from pkisim.audit.source import generalized_time  # the one reader of LDAP times

    owner = "ca" if "ou=ca" in relative.split(",")[1:] else "ocsp"
    text = entry.first("crlnumber")
    number = None
    if text is not None:
        try:
            number = id_digits(text.strip(), 10, "crlNumber", text)
        except ConfigError as err:
            raise entry.error("crlNumber", text, err.reason) from None
    times: list[float | None] = []
    for name in ("thisupdate", "nextupdate"):
        value = entry.first(name)
        try:
            times.append(None if value is None else generalized_time(value))
        except ValueError:
            raise entry.error(name, value, "is not an LDAP generalized time "
                                           "(YYYYMMDDHHMMSSZ)") from None
    return CrlPoint(entry.dn, owner, number, times[0], times[1], where)


def check_crl_points(points: Iterable[CrlPoint], now: float | None) -> list[Finding]:
    points = list(points)
    out: list[Finding] = []
    ca_numbers = [p.number for p in points if p.owner == "ca" and p.number is not None]
    newest = max(ca_numbers) if ca_numbers else None
    for point in points:
        who = "the CA's" if point.owner == "ca" else "an OCSP's"
        out.append(Finding("crl-issuing-point", NOTE,
                           f"{who} CRL issuing point {point.dn} ({point.where}): CRL "
                           f"{point.number if point.number is not None else '?'}, thisUpdate "
                           f"{_iso(point.this_update)}, nextUpdate {_iso(point.next_update)}"))
        if now is not None and point.next_update is not None and point.next_update < now:
            out.append(Finding("crl-past-next-update", PROBLEM,
                               f"{who} CRL issuing point {point.dn} holds CRL "
                               f"{point.number} whose nextUpdate {_iso(point.next_update)} is "
                               f"before {_iso(now)}: "
                               + ("its OCSP answers from an expired CRL (publishing stopped?)"
                                  if point.owner == "ocsp" else "no new CRL was generated")))
        if (point.owner == "ocsp" and newest is not None and point.number is not None
                and point.number < newest):
            out.append(Finding("ocsp-crl-behind", PROBLEM,
                               f"OCSP CRL issuing point {point.dn} holds CRL {point.number}, "
                               f"the CA generated {newest}: {newest - point.number} CRL(s) "
                               "never reached the OCSP (publishing failure, or the publisher "
                               "is configured on another CA than the CRL CA)"))
    return out


def _iso(seconds: float | None) -> str:
    return iso(seconds) or "-"


__all__ = ["CRL_POINT_ATTRIBUTES", "CRL_POINT_CLASS", "CrlPoint", "check_crl_points",
           "crl_point"]
