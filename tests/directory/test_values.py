"""``ReplicatedDirectory.values``: one attribute of one entry, as ``entry``
shows it, for full entries, compact records, revoked (overlay) records,
conflict entries and missing DNs, after random scripts of writes and faults."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.directory.scripts import play, steps, topology, world
from tests.directory.test_memory import COUNTER, RECORDS

NAMES = ("objectclass", "cn", "nextrange", "certstatus", "nsds5replconflict", "ou", "missing")


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_values_is_what_entry_shows(data):
    names, lag = data.draw(topology())
    directory = world(names, lag)
    now = 0.0
    for _ in range(data.draw(st.integers(1, 25))):
        now = play(directory, data.draw(steps(names, windows=False)), now + 0.3)
    for replica in names:
        dns = [dn for dn, _ in directory.entries(replica)]
        dns += [COUNTER, f"cn=999999,{RECORDS}", f"cn=12,{RECORDS}", "ou=nowhere,o=t"]
        for dn in dns:
            entry = directory.entry(replica, dn)
            for name in NAMES:
                expected = None if entry is None else entry.get(name, ())
                assert directory.values(replica, dn, name.upper()) == expected, (dn, name)
