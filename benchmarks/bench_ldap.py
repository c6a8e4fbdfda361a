"""LDAP allocator throughput against a real slapd (not a test).

* range claims per second through LdapAllocator (one Read + the CAS modify +
  the pkiRange add per claim, driven by the sans-IO core), side by side with
  a raw python-ldap loop of the same three operations on the same server
  (target: >= 0.5 of it), and with a raw loop of the CAS modify alone;
* serials per second from held ranges through LdapAllocator, without
  per-serial record stores (records="none"; target >= 500,000 per process),
  and with a checkpoint record every 1,000 serials.

    python benchmarks/bench_ldap.py            # writes benchmarks/results/ldap.json
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import ldap  # type: ignore[import-untyped]
from machine_info import write_results  # benchmarks/, the script's own folder

from pkisim.ids.config import IdKind
from pkisim.ids.subsystem import master_configs
from pkisim.ids.tree import DogtagTree
from pkisim.ldap.allocator import LdapAllocator
from pkisim.testing.servers.slapd import Slapd

CLAIMS = 2000
SERIALS = 2_000_000
RESULTS = Path(__file__).parent / "results" / "ldap.json"


def configs(increment: int, low_water_mark: int) -> dict:
    ids = dict(begin=1, end=increment, increment=increment, low_water_mark=low_water_mark,
               clone_transfer_number=1)
    return master_configs("legacy2", host="bench", serial_management=True,
                          overrides={IdKind.CERT: ids, IdKind.REQUEST: ids})


def fresh(server: Slapd, increment: int) -> None:
    server.directory().bootstrap(DogtagTree().bootstrap(list(configs(increment, 0).values())))


def allocator_claims(server: Slapd) -> float:
    """Claims per second: every update task claims (low-water mark = increment)."""
    alloc = LdapAllocator(server.directory(), "bench", configs(10, 10), records="none",
                          update_every=None)
    alloc.start()
    repo = alloc.repos.cert
    started = time.perf_counter()
    for _ in range(CLAIMS):
        repo.next_begin = repo.next_end = None  # forget the last claim and use up the
        repo.last = repo.end  # current range: checkRanges claims again
        alloc._run(repo.check_ranges())
    elapsed = time.perf_counter() - started
    claimed = sum(e.op.name == "CLAIM" and e.type.name == "OK" for e in alloc.history.events)
    assert claimed == CLAIMS, claimed
    alloc.close()
    return CLAIMS / elapsed


def raw_claims(server: Slapd, with_record: bool) -> float:
    conn = ldap.initialize(server.url)
    conn.simple_bind_s(server.bind_dn, server.password)
    tree = DogtagTree()
    dn = tree.counter_dn(IdKind.CERT, "legacy2")
    container = tree.range_container_dn(IdKind.CERT, "legacy2")
    started = time.perf_counter()
    for _ in range(CLAIMS):
        value = conn.search_s(dn, ldap.SCOPE_BASE, "(objectClass=*)", ["nextRange"])[0][1][
            "nextRange"][0]
        new = str(int(value) + 10).encode()
        conn.modify_s(dn, [(ldap.MOD_DELETE, "nextRange", [value]),
                           (ldap.MOD_ADD, "nextRange", [new])])
        if with_record:
            begin = value.decode()
            conn.add_s(f"cn={begin},{container}", [
                ("objectClass", [b"top", b"pkiRange"]), ("cn", [value]),
                ("beginRange", [value]), ("endRange", [str(int(new) - 1).encode()]),
                ("host", [b"raw"]), ("SecurePort", [b"8443"])])
    elapsed = time.perf_counter() - started
    conn.unbind_s()
    return CLAIMS / elapsed


def serials(server: Slapd, records: str) -> float:
    alloc = LdapAllocator(server.directory(), f"serials-{records}", configs(1_000_000, 200_000),
                          records=records, batch_size=1000, update_every=100_000)
    alloc.start()
    take = alloc.next_serial
    started = time.perf_counter()
    for _ in range(SERIALS):
        take()
    elapsed = time.perf_counter() - started
    alloc.close()
    return SERIALS / elapsed


def main() -> None:
    out: dict[str, object] = {"python": platform.python_version(), "claims": CLAIMS,
                              "serials": SERIALS}
    for name, run in (("raw_read_cas_add_per_s", lambda s: raw_claims(s, True)),
                      ("raw_cas_only_per_s", lambda s: raw_claims(s, False)),
                      ("allocator_claims_per_s", allocator_claims),
                      ("allocator_serials_per_s_no_records", lambda s: serials(s, "none")),
                      ("allocator_serials_per_s_checkpoint", lambda s: serials(s, "checkpoint"))):
        with Slapd() as server:
            fresh(server, 10)
            out[name] = round(run(server), 1)
        print(f"{name}: {out[name]:,}")
    out["claims_ratio_vs_raw_read_cas_add"] = round(
        out["allocator_claims_per_s"] / out["raw_read_cas_add_per_s"], 3)  # type: ignore[operator]
    out["claims_ratio_vs_raw_cas_only"] = round(
        out["allocator_claims_per_s"] / out["raw_cas_only_per_s"], 3)  # type: ignore[operator]
    print(json.dumps(out, indent=1))
    write_results(RESULTS, "bench_ldap", out)


if __name__ == "__main__":
    main()
