"""How one replica of the memory directory stores its entries.

Two kinds of storage, behind one lookup by DN key (:class:`EntryStore`):

* **Full entries** (:class:`~pkisim.directory.entries.Entry`) keep
  update-resolution state, as 389-DS does.
* **Records**: Dogtag stores every issued certificate and request as
  ``cn=<decimal>,<container>``, millions of them, nearly all alike.  A
  :class:`RecordStore` keeps the numbers of all of them in an
  :class:`~pkisim.directory.intervals.IntervalSet` (runs of consecutive
  numbers, so a sequential CA appending ``last + 1`` costs O(1) and almost no
  memory, plus a plain set for scattered random serials) and rebuilds their
  attributes on demand from one :data:`Shape` per container.  Records that do
  not fit the shape (a revoked certificate with ``certStatus``, a ``pkiRange``
  record) are also full entries, in the store's overlay.

A compact record's unique id is its add CSN, remembered only while a naming
conflict may still need it (:meth:`RecordStore.uid`).

Keys are normalised DNs in lower case; ``dn`` attributes keep the display form.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right, insort
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from operator import itemgetter
from typing import Any, Protocol

from pkisim.directory.entries import Csn, Entry, matches
from pkisim.directory.intervals import IntervalSet
from pkisim.ids.protocol import Values

#: The unique id of a record that is stable: on every replica, older than
#: every change still in flight, so no naming conflict can tell it from
#: another stable one.
ANCIENT: Csn = (-math.inf, 0, -1)

_SPACES = re.compile(r"\s*,\s*")


def dn_key(dn: str) -> tuple[str, str]:
    """``(key, display)``: spaces around commas stripped; the key is lower case."""
    if " " in dn:
        dn = _SPACES.sub(",", dn.strip())
    return dn.lower(), dn


# ------------------------------------------------------------ compact records
#: How to rebuild a compact record: (attribute, values) in order, where values
#: ``None`` means "derived from the number" (``cn`` and ``serialno``).
Shape = tuple[tuple[str, Values | None], ...]

_DERIVED = frozenset({"cn", "serialno"})


def serialno(n: int) -> str:
    """Dogtag's ``serialno`` encoding (``BigIntegerMapper``): 2-digit length, then digits."""
    digits = str(n)
    return f"{len(digits):02d}{digits}"


def _derived(name: str, n: int) -> str:
    return str(n) if name == "cn" else serialno(n)


def record_number(rdn: str) -> int | None:
    """The number of a normalised, lower-case RDN ``cn=<decimal>``, else ``None``.

    Only canonical decimals count (``cn=013`` is an ordinary entry).
    """
    if not rdn.startswith("cn="):
        return None
    digits = rdn[3:]
    if not (digits.isascii() and digits.isdigit()) or (digits[0] == "0" and len(digits) > 1):
        return None
    return int(digits)


def shape_of(n: int, attrs: Mapping[str, Any]) -> Shape | None:
    """The shape of a record with normalised ``attrs``, or ``None`` if it has
    attributes a shape cannot express (anything but objectClass, cn, serialno)."""
    out: list[tuple[str, Values | None]] = []
    for name, values in attrs.items():
        if name in _DERIVED:
            if tuple(values) != (_derived(name, n),):
                return None
            out.append((name, None))
        elif name == "objectclass":
            out.append((name, tuple(values)))
        else:
            return None
    return tuple(out)


def fits(shape: Shape, n: int, attrs: Mapping[str, Any]) -> bool:
    """Does a record with these attributes look exactly like ``shape`` says?
    A missing ``cn`` is implied by the RDN (the server adds it)."""
    implied = 0
    for name, values in shape:
        got = attrs.get(name)
        if got is None:
            if name != "cn":
                return False
            implied = 1
        elif values is None:
            if got != (_derived(name, n),):
                return False
        elif got != values:
            return False
    return len(attrs) + implied == len(shape)


def shape_attrs(shape: Shape, n: int) -> dict[str, Values]:
    """The attributes of compact record ``n``."""
    return {name: (_derived(name, n),) if values is None else values for name, values in shape}


