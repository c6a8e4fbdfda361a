"""Fuzzing every input kind: valid documents broken in one place, random bytes,
extreme numbers and deep nesting, through ``pkisim`` itself.

The property, whatever the input: a valid result (exit status 0 or 1), or exit
status 2 with exactly one line on stderr that names the file; never a
traceback, never ``internal error``, never longer than the timeout; and an
input that cannot be valid is never accepted.

Profiles: in CI each test tries ``PKISIM_FUZZ_EXAMPLES`` inputs (default 20,
about a minute in all); the long profile is
``PKISIM_FUZZ_EXAMPLES=2000 HYPOTHESIS_PROFILE=dev python -m pytest tests/fuzz``
(README, "Hostile input").  ``tests/fuzz/measure.py`` runs the whole corpus.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from pathlib import Path

import corpus
import measure
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("PKISIM_FUZZ_EXAMPLES", "20"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
#: Each example's run is refused beyond this (the base scenario is ~5,000 events):
#: the property is "bounded", and each example stays quick on a loaded machine.
BUDGET = ("--max-events", "1e5", "--max-memory", "2G")
TIMEOUT = 120.0


def check(case: corpus.Case) -> None:
    """Run ``case``; fail on a traceback, a silent acceptance, more than one
    line, an error that does not name the file, or a run past the timeout."""
    folder = Path(tempfile.mkdtemp(prefix="pkisim-fuzz-"))
    try:
        result = measure.run_case(case, folder, TIMEOUT)
        verdict = measure.classify(case, result, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    detail = f"{case.kind} {case.name[:200]!r}: exit {result['status']}: " \
             f"{str(result['stderr'])[:500]!r} {result['escaped'] or ''}"
    for problem in ("traceback", "silent", "multi-line", "unbounded", "usage-wrong"):
        assert not verdict[problem], f"{problem}: {detail}"
    assert verdict.get("names file", True), f"the error does not name the file: {detail}"


# --------------------------------------------------------------------------- values

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                  max_size=4),
    max_leaves=12)

#: TOML values as text: the corpus' hostile ones, numbers of any size, any
#: string, nesting of any depth.
toml_values = st.one_of(
    st.sampled_from([v for _, v, _ in corpus.HOSTILE]),
    st.integers().map(lambda n: corpus.Raw(str(n))),
    st.integers(min_value=300, max_value=6000).map(lambda n: corpus.Raw("9" * n)),
    st.floats().map(lambda x: corpus.Raw(repr(x).replace("inf", "inf").replace("nan", "nan"))),
    st.text(max_size=40),
    st.integers(min_value=1, max_value=1500).map(lambda n: corpus.Raw("[" * n + "]" * n)),
    st.sampled_from(["1s", "0ms", "1e-9s", "999999999999d", "5/s", "1e12/s", "0/s"]),
)

SCENARIO = corpus.base_scenario()
SCENARIO_KEYS = list(corpus.leaf_paths(SCENARIO))


def _text_mutation(text: str, data: st.DataObject) -> str:
    """``text`` with a few characters replaced, inserted or deleted somewhere."""
    chars = list(text)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(chars)))
        action = data.draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = data.draw(st.text(min_size=1, max_size=8))
        if action == "insert":
            chars[at:at] = list(piece)
        elif action == "delete":
            del chars[at:at + len(piece)]
        else:
            chars[at:at + len(piece)] = list(piece)
    return "".join(chars)


# --------------------------------------------------------------------------- scenario, sweep


@FUZZ
@given(path=st.sampled_from(SCENARIO_KEYS + [p for p, _ in corpus.EXTRA_KEYS]),
       value=toml_values)
def test_scenario_with_one_hostile_value(path: tuple[object, ...], value: object) -> None:
    text = corpus.to_toml(corpus.with_value(SCENARIO, path, value))
    check(corpus.Case("scenario", f"{corpus.dotted(path)} = {str(value)[:60]}",
                      corpus.run_args("s.toml", *BUDGET), {"s.toml": text.encode()},
                      key=corpus.dotted(path)))


@FUZZ
@given(data=st.data())
def test_scenario_text_mutated(data: st.DataObject) -> None:
    text = _text_mutation(corpus.to_toml(SCENARIO), data)
    check(corpus.Case("scenario", "mutated text", corpus.run_args("s.toml", *BUDGET),
                      {"s.toml": text.encode("utf-8", "surrogatepass")}))


@FUZZ
@given(key=st.sampled_from(["duration", "workload.enroll_rate", "ca[0].workers", "seed",
                            "defaults.ids.serialIncrement", "crl.clone_mode", "x.y",
                            "ca[9].name", "workload.bursts[0].factor"]),
       value=st.text(max_size=60) | st.integers(0, 6000).map(lambda n: "[" * n))
def test_set_overrides(key: str, value: str) -> None:
    check(corpus.Case("--set", f"{key}={value[:40]}",
                      corpus.run_args("s.toml", *BUDGET, "--set", f"{key}={value}"),
                      {"s.toml": corpus.to_toml(SCENARIO).encode()}, key=key, file=""))


SWEEP = {"scenario": "s.toml", "replications": 2, "seed": 7, "metrics": ["issued"],
         "overrides": {"duration": "2m"}, "grid": {"workload.enroll_rate": ["1/s", "2/s"]}}


@FUZZ
@given(path=st.sampled_from(list(corpus.leaf_paths(SWEEP))), value=toml_values)
def test_sweep_with_one_hostile_value(path: tuple[object, ...], value: object) -> None:
    text = corpus.to_toml(corpus.with_value(SWEEP, path, value))
    check(corpus.Case("sweep", f"{corpus.dotted(path)} = {str(value)[:60]}",
                      corpus.sweep_args("w.toml", *BUDGET),
                      {"w.toml": text.encode(), "s.toml": corpus.to_toml(SCENARIO).encode()},
                      file="w.toml"))


# --------------------------------------------------------------------------- CS.cfg, LDIF


@FUZZ
@given(key=st.sampled_from(corpus.CSCFG_KEYS), value=st.text(max_size=60)
       | st.integers(300, 6000).map(lambda n: "9" * n))
def test_cs_cfg_with_one_hostile_value(key: str, value: str) -> None:
    value = value.replace("\n", " ").replace("\r", " ")
    cfg = corpus.set_cscfg(corpus.CS_CFG.read_text(), key, value).encode("utf-8",
                                                                         "surrogatepass")
    check(corpus.Case("cs.cfg", f"{key}={value[:40]}", corpus.run_args("s.toml", *BUDGET),
                      {"s.toml": corpus.cscfg_scenario("CS.cfg", "legacy2").encode(),
                       "CS.cfg": cfg}, file="CS.cfg"))


LDIF_TEXT = corpus.LDIF.read_text()


@FUZZ
@given(attribute=st.sampled_from([*corpus.LDIF_ATTRS, "cn", "objectClass", "dn", "serialno"]),
       value=st.text(max_size=40) | st.integers(300, 6000).map(lambda n: "9" * n))
def test_ldif_with_one_hostile_value(attribute: str, value: str) -> None:
    value = value.replace("\n", " ").replace("\r", " ")
    body = corpus._replace_attribute(LDIF_TEXT, attribute, value) or LDIF_TEXT
    check(corpus.Case("ldif", f"{attribute}: {value[:40]}", corpus.audit_args(),
                      {"e.ldif": body.encode("utf-8", "surrogatepass")}))


# --------------------------------------------------------------------------- histories


CSV_TEXT = corpus.csv_text()


@FUZZ
@given(column=st.integers(0, 7), value=st.text(max_size=40)
       | st.integers(300, 6000).map(lambda n: "9" * n))
def test_csv_history_with_one_hostile_cell(column: int, value: str) -> None:
    lines = CSV_TEXT.splitlines(keepends=True)
    cells = lines[2].rstrip("\n").split(",")
    cells[column] = value
    body = "".join(lines[:2]) + ",".join(cells) + "\n" + "".join(lines[3:])
    check(corpus.Case("history csv", f"column {column} = {value[:40]!r}",
                      ("check", "{dir}/h.csv"), {"h.csv": body.encode("utf-8", "surrogatepass")}))


@FUZZ
@given(field=st.sampled_from(["process", "type", "f", "value", "time", "issuer", "extra"]),
       value=json_values)
def test_jsonl_history_with_one_hostile_field(field: str, value: object) -> None:
    rows = corpus._history_rows()
    rows[1] = {**rows[1], field: value}
    text = "\n".join(json.dumps(r) for r in rows) + "\n"
    check(corpus.Case("history jsonl", f'"{field}": {value!r}'[:80],
                      ("check", "{dir}/h.jsonl"), {"h.jsonl": text.encode()}))


@FUZZ
@given(metadata=json_values)
def test_parquet_history_with_hostile_metadata(metadata: object) -> None:
    blob = json.dumps(metadata).encode()
    check(corpus.Case("history parquet", f"metadata {blob[:60]!r}",
                      ("check", "{dir}/h.parquet"), {"h.parquet": _parquet(blob)}, "error"))


def _parquet(metadata: bytes) -> bytes:
    import pyarrow.parquet as pq

    from pkisim.history.history import History, Op

    h = History()
    h.issue(1.0, h.process("ca1"), Op.ISSUE_CERT, 5)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "h.parquet"
        h.save(path)
        table = pq.read_table(path)
        pq.write_table(table.replace_schema_metadata({b"pkisim": metadata}), path)
        return path.read_bytes()


# --------------------------------------------------------------------------- traces, bytes, argv


@FUZZ
@given(rows=st.lists(st.text(max_size=30), max_size=5))
def test_trace_with_hostile_rows(rows: list[str]) -> None:
    scenario = corpus.to_toml(corpus.with_value(SCENARIO, ("workload", "trace"), "t.csv"))
    scenario = scenario.replace('"enroll_rate" = "1/s"\n', "")
    body = "time\n" + "\n".join(rows) + "\n"
    check(corpus.Case("trace", f"rows {rows!r}"[:80], corpus.run_args("s.toml", *BUDGET),
                      {"s.toml": scenario.encode(),
                       "t.csv": body.encode("utf-8", "surrogatepass")}))


FILES = {"s.toml": corpus.run_args("s.toml", *BUDGET),
         "w.toml": corpus.sweep_args("w.toml", *BUDGET),
         "h.csv": ("check", "{dir}/h.csv"), "h.jsonl": ("check", "{dir}/h.jsonl"),
         "h.parquet": ("check", "{dir}/h.parquet"), "e.ldif": corpus.audit_args(),
         "CS.cfg": corpus.audit_args("--cs-cfg", "{dir}/CS.cfg"),
         "t.csv": ("run", "{dir}/s.toml", "--out", "{dir}/out", "--quiet", "--no-plots")}


@FUZZ
@given(name=st.sampled_from(sorted(FILES)), data=st.binary(max_size=3000))
def test_random_bytes_in_every_input(name: str, data: bytes) -> None:
    files = {name: b"PAR1" + data if name == "h.parquet" else data}
    if name == "CS.cfg":
        files["e.ldif"] = corpus.LDIF.read_bytes()
    if name == "t.csv":
        scenario = corpus.to_toml(corpus.with_value(SCENARIO, ("workload", "trace"), "t.csv"))
        files["s.toml"] = scenario.replace('"enroll_rate" = "1/s"\n', "").encode()
    check(corpus.Case("random bytes", name, FILES[name], files, file=name))


WORDS = ["run", "check", "sweep", "audit", "--out", "--seed", "--set", "--strategy", "--json",
         "--op", "--witnesses", "--workers", "--scheduler", "--ldif", "--url", "--bind-dn",
         "--cs-cfg", "--now", "--window", "--max-events", "--max-memory", "--max-points",
         "--help", "-h", "--version", "{dir}/s.toml", "{dir}/h.csv", "{dir}/e.ldif", "x=1",
         "-1", "0", "9" * 5000, "nan", "", "legacy", "cert", "\n", "--quiet", "--no-plots"]


@FUZZ
@given(argv=st.lists(st.sampled_from(WORDS) | st.text(max_size=10), max_size=7))
def test_random_command_lines(argv: list[str]) -> None:
    if any(a in ("-h", "--help", "--version") for a in argv) or not argv:
        argv = [a for a in argv if a not in ("-h", "--help", "--version")] or ["run"]
    files = {"s.toml": corpus.to_toml(SCENARIO).encode(), "h.csv": CSV_TEXT.encode(),
             "e.ldif": corpus.LDIF.read_bytes()}
    argv = [*argv, *BUDGET] if argv[0] in ("run", "sweep") else argv
    check(corpus.Case("arguments", " ".join(argv)[:80], tuple(argv), files, file=""))


def test_the_corpus_sample_is_handled() -> None:
    """A fixed sample of the measurement corpus (every kind), in CI."""
    cases = corpus.cases()
    rng = random.Random(14)
    by_kind: dict[str, list[corpus.Case]] = {}
    for case in cases:
        by_kind.setdefault(case.kind, []).append(case)
    for kind in sorted(by_kind):
        for case in rng.sample(by_kind[kind], min(3, len(by_kind[kind]))):
            check(case)
