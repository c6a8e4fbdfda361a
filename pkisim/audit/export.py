"""Turn an audit into a pkisim scenario: the deployment's CAs, ranges, settings and rates.

Every CA from a CS.cfg becomes a ``[[ca]]`` on its own replica, with its ID
spaces written out as ``[ca.ids]`` integers (so the file does not depend on
where the CS.cfg files are).  What the simulation cannot take literally:

* a CA starts at its highest record + 1 (the simulated directory holds no
  records), so its ``beginSerialNumber`` is moved up to keep its *remaining*
  numbers, not the ones it already used;
* pkisim seeds ``nextRange`` from the master's current range end (as
  ``pki-server ca-range-update`` does at installation).  When another CA holds
  numbers above that end, the master's remaining current range is moved just
  above every known range (the header says so), so that simulated claims
  cannot land on numbers a CA already holds;
* clones are created a few minutes apart, off the update-interval grid, as
  real CAs start at different times;
* the workload is the recent certificate rate of all CAs together, with a
  daily cycle peaking at the busiest hour of the day (UTC) in the window, of
  amplitude that hour's share x 24 - 1 (capped at 0.9).
"""

from __future__ import annotations

import re
from collections import Counter as Tally
from datetime import UTC, datetime
from typing import Any

from pkisim.audit.checks import fmt
from pkisim.audit.forecast import DAY
from pkisim.audit.model import CaConfig
from pkisim.audit.report import AuditReport
from pkisim.errors import ConfigError
from pkisim.ids.config import KEYS, IdKind
from pkisim.ids.layout import CA
from pkisim.ids.strategies import STRATEGY


def scenario_data(report: AuditReport, *, duration: str = "30d",
                  name: str = "audited") -> tuple[dict[str, Any], list[str]]:
    """The scenario as a TOML-ready dict, and the header lines explaining it."""
    dep = report.deployment
    if not dep.cas:
        raise ConfigError("--scenario-out", name, "needs at least one --cs-cfg: the ranges' "
                          "sizes, low-water marks and update interval live in CS.cfg")
    master = next((ca for ca in dep.cas if not ca.clone), dep.cas[0])
    order = [master] + [ca for ca in dep.cas if ca is not master]
    names = _names(order)
    strategy = master.spaces[IdKind.CERT].strategy
    header = [f"Exported by pkisim audit from {dep.source} and "
              f"{', '.join(ca.source for ca in order)}."]
    forecasts = {(f.ca, f.kind): f for f in report.forecasts}
    cas = []
    for i, ca in enumerate(order):
        if ca.spaces[IdKind.CERT].strategy != strategy:
            raise ConfigError("dbs.cert.id.generator", ca.spaces[IdKind.CERT].strategy,
                              f"differs from the master's {strategy!r}: a scenario has one "
                              "strategy", source=ca.source)
        ids: dict[str, Any] = {}
        for kind in CA.spaces:
            ids.update(_ids(report, ca, kind, moved=ca is master, header=header,
                            last=getattr(forecasts.get((ca.name, kind)), "last", None)))
        cert = ca.spaces[IdKind.CERT]
        ids["enableSerialManagement"] = cert.serial_management
        ids["serialNumberUpdateInterval"] = cert.update_interval
        entry: dict[str, Any] = {"name": names[i], "role": "master" if i == 0 else "clone",
                                 "replica": f"ds{i + 1}"}
        if i:
            entry["created_at"] = f"{i * 437}s"
        entry["crl_master"] = ca.crl_master or (i == 0 and not any(c.crl_master for c in order))
        entry["ids"] = ids
        cas.append(entry)
    hours = _hours(report)
    rate = _rate(report, sum(hours.values()))
    amplitude = 0.0
    if hours:
        amplitude = round(min(0.9, max(0.0, max(hours.values()) * 24 / sum(hours.values()) - 1)),
                          3)
    data: dict[str, Any] = {
        "name": name,
        "description": f"audited deployment: {len(order)} CAs from {dep.source}",
        "duration": duration, "seed": 1, "strategy": strategy,
        "directory": {"replicas": [f"ds{i + 1}" for i in range(len(order))]},
        "workload": {"enroll_rate": f"{rate * DAY:.3f}/day", "diurnal_amplitude": amplitude,
                     "peak_hour": min(hours, key=lambda h: (-hours[h], h)) if hours else 14},
        "ca": cas,
    }
    if report.now is not None:
        data["start_date"] = datetime.fromtimestamp(report.now, UTC).date().isoformat()
    header.append(f"Workload: {rate * DAY:.1f} certificates/day over the last "
                  f"{report.options.window / DAY:g} days, diurnal amplitude {amplitude}.")
    return data, header


