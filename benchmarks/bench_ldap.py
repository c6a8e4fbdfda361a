"""The real LDAP allocator against raw python-ldap on the same slapd (not a test).

Only the public API of :mod:`pkisim.ldap` (``LdapAllocator``, ``LdapDirectory``):

* **claims per second**: the allocator claiming a range at every update run
  (``increment`` 10, low-water mark 10, the update task every 10 serials,
  ``records="none"``), against raw python-ldap loops on the same ``nextRange``
  of the same server in the same run: read+CAS (search, then the delete-old /
  add-new modify), read+CAS+add (plus the ``pkiRange`` record) and
  read+CAS+add+search (plus Dogtag's ``hasRangeConflict`` subtree search, which
  ``checkRanges`` runs whenever a next range is held below the low-water mark:
  the allocator's full claim cycle).  The four loops alternate, ``ROUNDS``
  rounds of ``CLAIMS`` claims each; each rate is the median of its rounds, and
  so is the client's CPU time per claim (this process's: what the allocator
  adds on top of python-ldap, whatever the server's latency).
  Target: allocator >= 0.9 x read+CAS+add;
* **serials per second per process** from held ranges with a checkpoint
  record every 1,000 serials, four processes at once (a barrier starts them).

    python benchmarks/bench_ldap.py         # writes benchmarks/results/ldap.json
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import ldap  # type: ignore[import-untyped]
from machine_info import write_results  # benchmarks/, the script's own folder

from pkisim.history import Op, OpType
from pkisim.ids import protocol as p
from pkisim.ids.config import IdKind
from pkisim.ids.subsystem import master_configs
from pkisim.ids.tree import DogtagTree
from pkisim.ldap import LdapAllocator
from pkisim.testing.servers.slapd import Slapd

CLAIMS, ROUNDS, INCREMENT = 200, 7, 10
PROCESSES, SERIALS = 4, 500_000
RESULTS = Path(__file__).parent / "results" / "ldap.json"
TARGET = 0.9


def configs(name: str, begin: int, increment: int, low_water_mark: int) -> dict:
    ids = dict(begin=begin, end=begin + increment - 1, increment=increment,
               low_water_mark=low_water_mark, clone_transfer_number=1)
    return master_configs("legacy2", host=name, serial_management=True,
                          overrides={IdKind.CERT: ids, IdKind.REQUEST: ids})


class AllocatorClaims:
    """The allocator, claiming once per update run (every INCREMENT serials)."""

    def __init__(self, server: Slapd, begin: int) -> None:
        self.ops: Counter[str] = Counter()
        self.won = 0  # successful nextRange compare-and-swaps, counted as they return
        self.alloc = LdapAllocator(server.directory(), "bench",
                                   configs("bench", begin, INCREMENT, INCREMENT),
                                   records="none", update_every=INCREMENT, update_interval=0,
                                   after_command=self.count)
        self.alloc.start()

    def count(self, command: p.Command, result: p.Result) -> None:
        self.ops[type(command).__name__] += 1
        if isinstance(command, p.Modify) and result.ok:
            self.won += 1

    def claims(self) -> int:
        return self.won

    def history_claims(self) -> int:
        return sum(e.op is Op.CLAIM and e.type is OpType.OK for e in self.alloc.history.events)

    def round(self) -> tuple[float, float]:
        before = self.claims()
        take = self.alloc.next_serial
        started, cpu = time.perf_counter(), time.process_time()
        while self.claims() - before < CLAIMS:
            for _ in range(INCREMENT):
                take()
        done = self.claims() - before
        return (done / (time.perf_counter() - started),
                (time.process_time() - cpu) / done)


class RawClaims:
    """python-ldap doing the same operations by hand."""

    def __init__(self, server: Slapd, record: bool, search: bool) -> None:
        self.conn = ldap.initialize(server.url)
        self.conn.simple_bind_s(server.bind_dn, server.password)
        self.record, self.search = record, search
        tree = DogtagTree()
        self.dn = tree.counter_dn(IdKind.CERT, "legacy2")
        self.container = tree.range_container_dn(IdKind.CERT, "legacy2")

    def round(self) -> tuple[float, float]:
        conn = self.conn
        started, cpu = time.perf_counter(), time.process_time()
        for _ in range(CLAIMS):
            value = conn.search_s(self.dn, ldap.SCOPE_BASE, "(objectClass=*)")[0][1][
                "nextRange"][0]
            new = str(int(value) + INCREMENT).encode()
            conn.modify_s(self.dn, [(ldap.MOD_DELETE, "nextRange", [value]),
                                    (ldap.MOD_ADD, "nextRange", [new])])
            if self.record:
                conn.add_s(f"cn={value.decode()},{self.container}", [
                    ("objectClass", [b"top", b"pkiRange"]), ("cn", [value]),
                    ("beginRange", [value]), ("endRange", [str(int(new) - 1).encode()]),
                    ("host", [b"raw"]), ("SecurePort", [b"8443"])])
            if self.search:
                conn.search_s(self.container, ldap.SCOPE_SUBTREE,
                              "(&(nsds5ReplConflict=*)(objectClass=pkiRange)(host=raw)"
                              f"(SecurePort=8443)(beginRange={value.decode()}))")
        return CLAIMS / (time.perf_counter() - started), (time.process_time() - cpu) / CLAIMS


def claims(server: Slapd) -> dict[str, Any]:
    server.directory().bootstrap(DogtagTree().bootstrap(
        list(configs("master", 1, INCREMENT, 0).values())))
    loops: dict[str, Any] = {
        "allocator": AllocatorClaims(server, 10 * INCREMENT**6),
        "raw_read_cas": RawClaims(server, record=False, search=False),
        "raw_read_cas_add": RawClaims(server, record=True, search=False),
        "raw_read_cas_add_search": RawClaims(server, record=True, search=True)}
    rates: dict[str, list[float]] = {name: [] for name in loops}
    cpu: dict[str, list[float]] = {name: [] for name in loops}
    for _ in range(ROUNDS):
        for name, loop in loops.items():
            rate, seconds = loop.round()
            rates[name].append(rate)
            cpu[name].append(seconds)
    alloc = loops["allocator"]
    assert alloc.history_claims() == alloc.claims(), "every CAS that won is a claim"
    per_claim = {op: round(n / alloc.claims(), 2) for op, n in sorted(alloc.ops.items())}
    alloc.alloc.close()
    median = {name: round(statistics.median(r), 1) for name, r in rates.items()}
    return {"claims_per_round": CLAIMS, "rounds": ROUNDS,
            "claims_per_s_median": median,
            "claims_per_s_rounds": {k: [round(x, 1) for x in v] for k, v in rates.items()},
            "allocator_commands_per_claim": per_claim,
            "client_cpu_us_per_claim_median": {k: round(statistics.median(v) * 1e6, 1)
                                               for k, v in cpu.items()},
            "ratio_vs_raw_read_cas": round(median["allocator"] / median["raw_read_cas"], 3),
            "ratio_vs_raw_read_cas_add": round(median["allocator"]
                                               / median["raw_read_cas_add"], 3),
            "ratio_vs_raw_read_cas_add_search": round(median["allocator"]
                                                      / median["raw_read_cas_add_search"], 3)}


def serials_worker(url: str, bind_dn: str, password: str, index: int, barrier: Any,
                   out: Any) -> None:
    from pkisim.ldap import LdapDirectory

    name = f"ca{index + 1}"
    alloc = LdapAllocator(LdapDirectory(url, bind_dn, password), name,
                          configs(name, index * 1_000_000 + 1, 1_000_000, 200_000),
                          records="checkpoint", batch_size=1000, update_every=100_000)
    alloc.start()
    take = alloc.next_serial
    barrier.wait()
    started = time.perf_counter()
    for _ in range(SERIALS):
        take()
    alloc.flush()
    elapsed = time.perf_counter() - started
    alloc.close()
    out.put((name, SERIALS / elapsed))


def serials(server: Slapd) -> dict[str, Any]:
    server.directory().bootstrap(DogtagTree().bootstrap(
        list(configs("master", 1, PROCESSES * 1_000_000, 0).values())))
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(PROCESSES), ctx.Queue()
    procs = [ctx.Process(target=serials_worker, args=(server.url, server.bind_dn,
                                                      server.password, i, barrier, out))
             for i in range(PROCESSES)]
    for proc in procs:
        proc.start()
    rates = dict(sorted(out.get(timeout=600) for _ in procs))
    for proc in procs:
        proc.join()
    return {"processes": PROCESSES, "serials_per_process": SERIALS,
            "serials_per_s_per_process": {k: round(v) for k, v in rates.items()},
            "serials_per_s_total": round(sum(rates.values()))}


def environment() -> dict[str, str]:
    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "unknown")
    done = subprocess.run(["/usr/sbin/slapd", "-VV"], capture_output=True, text=True)
    version = (done.stdout + done.stderr).strip().splitlines()
    return {"cpu_model": model, "slapd": version[0] if version else "unknown"}


def main() -> None:
    before = os.getloadavg()
    fields: dict[str, Any] = {**environment(), "load_average_before": before}
    with Slapd() as server:
        fields["claims"] = claims(server)
    with Slapd() as server:
        fields["serials"] = serials(server)
    fields["load_average_after"] = os.getloadavg()
    ratio = fields["claims"]["ratio_vs_raw_read_cas_add"]
    fields["target"] = f"allocator claims >= {TARGET} x raw read+CAS+add"
    fields["target_met"] = ratio >= TARGET
    print(fields)
    write_results(RESULTS, "bench_ldap", fields)


if __name__ == "__main__":
    main()