def shape_match(shape: Shape, match: Sequence[tuple[str, str]]) -> tuple[bool, int | None]:
    """Evaluate a Search filter against every compact record of a container at once.

    Returns ``(False, None)`` if no compact record can match, ``(True, n)`` if
    only record ``n`` can (the filter names ``cn`` or ``serialno``), and
    ``(True, None)`` if every compact record matches.
    """
    attrs = dict(shape)
    only: int | None = None
    for name, wanted in match:
        if name not in attrs:
            return False, None
        values = attrs[name]
        if wanted == "*":
            continue
        if values is not None:
            if wanted.lower() not in {v.lower() for v in values}:
                return False, None
            continue
        text = wanted if name == "cn" else wanted[2:]
        number = record_number(f"cn={text}")
        if number is None or _derived(name, number) != wanted or only not in (None, number):
            return False, None
        only = number
    return True, only


# ------------------------------------------------------------ one replica's storage
class CsnSource(Protocol):
    """The add CSNs of a run of records, by rank (0 for the run's first number)."""

    def csn(self, rank: int) -> Csn: ...

    def rank_from(self, seq: int) -> int:
        """The first rank whose CSN's sequence number is >= ``seq``."""
        ...


#: The add CSNs of compact records ``lo..hi``: ``source.csn(rank0 + n - lo)``.
CsnRun = tuple[int, int, CsnSource, int]
_LO = itemgetter(0)


class RecordStore:
    """The ``cn=<n>`` children of one container on one replica.

    ``numbers`` holds every record number; ``overlay`` the full entries among
    them (records that do not fit the shape), the others are compact.  The add
    CSNs of compact records are kept in ``csns`` (added one by one) and
    ``csn_runs`` (added as runs, sorted by first number) until they are stable.
    """

    __slots__ = ("container_dn", "csn_runs", "csns", "numbers", "overlay")

    def __init__(self, container_dn: str) -> None:
        self.container_dn = container_dn
        self.numbers = IntervalSet()
        self.overlay: dict[int, Entry] = {}
        self.csns: dict[int, Csn] = {}
        self.csn_runs: list[CsnRun] = []

    def __len__(self) -> int:
        return len(self.numbers)

    def __contains__(self, n: int) -> bool:
        return n in self.numbers

    def csn(self, n: int) -> Csn:
        """The add CSN remembered for compact record ``n``, else ``ANCIENT``."""
        found = self.csns.get(n)
        if found is not None:
            return found
        runs = self.csn_runs
        if runs:
            i = bisect_right(runs, n, key=_LO) - 1
            if i >= 0:
                lo, hi, source, rank0 = runs[i]
                if n <= hi:
                    return source.csn(rank0 + n - lo)
        return ANCIENT

    def uid(self, n: int, floor: Callable[[Csn], Csn]) -> Csn | None:
        """The unique id of record ``n`` (``None`` if there is none): a compact
        record's add CSN, or ``ANCIENT`` once that is below ``floor(csn)`` (every
        change still to be applied anywhere is at or above it).  So whether a
        stable CSN was already forgotten never shows."""
        entry = self.overlay.get(n)
        if entry is not None:
            return entry.uid
        if n not in self.numbers:
            return None
        csn = self.csn(n)
        return csn if csn == ANCIENT or csn >= floor(csn) else ANCIENT

    def forget(self, n: int) -> Csn:
        """Stop remembering compact record ``n``'s CSN; returns it (or ``ANCIENT``)."""
        found = self.csns.pop(n, None)
        if found is not None:
            return found
        runs = self.csn_runs
        i = bisect_right(runs, n, key=_LO) - 1 if runs else -1
        if i < 0 or n > runs[i][1]:
            return ANCIENT
        lo, hi, source, rank0 = runs[i]
        pieces = [(a, b, source, rank0 + a - lo) for a, b in ((lo, n - 1), (n + 1, hi)) if a <= b]
        runs[i:i + 1] = pieces
        return source.csn(rank0 + n - lo)

    def take(self, n: int, floor: Callable[[Csn], Csn]) -> Csn:
        """Forget compact record ``n``'s CSN; its unique id as :meth:`uid` gives it."""
        csn = self.forget(n)
        return csn if csn == ANCIENT or csn >= floor(csn) else ANCIENT

    def add_compact(self, first: int, last: int, source: CsnSource | None, rank0: int) -> None:
        """Add compact records ``first..last``, none of which is here yet; their
        CSNs are ``source``'s from ``rank0`` on (``None``: not remembered)."""
        self.numbers.add_run(first, last)
        if source is not None:
            insort(self.csn_runs, (first, last, source, rank0), key=_LO)

    def purge(self, floor: Csn) -> int:
        """Forget the CSNs below ``floor``; how many are still remembered."""
        if self.csns:
            self.csns = {n: c for n, c in self.csns.items() if c >= floor}
        kept = len(self.csns)
        if self.csn_runs:
            runs = []
            for lo, hi, source, rank0 in self.csn_runs:
                skip = source.rank_from(floor[1]) - rank0
                if skip <= hi - lo:
                    skip = max(0, skip)
                    runs.append((lo + skip, hi, source, rank0 + skip))
                    kept += hi - lo - skip + 1
            self.csn_runs = runs
        return kept

    def last_in(self, begin: int, end: int) -> int | None:
        return self.numbers.last_in(begin, end)


