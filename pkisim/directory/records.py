"""How one replica of the memory directory stores its entries.

Two kinds of storage, behind one lookup by DN key (:class:`EntryStore`):

* **Full entries** (:class:`Entry`) keep update-resolution state, as 389-DS
  does: every value carries the CSN stamp of its last add and last delete, and
  every attribute the stamp of its last whole delete/replace, so that replicated
  changes give the same result in any order.
* **Records**: Dogtag stores every issued certificate and request as
  ``cn=<decimal>,<container>``, millions of them, nearly all alike.  A
  :class:`RecordStore` keeps their numbers in an :class:`IntervalSet` (runs of
  consecutive numbers, so a sequential CA appending ``last + 1`` costs O(1) and
  almost no memory, plus a plain set for scattered random serials) and rebuilds
  their attributes on demand from one :data:`Shape` per container.  Records
  that do not fit the shape (a revoked certificate with ``certStatus``, a
  ``pkiRange`` record) are full entries in the store's overlay.

Keys are normalised DNs in lower case; ``dn`` attributes keep the display form.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from heapq import merge
from typing import Any

from pkisim.ids.protocol import ModOp, Result, ResultCode, Values

#: A change sequence number: (time, directory-wide sequence, replica index).
Csn = tuple[float, int, int]
#: A CSN plus the position of one value change inside its operation.
Stamp = tuple[float, int, int, int]
#: The unique id of a record whose CSN was forgotten because it is stable.
ANCIENT: Csn = (-math.inf, 0, -1)
#: One change of a modify, normalised: (op, lower-case attribute, values).
Mods = tuple[tuple[ModOp, str, Values], ...]

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


class IntervalSet:
    """A set of non-negative ints, stored canonically as maximal runs of at
    least two consecutive numbers plus a set of isolated numbers.

    Two IntervalSets holding the same numbers are equal field by field, so
    replicas compare cheaply.  Appending ``max + 1`` to a run is O(1); other
    additions are O(log runs) plus a list insert when a new run starts.
    """

    __slots__ = ("_ends", "_hint", "_single", "_size", "_sorted", "_stale", "_starts")

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._single: set[int] = set()
        self._size = 0
        self._hint = 0  # the run the last addition extended: a CA appends to its own run
        self._sorted: list[int] = []  # sorted view of _single, rebuilt lazily
        self._stale: list[int] | None = []  # singles added since; None = rebuild all

    def __len__(self) -> int:
        return self._size

    def __contains__(self, n: object) -> bool:
        if n in self._single:
            return True
        if not isinstance(n, int):
            return False
        i = bisect_right(self._starts, n) - 1
        return i >= 0 and n <= self._ends[i]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IntervalSet):
            return NotImplemented
        return (self._starts == other._starts and self._ends == other._ends
                and self._single == other._single)

    __hash__ = None  # type: ignore[assignment]

    def __iter__(self) -> Iterator[int]:
        """The numbers in increasing order."""
        runs = (n for s, e in zip(self._starts, self._ends, strict=True) for n in range(s, e + 1))
        return merge(runs, self._sorted_singles())

    def __repr__(self) -> str:
        runs = ", ".join(f"{s}-{e}" for s, e in zip(self._starts, self._ends, strict=True))
        return f"IntervalSet(runs=[{runs}], single={sorted(self._single)})"

    def copy(self) -> IntervalSet:
        other = IntervalSet()
        other._starts, other._ends = self._starts.copy(), self._ends.copy()
        other._single, other._size = self._single.copy(), self._size
        other._stale = None
        return other

    @property
    def runs(self) -> int:
        return len(self._starts)

    def add(self, n: int) -> bool:
        """Add ``n``; ``False`` if it was already there."""
        starts, ends, single = self._starts, self._ends, self._single
        h = self._hint
        if (h < len(ends) and ends[h] == n - 1 and (h + 1 == len(ends) or starts[h + 1] != n + 1)
                and n + 1 not in single):  # a sequential CA appends to its run
            ends[h] = n
            self._size += 1
            return True
        if n in single:
            return False
        i = bisect_right(starts, n) - 1
        if i >= 0 and n <= ends[i]:
            return False
        below = i >= 0 and ends[i] == n - 1
        above = i + 1 < len(starts) and starts[i + 1] == n + 1
        if below and above:  # n joins two runs
            ends[i] = ends[i + 1]
            del starts[i + 1], ends[i + 1]
        elif below:
            ends[i] = n if n + 1 not in single else self._take(n + 1, n)
            self._hint = i
        elif above:
            starts[i + 1] = self._take(n - 1, n)
        else:
            low, high = self._take(n - 1, n), self._take(n + 1, n)
            if low == high:
                single.add(n)
                if self._stale is not None:
                    self._stale.append(n)
            else:
                starts.insert(i + 1, low)
                ends.insert(i + 1, high)
                self._hint = i + 1
        self._size += 1
        return True

    def add_run(self, first: int, last: int) -> None:
        """Add ``first..last``, none of which is in the set yet (the caller
        checked with :meth:`last_in`): O(log runs), the same set as adding
        them one by one."""
        if first == last:
            self.add(first)
            return
        starts, ends, single = self._starts, self._ends, self._single
        i = bisect_right(starts, first)
        low, high = first, last
        if i and ends[i - 1] == first - 1:
            i -= 1
            low = starts[i]
            del starts[i], ends[i]
        elif first - 1 in single:
            low = self._take(first - 1, first)
        if i < len(starts) and starts[i] == last + 1:
            high = ends[i]
            del starts[i], ends[i]
        elif last + 1 in single:
            high = self._take(last + 1, last)
        starts.insert(i, low)
        ends.insert(i, high)
        self._hint = i
        self._size += last - first + 1

    def _take(self, neighbour: int, n: int) -> int:
        """Absorb an isolated ``neighbour`` of ``n`` if there is one."""
        if neighbour in self._single:
            self._single.remove(neighbour)
            self._stale = None
            return neighbour
        return n

    def discard(self, n: int) -> bool:
        """Remove ``n``; ``False`` if it was not there."""
        if n in self._single:
            self._single.remove(n)
            self._stale = None
            self._size -= 1
            return True
        starts, ends = self._starts, self._ends
        i = bisect_right(starts, n) - 1
        if i < 0 or n > ends[i]:
            return False
        low, high = starts[i], ends[i]
        del starts[i], ends[i]
        for a, b in ((n + 1, high), (low, n - 1)):  # insert right piece, then left
            if a == b:
                self._single.add(a)
                if self._stale is not None:
                    self._stale.append(a)
            elif a < b:
                starts.insert(i, a)
                ends.insert(i, b)
        self._size -= 1
        return True

    def _sorted_singles(self) -> list[int]:
        if self._stale is None:
            self._sorted = sorted(self._single)
        elif self._stale:
            self._sorted = sorted(self._sorted + self._stale)  # two sorted runs: linear
        self._stale = []
        return self._sorted

    def last_in(self, begin: int, end: int) -> int | None:
        """The highest number in ``[begin, end]``, or ``None``."""
        best: int | None = None
        i = bisect_right(self._starts, end) - 1
        if i >= 0 and self._ends[i] >= begin:
            best = min(self._ends[i], end)
        if self._single:
            singles = self._sorted_singles()
            j = bisect_right(singles, end) - 1
            if j >= 0 and singles[j] >= begin and (best is None or singles[j] > best):
                best = singles[j]
        return best


# ------------------------------------------------------------ full entries
def _later(a: Stamp | None, b: Stamp) -> Stamp:
    return b if a is None or b > a else a


class Attr:
    """One attribute with update-resolution state: per value ``[display, add
    stamp, delete stamp]``, plus the stamp of the last whole-attribute delete."""

    __slots__ = ("deleted", "values")

    def __init__(self) -> None:
        self.deleted: Stamp | None = None
        self.values: dict[str, list[Any]] = {}

    def add(self, value: str, stamp: Stamp) -> None:
        state = self.values.get(value.lower())
        if state is None:
            self.values[value.lower()] = [value, stamp, None]
        elif state[1] is None or stamp > state[1]:
            state[0], state[1] = value, stamp

    def remove(self, value: str, stamp: Stamp) -> None:
        state = self.values.get(value.lower())
        if state is None:
            self.values[value.lower()] = [value, None, stamp]
        else:
            state[2] = _later(state[2], stamp)

    def present(self) -> Values:
        """The visible values, in the order they were added: a value is there if
        its add is newer than its delete and than the last whole delete."""
        d = self.deleted
        live = [(add, value) for value, add, gone in self.values.values()
                if add is not None and (gone is None or add > gone) and (d is None or add >= d)]
        live.sort()
        return tuple(value for _, value in live)


class Entry:
    """A full entry.  ``uid`` is its add CSN, which is also its unique id."""

    __slots__ = ("attrs", "dn", "uid")

    def __init__(self, dn: str, uid: Csn, attrs: Mapping[str, Values]) -> None:
        self.dn, self.uid = dn, uid
        self.attrs: dict[str, Attr] = {}
        position = 0
        for name, values in attrs.items():
            attr = self.attrs[name] = Attr()
            for value in values:
                attr.add(value, (*uid, position))
                position += 1

    def view(self) -> dict[str, Values]:
        out = {}
        for name, attr in self.attrs.items():
            values = attr.present()
            if values:
                out[name] = values
        return out

    def apply(self, mods: Mods, csn: Csn, single_valued: frozenset[str]) -> None:
        """Apply mods, each value change with its own stamp.  An add to a
        single-valued attribute replaces it, so that the later CSN wins."""
        position = 0
        for op, name, values in mods:
            attr = self.attrs.get(name)
            if attr is None:
                attr = self.attrs[name] = Attr()
            if op is ModOp.DELETE and values:
                for value in values:
                    attr.remove(value, (*csn, position))
                    position += 1
                continue
            if op is not ModOp.ADD or name in single_valued:  # replace, delete, overwrite
                attr.deleted = _later(attr.deleted, (*csn, position))
            for value in values if op is not ModOp.DELETE else ():
                attr.add(value, (*csn, position))
                position += 1
            position += 1


def check_mods(view: Mapping[str, Values], mods: Mods, single_valued: frozenset[str]
               ) -> Result | None:
    """LDAP's modify rules, applied in order to a copy of the entry: ``None``
    if every mod applies, else the error of the first that does not."""
    work: dict[str, list[str]] = {}
    for op, name, values in mods:
        current = work.setdefault(name, list(view.get(name, ())))
        lowered = [v.lower() for v in current]
        if op is ModOp.DELETE and not values:
            if not current:
                return Result(ResultCode.NO_SUCH_ATTRIBUTE, message=f"no attribute {name}")
            current.clear()
        elif op is ModOp.DELETE:
            for value in values:
                if value.lower() not in lowered:
                    return Result(ResultCode.NO_SUCH_ATTRIBUTE,
                                  message=f"{name} has no value {value!r}")
                del current[lowered.index(value.lower())]
                lowered.remove(value.lower())
        elif op is ModOp.ADD:
            if not values:
                return Result(ResultCode.UNWILLING_TO_PERFORM, message=f"add {name}: no values")
            for value in values:
                if value.lower() in lowered:
                    return Result(ResultCode.ATTRIBUTE_OR_VALUE_EXISTS,
                                  message=f"{name} already has value {value!r}")
                current.append(value)
                lowered.append(value.lower())
        else:
            current[:] = dict.fromkeys(values)
        if name in single_valued and len(current) > 1:
            return Result(ResultCode.CONSTRAINT_VIOLATION,
                          message=f"{name} is single-valued: {tuple(current)!r}")
    return None


def matches(view: Mapping[str, Values], match: Sequence[tuple[str, str]]) -> bool:
    """Search's filter: every (attribute, value) equal, case-insensitively; ``*`` = present."""
    for name, wanted in match:
        values = view.get(name)
        if not values:
            return False
        if wanted != "*" and wanted.lower() not in {v.lower() for v in values}:
            return False
    return True