def _names(cas: list[CaConfig]) -> list[str]:
    out: list[str] = []
    for ca in cas:
        short = re.sub(r"[^A-Za-z0-9_-]", "-", ca.name.split(".")[0]) or "ca"
        if short in out:
            short = re.sub(r"[^A-Za-z0-9_-]", "-", ca.name)
        while short in out:
            short += "_"
        out.append(short)
    return out


def _ids(report: AuditReport, ca: CaConfig, kind: IdKind, *, moved: bool, header: list[str],
         last: int | None) -> dict[str, Any]:
    config = ca.spaces[kind]
    keys = KEYS[kind]
    begin, end = config.begin, config.end
    if last is not None and begin <= last < end:
        begin = last + 1  # what is left of the current range
    if moved and kind is not IdKind.REPLICA and config.mode.ranged:
        top = _highest(report, kind)
        if top >= end:
            size = end - begin + 1
            new_end = _decimal_hex_ceiling(top + size) if _v1_cert(config.strategy, kind) \
                else top + size
            header.append(f"{ca.name}'s remaining {kind.value} range {fmt(kind, begin)}-"
                          f"{fmt(kind, end)} is moved to {fmt(kind, new_end - size + 1)}-"
                          f"{fmt(kind, new_end)}, above every known range: pkisim seeds "
                          "nextRange from the master's range end.")
            begin, end = new_end - size + 1, new_end
    if not config.mode.ranged:
        return {}  # no ranges: the strategy's own defaults
    out: dict[str, Any] = {keys.begin: begin, keys.end: end, keys.increment: config.increment,
                           keys.low_water_mark: config.low_water_mark}
    if config.next_overrun:
        header.append(f"{ca.name}'s next {kind.value} range ends below its begin (a clone "
                      "transfer took more than it held): left out, it holds no number.")
    elif config.next_begin is not None:
        out[keys.next_begin], out[keys.next_end] = config.next_begin, config.next_end
    if config.clone_transfer_number is not None:
        out[keys.clone_transfer_number] = config.clone_transfer_number
    return out


def _v1_cert(strategy: str, kind: IdKind) -> bool:
    return kind is IdKind.CERT and STRATEGY[strategy].reinterprets_counter


def _highest(report: AuditReport, kind: IdKind) -> int:
    dep = report.deployment
    ends = [e for ca in dep.cas for _, _, e in ca.held(kind)]
    ends += [r.actual[1] for r in dep.ranges if r.kind is kind]
    ends += [v - 1 for c in dep.counters if c.kind is kind for v in c.actual]
    return max(ends, default=0)


def _decimal_hex_ceiling(n: int) -> int:
    """The smallest m >= n whose hex digits are all 0-9 (ca-range-update reads them as decimal)."""
    digits = format(n, "x")
    for i, c in enumerate(digits):
        if c in "abcdef":
            head = _decimal_hex_ceiling(int(digits[:i] or "0", 16) + 1)
            return head << (4 * (len(digits) - i))
    return n


def _rate(report: AuditReport, recent: int) -> float:
    """Certificates per second in the window (as the forecast counts it)."""
    times = [r.time for r in report.deployment.issued
             if r.time is not None and r.kind is IdKind.CERT]
    if report.now is None or not times:
        return 0.0
    window = max(report.options.bucket, min(report.options.window, report.now - min(times)))
    return recent / window


def _hours(report: AuditReport) -> Tally[int]:
    """Certificates created in the window, by hour of the day (UTC)."""
    now = report.now
    if now is None:
        return Tally()
    return Tally(datetime.fromtimestamp(r.time, UTC).hour for r in report.deployment.issued
                 if r.time is not None and now - report.options.window < r.time <= now
                 and r.kind is IdKind.CERT)


# ---------------------------------------------------------------- TOML
def to_toml(data: dict[str, Any], header: list[str]) -> str:
    lines = ["# What-if scenario of an audited deployment (pkisim audit --scenario-out)."]
    lines += [f"# {h}" for h in header]
    lines.append("")
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    arrays = {k: v for k, v in data.items() if isinstance(v, list) and v
              and isinstance(v[0], dict)}
    for key, value in data.items():
        if key not in tables and key not in arrays:
            lines.append(f"{key} = {_value(value)}")
    for key, table in tables.items():
        lines += ["", f"[{key}]"] + [f"{k} = {_value(v)}" for k, v in table.items()]
    for key, items in arrays.items():
        for item in items:
            lines += ["", f"[[{key}]]"]
            lines += [f"{k} = {_value(v)}" for k, v in item.items() if not isinstance(v, dict)]
            for sub, table in item.items():
                if isinstance(table, dict):
                    lines += [f"[{key}.{sub}]"] + [f"{k} = {_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")
