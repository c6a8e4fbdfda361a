"""Audit a real Dogtag deployment: read its directory (live or LDIF) and CS.cfg
files, find overlapping or duplicate ranges, replication races and conflicts,
and forecast when each CA runs out (``pkisim audit``)."""

from __future__ import annotations

from pkisim.audit.export import scenario_data, to_toml
from pkisim.audit.forecast import Forecast, ForecastOptions, forecast
from pkisim.audit.ldif import LdifEntry, parse_ldif, read_ldif
from pkisim.audit.model import (
                                CaConfig,
                                ConflictEntry,
                                Counter,
                                Deployment,
                                Finding,
                                Issued,
                                RangeRecord,
                                UnknownAttribute,
)
from pkisim.audit.report import AuditReport, audit
from pkisim.audit.source import load_cas, read_ldif_deployment, read_live, reconstruct

__all__ = [
    "AuditReport", "CaConfig", "ConflictEntry", "Counter", "Deployment", "Finding", "Forecast",
    "ForecastOptions", "Issued", "LdifEntry", "RangeRecord", "UnknownAttribute", "audit",
    "forecast", "load_cas", "parse_ldif", "read_ldif", "read_ldif_deployment", "read_live",
    "reconstruct", "scenario_data", "to_toml",
]
