"""An audit's verdict: the findings and the forecasts, as a table and as JSON."""

from __future__ import annotations

from collections import Counter as Tally
from dataclasses import dataclass

from pkisim.audit.checks import check_ranges, fmt
from pkisim.audit.forecast import (
    DAY,
    Forecast,
    ForecastOptions,
    forecast,
    forecast_findings,
    iso,
    now_of,
)
from pkisim.audit.model import PROBLEM, Deployment, Finding
from pkisim.audit.ocsp import check_crl_points
from pkisim.ids.config import IdKind
from pkisim.report.forecast import never_text

EXIT_CLEAN, EXIT_PROBLEM, EXIT_ERROR = 0, 1, 2


@dataclass(frozen=True, slots=True)
class AuditReport:
    deployment: Deployment
    findings: tuple[Finding, ...]
    forecasts: tuple[Forecast, ...]
    now: float | None
    options: ForecastOptions

    @property
    def problems(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == PROBLEM)

    @property
    def exit_status(self) -> int:
        return EXIT_PROBLEM if self.problems else EXIT_CLEAN

    def to_dict(self) -> dict[str, object]:
        dep = self.deployment
        return {
            "source": dep.source, "base": dep.base, "verdict": "problem" if self.problems
            else "clean", "exit_status": self.exit_status, "now": iso(self.now),
            "options": {"window_s": self.options.window, "bucket_s": self.options.bucket,
                        "horizon_s": self.options.horizon},
            "entries": dep.entries,
            "cs_cfg": [{"ca": ca.name, "source": ca.source, "secure_port": ca.secure_port,
                        "clone": ca.clone, "crl_master": ca.crl_master,
                        "ranges": {k.value: [{"which": w, "begin": b, "end": e}
                                             for w, b, e in ca.held(k)] for k in ca.spaces}}
                       for ca in dep.cas],
            "next_range": [{"kind": c.kind.value, "family": c.family, "dn": c.dn,
                            "values": list(c.values)} for c in dep.counters],
            "ranges": [{"kind": r.kind.value, "family": r.family, "dn": r.dn,
                        "begin_range": r.begin, "end_range": r.end, "actual": list(r.actual),
                        "host": r.host, "secure_port": r.secure_port,
                        "conflict": r.conflict} for r in dep.ranges],
            "conflicts": [{"dn": c.dn, "nsds5ReplConflict": c.conflict} for c in dep.conflicts],
            "crl_issuing_points": [{"dn": c.dn, "owner": c.owner, "crl_number": c.number,
                                    "this_update": iso(c.this_update),
                                    "next_update": iso(c.next_update)} for c in dep.crl_points],
            "records": _records(dep),
            "findings": [f.to_dict() for f in self.findings],
            "forecast": [f.to_dict() for f in self.forecasts],
        }

    def table(self) -> str:
        dep = self.deployment
        kinds = Tally(r.kind for r in dep.issued)
        lines = [f"pkisim audit {dep.source} (base {dep.base}): {dep.entries} entries, "
                 f"{kinds[IdKind.CERT]} certificate and {kinds[IdKind.REQUEST]} request "
                 f"records, {len(dep.ranges)} pkiRange records, {len(dep.cas)} CS.cfg"
                 + (f" (a KRA database: {kinds[IdKind.KEY]} key and "
                    f"{kinds[IdKind.KEY_REQUEST]} KRA request records)"
                    if dep.subsystem == "kra" else ""),
                 f"now: {iso(self.now) or 'unknown (no record times; give --now)'}"]
        for c in dep.counters:
            lines.append(f"nextRange {c.kind.value:<8} {c.dn}: "
                         f"{', '.join(str(v) for v in c.values)}")
        if self.forecasts:
            lines.append("")
            head = (f"{'CA':<22} {'ids':<8} {'current+next left':>18} {'rate/day':>9} "
                    f"{'peak/h':>8} {'runs out':<21} {'LWM':>10} {'need':>8}")
            lines += [head, "-" * len(head)]
            for f in self.forecasts:
                covers = {True: "", False: " !", None: " -"}[f.lwm_covers]
                lines.append(
                    f"{f.ca[:22]:<22} {f.kind.value:<8} {f.remaining:>18,} {f.rate * DAY:>9.0f} "
                    f"{f.peak_rate * 3600:>8.0f} {_runs_out(f):<21} "
                    f"{fmt(f.kind, f.low_water_mark):>10} "
                    f"{f.peak_rate * f.update_interval:>8.0f}{covers}")
        lines.append("")
        if not self.findings:
            lines.append("no problems found")
        for finding in self.findings:
            lines.append(f"{finding.severity.upper():<7} {finding.code}: {finding.message}")
        verdict = (f"{len(self.problems)} problem(s)" if self.problems else "clean")
        lines.append(f"verdict: {verdict}")
        return "\n".join(lines)


def _records(dep: Deployment) -> dict[str, dict[str, object]]:
    """Per ID space: how many records, their lowest and highest numbers and creation times."""
    out: dict[str, dict[str, object]] = {}
    for kind in (IdKind.CERT, IdKind.REQUEST, IdKind.KEY, IdKind.KEY_REQUEST):
        records = [r for r in dep.issued if r.kind is kind]
        if not records:
            continue
        times = [r.time for r in records if r.time is not None]
        out[kind.value] = {
            "count": len(records), "lowest": min(r.number for r in records),
            "highest": max(r.number for r in records),
            "conflicts": sum(r.conflict is not None for r in records),
            "first_created": iso(min(times)) if times else None,
            "last_created": iso(max(times)) if times else None}
    return out


def audit(dep: Deployment, options: ForecastOptions | None = None) -> AuditReport:
    """Check and forecast a reconstructed deployment."""
    options = options or ForecastOptions()
    forecasts = forecast(dep, options)
    findings = (check_ranges(dep) + forecast_findings(forecasts, options)
                + check_crl_points(dep.crl_points, now_of(dep, options)))
    return AuditReport(dep, tuple(findings), tuple(forecasts), now_of(dep, options), options)


def _runs_out(f: Forecast) -> str:
    if f.exhausted_at is None:
        return "never (no rate)"
    days = f.days_left or 0.0
    return never_text(days) or iso(f.exhausted_at) or f"in {days:,.0f} days"
