"""CS.cfg reading and writing: byte-exact round trips, Dogtag's radix and defaults,
one-line errors that name file, line and key, and an atomic write."""

from __future__ import annotations

import difflib
import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from pkisim.errors import ConfigError
from pkisim.ids import protocol as p
from pkisim.ids.config import KEYS, IdKind, IdSpaceConfig, pkispawn_defaults
from pkisim.ids.cscfg import (
    ID_SPACE_FIELDS,
    CSCfg,
    load_ca,
    load_id_space,
    store_id_space,
    strategy_from_cscfg,
)
from pkisim.ids.layout import CA
from pkisim.ids.subsystem import master_configs, new_repository

DATA = Path(__file__).parent / "data"
MASTER = DATA / "CS.cfg.master-ssnv1"
CLONE = DATA / "CS.cfg.clone-ssnv2"

C, R, P = IdKind.CERT, IdKind.REQUEST, IdKind.REPLICA


def copy_of(fixture: Path, tmp_path: Path) -> Path:
    path = tmp_path / "CS.cfg"
    path.write_bytes(fixture.read_bytes())
    return path


def changed_lines(before: str, after: str) -> list[str]:
    return [line for line in difflib.ndiff(before.splitlines(), after.splitlines())
            if line[:2] in ("- ", "+ ")]


# ------------------------------------------------------------------ the file itself


@pytest.mark.parametrize("fixture", [MASTER, CLONE], ids=["master", "clone"])
def test_fixture_round_trips_byte_for_byte(fixture: Path, tmp_path: Path) -> None:
    cfg = CSCfg.read(fixture)
    assert cfg.text() == fixture.read_text()
    out = tmp_path / "out.cfg"
    cfg.write(out)
    assert out.read_bytes() == fixture.read_bytes()


@pytest.mark.parametrize("text", [
    "", "\n", "a=1", "a=1\n", "a=1\r\nb=2\r\n", "a=1\r\nb=2", "# only a comment",
    "# comment\n\n   \n! bang comment\nkey = spaced value \t\n", "a=\n", "x=caf\u00e9\n",
])
def test_any_text_round_trips(text: str) -> None:
    assert CSCfg.parse(text).text() == text


def test_undecodable_bytes_survive_read_and_write(tmp_path: Path) -> None:
    raw = b"ca.description=Zertifizierungsstelle M\xfcnchen\r\ndbs.beginSerialNumber=1\r\n"
    src, dst = tmp_path / "in.cfg", tmp_path / "out.cfg"
    src.write_bytes(raw)
    CSCfg.read(src).write(dst)
    assert dst.read_bytes() == raw


def test_get_reads_like_java_properties() -> None:
    cfg = CSCfg.parse("# x=1\ninternaldb.basedn=o=pki-tomcat-CA\n  spaced  =  v \nd=1\nd=2\n")
    assert cfg.get("internaldb.basedn") == "o=pki-tomcat-CA"  # split at the first '='
    assert cfg.get("spaced") == "v "  # key trimmed, leading blanks of the value dropped
    assert cfg.get("d") == "2" and cfg.line_of("d") == 5  # the last occurrence wins
    assert cfg.get("x") is None and cfg.get("x", "dflt") == "dflt"  # comments are not keys
    assert cfg.line_of("missing") is None
    assert "d" in cfg and "x" not in cfg


def test_set_replaces_in_place_keeping_the_line_ending() -> None:
    cfg = CSCfg.parse("a=1\r\nb=2\r\nc=3\r\n")
    cfg.set("b", "20")
    assert cfg.text() == "a=1\r\nb=20\r\nc=3\r\n"
    assert cfg.line_of("b") == 2


@pytest.mark.parametrize(("text", "expected"), [
    ("a=1\n", "a=1\nz=9\n"),
    ("a=1\r\n", "a=1\r\nz=9\r\n"),  # the file's own newline
    ("a=1", "a=1\nz=9"),  # still no final newline
    ("", "z=9\n"),
])
def test_set_appends_new_keys_at_the_end(text: str, expected: str) -> None:
    cfg = CSCfg.parse(text)
    cfg.set("z", "9")
    assert cfg.text() == expected
    assert cfg.line_of("z") == expected.count("\n") + (not expected.endswith("\n"))


