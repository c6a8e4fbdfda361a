"""``pkisim run SCENARIO``: run a scenario, print its summary and write its report.

Loads a scenario file (:mod:`pkisim.scenario`), estimates its work
(:mod:`pkisim.scenario.estimate`: refused beyond ``--max-events`` and
``--max-memory``), runs it with a progress bar (in simulated time, on stderr
when it is a terminal), prints a summary table (or, with ``--quiet``, the
one-line verdict) and writes the report directory (:mod:`pkisim.report.output`,
:mod:`pkisim.report.plots`) atomically: a failed, interrupted or killed run
leaves any previous report as it was.

Exit status, as the checker's: 0 valid, 1 invalid (a duplicate serial or
request ID, a broken CRL sequence, or a range-invariant violation), 2 error
(bad scenario or arguments, work over the budget, unusable output directory).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import shutil
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pkisim.cli.util import (
    EXIT_INVALID,
    EXIT_VALID,
    MAX_SEED,
    add_budget,
    budget,
    check_interrupted,
    integer_at_least,
    parse_overrides,
)
from pkisim.errors import ConfigError
from pkisim.ids.strategies import STRATEGIES
from pkisim.report import output as out
from pkisim.report.forecast import forecast_text
from pkisim.scenario import load_scenario
from pkisim.scenario.builder import locate
from pkisim.scenario.estimate import estimate
from pkisim.sim import RunResult, Scenario, Simulation

_seed = integer_at_least(0, MAX_SEED)


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``run`` to the ``pkisim`` parser's subcommands."""
    run_parser = commands.add_parser(
        "run", help="run a scenario and write its report",
        description="Run a scenario file and write its report: summary.json, scenario.json, "
                    "history.parquet, tables/ and PNG plots.",
        epilog="Exit status: 0 valid, 1 invalid (duplicates, range violations), 2 error, "
               "130/143 interrupted.")
    run_parser.add_argument("scenario", type=Path, help="scenario file (TOML)")
    run_parser.add_argument("--seed", type=_seed, metavar="N",
                            help="root seed (default: the scenario's)")
    run_parser.add_argument("--out", type=Path, metavar="DIR",
                            help="report directory (default: runs/NAME-seedN); an existing "
                                 "one is replaced only if it is a previous report")
    run_parser.add_argument("--strategy", choices=STRATEGIES, metavar="NAME",
                            help="allocation strategy of every CA: " + ", ".join(STRATEGIES))
    run_parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                            dest="overrides",
                            help="override a scenario key (dotted, e.g. workload.enroll_rate=5 "
                                 "or ca[1].workers=2; the value is a TOML scalar or a bare "
                                 "string such as 2h); repeatable")
    run_parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    run_parser.add_argument("--quiet", action="store_true",
                            help="no progress bar; print only the one-line verdict")
    add_budget(run_parser, "a run")
    run_parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run ``pkisim run`` with its parsed arguments; returns the exit status.
    Bad input raises a one-line :class:`PkisimError`; an interrupt or a failure
    after the run started discards the staged report and leaves any previous one."""
    try:
        overrides = parse_overrides(args.overrides)
    except ConfigError as err:
        raise err.with_source("pkisim run") from None
    scenario = load_scenario(args.scenario, overrides=overrides, strategy=args.strategy)
    if args.seed is not None:
        scenario = dataclasses.replace(scenario, seed=args.seed)
    try:
        budget(args).check(estimate(scenario))
    except ConfigError as err:
        raise locate(err, args.scenario, overrides) from None
    destination = args.out or Path("runs") / f"{_slug(scenario.name)}-seed{scenario.seed}"
    progress = _Progress(scenario, enabled=not args.quiet)
    staging = out.Staging(destination)
    try:
        result, summary = _run_into(staging.path, scenario, args, progress)
        check_interrupted()
        staging.commit()
    except BaseException as err:
        progress.close()
        staging.discard()
        if isinstance(err, OSError):
            raise out.OutputError(f"{destination}: cannot write the report: "
                                  f"{err.strerror or err}") from None
        raise
    progress.close()
    if args.quiet:
        print(verdict_line(result, summary, destination))
    else:
        print(summary_table(result, summary, destination))
    return int(summary["exit_status"])


def _run_into(directory: Path, scenario: Scenario, args: argparse.Namespace,
              progress: _Progress) -> tuple[RunResult, dict[str, Any]]:
    """Simulate, check and write every output file into ``directory``."""
    result = Simulation(scenario, progress=progress.callback).run()
    summary = result.summary()
    summary["exit_status"] = EXIT_VALID if _valid(summary) else EXIT_INVALID
    progress.note("writing the report")
    out.write_run(result, directory, summary, provenance(args, scenario))
    if not args.no_plots:
        from pkisim.report.plots import write_plots  # matplotlib: only when drawing

        progress.note("drawing the plots")
        write_plots(result, directory)
    return result, summary


def _valid(summary: dict[str, Any]) -> bool:
    return bool(summary.get("valid")) and not summary.get("range_violations")


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name) or "scenario"


def provenance(args: argparse.Namespace, scenario: Scenario) -> dict[str, Any]:
    """What scenario.json needs beside the scenario to replay the run."""
    overrides = parse_overrides(args.overrides)
    command = ["pkisim", "run", str(args.scenario), "--seed", str(scenario.seed)]
    if args.strategy:
        command += ["--strategy", args.strategy]
    for item in args.overrides:
        command += ["--set", item]
    return {"command": command, "scenario_file": str(args.scenario),
            "scenario_file_sha256": out.file_sha256(args.scenario),
            "overrides": {key: out.plain(value) for key, value in overrides.items()},
            "strategy_override": args.strategy, "seed": scenario.seed,
            "strategy": scenario.strategy, "code": out.code_version()}


class _Progress:
    """A tqdm bar in simulated time on stderr, when stderr is a terminal;
    called with the fraction of simulated time done."""

    def __init__(self, scenario: Scenario, enabled: bool) -> None:
        self.bar: Any = None
        if not (enabled and sys.stderr.isatty()):
            return
        from tqdm import tqdm

        scale, unit = _unit(scenario.duration)
        self.total = scenario.duration / scale
        columns, lines = shutil.get_terminal_size()  # (80, 24) where a pty reports 0 x 0
        self.bar = tqdm(total=self.total, unit=f" sim {unit}", desc=scenario.name,
                        file=sys.stderr, ncols=min(120, columns), nrows=lines, leave=False,
                        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:,.1f}/{total:,.1f}"
                                   "{unit} [{elapsed}<{remaining}]{postfix}")

    def __call__(self, fraction: float) -> None:
        self.bar.update(fraction * self.total - self.bar.n)

    @property
    def callback(self) -> Callable[[float], None] | None:
        return self if self.bar is not None else None

    def note(self, text: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(text)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _unit(seconds: float) -> tuple[float, str]:
    for scale, unit in ((86400.0, "days"), (3600.0, "hours"), (60.0, "minutes")):
        if seconds >= 2 * scale:
            return scale, unit
    return 1.0, "seconds"


# --------------------------------------------------------------------------- the summary


def verdict_line(result: RunResult, summary: dict[str, Any], destination: Path) -> str:
    return (f"{result.scenario.name} seed {result.seed} ({result.scenario.strategy}): "
            f"{_verdict(summary)} -> {destination}")


def _verdict(summary: dict[str, Any]) -> str:
    if _valid(summary):
        return "VALID"
    verdict = summary.get("verdict", {})
    problems = []
    if summary.get("duplicated_count"):
        problems.append(f"{summary['duplicated_count']:,} duplicate serials")
    requests = verdict.get("request_ids", {}).get("duplicated_count")
    if requests:
        problems.append(f"{requests:,} duplicate request IDs")
    if summary.get("range_violations"):
        problems.append(f"{summary['range_violations']:,} range violations")
    kra = verdict.get("kra", {})
    for what, n in (("duplicate key IDs", kra.get("key_ids", {}).get("duplicated_count")),
                    ("duplicate KRA request IDs",
                     kra.get("request_ids", {}).get("duplicated_count")),
                    ("wrong keys recovered", kra.get("recovery", {}).get("wrong_keys"))):
        if n:
            problems.append(f"{n:,} {what}")
    crl = verdict.get("crl", {})
    if not crl.get("valid", True):
        problems.append("CRL: " + ", ".join(f"{k} {v}" for k, v in crl["violations"].items()))
    return "INVALID (" + "; ".join(problems or ["see summary.json"]) + ")"


def summary_table(result: RunResult, summary: dict[str, Any], destination: Path) -> str:
    s = result.scenario
    req = summary["requests"]
    verdict = summary["verdict"]
    lines = [f"pkisim run {s.name} — seed {result.seed}, strategy {s.strategy}, "
             f"{_duration(s.duration)} simulated, {len(s.cas)} CAs, "
             f"{len(s.directory.replicas)} replicas"]
    if s.description:
        lines.append(f"  {s.description}")
    lines.append("")
    rows: list[tuple[str, str | list[str]]] = [
        ("verdict", _verdict(summary)),
        ("certificates issued", f"{summary['issued']:,}"),
        ("requests", f"{req['attempts']:,} attempts: {req['ok']:,} ok, {req['fail']:,} failed, "
                     f"{req['timeout']:,} timed out, {req['info']:,} unknown (info)"),
        ("failures by cause", [f"{n:>9,}  {cause}" for cause, n in summary["failures"].items()]
         or "none"),
        ("latency (ok)", _latency_rows(summary["latency"])),
        ("duplicates", f"{summary['duplicated_count']:,} serials certain, "
                       f"{summary['possible_duplicated_count']:,} possible; "
                       f"{verdict['request_ids']['duplicated_count']:,} request IDs"),
        ("range violations", _wrap(f"{summary['range_violations']:,}"
                                   + _first_violation(verdict))),
        ("range claims", f"{summary['claims']:,} claimed, " + _claim_counts(result)),
        ("exhaustion forecast", _forecast_rows(summary["forecast"])),
        ("CRL staleness", _crl_row(summary["crl"], s.crl.auto_update_interval)),
        ("faults", _faults_row(result)),
    ]
    rows[-1:-1] = _rest_of_pki_rows(summary)
    if "kra" in verdict:
        rows.append(("KRA", _kra_rows(verdict["kra"])))
    explanations = verdict.get("explanations", [])
    if explanations:
        rows.append(("first duplicates", [line for e in explanations[:2] for line in _wrap(e)]))
    rows.append(("report", f"{destination}/"))
    for label, value in rows:
        values = value if isinstance(value, list) else [value]
        for i, text in enumerate(values):
            lines.append(f"  {label if i == 0 else '':<20} {text}")
    return "\n".join(lines)


def _kra_rows(kra: dict[str, Any]) -> list[str]:
    """Archivals, duplicates and recoveries of the run's KRAs (:mod:`pkisim.sim.kra`)."""
    rec = kra["recovery"]
    failed = ", ".join(f"{n:,} {cause}" for cause, n in kra["archive_failures"].items())
    rows = [f"{kra['archived']:,} keys archived" + (f"; failed: {failed}" if failed else ""),
            f"{kra['key_ids']['duplicated_count']:,} duplicate key IDs, "
            f"{kra['request_ids']['duplicated_count']:,} duplicate KRA request IDs",
            f"recoveries ({rec['mode']}, {rec['agents']} agents): "
            + (", ".join(f"{n:,} {o}" for o, n in rec["outcomes"].items()) or "none")]
    rows += [f"{n:>9,}  {cause}" for cause, n in rec["failures"].items()]
    if rec["latency_median"] is not None:
        rows.append(f"recovery latency: median {rec['latency_median']:.0f} s, "
                    f"max {rec['latency_max']:.0f} s")
    return rows