class EntryStore:
    """Every entry of one replica: ordinary entries by key, records by container.

    ``shapes`` (container key -> :data:`Shape`) is shared by all replicas, so a
    record is compact on one replica exactly when it is compact on the others.
    ``floor`` is the directory's stable CSN (see :meth:`RecordStore.uid`).
    """

    __slots__ = ("entries", "floor", "shapes", "stores", "uids")

    def __init__(self, shapes: dict[str, Shape], floor: Callable[[Csn], Csn]) -> None:
        self.entries: dict[str, Entry] = {}  # every entry that is not a record
        self.stores: dict[str, RecordStore] = {}  # records, by container key
        self.uids: dict[Csn, str] = {}  # unique id -> key, of every full entry
        self.shapes = shapes
        self.floor = floor

    def split(self, key: str) -> tuple[RecordStore | None, int]:
        """The store and number of a record key (store ``None`` if there is none)."""
        rdn, _, parent = key.partition(",")
        n = record_number(rdn)
        return (None, 0) if n is None else (self.stores.get(parent), n)

    def has(self, key: str) -> bool:
        if key in self.entries:
            return True
        store, n = self.split(key)
        return store is not None and n in store.numbers

    def uid_at(self, key: str) -> Csn | None:
        """The unique id of the entry at ``key``, ``None`` if there is none."""
        entry = self.entries.get(key)
        if entry is not None:
            return entry.uid
        store, n = self.split(key)
        return None if store is None else store.uid(n, self.floor)

    def values_at(self, key: str, name: str) -> Values | None:
        """The values of attribute ``name`` (lower case) of the entry at
        ``key``: ``()`` if it has none, ``None`` if there is no entry (what
        :meth:`view_at` would show of it, without building the whole view)."""
        entry = self.entries.get(key)
        if entry is None:
            store, n = self.split(key)
            if store is None or n not in store.numbers or n not in store.overlay:
                found = self.view_at(key)
                return None if found is None else found[1].get(name, ())
            entry = store.overlay[n]
        attr = entry.attrs.get(name)
        return () if attr is None else attr.present()

    def view_at(self, key: str) -> tuple[str, dict[str, Values]] | None:
        """(display DN, attributes) of the entry at ``key``."""
        entry = self.entries.get(key)
        if entry is None:
            store, n = self.split(key)
            if store is None or n not in store.numbers:
                return None
            entry = store.overlay.get(n)
            if entry is None:
                shape = self.shapes[key.partition(",")[2]]
                return f"cn={n},{store.container_dn}", shape_attrs(shape, n)
        return entry.dn, entry.view()

    def store(self, parent: str, container_dn: str) -> RecordStore:
        store = self.stores.get(parent)
        if store is None:
            store = self.stores[parent] = RecordStore(container_dn)
        return store

    def put(self, key: str, entry: Entry) -> None:
        """Store a full entry at ``key`` (a record goes to its container's overlay)."""
        rdn, _, parent = key.partition(",")
        n = record_number(rdn)
        if n is None:
            self.entries[key] = entry
        else:
            store = self.store(parent, entry.dn.partition(",")[2])
            store.numbers.add(n)
            store.overlay[n] = entry
        if entry.uid != ANCIENT:
            self.uids[entry.uid] = key

    def record_entry(self, store: RecordStore, parent: str, n: int, uid: Csn) -> Entry:
        """Compact record ``n`` as a full entry."""
        return Entry(f"cn={n},{store.container_dn}", uid, shape_attrs(self.shapes[parent], n))

    def full(self, key: str) -> Entry:
        """The full entry at ``key``; a compact record moves to the overlay first."""
        entry = self.entries.get(key)
        if entry is not None:
            return entry
        store, n = self.split(key)
        assert store is not None
        entry = store.overlay.get(n)
        if entry is None:  # a compact record, rebuilt in the overlay (as put(evict(key)))
            uid = store.take(n, self.floor)
            entry = store.overlay[n] = self.record_entry(store, key.partition(",")[2], n, uid)
            if uid != ANCIENT:
                self.uids[uid] = key
        return entry

    def evict(self, key: str) -> Entry:
        """Take the entry at ``key`` out of the tree (a compact record is rebuilt)."""
        entry = self.entries.pop(key, None)
        if entry is None:
            store, n = self.split(key)
            assert store is not None
            store.numbers.discard(n)
            entry = store.overlay.pop(n, None)
            if entry is None:
                uid = store.take(n, self.floor)
                entry = self.record_entry(store, key.partition(",")[2], n, uid)
        self.uids.pop(entry.uid, None)
        return entry

    def remove(self, key: str) -> Csn:
        """Delete the entry at ``key``; returns its unique id."""
        store, n = self.split(key)
        if store is not None and n in store.numbers and n not in store.overlay:
            store.numbers.discard(n)
            uid = store.take(n, self.floor)
        else:
            uid = self.evict(key).uid
        if key in self.stores and not self.stores[key]:
            del self.stores[key]
        return uid

    def has_children(self, key: str) -> bool:
        if key in self.stores and len(self.stores[key]):
            return True
        suffix = "," + key
        return any(k.endswith(suffix) for k in self.entries)

    def collect(self, base: str | None, match: Sequence[tuple[str, str]] = ()
                ) -> list[tuple[str, str, dict[str, Values]]]:
        """(key, dn, attributes) of the entries at or below ``base`` that match, by key."""
        suffix = "" if base is None else "," + base
        out = []
        for key, entry in self.entries.items():
            if (base is None or key == base or key.endswith(suffix)) and entry.matches(match):
                out.append((key, entry.dn, entry.view()))
        if base is not None and self.split(base)[0] is not None:
            found = self.view_at(base)  # the base is a record
            if found is not None and matches(found[1], match):
                out.append((base, *found))
        for parent, store in self.stores.items():
            if base is None or parent == base or parent.endswith(suffix):
                out.extend(self._collect_records(parent, store, match))
        out.sort(key=lambda item: item[0])
        return out

    def _collect_records(self, parent: str, store: RecordStore,
                         match: Sequence[tuple[str, str]]) -> Iterator[tuple[str, str, Any]]:
        overlay = store.overlay
        for n, entry in overlay.items():
            if entry.matches(match):
                yield f"cn={n},{parent}", entry.dn, entry.view()
        shape = self.shapes.get(parent)
        possible, only = shape_match(shape, match) if shape is not None else (False, None)
        if possible:
            numbers: Iterable[int] = store.numbers
            if only is not None:
                numbers = (only,) if only in store.numbers else ()
            for n in numbers:
                if n not in overlay:
                    yield f"cn={n},{parent}", f"cn={n},{store.container_dn}", shape_attrs(shape, n)

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Everything a client could observe, in a canonical form for comparing
        replicas: every record number, and the views of the records that do not
        look exactly like their shape (one replica may hold a record in the
        overlay, another compactly)."""
        entries = {key: entry.view() for key, entry in self.entries.items()}
        records = {}
        for key, store in self.stores.items():
            shape, extra = self.shapes.get(key), {}
            for n, entry in store.overlay.items():
                view = entry.view()
                if shape is None or view != shape_attrs(shape, n):
                    extra[n] = view
            if len(store.numbers):
                records[key] = (store.numbers, extra)
        return entries, records

    def conflicts_for(self, key: str) -> list[Entry]:
        """The naming-conflict entries of the DN ``key``."""
        suffix = "+" + key
        return [entry for k, entry in self.entries.items()
                if k.startswith("nsuniqueid=") and k.endswith(suffix)]


__all__ = ["ANCIENT", "CsnRun", "CsnSource", "EntryStore", "RecordStore", "Shape", "dn_key", "fits",
           "record_number", "serialno", "shape_attrs", "shape_match", "shape_of"]
