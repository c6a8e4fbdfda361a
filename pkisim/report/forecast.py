"""How an exhaustion forecast reads wherever pkisim prints or draws it (the
run summary, the serial-space and planning plots, the audit report): a date and
how far off it is, or "never".  A forecast beyond :data:`NEVER_YEARS` says
"never (over 10,000 years)" instead of a 30-digit number of years: a 128-bit
space outlasts any deployment.  Standard library only (the audit imports it).
"""

from __future__ import annotations

import math

#: A forecast further off than this many years reads "never (over 10,000 years)".
NEVER_YEARS = 10_000
YEAR_DAYS = 365.2425


def never_text(days: float) -> str | None:
    """How ``days`` to exhaustion reads when it is no date: "never at this
    rate" when nothing is used (infinite), "never (over 10,000 years)" beyond
    :data:`NEVER_YEARS`; ``None`` for a forecast to show as a date."""
    if not math.isfinite(days):
        return "never at this rate"
    if days > NEVER_YEARS * YEAR_DAYS:
        return f"never (over {NEVER_YEARS:,} years)"
    return None


def forecast_text(date: str | None, days: float) -> str:
    """``2027-03-01 (in 412 days)``; the years when the date is past the
    calendar (after 9999-12-31); or :func:`never_text`."""
    never = never_text(days)
    if never is not None:
        return never
    if date is None:
        return f"in {days / YEAR_DAYS:,.0f} years (after 9999-12-31)"
    return f"{date} (in {days:,.0f} days)"


__all__ = ["NEVER_YEARS", "YEAR_DAYS", "forecast_text", "never_text"]
