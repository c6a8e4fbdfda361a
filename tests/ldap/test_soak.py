"""The soak on a real slapd: two CA processes SIGKILLed and restarted, slapd
SIGKILLed and restarted; no serial twice and every number below nextRange
issued, wasted or lost with a cause.  Then the same account on planted faults
(a serial journaled twice, a number nobody can explain) must fail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pkisim.errors import ConfigError
from pkisim.ids import protocol as p
from pkisim.ids.config import IdKind
from pkisim.ldap.soak import SoakPlan, Target, account, journal_path, run_soak
from pkisim.testing.servers.slapd import Slapd

pytestmark = pytest.mark.ldap

# seed 6: allocator kills 0.4, 0.8 and 1.1 s apart (of CAs that have journaled since
# their start), the first server kill 1.3 s in: all while the CAs issue
PLAN = SoakPlan(processes=2, serials=20_000, kill_every=0.5, kill_server_every=1.5, seed=6,
                increment=2000, low_water_mark=800, downtime=(0.2, 0.5), time_limit=50,
                max_kills=4, max_server_kills=2)


class Control:
    def __init__(self, server: Slapd) -> None:
        self.server = server

    def kill(self) -> None:
        self.server.kill()

    def start(self) -> None:
        self.server.start()


def test_soak_with_kills_is_clean_and_planted_faults_are_caught(
        slapd: Slapd, tmp_path: Path) -> None:
    target = Target(slapd.url, slapd.bind_dn, slapd.password)
    assert slapd.password not in repr(target)
    log, verdict = run_soak(target, PLAN, tmp_path, server=Control(slapd))
    assert log.complete and not log.crashes, log
    assert log.allocator_kills >= 3 and log.server_kills >= 1, log
    assert verdict["violations"] == [], verdict
    assert verdict["duplicates"] == 0 and verdict["checker_valid"]
    assert verdict["per_ca"] == {"ca1": 20_000, "ca2": 20_000}
    assert verdict["issued"] == 40_000
    assert verdict["unaccounted"] == 0
    # every number below nextRange: issued, or wasted/lost with a cause
    assert verdict["issued"] + sum(verdict["accounted"].values()) \
        == verdict["numbers_below_next_range"]
    assert verdict["accounted"].get("wasted: range tail still held at the end", 0) > 0
    for path in tmp_path.iterdir():  # the password is in no file the soak wrote
        assert slapd.password not in path.read_text(errors="replace"), path

    names = ["ca1", "ca2"]
    journal = journal_path(tmp_path, "ca1")
    lines = journal.read_text().splitlines()
    issued = [json.loads(x) for x in lines if '"runs"' in x and '"ok":true' in x]
    a, b = issued[-1]["runs"][-1]
    # ca2 claims ca1's last batch too: a duplicate the checker and the count see
    other = journal_path(tmp_path, "ca2")
    with other.open("a") as out:
        out.write(json.dumps({**issued[-1], "ca": "ca2"}) + "\n")
    with slapd.directory() as directory:
        bad = account(directory, tmp_path, names, PLAN)
    assert bad["duplicates"] == b - a + 1 and not bad["checker_valid"]
    assert any("issued twice" in v for v in bad["violations"])
    # a journaled batch that vanishes, its checkpoint record too: no cause left
    other.write_text(other.read_text().rsplit("\n", 2)[0] + "\n")
    first = json.dumps(issued[0], separators=(",", ":"))
    journal.write_text("\n".join(x for x in lines if x != first) + "\n")
    (a, b), = issued[0]["runs"]
    with slapd.directory() as directory:
        assert directory.execute(p.Delete(directory.tree.record_dn(IdKind.CERT, b))).ok
        bad = account(directory, tmp_path, names, PLAN)
    assert bad["duplicates"] == 0
    assert bad["unaccounted"] == b - a + 1, bad
    assert any(v.startswith(f"{b - a + 1:,} serials unaccounted") for v in bad["violations"])


def test_a_used_tree_is_refused(slapd: Slapd, tmp_path: Path) -> None:
    target = Target(slapd.url, slapd.bind_dn, slapd.password)
    plan = SoakPlan(processes=1, serials=10, increment=100, low_water_mark=40)
    _, verdict = run_soak(target, plan, tmp_path / "one")
    assert verdict["violations"] == [] and verdict["issued"] == 10
    with pytest.raises(ConfigError, match=r"holds a used tree .* needs a fresh one"):
        run_soak(target, plan, tmp_path / "two")