@pytest.mark.parametrize(("text", "expected"), [
    ("a=1\nb=2\nc=3\n", "a=1\nc=3\n"),
    ("b=0\na=1\nb=2\n", "a=1\n"),  # every occurrence
    ("a=1\nb=2", "a=1"),  # no final newline before, none after
    ("a=1\n", "a=1\n"),  # absent key: nothing happens
])
def test_remove(text: str, expected: str) -> None:
    cfg = CSCfg.parse(text)
    cfg.remove("b")
    assert cfg.text() == expected
    assert cfg.get("b") is None
    assert cfg.line_of("a") == 1


@pytest.mark.parametrize(("key", "value"), [
    ("", "1"), (" a", "1"), ("a=b", "1"), ("#a", "1"), ("a\nb", "1"), ("a", "1\nb=2"),
])
def test_set_refuses_what_would_corrupt_the_file(key: str, value: str) -> None:
    cfg = CSCfg.parse("a=1\n")
    with pytest.raises(ConfigError):
        cfg.set(key, value)
    assert cfg.text() == "a=1\n"


def test_read_of_a_missing_file_names_it(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "CS.cfg"
    with pytest.raises(ConfigError) as info:
        CSCfg.read(path)
    assert str(info.value) == f"file = '{path}': cannot be read: No such file or directory"


# ------------------------------------------------------------------ strategies


@pytest.mark.parametrize(("text", "cert", "req", "replica"), [
    ("", "legacy", "legacy", "legacy"),
    ("dbs.enableRandomSerialNumbers=true\n", "legacy-random", "legacy", "legacy"),
    ("dbs.enableRandomSerialNumbers=False\n", "legacy", "legacy", "legacy"),
    ("dbs.cert.id.generator=legacy2\ndbs.request.id.generator=legacy2\n",
     "legacy2", "legacy2", "legacy2"),
    ("dbs.cert.id.generator=random\ndbs.request.id.generator=random\n",
     "random", "random", "legacy"),
    ("dbs.cert.id.generator=legacy2\ndbs.enableRandomSerialNumbers=true\n",
     "legacy2", "legacy", "legacy2"),  # RSNv1 exists only on top of legacy
])
def test_strategy_from_cscfg(text: str, cert: str, req: str, replica: str) -> None:
    cfg = CSCfg.parse(text)
    assert [strategy_from_cscfg(cfg, k) for k in (C, R, P)] == [cert, req, replica]


def test_a_malformed_boolean_names_its_line() -> None:
    cfg = CSCfg.parse("a=1\ndbs.enableRandomSerialNumbers=[PKI_ENABLE_RANDOM_SERIAL_NUMBERS]\n",
                      source="CS.cfg")
    with pytest.raises(ConfigError) as info:
        strategy_from_cscfg(cfg, C)
    assert str(info.value) == ("CS.cfg:2: dbs.enableRandomSerialNumbers = "
                               "'[PKI_ENABLE_RANDOM_SERIAL_NUMBERS]': is not true or false")


# ------------------------------------------------------------------ loading


def test_load_master_ssnv1() -> None:
    common = dict(serial_management=True, update_interval=600.0, id_length=128,
                  host="ca1.example.com", secure_port=8443)
    assert load_ca(CSCfg.read(MASTER)) == {
        # hex without prefix; the master gave the top 0x10000 of 1-10000000 to its clone
        C: IdSpaceConfig(C, "legacy", begin=0x1, end=0xFFF0000, increment=0x10000000,
                         low_water_mark=0x2000000, clone_transfer_number=0x10000,
                         next_begin=0x10000001, next_end=0x20000000, **common),
        R: IdSpaceConfig(R, "legacy", begin=1, end=9_990_000, increment=10_000_000,
                         low_water_mark=2_000_000, clone_transfer_number=10_000,
                         next_begin=10_000_001, next_end=20_000_000, **common),
        P: IdSpaceConfig(P, "legacy", begin=1, end=95, increment=100, low_water_mark=20,
                         clone_transfer_number=5, **common),
    }


def test_load_clone_ssnv2() -> None:
    common = dict(serial_management=True, update_interval=300.0, id_length=128,
                  host="ca2.example.com", secure_port=9443)
    assert load_ca(CSCfg.read(CLONE)) == {
        C: IdSpaceConfig(C, "legacy2", begin=0xFFF0001, end=0x10000000, increment=0x10000000,
                         low_water_mark=0x2000000, clone_transfer_number=0x10000,
                         next_begin=0x10000001, next_end=0x20000000, **common),
        R: IdSpaceConfig(R, "legacy2", begin=9_990_001, end=10_000_000, increment=10_000_000,
                         low_water_mark=2_000_000, clone_transfer_number=10_000,
                         next_begin=10_000_001, next_end=20_000_000, **common),
        P: IdSpaceConfig(P, "legacy2", begin=96, end=100, increment=100, low_water_mark=20,
                         clone_transfer_number=5, **common),
    }


def test_absent_keys_take_dogtags_code_defaults_in_the_repository_radix() -> None:
    ca = load_ca(CSCfg.parse("dbs.request.id.generator=legacy2\n"))
    # DatabaseConfig's defaults are strings: SSNv1 certificates read "1000000000" as hex.
    assert (ca[C].begin, ca[C].end, ca[C].increment, ca[C].low_water_mark) == (
        0, 0x1000000000, 0x1000000000, 0x5000)
    assert (ca[R].begin, ca[R].end, ca[R].increment, ca[R].low_water_mark) == (
        0, 1_000_000_000, 1_000_000_000, 5000)
    assert (ca[P].begin, ca[P].end, ca[P].increment, ca[P].low_water_mark) == (1, 1000, 1000, 10)
    for config in ca.values():
        assert (config.next_begin, config.next_end, config.clone_transfer_number) == (
            None, None, None)
        assert (config.serial_management, config.update_interval, config.id_length) == (
            False, 600, 128)
        assert (config.host, config.secure_port) == ("localhost", 8443)


def test_minus_one_and_empty_mean_absent() -> None:
    cfg = CSCfg.parse("dbs.nextBeginSerialNumber=-1\ndbs.nextEndSerialNumber=-1\n"
                      "dbs.serialCloneTransferNumber=\n")
    config = load_id_space(cfg, C)
    assert (config.next_begin, config.next_end, config.clone_transfer_number) == (None, None, None)


def test_random_ignores_the_range_keys_as_dogtag_does() -> None:
    cfg = CSCfg.parse("dbs.cert.id.generator=random\ndbs.cert.id.length=96\n"
                      "dbs.beginSerialNumber=[pki_serial_number_range_start]\n")
    config = load_id_space(cfg, C)
    assert (config.strategy, config.id_length, config.begin) == ("random", 96, 0)


@pytest.mark.parametrize(("text", "kind", "begin"), [
    ("dbs.beginReplicaNumber=0x10\n", P, 16),  # replica IDs: decimal, 0x accepted
    ("dbs.request.id.generator=legacy2\ndbs.beginRequestNumber=0x10\n", R, 16),
    ("dbs.request.id.generator=legacy2\ndbs.beginRequestNumber=10\n", R, 10),
    ("dbs.cert.id.generator=legacy2\ndbs.beginSerialNumber=10\n", C, 10),  # SSNv2: decimal
    ("dbs.beginSerialNumber=10\n", C, 16),  # SSNv1: hex
    ("dbs.beginSerialNumber=A0\n", C, 160),
])
def test_radix(text: str, kind: IdKind, begin: int) -> None:
    assert load_id_space(CSCfg.parse(text), kind).begin == begin


@pytest.mark.parametrize(("text", "port"), [
    ("service.securePort=8443\nproxy.securePort=443\n", 443),  # Dogtag's CLI: proxy overrides
    ("proxy.securePort=\nservice.securePort=9443\n", 9443),
    ("service.securePort=9443\nservice.non_clientauth_securePort=9444\n", 9444),  # the EE port
    ("pkicreate.secure_port=8444\n", 8444),
])
def test_secure_port(text: str, port: int) -> None:
    assert load_id_space(CSCfg.parse(text), C).secure_port == port


def test_a_negative_update_interval_means_disabled() -> None:
    assert load_id_space(CSCfg.parse("ca.serialNumberUpdateInterval=-1\n"), C).update_interval == 0


#: A value for each field that differs from Dogtag's default in every ID space and still works.
FIELD_VALUES = {"begin": "5", "end": "900", "next_begin": "2000000000", "next_end": "2000000100",
                "increment": "6000", "low_water_mark": "7", "clone_transfer_number": "3",
                "serial_management": "true", "update_interval": "300", "id_length": "64"}
FIELDS = tuple(FIELD_VALUES)


@pytest.mark.parametrize("key", list(ID_SPACE_FIELDS))
def test_id_space_fields_says_what_each_key_sets(key: str) -> None:
    kind, field = ID_SPACE_FIELDS[key]
    text = f"dbs.cert.id.generator=legacy2\n{key}={FIELD_VALUES[field]}\n"
    if field in ("next_begin", "next_end"):  # one of a pair: Dogtag wants both
        assert kind is not None
        pair = {"next_begin": KEYS[kind].next_end, "next_end": KEYS[kind].next_begin}[field]
        other = "next_end" if field == "next_begin" else "next_begin"
        text += f"dbs.{pair}={FIELD_VALUES[other]}\n"
    base, cfg = CSCfg.parse("dbs.cert.id.generator=legacy2\n"), CSCfg.parse(text)
    for space in CA.spaces:  # a CA's CS.cfg
        before, after = load_id_space(base, space), load_id_space(cfg, space)
        changed = {f for f in FIELDS if getattr(before, f) != getattr(after, f)}
        expected = {field} if kind in (None, space) else set()
        if expected & {"next_begin", "next_end"}:
            expected = {"next_begin", "next_end"}
        assert changed == expected, space
        assert all(getattr(after, f) == int(FIELD_VALUES[f]) for f in changed
                   if f not in ("serial_management", "update_interval")), space


def test_strategy_override() -> None:
    config = load_id_space(CSCfg.parse("dbs.beginSerialNumber=10\n"), C, strategy="legacy2")
    assert (config.strategy, config.begin) == ("legacy2", 10)


# ------------------------------------------------------------------ one-line errors


def broken(fixture: Path, tmp_path: Path, key: str, line: str) -> tuple[Path, int]:
    """A copy of ``fixture`` named CS.cfg with the line of ``key`` replaced by ``line``."""
    lines = fixture.read_text().splitlines(keepends=True)
    number = next(n for n, text in enumerate(lines, 1) if text.startswith(f"{key}="))
    lines[number - 1] = line + "\n"
    path = tmp_path / "CS.cfg"
    path.write_text("".join(lines))
    return path, number


@pytest.mark.parametrize(("fixture", "key", "line", "message"), [
    pytest.param(MASTER, "dbs.beginRequestNumber", "dbs.beginRequestNumber=1a",
                 "dbs.beginRequestNumber = '1a': is not a decimal number", id="hex in decimal"),
    pytest.param(MASTER, "dbs.beginSerialNumber", "dbs.beginSerialNumber=0x1",
                 "dbs.beginSerialNumber = '0x1': is not a hexadecimal number (no 0x)",
                 id="0x in SSNv1"),
    pytest.param(CLONE, "dbs.nextEndSerialNumber", "dbs.nextEndSerialNumber=0x2000000g",
                 "dbs.nextEndSerialNumber = '0x2000000g': is not a decimal number or "
                 "0x-prefixed hexadecimal", id="bad SSNv2"),
    pytest.param(MASTER, "dbs.beginSerialNumber", "dbs.beginSerialNumber=fff0002",
                 "dbs.endSerialNumber = 'fff0000': is below dbs.beginSerialNumber fff0002",
                 id="end below begin"),
    pytest.param(CLONE, "dbs.serialIncrement", "dbs.serialIncrement=0x0",
                 "dbs.serialIncrement = '0x0': must be positive", id="increment 0"),
    pytest.param(MASTER, "dbs.requestLowWaterMark", "dbs.requestLowWaterMark=20000000",
                 "dbs.requestLowWaterMark = '20000000': is larger than dbs.requestIncrement "
                 "10000000: every update run would claim again and leak the range it claimed "
                 "before", id="lwm above increment"),
    pytest.param(MASTER, "dbs.replicaCloneTransferNumber", "dbs.replicaCloneTransferNumber=500",
                 "dbs.replicaCloneTransferNumber = '500': is larger than the range (95 numbers)",
                 id="transfer above range"),
    pytest.param(CLONE, "dbs.cert.id.generator", "dbs.cert.id.generator=sequential",
                 "dbs.cert.id.generator = 'sequential': is not a Dogtag ID generator "
                 "(legacy, legacy2 or random)", id="unknown generator"),
    pytest.param(CLONE, "dbs.nextEndRequestNumber", "dbs.nextEndRequestNumber=-1",
                 "dbs.nextBeginRequestNumber = '10000001': is set but "
                 "dbs.nextEndRequestNumber is not", id="half a next range"),
    pytest.param(MASTER, "service.securePort", "service.non_clientauth_securePort=[PKI_PORT]",
                 "service.non_clientauth_securePort = '[PKI_PORT]': is not an integer (Dogtag "
                 "reads it as a 32-bit Java int)",
                 id="bad port"),
    pytest.param(MASTER, "machineName", "dbs.cert.id.radix=10",
                 "dbs.cert.id.radix = '10': is not supported: pkisim reads these ranges in "
                 "radix 16, Dogtag's default", id="unsupported radix"),
])
def test_bad_value_names_file_line_and_key(fixture: Path, tmp_path: Path, key: str, line: str,
                                           message: str) -> None:
    path, number = broken(fixture, tmp_path, key, line)
    named = message.partition(" = ")[0]
    if named != line.partition("=")[0]:  # the error is about another key's line
        number = next(n for n, text in enumerate(path.read_text().splitlines(), 1)
                      if text.startswith(f"{named}="))
    with pytest.raises(ConfigError) as info:
        load_ca(CSCfg.read(path))
    assert str(info.value) == f"{path}:{number}: {message}"
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("strategy", ["legacy", "legacy2"])
def test_states_dogtag_writes_after_transfers_are_read(strategy: str) -> None:
    """A donor emptied by transfers (end = begin - 1, Pagure 3055) and a next range
    cut below its begin by a transfer larger than it (``UpdateNumberRange``
    writes nextEnd - T unchecked): Dogtag writes both to CS.cfg; pkisim reads
    them, and writes them back unchanged."""
    configs = master_configs(strategy, serial_management=True, overrides={IdKind.CERT: dict(
        begin=0x10, end=0x1f, increment=0x10, low_water_mark=0x8, clone_transfer_number=0x10)})
    cert = configs[C]
    donor = new_repository(cert, rng=None)
    donor.next_begin, donor.next_end = 0x40, 0x4f
    donor.last = 0x1f  # the current range is used up: a transfer comes from the next range
    p.run(donor.clone_transfer(0x18), lambda command: p.OK)
    assert (donor.next_begin, donor.next_end) == (0x40, 0x37)
    donor.end = donor.begin - 1  # and an earlier transfer emptied the current range
    state = donor.to_config()
    cfg = CSCfg.parse(f"dbs.cert.id.generator={strategy}\n")
    store_id_space(cfg, state)
    text = cfg.text()
    assert ("dbs.nextEndSerialNumber=37" in text if strategy == "legacy"
            else "dbs.nextEndSerialNumber=0x37" in text)
    read = load_id_space(CSCfg.parse(text), C)
    assert (read.begin, read.end, read.next_begin, read.next_end) == (0x10, 0xf, 0x40, 0x37)
    assert read.next_overrun and read.next_overrun_by == 9 and read.depleted


def test_line_without_equals_names_file_and_line(tmp_path: Path) -> None:
    path, number = broken(MASTER, tmp_path, "dbs.beginSerialNumber", "dbs.beginSerialNumber 1")
    with pytest.raises(ConfigError) as info:
        CSCfg.read(path)
    assert str(info.value) == (f"{path}:{number}: line = 'dbs.beginSerialNumber 1': "
                               "is not key=value, a # comment or a blank line")


def test_a_default_that_cannot_work_says_so() -> None:
    cfg = CSCfg.parse("dbs.requestIncrement=100\n", source="CS.cfg")
    with pytest.raises(ConfigError) as info:
        load_id_space(cfg, R)
    assert str(info.value) == (
        "CS.cfg: dbs.requestLowWaterMark = '5000': is larger than dbs.requestIncrement 100: "
        "every update run would claim again and leak the range it claimed before "
        "(the key is not set: this is Dogtag's default)")


# ------------------------------------------------------------------ storing


@pytest.mark.parametrize("fixture", [MASTER, CLONE], ids=["master", "clone"])
def test_storing_what_was_loaded_changes_nothing(fixture: Path) -> None:
    cfg = CSCfg.read(fixture)
    for config in load_ca(cfg).values():
        store_id_space(cfg, config)
    assert cfg.text() == fixture.read_text()


def switched(config: IdSpaceConfig) -> IdSpaceConfig:
    """Dogtag's switchToNextRange: the next range becomes current, no new next range."""
    return replace(config, begin=config.next_begin, end=config.next_end, next_begin=None,
                   next_end=None)


def test_store_after_a_switch_ssnv1(tmp_path: Path) -> None:
    path = copy_of(MASTER, tmp_path)
    cfg = CSCfg.read(path)
    before, begin_line = cfg.text(), cfg.line_of("dbs.beginSerialNumber")
    store_id_space(cfg, switched(load_id_space(cfg, C)))
    cfg.write(path)

    assert changed_lines(before, path.read_text()) == [
        "- dbs.beginSerialNumber=1", "+ dbs.beginSerialNumber=10000001",
        "- dbs.endSerialNumber=fff0000", "+ dbs.endSerialNumber=20000000",
        "- dbs.nextBeginSerialNumber=10000001", "- dbs.nextEndSerialNumber=20000000",
    ]
    reread = CSCfg.read(path)
    assert reread.line_of("dbs.beginSerialNumber") == begin_line  # replaced in place
    assert load_id_space(reread, C) == switched(load_id_space(CSCfg.read(MASTER), C))


def test_store_after_a_switch_and_a_claim_ssnv2() -> None:
    cfg = CSCfg.read(CLONE)
    before = cfg.text()
    for kind in (C, R):
        config = switched(load_id_space(cfg, kind))
        store_id_space(cfg, config.evolve(next_begin=0x30000001, next_end=0x40000000))

    changes = changed_lines(before, cfg.text())
    assert all(line[2:].startswith("dbs.") for line in changes)
    assert sorted(line for line in changes if line.startswith("+")) == [
        "+ dbs.beginRequestNumber=10000001",  # SSNv2 requests stay decimal
        "+ dbs.beginSerialNumber=0x10000001",  # SSNv2 certificates get 0x
        "+ dbs.endRequestNumber=20000000",
        "+ dbs.endSerialNumber=0x20000000",
        "+ dbs.nextBeginRequestNumber=805306369",
        "+ dbs.nextBeginSerialNumber=0x30000001",
        "+ dbs.nextEndRequestNumber=1073741824",
        "+ dbs.nextEndSerialNumber=0x40000000",
    ]


def test_a_new_next_range_is_appended_when_the_keys_are_absent() -> None:
    cfg = CSCfg.read(MASTER)
    config = load_id_space(cfg, P)
    store_id_space(cfg, config.evolve(next_begin=1000, next_end=1099))
    assert cfg.text().endswith("dbs.nextBeginReplicaNumber=1000\ndbs.nextEndReplicaNumber=1099\n")


def test_store_writes_changed_sizes_and_the_serial_management_flag() -> None:
    cfg = CSCfg.read(CLONE)
    before = cfg.text()
    config = load_id_space(cfg, C)
    store_id_space(cfg, config.evolve(increment=0x20000000, clone_transfer_number=None,
                                      serial_management=False))
    assert changed_lines(before, cfg.text()) == [
        "- dbs.enableSerialManagement=true", "+ dbs.enableSerialManagement=false",
        "- dbs.serialCloneTransferNumber=0x10000",
        "- dbs.serialIncrement=0x10000000", "+ dbs.serialIncrement=0x20000000",
    ]


@pytest.mark.parametrize(("kind", "strategy", "selector"), [
    (C, "legacy", ""),
    (C, "legacy-random", "dbs.enableRandomSerialNumbers=true\n"),
    (C, "legacy2", "dbs.cert.id.generator=legacy2\n"),
    (R, "legacy", ""),
    (R, "legacy2", "dbs.request.id.generator=legacy2\n"),
    (P, "legacy", ""),
    (P, "legacy2", "dbs.cert.id.generator=legacy2\n"),
])
def test_store_then_load_gives_the_same_config(kind: IdKind, strategy: str,
                                               selector: str) -> None:
    config = pkispawn_defaults(kind, strategy, next_begin=0x40000000, next_end=0x4FFFFFFF)
    cfg = CSCfg.parse(selector)
    store_id_space(cfg, config)
    assert load_id_space(CSCfg.parse(cfg.text()), kind) == config


def test_store_refuses_to_change_the_generator() -> None:
    cfg = CSCfg.read(MASTER)
    with pytest.raises(ConfigError) as info:
        store_id_space(cfg, pkispawn_defaults(C, "legacy2"))
    assert str(info.value) == (f"{MASTER}: dbs.cert.id.generator = 'legacy': selects 'legacy', "
                               "not 'legacy2'; changing the ID generator is a migration, "
                               "not a store")
    assert cfg.text() == MASTER.read_text()


# ------------------------------------------------------------------ atomic write


@pytest.mark.parametrize("failing", ["replace", "fsync"])
def test_a_failed_write_leaves_the_old_file_intact(failing: str, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    path = copy_of(MASTER, tmp_path)
    original = path.read_bytes()
    cfg = CSCfg.read(path)
    store_id_space(cfg, switched(load_id_space(cfg, C)))

    def boom(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, failing, boom)
    with pytest.raises(OSError, match="No space left"):
        cfg.write(path)
    monkeypatch.undo()
    assert path.read_bytes() == original
    assert os.listdir(tmp_path) == ["CS.cfg"]  # no temporary file left behind


def test_write_keeps_the_mode_and_follows_a_symlink(tmp_path: Path) -> None:
    path = copy_of(CLONE, tmp_path)
    path.chmod(0o640)
    link = tmp_path / "link.cfg"
    link.symlink_to(path)
    cfg = CSCfg.read(link)
    cfg.set("dbs.enableSerialManagement", "false")
    cfg.write(link)
    assert link.is_symlink()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert CSCfg.read(path).get("dbs.enableSerialManagement") == "false"


def test_write_creates_a_new_file(tmp_path: Path) -> None:
    CSCfg.parse("a=1\n").write(tmp_path / "new.cfg")
    assert (tmp_path / "new.cfg").read_text() == "a=1\n"
