"""When does each CA run out, and does its low-water mark cover one update interval?

For each CA (from its CS.cfg) and each ranged ID space (certificates, requests):

* the records it issued are the ``cn=<n>`` records inside the ranges it holds
  (current and next, from CS.cfg) or claimed (``pkiRange`` records naming its
  host and port);
* "now" is ``--now`` if given, else the latest record's creation time (so that
  an old export is judged as of its own date, and the same input always gives
  the same report);
* the recent rate is the records created in the window before now divided by
  the window (or by the time since the first record, if the deployment is
  younger than the window); the peak rate is the busiest bucket of that window;
* remaining = the current range above its highest record, plus the next range
  (only the current range when serial management is off: Dogtag never switches);
* exhaustion date = now + remaining / recent rate;
* the low-water mark covers the peak when lowWaterMark >= peak rate x
  ``ca.serialNumberUpdateInterval`` (Dogtag's default 600 s): otherwise a CA can
  run dry between two runs of the update task.
"""

from __future__ import annotations

import bisect
from collections import Counter as Tally
from dataclasses import dataclass
from datetime import UTC, datetime

from pkisim.audit.checks import _merge, fmt
from pkisim.audit.model import NOTE, PROBLEM, CaConfig, Deployment, Finding
from pkisim.history.timeline import id_name
from pkisim.ids.config import IdKind

DAY = 86400.0


@dataclass(frozen=True, slots=True)
class ForecastOptions:
    now: float | None = None  # POSIX seconds; None: the latest record's time
    window: float = 7 * DAY  # recent rate over this
    bucket: float = 3600.0  # peak rate: the busiest bucket of the window
    horizon: float = 30 * DAY  # exhaustion sooner than this is a problem


@dataclass(frozen=True, slots=True)
class Forecast:
    """One CA's ID space: what is left and when it runs out."""

    ca: str
    kind: IdKind
    strategy: str
    issued: int  # records attributed to this CA
    recent: int  # ... of them in the window
    rate: float  # per second over the window
    peak_rate: float  # per second in the busiest bucket
    last: int | None  # highest record in the current range
    remaining_current: int
    remaining_next: int
    low_water_mark: int
    update_interval: float
    serial_management: bool
    now: float | None
    exhausted_at: float | None  # POSIX seconds; None: no rate

    @property
    def remaining(self) -> int:
        return self.remaining_current + self.remaining_next

    @property
    def lwm_covers(self) -> bool | None:
        """lowWaterMark >= peak rate x update interval (None: task disabled or off)."""
        if not self.serial_management or self.update_interval <= 0:
            return None
        return self.low_water_mark >= self.peak_rate * self.update_interval

    @property
    def days_left(self) -> float | None:
        if self.exhausted_at is None or self.now is None:
            return None
        return (self.exhausted_at - self.now) / DAY

    def to_dict(self) -> dict[str, object]:
        return {"ca": self.ca, "kind": self.kind.value, "strategy": self.strategy,
                "issued": self.issued, "recent": self.recent,
                "rate_per_day": self.rate * DAY, "peak_rate_per_day": self.peak_rate * DAY,
                "last": self.last, "remaining_current": self.remaining_current,
                "remaining_next": self.remaining_next, "remaining": self.remaining,
                "low_water_mark": self.low_water_mark, "update_interval": self.update_interval,
                "peak_per_update_interval": self.peak_rate * self.update_interval,
                "lwm_covers_peak": self.lwm_covers, "serial_management": self.serial_management,
                "exhausted_at": iso(self.exhausted_at), "days_left": self.days_left}


def iso(seconds: float | None) -> str | None:
    """POSIX seconds as ``YYYY-MM-DDTHH:MM:SSZ``; ``None`` for none, or past 9999-12-31
    (a big range at a slow rate: ``days_left`` still says how far)."""
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, ValueError, OSError):
        return None