def _rest_of_pki_rows(summary: dict[str, Any]) -> list[tuple[str, str | list[str]]]:
    """OCSP staleness per instance and the replica-ID check (pkisim.sim.topology)."""
    rows: list[tuple[str, str | list[str]]] = []
    ocsp = summary.get("ocsp")
    if ocsp is not None:
        lines = [f"{'':9}  {'p50':>9} {'p95':>9} {'max':>9}  stale 'good' answers"]
        for name, row in ocsp["instances"].items():
            lines.append(f"{name:<9}  {_seconds(row['staleness_p50']):>9} "
                         f"{_seconds(row['staleness_p95']):>9} "
                         f"{_seconds(row['staleness_max']):>9}  {row['stale_good_answers']:,}")
        failures = ", ".join(f"{n:,} {cause}" for cause, n in ocsp["publish_failures"].items())
        lines.append(f"{ocsp['published']:,} CRLs published to the OCSP master"
                     + (f"; not published: {failures}" if failures else ""))
        rows.append(("OCSP staleness", lines))
    ids = summary.get("replica_ids")
    if ids is not None:
        text = (f"{ids['assigned']:,} assigned in {ids['topologies']} topologies, "
                + ("unique" if ids["valid"] else f"VIOLATIONS {ids['violations']}")
                + (f"; {ids['exhausted']} installations found none" if ids["exhausted"] else ""))
        rows.append(("replica IDs", _wrap(text + "".join(f"; {v}" for v in ids["first"][:2]))))
    return rows