# ------------------------------------------------------------ one replica's storage
class RecordStore:
    """The ``cn=<n>`` children of one container on one replica.

    ``numbers`` holds the compact records, ``overlay`` the full entries of
    records that do not fit the shape, and ``csns`` the add CSNs of compact
    records that replication may still need (for naming conflicts); the
    directory forgets them once they are stable everywhere.
    """

    __slots__ = ("container_dn", "csns", "numbers", "overlay")

    def __init__(self, container_dn: str) -> None:
        self.container_dn = container_dn
        self.numbers = IntervalSet()
        self.overlay: dict[int, Entry] = {}
        self.csns: dict[int, Csn] = {}

    def __len__(self) -> int:
        return len(self.numbers) + len(self.overlay)

    def __contains__(self, n: int) -> bool:
        return n in self.numbers or n in self.overlay

    def uid(self, n: int) -> Csn | None:
        """The unique id of record ``n``, ``None`` if there is none."""
        entry = self.overlay.get(n)
        if entry is not None:
            return entry.uid
        return self.csns.get(n, ANCIENT) if n in self.numbers else None

    def all_numbers(self) -> list[int]:
        """Every record number, compact or not, sorted."""
        if not self.overlay:
            return list(self.numbers)
        return list(merge(self.numbers, sorted(self.overlay)))

    def last_in(self, begin: int, end: int) -> int | None:
        best = self.numbers.last_in(begin, end)
        for n in self.overlay:
            if begin <= n <= end and (best is None or n > best):
                best = n
        return best