def now_of(dep: Deployment, options: ForecastOptions) -> float | None:
    if options.now is not None:
        return options.now
    times = [r.time for r in dep.issued if r.time is not None]
    return max(times) if times else None


def forecast(dep: Deployment, options: ForecastOptions) -> list[Forecast]:
    now = now_of(dep, options)
    out = []
    for ca in dep.own_cas:
        for kind in (k for k in ca.spaces if k is not IdKind.REPLICA):
            if ca.held(kind):
                out.append(_one(dep, ca, kind, now, options))
    return out


def _one(dep: Deployment, ca: CaConfig, kind: IdKind, now: float | None,
         options: ForecastOptions) -> Forecast:
    config = ca.spaces[kind]
    spans = [(b, e) for _, b, e in ca.held(kind)]
    spans += [r.actual for r in dep.ranges
              if r.kind is kind and r.holder.lower() == ca.holder.lower()]
    mine = _merge(spans)
    starts = [b for b, _ in mine]
    records = [r for r in dep.issued if r.kind is kind]

    def held(n: int) -> bool:
        i = bisect.bisect_right(starts, n) - 1
        return i >= 0 and n <= mine[i][1]

    own = [r for r in records if held(r.number)]
    in_current = [r.number for r in records if config.begin <= r.number <= config.end]
    last = max(in_current) if in_current else None
    remaining_current = max(0, config.end - (config.begin - 1 if last is None else last))
    remaining_next = 0
    if config.serial_management and config.next_begin is not None and config.next_end is not None:
        remaining_next = max(0, config.next_end - config.next_begin + 1)  # a transfer overran it
    rate = peak = 0.0
    recent = 0
    exhausted = None
    if now is not None:
        first = min((r.time for r in records if r.time is not None), default=now)
        window = max(options.bucket, min(options.window, now - first))
        times = [r.time for r in own if r.time is not None and now - window < r.time <= now]
        recent = len(times)
        rate = recent / window
        buckets = Tally(int((now - t) // options.bucket) for t in times)
        peak = max(buckets.values(), default=0) / options.bucket
        remaining = remaining_current + remaining_next
        if remaining == 0:
            exhausted = now
        elif rate > 0:
            exhausted = now + remaining / rate
    return Forecast(ca.name, kind, config.strategy, len(own), recent, rate, peak, last,
                    remaining_current, remaining_next, config.low_water_mark,
                    config.update_interval, config.serial_management, now, exhausted)


def forecast_findings(forecasts: list[Forecast], options: ForecastOptions) -> list[Finding]:
    out = []
    for f in forecasts:
        what = "serial numbers" if f.kind is IdKind.CERT else f"{id_name(f.kind)}s"
        if f.exhausted_at is not None and f.now is not None \
                and f.exhausted_at - f.now <= options.horizon:
            out.append(Finding("exhaustion-soon", PROBLEM,
                               f"{f.ca} runs out of {what} by {iso(f.exhausted_at)} "
                               f"({f.remaining} left at {f.rate * DAY:.0f}/day)", f.kind, f.ca))
        if f.lwm_covers is False:
            out.append(Finding("low-water-mark", PROBLEM,
                               f"{f.ca}'s low-water mark {fmt(f.kind, f.low_water_mark)} does "
                               f"not cover one update interval ({f.update_interval:g} s) at the "
                               f"peak rate {f.peak_rate * 3600:.0f}/h "
                               f"(needs {f.peak_rate * f.update_interval:.0f})", f.kind, f.ca))
        if not f.serial_management:
            out.append(Finding("serial-management-off", NOTE,
                               f"{f.ca} has dbs.enableSerialManagement=false: it never claims a "
                               f"range nor switches to its next one", f.kind, f.ca))
        elif f.update_interval <= 0:
            out.append(Finding("update-task-disabled", NOTE,
                               f"{f.ca} has ca.serialNumberUpdateInterval <= 0: ranges are "
                               "claimed only at start-up", f.kind, f.ca))
    return out
