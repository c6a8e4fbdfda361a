"""Every checker over a History, in one place.

Pure functions: each takes a History (or plain records) and returns a frozen
result with a verdict and the evidence.  They live in their own modules:

* :mod:`~pkisim.history.uniqueness` -- :func:`check_unique` (Jepsen unique-ids,
  plus possible duplicates from ``info`` operations);
* :mod:`~pkisim.history.witness` -- :func:`explain_duplicates`;
* :mod:`~pkisim.history.ranges` -- :func:`check_ranges`;
* :mod:`~pkisim.history.waste` -- :func:`waste_report`;
* :mod:`~pkisim.history.compliance` -- :func:`check_compliance`;
* :mod:`~pkisim.history.crl` -- :func:`check_crl`.
"""

from pkisim.history.compliance import ComplianceResult, check_compliance, der_integer_octets
from pkisim.history.crl import CrlAction, CrlEvent, CrlResult, CrlViolation, Revocation, check_crl
from pkisim.history.ranges import RangeResult, RangeViolation, check_ranges
from pkisim.history.uniqueness import UniquenessResult, check_unique
from pkisim.history.waste import waste_report
from pkisim.history.witness import DuplicateWitness, Holding, RangeOrigin, explain_duplicates

__all__ = [
    "ComplianceResult",
    "CrlAction",
    "CrlEvent",
    "CrlResult",
    "CrlViolation",
    "DuplicateWitness",
    "Holding",
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
    "waste_report",
]
