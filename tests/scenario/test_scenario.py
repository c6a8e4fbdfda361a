"""Scenario files: the shipped ones load, bad input gives one line naming file,
key and value, overrides and --strategy keep numbers, a CS.cfg is loaded exactly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pkisim.errors import ConfigError
from pkisim.ids.config import IdKind
from pkisim.ids.cscfg import CSCfg, load_ca
from pkisim.scenario import load_scenario, parse_duration, parse_rate, scenario_from_dict
from pkisim.sim.config import Scenario

SCENARIOS = Path(__file__).parents[2] / "scenarios"
SHIPPED = sorted(SCENARIOS.glob("*.toml"))
C, R, P = IdKind.CERT, IdKind.REQUEST, IdKind.REPLICA

# A small valid scenario: {top} goes before the first table; {tail} is appended
# after the second [[ca]], so bare keys there belong to ca[1] ("ca2").
BASE = """\
duration = "1d"
{top}
[directory]
replicas = ["ds1", "ds2"]

[[ca]]
name = "ca1"
role = "master"
replica = "ds1"
crl_master = true

[[ca]]
name = "ca2"
replica = "ds2"
donor = "ca1"
{tail}
"""


def write(tmp_path: Path, tail: str = "", top: str = "", name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(BASE.format(top=top, tail=tail))
    return path


# --------------------------------------------------------------------------- shipped files


def test_every_scenario_is_shipped() -> None:
    names = {p.stem for p in SHIPPED}
    assert names >= {"steady-state", "master-outage", "refill-race", "partition-claims",
                     "crl-outage", "clone-under-load", "capacity-year", "trace-replay",
                     "cs-cfg-master"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_scenario_loads(path: Path) -> None:
    scenario = load_scenario(path)
    assert isinstance(scenario, Scenario)
    assert scenario.name == path.stem
    assert path.read_text().startswith("# "), "needs a comment header saying what it answers"
    assert path.stem in (SCENARIOS / "README.md").read_text()


def test_steady_state_topology() -> None:
    s = load_scenario(SCENARIOS / "steady-state.toml")
    assert [(ca.name, ca.role, ca.replica) for ca in s.cas] == [
        ("ca1", "master", "ds1"), ("ca2", "clone", "ds2"), ("ca3", "clone", "ds3"),
        ("ca4", "clone", "ds4")]
    assert s.strategy == "legacy2"
    master = s.cas[0].ids
    assert master is not None
    assert (master[C].begin, master[C].end, master[C].increment) == (1, 0x4000, 0x4000)
    assert master[C].update_interval == 600
    assert all(ca.ids is None for ca in s.cas[1:])  # ranges by transfer
    assert s.workload.enroll_rate == pytest.approx(5000 / 86400)
    assert s.cas[0].enroll.kind == "lognormal" and s.cas[3].enroll.mean == 0.25


def test_bad_trace_rows_are_reported_on_load(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("time\n1.0\nsoon\n")
    with pytest.raises(ConfigError, match=r"workload\.trace = 't\.csv': .*t\.csv: line 3: time "
                                          r"'soon' is not a number$"):
        load_scenario(write(tmp_path, '[workload]\ntrace = "t.csv"'))


def test_trace_is_resolved_next_to_the_scenario() -> None:
    s = load_scenario(SCENARIOS / "trace-replay.toml")
    assert s.workload.trace == str((SCENARIOS / "data" / "trace.csv").resolve())
    assert s.workload.enroll_rate == 0


# --------------------------------------------------------------------------- bad input


def case(tail: str, expected: str, top: str = "") -> object:
    return pytest.param(top, tail, expected, id=expected[:48])


BAD = [
    # unknown keys, with a suggestion
    case("", "nmae = 'x': unknown key; did you mean 'name'?", top='nmae = "x"'),
    case("[workload]\nenrol_rate = 1", "workload.enrol_rate = 1: unknown key; did you mean "
                                       "'enroll_rate'?"),
    case("[ca.ids]\nserialLowWatermark = 5", "ca[1].ids.serialLowWatermark = 5: unknown key; did "
                                             "you mean 'serialLowWaterMark'?"),
    case("[defaults.ids]\ndbs.serialIncremnt = 5", "defaults.ids.dbs.serialIncremnt = 5: unknown "
                                                   "key; did you mean 'serialIncrement'?"),
    case("[random_faults.rates_per_day]\ncrsh = 1",
         "random_faults.rates_per_day.crsh = 1: unknown key; did you mean 'crash'?"),
    case('enroll = {kind = "constant", maen = "1s"}', "ca[1].enroll.maen = '1s': unknown key"),
    # wrong types
    case('workers = "8"', "ca[1].workers = '8': must be an integer"),
    case("crl_master = 1", "ca[1].crl_master = 1: must be true or false"),
    case('[directory.x]\ny = 1', "directory.x = {'y': 1}: unknown key"),
    case("[workload]\nbursts = 3", "workload.bursts = 3: must be an array of [[bursts]] tables"),
    # durations and rates
    case('created_at = "2 days"', "ca[1].created_at = '2 days': is not a duration"),
    case('[workload]\nenroll_rate = "5/fortnight"', "workload.enroll_rate = '5/fortnight': is not "
                                                    "a rate"),
    case("[workload]\nenroll_rate = -1", "workload.enroll_rate = -1: must not be negative"),
    case("[crl]\nauto_update_interval = 240", "crl.auto_update_interval = 240: give a unit"),
    # TOML syntax: tomllib's line and column are kept
    case("workers 8", ":16: line = 'workers 8': TOML syntax error: Expected '=' after a key"),
    case('name = "again"', ":16: name = '\"again\"': TOML syntax error: Cannot overwrite"),
    # cs_cfg
    case('cs_cfg = "missing.cfg"', "ca[1].cs_cfg = 'missing.cfg': no such file"),
    case('cs_cfg = "bad.cfg"', "ca[1].cs_cfg = 'bad.cfg': "),
    case('cs_cfg = "master.cfg"', "ca[1].cs_cfg = 'master.cfg': "),
    # errors raised by the dataclasses, re-keyed to the file's dotted path
    case("workers = 0", "ca[1].workers = 0: must be between 1 and"),
    case('[load_balancer]\npolicy = "random"', "load_balancer.policy = 'random': choose "
                                               "round-robin"),
    case("[workload]\ndiurnal_amplitude = 1.5", "workload.diurnal_amplitude = 1.5: must be in"),
    case('enroll = {kind = "lognormal", mean = "1s", cv = 0}', "ca[1].enroll.cv = 0: must be > 0"),
    case('decommissioned_at = "0s"', "ca[1].decommissioned_at = '0s': must be after created_at"),
    case('[[faults]]\nkind = "crush"\ntarget = "ca1"\nat = "1h"',
         "faults[0].kind = 'crush': choose one of crash"),
    case('role = "master"', "ca[1].role = 'master': exactly one [[ca]] must have role"),
    # references
    case('[[ca]]\nname = "ca3"\nreplica = "ds9"\ndonor = "ca1"',
         "ca[2].replica = 'ds9': not one of directory.replicas ['ds1', 'ds2']"),
    case('[[ca]]\nname = "ca3"\nreplica = "ds2"\ndonor = "ca9"', "ca[2].donor = 'ca9': not one "
                                                                 "of the CA names"),
    case('[[faults]]\nkind = "crash"\ntarget = "ca9"\nat = "1h"', "faults[0].target = 'ca9': not "
                                                                  "one of the CA names"),
    case('[[faults]]\nkind = "partition"\ntarget = [["ds1"], ["dsx"]]\nat = "1h"',
         "faults[0].target[1][0] = 'dsx': not one of directory.replicas"),
    case('created_at = "1h"\n[[ca]]\nname = "ca3"\nreplica = "ds2"\ndonor = "ca2"',
         "ca[2].donor = 'ca2': the donor must exist first"),
    case('[workload]\ntrace = "nope.csv"', "workload.trace = 'nope.csv': "),
    case('[workload]\ntrace = "bad.csv"', "workload.trace = 'bad.csv': "),
    case('[workload]\ntrace = "good.csv"\nenroll_rate = 1', "workload.enroll_rate = 1: the "
                                                          "trace replaces Poisson enrollments"),
    case('[[faults]]\nkind = "partition"\ntarget = [["ds1"], ["ds1", "ds2"]]\nat = "1h"',
         "faults[0].target[1][0] = 'ds1': is in two groups"),
    # strategies and ID-space values
    case("", "strategy = 'ssnv3': unknown strategy", top='strategy = "ssnv3"'),
    case('[defaults.ids]\nserialIncrement = "0x100"\nserialLowWaterMark = "0x200"',
         "defaults.ids.serialLowWaterMark = '0x200': is larger than dbs.serialIncrement 0x100"),
    case('[defaults.ids]\nbeginSerialNumber = "0x100"\nendSerialNumber = "0x10"',
         "defaults.ids.endSerialNumber = '0x10': is below dbs.beginSerialNumber 0x100"),
    case('[defaults.ids]\nrequestIncrement = "10a0"',
         "defaults.ids.requestIncrement = '10a0': is not a decimal number",
         top='strategy = "legacy"'),
    case('[defaults.ids]\nserialIncrement = "0x100"', "defaults.ids.serialIncrement = '0x100': is "
                                                      "not a hexadecimal number (no 0x)",
         top='strategy = "legacy"'),
    case("[defaults.ids]\nserialIncrement = 1.5", "defaults.ids.serialIncrement = 1.5: must be an "
                                                  "integer"),
    case("[ca.ids]\nserialLowWaterMark = 16", "ca[1].ids.serialLowWaterMark = 16: clone ca2 gets "
                                              "its ranges by transfer from ca1"),
]


@pytest.mark.parametrize(("top", "tail", "expected"), BAD)
def test_bad_input_is_one_line_naming_file_key_and_value(tmp_path: Path, top: str, tail: str,
                                                         expected: str) -> None:
    (tmp_path / "bad.cfg").write_text("dbs.serialIncrement=zz\n")
    (tmp_path / "bad.csv").write_text("time\n1.0\nsoon\n")
    (tmp_path / "good.csv").write_text("time\n1.0\n")
    (tmp_path / "master.cfg").write_bytes((SCENARIOS / "data" / "master-CS.cfg").read_bytes())
    path = write(tmp_path, tail, top)
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:"), message
    assert expected in message, message
    match = re.match(rf"{re.escape(str(path))}:(\d+): (\S+) = ", message)
    assert match, f"no line number: {message}"
    line = path.read_text().splitlines()[int(match[1]) - 1]
    key = re.sub(r"\[\d+\]", "", match[2]).split(".")[-1]
    assert key in line or match[2] == "line", (message, line)


def test_malformed_cs_cfg_names_both_files(tmp_path: Path) -> None:
    (tmp_path / "bad.cfg").write_text("dbs.serialIncrement=zz\n")
    with pytest.raises(ConfigError, match=r"s\.toml:16: ca\[1\]\.cs_cfg = 'bad\.cfg': .*bad\.cfg:1:"
                                          r" dbs\.serialIncrement = 'zz'"):
        load_scenario(write(tmp_path, 'cs_cfg = "bad.cfg"'))


def test_cs_cfg_selecting_another_strategy(tmp_path: Path) -> None:
    (tmp_path / "master.cfg").write_bytes((SCENARIOS / "data" / "master-CS.cfg").read_bytes())
    with pytest.raises(ConfigError, match="selects 'legacy' for cert IDs but the scenario's "
                                          "strategy is 'legacy2'"):
        load_scenario(write(tmp_path, 'cs_cfg = "master.cfg"'))


@pytest.mark.parametrize("content", [b"duration = \xff\n", b""])
def test_unreadable_files(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "s.toml"
    path.write_bytes(content)
    with pytest.raises(ConfigError):
        load_scenario(path)
    with pytest.raises(ConfigError, match="cannot be read"):
        load_scenario(tmp_path / "absent.toml")


def test_missing_required_keys() -> None:
    with pytest.raises(ConfigError, match=r"^<dict>: duration = None: is required$"):
        scenario_from_dict({"ca": [{"name": "ca1", "role": "master"}]})
    with pytest.raises(ConfigError, match=r"^x: ca = None: a scenario needs at least one"):
        scenario_from_dict({"duration": 10}, source="x")


# --------------------------------------------------------------------------- overrides, strategy


def test_overrides_set_dotted_keys() -> None:
    s = load_scenario(SCENARIOS / "steady-state.toml", overrides={
        "workload.enroll_rate": 5, "defaults.ids.serialLowWaterMark": 1000, "ca[1].workers": 2,
        "seed": 42, "random_faults.rates_per_day.crash": "1/week",
        "random_faults.spike_lag": "2m"})
    assert s.workload.enroll_rate == 5
    assert s.cas[0].ids is not None and s.cas[0].ids[C].low_water_mark == 1000
    assert s.cas[0].ids[R].low_water_mark == 5000  # only the certificate key was set
    assert (s.cas[1].workers, s.cas[0].workers, s.seed) == (2, 8, 42)
    assert s.random_faults.rates_per_day == {"crash": pytest.approx(1 / 7)}
    assert s.random_faults.spike_lag == 120


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"workload.enroll_rate": "fast"}, "(override): workload.enroll_rate = 'fast': is not a rate"),
    ({"ca[9].workers": 1}, "(override): ca[9] = 1: no such entry: there are 4"),
    ({"workload..x": 1}, "(override): workload..x = 1: is not a dotted key"),
    ({"defaults.ids.serialLowWaterMark": "0x9000"},
     "(override): defaults.ids.serialLowWaterMark = '0x9000': is larger than"),
])
def test_override_errors_say_so(overrides: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_scenario(SCENARIOS / "steady-state.toml", overrides=overrides)
    assert expected in str(info.value)


def test_strategy_override_keeps_the_numbers() -> None:
    legacy = load_scenario(SCENARIOS / "partition-claims.toml")
    assert legacy.strategy == "legacy"
    master = legacy.cas[0].ids
    assert master is not None
    assert master[C].increment == 0x400 and master[C].low_water_mark == 0x100  # hex, SSNv1
    assert master[R].increment == 2000  # decimal
    for strategy in ("random", "legacy2", "dna"):
        s = load_scenario(SCENARIOS / "partition-claims.toml", strategy=strategy)
        assert s.strategy == strategy
        ids = s.cas[0].ids
        assert ids is not None
        assert ids[C].strategy == ids[R].strategy == strategy
        assert ids[P].strategy == ("legacy2" if strategy == "legacy2" else "legacy")
        for kind in (C, R, P):
            assert (ids[kind].begin, ids[kind].end, ids[kind].increment,
                    ids[kind].low_water_mark) == (master[kind].begin, master[kind].end,
                                                  master[kind].increment,
                                                  master[kind].low_water_mark)


def test_strategy_override_of_a_cs_cfg_ca() -> None:
    s = load_scenario(SCENARIOS / "cs-cfg-master.toml", strategy="legacy2")
    ids = s.cas[0].ids
    assert ids is not None and ids[C].strategy == "legacy2"
    assert (ids[C].end, ids[C].increment, ids[C].next_begin) == (0x10000000, 0x10000000, None)


def test_partition_claims_answers_its_question() -> None:
    """Duplicates under legacy, none under --strategy random (runs the simulation)."""
    from pkisim.sim import simulate

    path = SCENARIOS / "partition-claims.toml"
    legacy = simulate(load_scenario(path)).summary()
    assert not legacy["valid"] and legacy["duplicated_count"] > 0
    random = simulate(load_scenario(path, strategy="random")).summary()
    assert random["valid"] and random["duplicated_count"] == 0


def test_unknown_strategy_override() -> None:
    with pytest.raises(ConfigError, match="--strategy = 'ssnv3': unknown strategy"):
        load_scenario(SCENARIOS / "steady-state.toml", strategy="ssnv3")


# --------------------------------------------------------------------------- durations, rates


@pytest.mark.parametrize(("text", "seconds"), [
    (90, 90.0), (1.5, 1.5), ("250ms", 0.25), ("90s", 90.0), ("15m", 900.0), ("15min", 900.0),
    ("4h", 14400.0), ("30d", 2592000.0), ("2w", 1209600.0), ("1y", 31536000.0),
    ("1h30m", 5400.0), (" 0.5 s ", 0.5), ("0s", 0.0),
])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "90", "1 day", "1.5.2h", "-5s", -1, True, None, "4hours",
                                  float("inf"), [1]])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ConfigError, match=r"^x = "):
        parse_duration(text, "x")


@pytest.mark.parametrize(("text", "per_second"), [
    (2, 2.0), (0.5, 0.5), ("2/s", 2.0), ("90/min", 1.5), ("360/h", 0.1), ("8640/day", 0.1),
    ("8640/d", 0.1), ("604800/week", 1.0), ("31536000/year", 1.0), (" 3 / second ", 3.0),
])
def test_rates(text: object, per_second: float) -> None:
    assert parse_rate(text) == pytest.approx(per_second)


@pytest.mark.parametrize("text", ["2", "2/fortnight", "-1/s", "/s", "2 per s", -2, False, None])
def test_bad_rates(text: object) -> None:
    with pytest.raises(ConfigError, match=r"^x = "):
        parse_rate(text, "x")


# --------------------------------------------------------------------------- CS.cfg and ids


def test_cs_cfg_scenario_gets_exactly_the_cs_cfg_ranges() -> None:
    s = load_scenario(SCENARIOS / "cs-cfg-master.toml")
    assert s.cas[0].ids == load_ca(CSCfg.read(SCENARIOS / "data" / "master-CS.cfg"))
    ids = s.cas[0].ids
    assert (ids[C].begin, ids[C].end, ids[C].increment, ids[C].low_water_mark) == (
        1, 0x10000000, 0x10000000, 0x2000000)  # SSNv1: hex without prefix
    assert (ids[R].begin, ids[R].end, ids[R].increment, ids[R].low_water_mark) == (
        1, 10000000, 10000000, 2000000)
    assert ids[C].clone_transfer_number == 0x10000 and ids[C].host == "ca1.example.com"
    assert not ids[C].serial_management and ids[C].next_begin is None
    assert s.cas[1].ids is None


def test_ca_ids_override_a_cs_cfg(tmp_path: Path) -> None:
    (tmp_path / "master.cfg").write_bytes((SCENARIOS / "data" / "master-CS.cfg").read_bytes())
    top = 'strategy = "legacy"'
    tail = ('[[ca]]\nname = "ca3"\nreplica = "ds2"\ncs_cfg = "master.cfg"\n'
            '[ca.ids]\nserialNumberUpdateInterval = "5m"\nserialLowWaterMark = "1000000"\n'
            '[defaults.ids]\nserialIncrement = "4000000"')  # defaults do not touch a CS.cfg
    s = load_scenario(write(tmp_path, tail, top))
    from_file = load_ca(CSCfg.read(tmp_path / "master.cfg"))
    ids = s.cas[2].ids
    assert ids is not None
    assert ids[C].update_interval == ids[R].update_interval == 300
    assert ids[C].low_water_mark == 0x1000000 and ids[C].increment == from_file[C].increment
    assert ids[C].evolve(update_interval=600, low_water_mark=from_file[C].low_water_mark) == \
        from_file[C]


def test_ids_precedence_and_clone_with_own_ranges(tmp_path: Path) -> None:
    tail = ('[ca.ids]\nbeginSerialNumber = "0x100001"\nendSerialNumber = "0x200000"\n'
            'beginRequestNumber = 100001\nendRequestNumber = 200000\n'
            '[defaults.ids]\nserialIncrement = "0x100000"\nserialLowWaterMark = "0x1000"\n'
            'dbs.requestIncrement = 100000\nrequestLowWaterMark = 5000\n'
            'ca.serialNumberUpdateInterval = 60\n'
            'cert.id.length = 64\nenableSerialManagement = "true"')
    s = load_scenario(write(tmp_path, tail))
    master, clone = s.cas[0].ids, s.cas[1].ids
    assert master is not None and clone is not None
    assert (master[C].begin, master[C].end) == (1, 0x10000000)  # pkispawn's
    assert (clone[C].begin, clone[C].end) == (0x100001, 0x200000)
    for ids in (master, clone):
        assert (ids[C].increment, ids[C].low_water_mark, ids[R].increment) == (
            0x100000, 0x1000, 100000)
        assert ids[C].update_interval == 60 and ids[C].id_length == 64
        assert ids[C].serial_management
    assert s.cas[1].donor == "ca1"


def test_master_serial_management_starts_off_as_pkispawn_writes_it(tmp_path: Path) -> None:
    ids = load_scenario(write(tmp_path)).cas[0].ids
    assert ids is not None and not ids[C].serial_management


def test_toml_dates_are_counted_from_start_date(tmp_path: Path) -> None:
    top = 'start_date = 2026-03-01'
    tail = '[[faults]]\nkind = "crash"\ntarget = "ca1"\nat = 2026-03-02T06:00:00\nduration = "1h"'
    s = load_scenario(write(tmp_path, tail, top))
    assert s.start_date == "2026-03-01"
    assert s.faults[0].at == 30 * 3600 and s.faults[0].duration == 3600


def test_scenario_from_dict() -> None:
    s = scenario_from_dict({"duration": "2h", "ca": [{"name": "ca1", "role": "master"}],
                            "workload": {"enroll_rate": "10/min"}}, source="sweep")
    assert (s.name, s.duration, s.cas[0].replica) == ("sweep", 7200.0, "ds1")
    with pytest.raises(ConfigError, match=r"^sweep: workload.enrol_rate = 1: unknown key"):
        scenario_from_dict({"duration": 1, "ca": [{"name": "ca1", "role": "master"}],
                            "workload": {"enrol_rate": 1}}, source="sweep")
