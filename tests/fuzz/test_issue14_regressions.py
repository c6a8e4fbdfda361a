"""Every cause measured in issue 14, as a regression example: the input, and the
one line (file, key, value, reason) or the refusal that pkisim now answers with."""

from __future__ import annotations

import contextlib
import io
import re
import time
from pathlib import Path

import corpus
import pytest
from corpus import Raw, base_scenario, cscfg_scenario, to_toml, with_value

from pkisim.cli import main

HUGE = "9" * 5000


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    return status, out.getvalue(), err.getvalue()


def one_line_error(argv: list[str], *expected: str) -> str:
    """``argv`` fails with exit status 2 and one line holding every ``expected``."""
    status, out, err = run(argv)
    assert status == 2, (out, err)
    lines = err.splitlines()
    assert len(lines) == 1 and "Traceback" not in err and "internal error" not in err, err
    for text in expected:
        assert text in lines[0], (text, lines[0])
    assert len(lines[0]) < 600, lines[0]
    return lines[0]


def scenario_file(tmp_path: Path, data: dict, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(to_toml(data))
    return path


def run_args(path: Path, *more: str) -> list[str]:
    return ["run", str(path), "--out", str(path.parent / "out"), "--no-plots", "--quiet", *more]


# --------------------------------------------------------------------------- 51 tracebacks


def test_a_cs_cfg_integer_of_5000_digits(tmp_path: Path) -> None:
    cfg = tmp_path / "CS.cfg"
    cfg.write_text(corpus.set_cscfg(corpus.CS_CFG.read_text(), "ca.serialNumberUpdateInterval",
                                    HUGE))
    one_line_error(["audit", "--ldif", str(corpus.LDIF), "--cs-cfg", str(cfg)],
                   f"{cfg}:", "ca.serialNumberUpdateInterval = '999", "is not an integer")
    (tmp_path / "s.toml").write_text(cscfg_scenario("CS.cfg", "legacy2"))
    one_line_error(run_args(tmp_path / "s.toml"), "cs_cfg = 'CS.cfg'",
                   "ca.serialNumberUpdateInterval", "32-bit Java int")


@pytest.mark.parametrize(("old", "new", "key"), [
    ("nextRange: 1000\n", f"nextRange: {HUGE}\n", "nextRange"),
    ("beginRange: ", f"beginRange: {HUGE}", "beginrange"),
    ("SecurePort: 8443\n", f"SecurePort: {HUGE}\n", "SecurePort"),
    ("dn: cn=1,ou=certificateRepository", f"dn: cn={HUGE},ou=certificateRepository", "cn"),
])
def test_an_ldif_number_of_5000_digits(tmp_path: Path, old: str, new: str, key: str) -> None:
    text = corpus.LDIF.read_text()
    assert old in text
    ldif = tmp_path / "e.ldif"
    ldif.write_text(text.replace(old, new, 1))
    line = one_line_error(["audit", "--ldif", str(ldif)], f"{ldif}:", key)
    assert ("5,00" in line and "digits" in line) or "TCP port" in line


def test_a_json_lines_value_of_5000_digits(tmp_path: Path) -> None:
    history = tmp_path / "h.jsonl"
    history.write_text('{"process": 0, "type": "ok", "f": "generate", "value": ' + HUGE + "}\n")
    one_line_error(["check", str(history)], f"{history}:1:", "5,000 digits")


def test_an_edn_number_of_5000_digits(tmp_path: Path) -> None:
    """Jepsen's history.edn goes through the same digit limit as JSON Lines
    (not Python's int() limit, whose message is about sys.set_int_max_str_digits)."""
    history = tmp_path / "history.edn"
    history.write_text("{:process 0, :type :ok, :f :generate, :value " + HUGE + "}\n")
    line = one_line_error(["check", str(history)], f"{history}:1:", "5,000 digits")
    assert "set_int_max_str_digits" not in line


@pytest.mark.parametrize("where", ["scenario", "sweep"])
@pytest.mark.parametrize(("label", "tail"), [
    ("arrays 1200 deep", "x = " + "[" * 1200 + "1" + "]" * 1200 + "\n"),
    ("dotted keys 1200 deep", "x" + ".x" * 1200 + " = 1\n"),
])
def test_toml_nested_1200_levels(tmp_path: Path, where: str, label: str, tail: str) -> None:
    scenario = scenario_file(tmp_path, base_scenario())
    if where == "scenario":
        scenario.write_text(tail + scenario.read_text())
        one_line_error(run_args(scenario), f"{scenario}:1:", "nests deeper than 32 levels")
    else:
        sweep = tmp_path / "w.toml"
        sweep.write_text(tail + 'scenario = "s.toml"\n')
        one_line_error(["sweep", str(sweep)], f"{sweep}:1:", "nests deeper than 32 levels")


def test_json_nested_5000_levels_in_a_history(tmp_path: Path) -> None:
    history = tmp_path / "h.jsonl"
    history.write_text("[" * 5000 + "]" * 5000 + "\n")
    one_line_error(["check", str(history)], f"{history}:1:", "nests deeper than 32 levels")


@pytest.mark.parametrize("blob", [b"[1, 2]", b'"x"', b"5", b"null"])
def test_parquet_metadata_that_is_json_but_not_an_object(tmp_path: Path, blob: bytes) -> None:
    from test_fuzz import _parquet

    history = tmp_path / "h.parquet"
    history.write_bytes(_parquet(blob))
    one_line_error(["check", str(history)], f"{history}:", "metadata", "expected a JSON object")


@pytest.mark.parametrize("f", [":", ""])
def test_a_json_lines_op_name_that_is_empty(tmp_path: Path, f: str) -> None:
    history = tmp_path / "h.jsonl"
    history.write_text(f'{{"process": 0, "type": "ok", "f": "{f}", "value": 5}}\n')
    one_line_error(["check", str(history)], f"{history}:1:", f'"f" = {f!r}',
                   "expected an operation name")


def test_a_duration_of_400_digits(tmp_path: Path) -> None:
    for path, value in ((("duration",), "9" * 400 + "s"),
                        (("defaults", "ca", "enroll"), {"kind": "uniform", "low": "0s",
                                                         "high": "9" * 400 + "s"})):
        scenario = scenario_file(tmp_path, with_value(base_scenario(), path, value))
        one_line_error(run_args(scenario), f"{scenario}:", "longer than 10000 years")


def test_workers_of_2_to_the_63(tmp_path: Path) -> None:
    scenario = scenario_file(tmp_path, with_value(base_scenario(), ("defaults", "ca", "workers"),
                                                  Raw(str(2**63 - 1))))
    one_line_error(run_args(scenario), f"{scenario}:", "defaults.ca.workers = "
                   "9223372036854775807", "must be between 1 and 100,000")


def test_a_trace_field_over_the_csv_limit(tmp_path: Path) -> None:
    data = with_value(base_scenario(), ("workload", "trace"), "t.csv")
    del data["workload"]["enroll_rate"]  # type: ignore[attr-defined]
    scenario = scenario_file(tmp_path, data)
    (tmp_path / "t.csv").write_text("time\n1.0\n" + "x" * 200_000 + "\n")
    one_line_error(run_args(scenario), f"{scenario}:", "workload.trace", "line 3",
                   "field larger than field limit")


# --------------------------------------------------------------------------- 9 silent


@pytest.mark.parametrize("value", ["-5", "-0x5"])
def test_a_negative_id_in_a_csv_history(tmp_path: Path, value: str) -> None:
    history = tmp_path / "h.csv"
    lines = corpus.csv_text().splitlines(keepends=True)
    lines[2] = lines[2].replace(",5,", f",{value},", 1)
    history.write_text("".join(lines))
    one_line_error(["check", str(history)], f"{history}:3:", f"column \"value\" = '{value}'",
                   "an ID cannot be negative")


def test_a_boolean_issuer_in_json_lines(tmp_path: Path) -> None:
    history = tmp_path / "h.jsonl"
    history.write_text('{"process": 0, "type": "ok", "f": "generate", "value": 5, '
                       '"issuer": true}\n')
    one_line_error(["check", str(history)], f"{history}:1:", '"issuer" = True')


def test_a_secure_port_out_of_range_in_ldif(tmp_path: Path) -> None:
    ldif = tmp_path / "e.ldif"
    ldif.write_text(corpus.LDIF.read_text().replace("SecurePort: 8443\n",
                                                    "SecurePort: 99999999\n", 1))
    one_line_error(["audit", "--ldif", str(ldif)], f"{ldif}:",
                   "SecurePort = '99999999': is not a TCP port (1-65535)")


def test_an_id_default_that_no_ca_takes(tmp_path: Path) -> None:
    (tmp_path / "master.cfg").write_bytes(corpus.MASTER_CFG.read_bytes())
    scenario = tmp_path / "s.toml"
    scenario.write_text(cscfg_scenario("master.cfg", "legacy", {"serialIncrement": "zz"}))
    one_line_error(run_args(scenario), f"{scenario}:",
                   "defaults.ids.serialIncrement = 'zz': is not a hexadecimal number")
    donor = with_value(base_scenario(), ("ca",), [
        {"name": "ca1", "role": "master", "replica": "ds1", "cs_cfg": "master.cfg"},
        {"name": "ca2", "replica": "ds2", "donor": "ca1", "created_at": "1m"}])
    donor["strategy"] = "legacy"
    donor["defaults"]["ids"] = {"serialIncrement": "zz"}  # type: ignore[index]
    scenario = scenario_file(tmp_path, donor)
    one_line_error(run_args(scenario), "defaults.ids.serialIncrement = 'zz'")


# --------------------------------------------------------------------------- 12 multi-line


@pytest.mark.parametrize(("argv", "expected"), [
    (["check", "h.csv", "--op", "bogus"], "argument --op: invalid choice: 'bogus'"),
    (["check", "h.csv", "--witnesses", "abc"], "argument --witnesses: not an integer: 'abc'"),
    (["check"], "the following arguments are required: history"),
    (["check", "h.csv", "extra"], "unrecognized arguments: 1 value (not shown)"),
    (["run"], "the following arguments are required: scenario"),
    (["sweep", "w.toml", "--workers", "0"], "must be >= 1"),
    (["audit"], "one of the arguments --ldif --url is required"),
    (["bogus"], "invalid choice: 'bogus'"),
])
def test_usage_errors_of_every_command_are_one_line(argv: list[str], expected: str) -> None:
    line = one_line_error(argv, expected)
    assert line.startswith("pkisim")
    assert line.endswith("--help)")


def test_pkisim_alone_prints_a_short_usage_on_stdout() -> None:
    status, out, err = run([])
    assert status == 2 and err == ""
    assert out.startswith("usage: pkisim COMMAND") and len(out.splitlines()) <= 6
    for command in ("run", "check", "sweep", "audit"):
        assert f"pkisim {command} " in out


# --------------------------------------------------------------------------- 6 unbounded


@pytest.mark.parametrize(("path", "value", "key"), [
    (("workload", "crl_fetch_rate"), Raw("1e9"), "workload.crl_fetch_rate = 1000000000.0"),
    (("workload", "bursts", 0, "factor"), Raw("1e300"), "workload.bursts[0].factor = 1e+300"),
    (("defaults", "ids", "serialNumberUpdateInterval"), Raw("1e-6"),
     "defaults.ids.serialNumberUpdateInterval = 1e-06"),
])
def test_a_huge_run_is_refused_before_it_starts(tmp_path: Path, path: tuple, value: Raw,
                                                key: str) -> None:
    scenario = scenario_file(tmp_path, with_value(base_scenario(), path, value))
    start = time.monotonic()
    line = one_line_error(run_args(scenario), f"{scenario}:", key, "events, over the limit",
                          "allow it with --max-events")
    assert time.monotonic() - start < 10
    allowed = re.search(r"--max-events (\S+)$", line)[1]  # type: ignore[index]
    from pkisim.scenario import load_scenario
    from pkisim.scenario.estimate import Budget, estimate

    Budget(max_events=float(allowed), max_memory=float("inf")).check(
        estimate(load_scenario(scenario)))  # the option it names allows it


@pytest.mark.parametrize(("label", "grid", "expected"), [
    ("400 points", {"workload.enroll_rate": [f"{i}/day" for i in range(1000, 1400)]},
     "400 points x 5 runs"),
    ("24 million points", {"workload.enroll_rate": [f"{i}/day" for i in range(1, 2001)],
                           "workload.clients": list(range(1, 12001))},
     "the sweep has 24,000,000 points (2000 x 12000), over the limit of 10,000: allow it with "
     "--max-points 24000000"),
])
def test_a_huge_sweep_is_refused_before_it_starts(tmp_path: Path, label: str, grid: dict,
                                                  expected: str) -> None:
    (tmp_path / "s.toml").write_bytes(corpus.HEAVY.read_bytes())
    sweep = tmp_path / "w.toml"
    sweep.write_text(to_toml({"scenario": "s.toml", "replications": 5, "grid": grid}))
    start = time.monotonic()
    one_line_error(["sweep", str(sweep), "--out", str(tmp_path / "out")], f"{sweep}:", expected)
    assert time.monotonic() - start < 60
    assert not (tmp_path / "out").exists()
