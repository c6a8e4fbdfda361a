"""The four deployments the audit tests read: each writes an LDIF export and
the CS.cfg files of its CAs into a folder and returns their paths."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from builders import DAY, END, Export, cs_cfg, issue_times

from pkisim.ids.config import IdKind, IdSpaceConfig

CA1, CA2, CA3 = "ca1.example.com", "ca2.example.com", "ca3.example.com"


@dataclass(frozen=True)
class Written:
    ldif: Path
    cs_cfg: tuple[Path, ...]

    def args(self) -> list[str]:
        out = ["--ldif", str(self.ldif)]
        for path in self.cs_cfg:
            out += ["--cs-cfg", str(path)]
        return out


def _spaces(strategy: str, host: str, cert: dict[str, int], request: dict[str, int],
            replica: dict[str, int], **common: object) -> dict[IdKind, IdSpaceConfig]:
    rstrategy = "legacy2" if strategy == "legacy2" else "legacy"
    return {kind: IdSpaceConfig(kind=kind, strategy=s, host=host, **values, **common)
            for kind, s, values in ((IdKind.CERT, strategy, cert),
                                    (IdKind.REQUEST, strategy, request),
                                    (IdKind.REPLICA, rstrategy, replica))}


def _r(begin: int, end: int, inc: int, lwm: int, transfer: int, nxt: tuple[int, int] | None = None,
       ) -> dict[str, int]:
    out = dict(begin=begin, end=end, increment=inc, low_water_mark=lwm,
               clone_transfer_number=transfer)
    if nxt is not None:
        out.update(next_begin=nxt[0], next_end=nxt[1])
    return out


def _issue(export: Export, rng: random.Random, certs: list[int], requests: list[int],
           days: float, burst: int = 0) -> None:
    times = issue_times(rng, len(certs) - burst, days, burst=burst)
    for serial, request, at in zip(certs, requests, times, strict=True):
        export.request(request, at - 1)
        export.cert(serial, at)


def clean(folder: Path) -> Written:
    """legacy2: master ca1 and clone ca2 (a transferred slice, then a claimed next range)."""
    inc, req_inc = 0x100000, 1000000
    tree = Export().tree
    export = Export()
    export.skeleton({tree.counter_dn(IdKind.CERT, "legacy2"): [2 * inc + 1],
                     tree.counter_dn(IdKind.REQUEST, "legacy2"): [2 * req_inc + 1],
                     tree.counter_dn(IdKind.REPLICA, "legacy2"): [1000]})
    export.range_record(IdKind.CERT, "legacy2", inc + 1, 2 * inc, CA2)
    export.range_record(IdKind.REQUEST, "legacy2", req_inc + 1, 2 * req_inc, CA2)
    rng = random.Random(1)
    _issue(export, rng, list(range(1, 169)), list(range(1, 169)), 14)
    _issue(export, rng, list(range(0xFF001, 0xFF001 + 98)), list(range(990001, 990099)), 14)
    ca1 = _spaces("legacy2", CA1, _r(1, 0xFF000, inc, 0x20000, 0x1000),
                  _r(1, 990000, req_inc, 200000, 10000), _r(1, 95, 100, 20, 5))
    ca2 = _spaces("legacy2", CA2, _r(0xFF001, inc, inc, 0x20000, 0x1000, (inc + 1, 2 * inc)),
                  _r(990001, req_inc, req_inc, 200000, 10000, (req_inc + 1, 2 * req_inc)),
                  _r(96, 100, 100, 20, 5))
    return _write(folder, export, [(CA1, ca1, False), (CA2, ca2, True)])


def race(folder: Path) -> Written:
    """legacy2: clones ca2 and ca3 installed at once on two replicas; both claimed
    from nextRange 1048577 (ca3 with a smaller serialIncrement), switched into it
    and issued the same serials; 389-DS kept ca3's range and serial records as
    conflict entries and nextRange holds both new values."""
    inc, small, req_inc = 0x100000, 0x80000, 1000000
    tree = Export().tree
    export = Export()
    export.skeleton({tree.counter_dn(IdKind.CERT, "legacy2"): [inc + 1 + small, 2 * inc + 1],
                     tree.counter_dn(IdKind.REQUEST, "legacy2"): [2 * req_inc + 1],
                     tree.counter_dn(IdKind.REPLICA, "legacy2"): [1000]})
    export.range_record(IdKind.CERT, "legacy2", inc + 1, 2 * inc, CA2)
    export.range_record(IdKind.CERT, "legacy2", inc + 1, inc + small, CA3,
                        conflict="3f0c2a01-8e4b11f0-9d1ee5a7-55aa0b31")
    export.range_record(IdKind.REQUEST, "legacy2", req_inc + 1, 2 * req_inc, CA2)
    rng = random.Random(2)
    _issue(export, rng, list(range(1, 401)), list(range(1, 401)), 14)
    _issue(export, rng, list(range(0xFFF01, 0x100001)) + list(range(inc + 1, inc + 41)),
           list(range(999001, 999001 + 256 + 40)), 30)
    _issue(export, rng, list(range(0xFFE01, 0xFFF01)), list(range(998001, 998001 + 256)), 30)
    for serial in range(inc + 1, inc + 21):  # ca3's copies of the same serials
        export.cert(serial, END - rng.uniform(0, DAY),
                    conflict=f"{serial:08x}-8e4b11f0-9d1ee5a7-55aa0b31")
    ca1 = _spaces("legacy2", CA1, _r(1, 0xFFE00, inc, 0x20000, 0x100),
                  _r(1, 998000, req_inc, 200000, 1000), _r(1, 90, 100, 20, 5))
    ca2 = _spaces("legacy2", CA2, _r(inc + 1, 2 * inc, inc, 0x20000, 0x100),
                  _r(999001, req_inc, req_inc, 200000, 1000, (req_inc + 1, 2 * req_inc)),
                  _r(96, 100, 100, 20, 5))
    ca3 = _spaces("legacy2", CA3, _r(inc + 1, inc + small, small, 0x20000, 0x100),
                  _r(998001, 999000, req_inc, 200000, 1000), _r(91, 95, 100, 20, 5))
    return _write(folder, export, [(CA1, ca1, False), (CA2, ca2, True), (CA3, ca3, True)])


def exhaustion(folder: Path) -> Written:
    """legacy2: one master with serial management on and a small range: 1,850 of
    2,048 serials used, 450 of them in one busy hour a day ago."""
    tree = Export().tree
    export = Export()
    export.skeleton({tree.counter_dn(IdKind.CERT, "legacy2"): [0x801],
                     tree.counter_dn(IdKind.REQUEST, "legacy2"): [10001],
                     tree.counter_dn(IdKind.REPLICA, "legacy2"): [1000]})
    rng = random.Random(3)
    _issue(export, rng, list(range(1, 1851)), list(range(1, 1851)), 20, burst=450)
    ca1 = _spaces("legacy2", CA1, _r(1, 0x800, 0x800, 0x40, 0x10),
                  _r(1, 10000, 10000, 2000, 1000), _r(1, 100, 100, 20, 5),
                  serial_management=True)
    return _write(folder, export, [(CA1, ca1, False)])


def ssnv1(folder: Path) -> Written:
    """legacy (SSNv1): ca2's claim (nextRange 10001 -> 0x10001) and then ca1's
    (75537 -> 0x75537) leave the serials between them unusable."""
    inc, req_inc = 0x10000, 10000000
    tree = Export().tree
    export = Export()
    export.skeleton({tree.counter_dn(IdKind.CERT, "legacy"): [75537 + inc],
                     tree.counter_dn(IdKind.REQUEST, "legacy"): [2 * req_inc + 1],
                     tree.counter_dn(IdKind.REPLICA, "legacy"): [1000]})
    export.range_record(IdKind.CERT, "legacy", 10001, 10000 + inc, CA2)
    export.range_record(IdKind.CERT, "legacy", 75537, 75536 + inc, CA1)
    export.range_record(IdKind.REQUEST, "legacy", req_inc + 1, 2 * req_inc, CA2)
    rng = random.Random(4)
    _issue(export, rng, list(range(1, 301)), list(range(1, 301)), 14)
    _issue(export, rng, list(range(0xF001, 0xF001 + 200)), list(range(9990001, 9990201)), 14)
    ca1 = _spaces("legacy", CA1, _r(1, 0xF000, inc, 0x2000, 0x1000, (0x75537, 0x85536)),
                  _r(1, 9990000, req_inc, 2000000, 10000), _r(1, 95, 100, 20, 5))
    ca2 = _spaces("legacy", CA2, _r(0xF001, 0x10000, inc, 0x2000, 0x1000, (0x10001, 0x20000)),
                  _r(9990001, req_inc, req_inc, 2000000, 10000, (req_inc + 1, 2 * req_inc)),
                  _r(96, 100, 100, 20, 5))
    return _write(folder, export, [(CA1, ca1, False), (CA2, ca2, True)])


def _write(folder: Path, export: Export,
           cas: list[tuple[str, dict[IdKind, IdSpaceConfig], bool]]) -> Written:
    folder.mkdir(parents=True, exist_ok=True)
    ldif = folder / "o=pki-tomcat.ldif"
    ldif.write_text(export.text())
    paths = tuple(cs_cfg(folder / f"{host.split('.')[0]}-CS.cfg", host, spaces, clone=clone)
                  for host, spaces, clone in cas)
    return Written(ldif, paths)


BUILDERS = {"clean": clean, "race": race, "exhaustion": exhaustion, "ssnv1": ssnv1}