def _latency_rows(latency: dict[str, dict[str, float | None]]) -> list[str] | str:
    if not latency:
        return "no request succeeded"
    rows = [f"{'kind':<8} {'p50':>9} {'p95':>9} {'p99':>9}"]
    for kind, q in latency.items():
        rows.append(f"{kind:<8} " + " ".join(f"{_seconds(q[p]):>9}" for p in ("p50", "p95", "p99")))
    return rows


def _forecast_rows(forecast: list[dict[str, Any]]) -> list[str]:
    rows = [f"{'space':<8} {'used':>10} {'per day':>9} {'left':>12}  runs out"]
    for f in forecast:
        date = f.get("forecast_date")
        days = f.get("days_to_exhaustion")
        when = forecast_text(date, math.inf if days is None else days)
        held = f.get("held_days")
        if held is not None and days is not None and held < days * 0.999:
            when += f"; held ranges last {_seconds(held * 86400)}"
        rows.append(f"{f['kind']:<8} {f['used']:>10,} {f['rate_per_day']:>9,.1f} "
                    f"{_big(f['space']):>12}  {when}")
    return rows


def _crl_row(crl: dict[str, Any], bound: float) -> str:
    if not crl["revocations"]:
        return f"no revocations; {crl['generated']:,} CRLs generated"
    text = (f"p50 {_seconds(crl['staleness_p50'])}, max {_seconds(crl['staleness_max'])} "
            f"(autoUpdateInterval {_seconds(bound)}); {crl['revocations']:,} revocations, "
            f"{crl['generated']:,} CRLs")
    if crl["never_listed"]:
        text += f"; {crl['never_listed']:,} not yet listed at the end"
    if not crl["numbers_increasing"]:
        text += "; CRL NUMBERS NOT INCREASING"
    return text


