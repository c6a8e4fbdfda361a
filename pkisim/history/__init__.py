"""Histories of ID issuance and the checkers that judge them.

Record with :class:`History` (``issue`` on the hot path, ``event`` for range
events, ``note`` for crashes and restarts), look with ``to_frame`` /
``events_frame``, keep with ``save`` / ``load`` (Parquet, CSV; Jepsen JSON Lines
and Jepsen's own ``history.edn`` read too: :mod:`pkisim.history.jepsen`, which
also gives a verdict Jepsen's ``unique-ids`` names), and judge with the checkers.
"""

from pkisim.history.checkers import (
    ComplianceResult,
    CrlAction,
    CrlEvent,
    CrlResult,
    CrlViolation,
    DuplicateWitness,
    Holding,
    RangeOrigin,
    RangeResult,
    RangeViolation,
    Revocation,
    UniquenessResult,
    check_compliance,
    check_crl,
    check_ranges,
    check_unique,
    der_integer_octets,
    explain_duplicates,
    waste_report,
)
from pkisim.history.formats import HistoryFormatError
from pkisim.history.history import EventRecord, History, IssueColumns, Op, OpType
from pkisim.history.jepsen import read_edn, unique_ids

__all__ = [
    "ComplianceResult",
    "CrlAction",
    "CrlEvent",
    "CrlResult",
    "CrlViolation",
    "DuplicateWitness",
    "EventRecord",
    "History",
    "HistoryFormatError",
    "Holding",
    "IssueColumns",
    "Op",
    "OpType",
    "RangeOrigin",
    "RangeResult",
    "RangeViolation",
    "Revocation",
    "UniquenessResult",
    "check_compliance",
    "check_crl",
    "check_ranges",
    "check_unique",
    "der_integer_octets",
    "explain_duplicates",
    "read_edn",
    "unique_ids",
    "waste_report",
]