class EntryStore:
    """Every entry of one replica: ordinary entries by key, records by container.

    ``shapes`` (container key -> :data:`Shape`) is shared by all replicas, so a
    record is compact on one replica exactly when it is compact on the others.
    """

    __slots__ = ("entries", "shapes", "stores", "uids")

    def __init__(self, shapes: dict[str, Shape]) -> None:
        self.entries: dict[str, Entry] = {}  # every entry that is not a record
        self.stores: dict[str, RecordStore] = {}  # records, by container key
        self.uids: dict[Csn, str] = {}  # unique id -> key, of every full entry
        self.shapes = shapes

    def split(self, key: str) -> tuple[RecordStore | None, int]:
        """The store and number of a record key (store ``None`` if there is none)."""
        rdn, _, parent = key.partition(",")
        n = record_number(rdn)
        return (None, 0) if n is None else (self.stores.get(parent), n)

    def uid_at(self, key: str) -> Csn | None:
        """The unique id of the entry at ``key``, ``None`` if there is none."""
        entry = self.entries.get(key)
        if entry is not None:
            return entry.uid
        store, n = self.split(key)
        return None if store is None else store.uid(n)

    def view_at(self, key: str) -> tuple[str, dict[str, Values]] | None:
        """(display DN, attributes) of the entry at ``key``."""
        entry = self.entries.get(key)
        if entry is None:
            store, n = self.split(key)
            if store is None:
                return None
            if n in store.numbers:
                shape = self.shapes[key.partition(",")[2]]
                return f"cn={n},{store.container_dn}", shape_attrs(shape, n)
            entry = store.overlay.get(n)
            if entry is None:
                return None
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
            self.store(parent, entry.dn.partition(",")[2]).overlay[n] = entry
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
        if n not in store.overlay:
            self.put(key, self.evict(key))
        return store.overlay[n]

    def evict(self, key: str) -> Entry:
        """Take the entry at ``key`` out of the tree (a compact record is rebuilt)."""
        entry = self.entries.pop(key, None)
        if entry is None:
            store, n = self.split(key)
            assert store is not None
            entry = store.overlay.pop(n, None)
            if entry is None:
                store.numbers.discard(n)
                uid = store.csns.pop(n, ANCIENT)
                entry = self.record_entry(store, key.partition(",")[2], n, uid)
        self.uids.pop(entry.uid, None)
        return entry

    def remove(self, key: str) -> Csn:
        """Delete the entry at ``key``; returns its unique id."""
        store, n = self.split(key)
        if store is not None and n in store.numbers:
            store.numbers.discard(n)
            uid = store.csns.pop(n, ANCIENT)
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
            if base is None or key == base or key.endswith(suffix):
                view = entry.view()
                if matches(view, match):
                    out.append((key, entry.dn, view))
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
        for n, entry in store.overlay.items():
            view = entry.view()
            if matches(view, match):
                yield f"cn={n},{parent}", entry.dn, view
        shape = self.shapes.get(parent)
        possible, only = shape_match(shape, match) if shape is not None else (False, None)
        if possible:
            numbers: Iterable[int] = store.numbers
            if only is not None:
                numbers = (only,) if only in store.numbers else ()
            for n in numbers:
                yield f"cn={n},{parent}", f"cn={n},{store.container_dn}", shape_attrs(shape, n)

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Everything a client could observe, in a canonical form for comparing
        replicas: an overlay record that looks exactly like its shape counts as
        compact (one replica may hold it in the overlay, another compactly)."""
        entries = {key: entry.view() for key, entry in self.entries.items()}
        records = {}
        for key, store in self.stores.items():
            shape, numbers, extra = self.shapes.get(key), store.numbers, {}
            for n, entry in store.overlay.items():
                view = entry.view()
                if shape is not None and view == shape_attrs(shape, n):
                    numbers = numbers.copy() if numbers is store.numbers else numbers
                    numbers.add(n)
                else:
                    extra[n] = view
            if len(numbers) or extra:
                records[key] = (numbers, extra)
        return entries, records

    def conflicts_for(self, key: str) -> list[Entry]:
        """The naming-conflict entries of the DN ``key``."""
        suffix = "+" + key
        return [entry for k, entry in self.entries.items()
                if k.startswith("nsuniqueid=") and k.endswith(suffix)]