def _claim_counts(result: RunResult) -> str:
    events = result.claims[result.claims["kind"] == "cert"]["event"].value_counts()
    parts = [f"{int(events.get(name, 0)):,} {label}" for name, label in (
        ("claim-failed", "failed"), ("switched", "switches"), ("transferred", "transfers"))]
    return ", ".join(parts) + " (serials)"


def _faults_row(result: RunResult) -> str | list[str]:
    faults = result.faults
    if not len(faults):
        return "none"
    rows = []
    for kind, target, start, end in faults.head(8).itertuples(index=False):
        span = "" if end is None or not math.isfinite(end) or end == start else \
            f" for {_duration(end - start)}"
        rows.append(f"{kind} {target} at {_duration(start)}{span}")
    if len(faults) > 8:
        rows.append(f"... {len(faults) - 8:,} more (tables/faults.csv)")
    return rows


def _first_violation(verdict: dict[str, Any]) -> str:
    first = verdict.get("ranges", {}).get("first") or []
    return f" (first: {first[0]})" if first else ""


def _wrap(text: str) -> list[str]:
    return textwrap.wrap(text, width=96, subsequent_indent="  ") or [""]


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return _duration(value)


def _duration(seconds: float) -> str:
    for scale, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= scale:
            return f"{seconds / scale:,.3g} {unit}" if seconds / scale < 100 else \
                f"{seconds / scale:,.0f} {unit}"
    return f"{seconds:.3g} s"


def _big(value: float | int | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if value < 1e12 else f"≈2^{math.log2(value):.0f}"

