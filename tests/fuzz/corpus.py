"""A corpus of hostile inputs to every ``pkisim`` command, generated from a seed.

Each :class:`Case` is a command line and the files it reads: a valid document
(scenario, sweep file, CS.cfg, history in each format, LDIF export, trace)
broken in one place with a hostile value (thousands of digits, nesting
thousands deep, negative IDs, booleans for numbers, NaN, control characters,
megabyte strings, random bytes, truncation), or a command line with a bad,
missing or extra argument, or a valid document that asks for unbounded work.
``expect`` says what a correct pkisim does:

* ``error``: exit status 2 and one line on stderr naming the file;
* ``refuse``: exit status 2, one line naming the option that allows it (bounded work);
* ``usage``: exit status 2, a short usage on stdout (``pkisim`` alone);
* ``any``: a valid result (0 or 1) or exit status 2 with one line: never a
  traceback, never more than one line.

:func:`cases` builds the corpus for ``measure.py`` (the re-measurement of issue
14) and the mutation functions are the fuzz tests' strategies' building blocks.
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LDIF = ROOT / "tests" / "audit" / "data" / "clean" / "o=pki-tomcat.ldif"
CS_CFG = ROOT / "tests" / "audit" / "data" / "clean" / "ca1-CS.cfg"
MASTER_CFG = ROOT / "scenarios" / "data" / "master-CS.cfg"
HEAVY = ROOT / "scenarios" / "capacity-year.toml"


@dataclass(frozen=True)
class Case:
    """One command line with the files it reads (names relative to a fresh folder,
    written into ``{dir}`` of ``argv``)."""

    kind: str
    name: str
    argv: tuple[str, ...]
    files: dict[str, bytes] = field(default_factory=dict)
    expect: str = "any"
    key: str | None = None  # what the error line should name, besides the file
    file: str | None = None  # the file it should name (default: the first one)


class Raw(str):
    """A TOML value written as is (a number of 5,000 digits, an array 1,200 deep)."""


# --------------------------------------------------------------------------- hostile values

#: (label, value, whether every key must refuse it)
HOSTILE: list[tuple[str, object, bool]] = [
    ("5000 digits", Raw("9" * 5000), True),
    ("-5000 digits", Raw("-" + "9" * 5000), True),
    ("400-digit string", "9" * 400 + "s", False),
    ("2**63-1", Raw(str(2**63 - 1)), False),
    ("2**64", Raw(str(2**64)), False),
    ("1e300", Raw("1e300"), False),
    ("1e-300", Raw("1e-300"), False),
    ("-1", Raw("-1"), False),
    ("0", Raw("0"), False),
    ("inf", Raw("inf"), True),
    ("nan", Raw("nan"), True),
    ("true", Raw("true"), False),
    ("'zz'", "zz", False),
    ("''", "", False),
    ("array 1200 deep", Raw("[" * 1200 + "1" + "]" * 1200), True),
    ("inline table 600 deep", Raw("{a = " * 600 + "1" + "}" * 600), True),
    ("[1, 2]", Raw("[1, 2]"), False),
    ("{x = 1}", Raw("{x = 1}"), False),
    ("unicode digits", "٣٣", False),
    ("control characters", "a\nb\x00c\u2028", False),
    ("1 MB string", "x" * 1_000_000, False),
]

BAD_JSON: list[tuple[str, str, bool]] = [  # (label, JSON text, always refused as an ID)
    ("5000 digits", "9" * 5000, True),
    ("-5", "-5", True),
    ("'-0x5'", '"-0x5"', True),
    ("true", "true", True),
    ("1.5", "1.5", True),
    ("NaN", "NaN", True),
    ("1e400", "1e400", True),
    ("nested 5000", "[" * 5000 + "]" * 5000, True),
    ("object", '{"a": 1}', True),
    ("'zz'", '"zz"', True),
    ("''", '""', True),
    ("':'", '":"', True),
    ("null", "null", False),
    ("2**200", str(2**200), False),
    ("'0x' + 300 hex", '"0x' + "f" * 300 + '"', True),
]


def toml_value(value: object) -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string is a JSON string (escapes alike)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(value)


# --------------------------------------------------------------------------- a scenario


def base_scenario() -> dict[str, object]:
    """A small valid scenario (two CAs, ten simulated minutes) as nested data."""
    return {
        "name": "fuzz", "duration": "10m", "seed": 3, "strategy": "legacy2",
        "start_date": "2026-01-01", "throughput_bin": "1m",
        "directory": {"replicas": ["ds1", "ds2"], "lag": "1s"},
        "workload": {"enroll_rate": "1/s", "revoke_rate": "5/min", "crl_fetch_rate": "2/min",
                     "diurnal_amplitude": 0.2, "peak_hour": 14, "clients": 50,
                     "retry": {"max_retries": 2, "backoff": "5s", "timeout": "30s"},
                     "bursts": [{"start": "2m", "duration": "1m", "factor": 2.0}]},
        "load_balancer": {"policy": "round-robin", "health_interval": "10s",
                          "failure_threshold": 3},
        "crl": {"auto_update_interval": "5m", "always_update": False,
                "cache_rebuild_interval": "1h", "clone_mode": "replicated"},
        "defaults": {"ca": {"workers": 4, "enroll": {"kind": "lognormal", "mean": "250ms",
                                                     "cv": 0.5}},
                     "ids": {"beginSerialNumber": 1, "endSerialNumber": 1000,
                             "serialIncrement": 1000, "serialLowWaterMark": 300,
                             "serialCloneTransferNumber": 100,
                             "serialNumberUpdateInterval": "2m"}},
        "ca": [{"name": "ca1", "role": "master", "replica": "ds1", "crl_master": True},
               {"name": "ca2", "replica": "ds2", "donor": "ca1", "created_at": "1m"}],
        "faults": [{"kind": "crash", "target": "ca2", "at": "5m", "duration": "1m"}],
        "random_faults": {"mean_duration": "1m", "rates_per_day": {"crash": 1}},
        "metrics": {"requests": "full"},
    }


def to_toml(data: dict[str, object]) -> str:
    """Nested data as TOML: scalars first, then tables and arrays of tables."""
    lines: list[str] = []

    def table(node: dict[str, object], path: str) -> None:
        subtables = []
        for key, value in node.items():
            if isinstance(value, dict):
                subtables.append((key, value, False))
            elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                subtables.append((key, value, True))
            else:
                lines.append(f"{json.dumps(key)} = {toml_value(value)}")
        for key, value, many in subtables:
            name = f"{path}.{json.dumps(key)}" if path else json.dumps(key)
            for item in (value if many else [value]):
                lines.append(f"\n[[{name}]]" if many else f"\n[{name}]")
                table(item, name)

    table(data, "")
    return "\n".join(lines) + "\n"


def leaf_paths(data: object, path: tuple[object, ...] = ()) -> Iterator[tuple[object, ...]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield from leaf_paths(value, (*path, key))
    elif isinstance(data, list) and data and all(isinstance(v, dict) for v in data):
        for i, value in enumerate(data):
            yield from leaf_paths(value, (*path, i))
    else:
        yield path


def with_value(data: dict[str, object], path: tuple[object, ...], value: object) -> dict:
    out = json.loads(json.dumps(data))
    node: object = out
    for part in path[:-1]:
        node = node[part]  # type: ignore[index]
    node[path[-1]] = value  # type: ignore[index]
    return out


def dotted(path: tuple[object, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


#: Keys a scenario may hold that the base leaves out, with a valid value.
EXTRA_KEYS: list[tuple[tuple[object, ...], object]] = [
    (("workload", "key_archival_fraction"), 0.1),
    (("crl", "listen_to_clone_modifications"), True),
    (("defaults", "ca", "kra_connector"), True),
    (("defaults", "ca", "enroll", "low"), "0s"),
    (("defaults", "ids", "enableSerialManagement"), True),
    (("defaults", "ids", "cert_id_length"), 128),
    (("ca", 0, "workers"), 4),
    (("ca", 1, "decommissioned_at"), "9m"),
    (("random_faults", "spike_lag"), "1m"),
    (("description", ), "a fuzz case"),
]


# --------------------------------------------------------------------------- the corpus


def cases(seed: int = 14) -> list[Case]:
    """The whole corpus (about 1,900 cases), the same for the same seed."""
    rng = random.Random(seed)
    out: list[Case] = []
    for make in (scenario_cases, override_cases, sweep_cases, cscfg_cases, csv_cases,
                 jsonl_cases, parquet_cases, ldif_cases, trace_cases, argument_cases,
                 work_cases, byte_cases):
        out += make(rng)
    return out


def scenario_cases(rng: random.Random) -> list[Case]:
    base = base_scenario()
    paths = list(leaf_paths(base))
    out = []
    for path, valid in [(p, None) for p in paths] + EXTRA_KEYS:
        start = base if valid is None else with_value(base, path, valid)
        for label, value, always in HOSTILE:
            text = to_toml(with_value(start, path, value))
            out.append(Case("scenario", f"{dotted(path)} = {label}", run_args("s.toml"),
                            {"s.toml": text.encode()}, "error" if always else "any",
                            key=dotted(path)))
    text = to_toml(base)
    out += [
        Case("scenario", "unused defaults.ids serialIncrement = 'zz' (every CA: cs_cfg)",
             run_args("s.toml"), {"s.toml": cscfg_scenario("master.cfg", "legacy", {
                 "serialIncrement": "zz"}).encode(), "master.cfg": MASTER_CFG.read_bytes()},
             "error", key="serialIncrement"),
        Case("scenario", "duration = '<400 digits>s'", run_args("s.toml"),
             {"s.toml": to_toml(with_value(base, ("duration",), "9" * 400 + "s")).encode()},
             "error", key="duration"),
        Case("scenario", "uniform high = '<400 digits>s'", run_args("s.toml"),
             {"s.toml": to_toml(with_value(base, ("defaults", "ca", "enroll"), {
                 "kind": "uniform", "low": "0s", "high": "9" * 400 + "s"})).encode()},
             "error", key="high"),
        Case("scenario", "workers = 2**63-1", run_args("s.toml"),
             {"s.toml": to_toml(with_value(base, ("defaults", "ca", "workers"),
                                           Raw(str(2**63 - 1)))).encode()}, "error",
             key="workers"),
        Case("scenario", "dotted key 1200 deep", run_args("s.toml"),
             {"s.toml": (text + "x" + ".x" * 1200 + " = 1\n").encode()}, "error"),
        Case("scenario", "file of 17 MB", run_args("s.toml"),
             {"s.toml": (text + "#" + "x" * (17 << 20) + "\n").encode()}, "error"),
        Case("scenario", "not UTF-8", run_args("s.toml"),
             {"s.toml": text.encode() + b"\xff\xfe\n"}, "error"),
        Case("scenario", "a key twice", run_args("s.toml"),
             {"s.toml": (text + '"name" = "again"\n').encode()}, "error", key="name"),
    ]
    for _ in range(30):  # truncated at random points
        cut = rng.randrange(1, len(text))
        out.append(Case("scenario", f"truncated at byte {cut}", run_args("s.toml"),
                        {"s.toml": text[:cut].encode()}, "any"))
    return out


def cscfg_scenario(cs_cfg: str, strategy: str, default_ids: dict[str, object] | None = None
                   ) -> str:
    """The base scenario with one CA, the master, configured by ``cs_cfg``."""
    data = base_scenario()
    del data["faults"]
    data["strategy"] = strategy
    data["ca"] = [{"name": "ca1", "role": "master", "replica": "ds1", "cs_cfg": cs_cfg}]
    data["defaults"] = {"ids": default_ids or {}}  # type: ignore[index]
    return to_toml(data)


def run_args(scenario: str, *more: str) -> tuple[str, ...]:
    return ("run", f"{{dir}}/{scenario}", "--out", "{dir}/out", "--no-plots", "--quiet", *more)


def override_cases(rng: random.Random) -> list[Case]:
    files = {"s.toml": to_toml(base_scenario()).encode()}
    keys = ["duration", "workload.enroll_rate", "ca[0].workers", "defaults.ids.serialIncrement",
            "crl.auto_update_interval", "seed", "workload.bursts[0].factor", "nosuch.key",
            "ca[7].workers", "ca..x"]
    values = ["9" * 5000, "[" * 1200 + "]" * 1200, "-1", "nan", "{a = 1}", "x\ny", "1e300",
              "'" + "9" * 400 + "s'"]
    return [Case("--set", f"--set {k}={v[:12]}...", run_args("s.toml", "--set", f"{k}={v}"),
                 files, "any", key=k, file="") for k in keys for v in values]


def sweep_cases(rng: random.Random) -> list[Case]:
    scenario = to_toml(base_scenario()).encode()
    base = {"scenario": "s.toml", "replications": 2, "seed": 7,
            "metrics": ["issued", "requests.*"],
            "overrides": {"duration": "5m"},
            "grid": {"workload.enroll_rate": ["1/s", "2/s"]},
            "target": {"metric": "issued", "half_width": 100.0, "max_replications": 3}}
    out = []
    for path in leaf_paths(base):
        for label, value, always in HOSTILE:
            if label == "1 MB string":
                continue
            data = with_value(base, path, value)
            out.append(Case("sweep", f"{dotted(path)} = {label}", sweep_args("w.toml"),
                            {"w.toml": to_toml(data).encode(), "s.toml": scenario},
                            "error" if always else "any", key=dotted(path).split(".")[0],
                            file="w.toml"))
    return out


def sweep_args(sweep: str, *more: str) -> tuple[str, ...]:
    return ("sweep", f"{{dir}}/{sweep}", "--out", "{dir}/out", "--quiet", *more)


CSCFG_KEYS = ["dbs.beginSerialNumber", "dbs.endSerialNumber", "dbs.serialIncrement",
              "dbs.serialLowWaterMark", "dbs.nextBeginSerialNumber", "dbs.beginRequestNumber",
              "ca.serialNumberUpdateInterval", "dbs.cert.id.length", "proxy.securePort",
              "dbs.enableSerialManagement", "dbs.cert.id.generator", "dbs.cert.id.radix",
              "machineName"]
CSCFG_VALUES = [("5000 digits", "9" * 5000, True), ("-5000 digits", "-" + "9" * 5000, True),
                ("0x + 5000 hex", "0x" + "f" * 5000, True), ("99999999", "99999999", False),
                ("2**31", str(2**31), False), ("-1", "-1", False), ("zz", "zz", False),
                ("empty", "", False), ("unicode digits", "٣٣", False), ("true", "true", False)]


#: CS.cfg keys whose every value but these is refused (the rest: 'always' values only).
_CSCFG_STRICT = {"proxy.securePort": {"empty"}, "dbs.enableSerialManagement": {"true"},
                 "dbs.cert.id.radix": set(), "ca.serialNumberUpdateInterval": {
                     "99999999", "-1", "empty"}}


def cscfg_cases(rng: random.Random) -> list[Case]:
    text = CS_CFG.read_text()
    scenario = cscfg_scenario("CS.cfg", "legacy2").encode()
    out = []
    for key in CSCFG_KEYS:
        for label, value, always in CSCFG_VALUES:
            cfg = set_cscfg(text, key, value).encode()
            strict = key in _CSCFG_STRICT and label not in _CSCFG_STRICT[key]
            expect = "error" if strict or (always and key != "machineName") else "any"
            out.append(Case("cs.cfg", f"audit {key}={label}", audit_args("--cs-cfg",
                            "{dir}/CS.cfg"), {"CS.cfg": cfg, "e.ldif": LDIF.read_bytes()},
                            expect, key=key, file="CS.cfg"))
            out.append(Case("cs.cfg", f"scenario cs_cfg {key}={label}", run_args("s.toml"),
                            {"s.toml": scenario, "CS.cfg": cfg}, expect, key=key,
                            file="CS.cfg"))
    return out


def set_cscfg(text: str, key: str, value: str) -> str:
    lines = [line for line in text.splitlines() if not line.startswith(f"{key}=")]
    return "\n".join([*lines, f"{key}={value}"]) + "\n"


def audit_args(*more: str) -> tuple[str, ...]:
    return ("audit", "--ldif", "{dir}/e.ldif", *more)


def _history_rows() -> list[dict[str, object]]:
    return [{"process": 0, "type": "invoke", "f": "generate", "value": None, "time": 1.0},
            {"process": 0, "type": "ok", "f": "generate", "value": 5, "time": 2.0},
            {"process": 1, "type": "ok", "f": "generate", "value": "0x6", "time": 3.0,
             "issuer": "ca2"}]


def csv_text() -> str:
    """A valid pkisim CSV history of two issuances."""
    import tempfile

    from pkisim.history.history import History, Op

    h = History()
    process = h.process("ca1")
    h.issue(1.0, process, Op.ISSUE_CERT, 5)
    h.issue(2.0, process, Op.ISSUE_CERT, 6)
    with tempfile.TemporaryDirectory() as folder:
        h.save(Path(folder) / "h.csv")
        return (Path(folder) / "h.csv").read_text()


#: CSV history cells: (label, text, the columns that must refuse it)
_CSV_VALUES = [("-5", "-5", {"value"}), ("-0x5", "-0x5", {"value"}),
               ("5000 digits", "9" * 5000, {"value", "time"}),
               ("0x + 300 hex", "0x" + "f" * 300, {"value", "time"}),
               ("nan", "nan", {"time", "value", "type", "f"}),
               ("inf", "inf", {"time", "value", "type", "f"}),
               ("true", "true", {"value", "time", "type", "f"}),
               ("zz", "zz", {"value", "time", "type", "f"}), ("empty", "", {"time", "type", "f"}),
               ("200k field", "x" * 200_000, {"value", "time", "f", "type", "process"}),
               ("quote", '"', {"value", "time", "type", "f", "process"}),
               ("NUL", "\x00", {"value", "time", "type", "f"})]
_CSV_COLUMNS = ("table", "time", "process", "replica", "type", "f", "value", "issuer")


def csv_cases(rng: random.Random) -> list[Case]:
    text = csv_text()
    lines = text.splitlines(keepends=True)
    row = lines[2].rstrip("\n").split(",")
    out = []
    for column in ("time", "process", "type", "f", "value"):
        for label, value, bad_in in _CSV_VALUES:
            cells = list(row)
            cells[_CSV_COLUMNS.index(column)] = value
            body = "".join(lines[:2]) + ",".join(cells) + "\n" + "".join(lines[3:])
            out.append(Case("history csv", f"{column} = {label}", ("check", "{dir}/h.csv"),
                            {"h.csv": body.encode()}, "error" if column in bad_in else "any",
                            key=column))
    out += [Case("history csv", "preamble not JSON", ("check", "{dir}/h.csv"),
                 {"h.csv": ("# pkisim history 1 {nope\n" + "".join(lines[1:])).encode()},
                 "error"),
            Case("history csv", "preamble nested 5000", ("check", "{dir}/h.csv"),
                 {"h.csv": ("# pkisim history 1 " + "[" * 5000 + "]" * 5000 + "\n"
                            + "".join(lines[1:])).encode()}, "error"),
            Case("history csv", "a cell too many", ("check", "{dir}/h.csv"),
                 {"h.csv": (text + lines[2].rstrip("\n") + ",x\n").encode()}, "error")]
    return out


#: JSON Lines fields: the BAD_JSON labels each one accepts (every other is refused).
_JSON_VALID = {
    "process": {"-5", "'-0x5'", "'zz'", "''", "':'", "2**200", "'0x' + 300 hex"},
    "type": set(),
    "f": {"'-0x5'", "'zz'", "'0x' + 300 hex"},
    "value": {"2**200"},
    "time": {"-5", "1.5", "2**200"},
    "issuer": {"-5", "'-0x5'", "'zz'", "''", "':'", "null", "2**200", "'0x' + 300 hex"},
}


def jsonl_cases(rng: random.Random) -> list[Case]:
    out = []
    for field_name, valid in _JSON_VALID.items():
        for label, value, _ in BAD_JSON:
            rows = [json.dumps(r) for r in _history_rows()]
            row = dict(_history_rows()[1])
            row[field_name] = "@@@"
            rows[1] = json.dumps(row).replace('"@@@"', value)
            out.append(Case("history jsonl", f'"{field_name}": {label}',
                            ("check", "{dir}/h.jsonl"),
                            {"h.jsonl": ("\n".join(rows) + "\n").encode()},
                            "any" if label in valid else "error", key=field_name))
    out.append(Case("history jsonl", "a line nested 5000 deep", ("check", "{dir}/h.jsonl"),
                    {"h.jsonl": ("[" * 5000 + "]" * 5000 + "\n").encode()}, "error"))
    return out


def parquet_cases(rng: random.Random) -> list[Case]:
    import io

    import pyarrow.parquet as pq

    from pkisim.history.history import History, Op

    h = History()
    process = h.process("ca1")
    h.issue(1.0, process, Op.ISSUE_CERT, 5)
    buffer = io.BytesIO()
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "h.parquet"
        h.save(path)
        table = pq.read_table(path)
        good = path.read_bytes()
        meta = json.loads(table.schema.metadata[b"pkisim"])
        variants: list[tuple[str, bytes]] = [
            ("a list", b"[1, 2]"), ("a string", b'"x"'), ("a number", b"5"),
            ("not JSON", b"{nope"), ("nested 5000", b"[" * 5000 + b"]" * 5000),
            ("5000 digits", b"9" * 5000),
            ("names not strings", json.dumps({**meta, "processes": [1]}).encode()),
            ("events not a table", json.dumps({**meta, "events": [1]}).encode()),
            ("event row too short", json.dumps({**meta, "events": {
                "columns": meta["events"]["columns"], "rows": [[1]]}}).encode()),
            ("event position a bool", json.dumps({**meta, "events": {
                "columns": meta["events"]["columns"],
                "rows": [[True] * len(meta["events"]["columns"])]}}).encode()),
            ("format 2", json.dumps({**meta, "version": 2}).encode())]
        out = []
        for label, blob in variants:
            pq.write_table(table.replace_schema_metadata({b"pkisim": blob}), path)
            out.append(Case("history parquet", f"metadata {label}", ("check", "{dir}/h.parquet"),
                            {"h.parquet": path.read_bytes()}, "error"))
        table = table.drop(["value_lo"])
        pq.write_table(table, buffer)
        out.append(Case("history parquet", "a column missing", ("check", "{dir}/h.parquet"),
                        {"h.parquet": buffer.getvalue()}, "error"))
    for _ in range(10):
        cut = rng.randrange(4, len(good))
        out.append(Case("history parquet", f"truncated at {cut}", ("check", "{dir}/h.parquet"),
                        {"h.parquet": good[:cut]}, "error"))
        flipped = bytearray(good)
        where = rng.randrange(4, len(good))
        flipped[where] ^= 0xFF
        out.append(Case("history parquet", f"byte {where} flipped",
                        ("check", "{dir}/h.parquet"), {"h.parquet": bytes(flipped)}, "any"))
    return out


LDIF_ATTRS = ["nextRange", "beginRange", "endRange", "SecurePort", "dateOfCreate",
              "createTimestamp"]


def ldif_cases(rng: random.Random) -> list[Case]:
    text = LDIF.read_text()
    values = [("5000 digits", "9" * 5000, True), ("99999999", "99999999", False),
              ("-5", "-5", True), ("0x10", "0x10", True), ("zz", "zz", True),
              ("unicode digits", "٣٣", True), ("empty", "", True), ("20261399000000Z",
                                                                     "20261399000000Z", False)]
    out = []
    for attribute in LDIF_ATTRS:
        for label, value, always in values:
            body = _replace_attribute(text, attribute, value)
            if body is None:
                continue
            numbers = attribute in ("nextRange", "beginRange", "endRange")
            expect = "any" if numbers and not always else "error"
            out.append(Case("ldif", f"{attribute}: {label}", audit_args(),
                            {"e.ldif": body.encode()}, expect, key=attribute))
    head, _, tail = text.partition("\nobjectClass: certificateRecord\n")
    out += [
        Case("ldif", "cn=<5000 digits> certificate record", audit_args(),
             {"e.ldif": text.replace("dn: cn=1,ou=certificateRepository",
                                     "dn: cn=" + "9" * 5000 + ",ou=certificateRepository",
                                     1).encode()}, "error", key="cn"),
        Case("ldif", "an unknown attribute on certificate records (noted)", audit_args(),
             {"e.ldif": text.replace("objectClass: certificateRecord\n",
                                     "objectClass: certificateRecord\nnewAttr: 1\n").encode()},
             "any"),
        Case("ldif", "base64 garbage", audit_args(),
             {"e.ldif": (head + "\nobjectClass: certificateRecord\ncn:: !!!\n" + tail)
              .encode()}, "error"),
        Case("ldif", "a change record", audit_args(),
             {"e.ldif": text.replace("objectClass: certificateRecord\n",
                                     "changetype: add\nobjectClass: certificateRecord\n", 1)
              .encode()}, "error")]
    for _ in range(20):
        cut = rng.randrange(1, len(text))
        out.append(Case("ldif", f"truncated at byte {cut}", audit_args(),
                        {"e.ldif": text[:cut].encode()}, "any"))
    return out


def _replace_attribute(text: str, attribute: str, value: str) -> str | None:
    """``text`` with the first value of ``attribute`` replaced (times: on a
    certificate record, whose time the audit reads)."""
    start = text.find("objectClass: certificateRecord") if "ate" in attribute.lower() else 0
    at = text.find(f"\n{attribute}: ", start)
    if at < 0:
        return None
    end = text.index("\n", at + 1)
    return text[:at] + f"\n{attribute}: {value}" + text[end:]


def trace_cases(rng: random.Random) -> list[Case]:
    scenario = to_toml(with_value(with_value(base_scenario(), ("workload", "enroll_rate"),
                                             Raw("0")), ("workload", "trace"), "t.csv"))
    scenario = scenario.replace('"enroll_rate" = 0\n', "")
    rows = [("field of 200k", "x" * 200_000, True), ("nan", "nan", True), ("-1", "-1", True),
            ("5000 digits", "9" * 5000, True), ("NUL", "1\x00", True), ("empty", "", True),
            ("1e300", "1e300", False), ("quote", '"', True)]
    out = [Case("trace", f"time {label}", run_args("s.toml"),
                {"s.toml": scenario.encode(), "t.csv": f"time\n1.0\n{value}\n".encode()},
                "error" if always else "any", key="workload.trace")
           for label, value, always in rows]
    out.append(Case("trace", "not UTF-8", run_args("s.toml"),
                    {"s.toml": scenario.encode(), "t.csv": b"time\n1.0\n\xff\n"}, "error",
                    key="workload.trace"))
    out.append(Case("trace", "no time column", run_args("s.toml"),
                    {"s.toml": scenario.encode(), "t.csv": b"when\n1.0\n"}, "error",
                    key="workload.trace"))
    return out


def argument_cases(rng: random.Random) -> list[Case]:
    files = {"s.toml": to_toml(base_scenario()).encode(), "h.csv": csv_text().encode(),
             "e.ldif": LDIF.read_bytes()}
    bad = [("run",), ("run", "a", "b"), ("run", "{dir}/s.toml", "--seed", "-1"),
           ("run", "{dir}/s.toml", "--seed", "9" * 5000), ("run", "{dir}/s.toml", "--strategy",
                                                          "bogus"),
           ("run", "{dir}/s.toml", "--set", "nokey"), ("run", "{dir}/s.toml", "--max-events", "x"),
           ("run", "{dir}/s.toml", "--max-memory", "lots"), ("run", "{dir}/s.toml", "--bogus"),
           ("run", "{dir}/s.toml", "--out"), ("check",), ("check", "{dir}/h.csv", "extra"),
           ("check", "{dir}/h.csv", "--op", "bogus"), ("check", "{dir}/h.csv", "--witnesses",
                                                       "abc"),
           ("check", "{dir}/missing.csv"), ("sweep",), ("sweep", "{dir}/s.toml", "--workers", "0"),
           ("sweep", "{dir}/w.toml", "--workers", "2", "--scheduler", "tcp://x:1"),
           ("sweep", "{dir}/missing.toml"), ("audit",), ("audit", "--ldif"),
           ("audit", "--ldif", "{dir}/e.ldif", "--url", "ldap://x"),
           ("audit", "--url", "ldap://127.0.0.1:9/", "--bind-dn", "cn=x", "--password", "s3cret"),
           ("audit", "--ldif", "{dir}/e.ldif", "--now", "yesterday"),
           ("audit", "--ldif", "{dir}/e.ldif", "--window", "0s"),
           ("audit", "--ldif", "{dir}/e.ldif", "--horizon", "9" * 400 + "s"),
           ("audit", "--ldif", "{dir}/e.ldif", "--json", "{dir}/e.ldif"),
           ("bogus",), ("--bogus",), ("run", "{dir}/s.toml", "--out", "{dir}/s.toml")]
    out = [Case("arguments", " ".join(a)[:60], a, files, "error", file="") for a in bad]
    out.append(Case("arguments", "pkisim alone", (), files, "usage", file=""))
    return out


def work_cases(rng: random.Random) -> list[Case]:
    base = base_scenario()
    huge = [(("workload", "crl_fetch_rate"), Raw("1e9")),
            (("workload", "bursts", 0, "factor"), Raw("1e300")),
            (("defaults", "ids", "serialNumberUpdateInterval"), Raw("1e-6")),
            (("workload", "enroll_rate"), "10000000/s"),
            (("load_balancer", "health_interval"), Raw("1e-6")),
            (("throughput_bin", ), Raw("1e-6")),
            (("duration", ), "9000y"),
            (("random_faults", "rates_per_day", "crash"), Raw("1e12"))]
    out = [Case("bounded work", f"{dotted(p)} = {v}", run_args("s.toml"),
                {"s.toml": to_toml(with_value(base, p, v)).encode()}, "refuse", key=dotted(p))
           for p, v in huge]
    scenario = HEAVY.read_bytes()
    for label, grid in (("400 points", {"workload.enroll_rate": [f"{i}/day" for i in
                                                                 range(1000, 1400)]}),
                        ("24 million points", {"workload.enroll_rate": list(range(1, 2001)),
                                               "seed_like": list(range(12000))})):
        sweep = to_toml({"scenario": "s.toml", "replications": 5,
                         "grid": {k: v for k, v in grid.items() if k != "seed_like"} | (
                             {"workload.clients": list(range(1, 12001))}
                             if "seed_like" in grid else {})})
        out.append(Case("bounded work", f"sweep of {label}", sweep_args("w.toml"),
                        {"w.toml": sweep.encode(), "s.toml": scenario}, "refuse", file="w.toml"))
    return out


def byte_cases(rng: random.Random) -> list[Case]:
    out = []
    for name, argv in (("s.toml", run_args("s.toml")), ("w.toml", sweep_args("w.toml")),
                       ("h.csv", ("check", "{dir}/h.csv")), ("h.jsonl", ("check", "{dir}/h.jsonl")),
                       ("h.parquet", ("check", "{dir}/h.parquet")), ("e.ldif", audit_args()),
                       ("CS.cfg", audit_args("--cs-cfg", "{dir}/CS.cfg"))):
        for i in range(8):
            data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 2000)))
            if name == "h.parquet":
                data = b"PAR1" + data
            files = {name: data}
            if name == "CS.cfg":
                files["e.ldif"] = LDIF.read_bytes()
            out.append(Case("random bytes", f"{name} #{i}", argv, files, "any", file=name))
        text = "".join(rng.choice(string.printable) for _ in range(500))
        out.append(Case("random text", f"{name} printable", argv, {name: text.encode()}, "any",
                        file=name))
    return out


#: The mutation functions the Hypothesis strategies draw from, by input kind.
MUTATORS: dict[str, Callable[[random.Random], list[Case]]] = {
    "scenario": scenario_cases, "--set": override_cases, "sweep": sweep_cases,
    "cs.cfg": cscfg_cases, "history csv": csv_cases, "history jsonl": jsonl_cases,
    "history parquet": parquet_cases, "ldif": ldif_cases, "trace": trace_cases,
    "arguments": argument_cases, "bounded work": work_cases, "random bytes": byte_cases,
}
