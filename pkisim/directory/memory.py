"""The embedded directory: an in-memory model of replicated 389-DS servers.

:class:`ReplicatedDirectory` holds one copy of the tree per replica
(:mod:`pkisim.directory.records` stores it) and a one-way replication link
between every pair (:mod:`pkisim.directory.replication`).  It is sans-IO and
deterministic: time is the ``now`` argument of each call, and lag is
configuration.

How it behaves (measured on real servers, ``ldap-servers.md``):

* A command runs on the CA's own replica at once and atomically.  A modify that
  deletes an absent value fails whole with noSuchAttribute, which is what makes
  Dogtag's delete-old/add-new of ``nextRange`` a compare-and-swap.  An add gets
  its RDN's value as an attribute, as 389-DS does; values compare without case.
* Every successful write gets a CSN ``(time, sequence, replica index)`` and is
  queued on each outgoing link, ready at ``now + lag`` (FIFO per link).  The
  sequence is directory-wide, so CSN order is the order of the writes in
  simulated time (389-DS with synchronised clocks); it comes before the replica
  index so that a write is always newer than everything its replica has seen.
  Before a command runs on a replica, every change that has arrived there is
  applied, in CSN order across links.
* Update resolution by CSN makes replicas converge in any delivery order.
  Multi-valued attributes keep per-value add/delete CSNs (a value deleted later
  is not resurrected by an older add); a single-valued attribute keeps the
  later write; of two entries added under one DN the earlier CSN keeps the DN
  and the later is renamed ``nsuniqueid=<id>+<rdn>,<parent>`` and tagged
  ``nsds5ReplConflict: namingConflict <dn>``, identically on every replica.
  When the entry holding a contested DN is deleted, the earliest conflict entry
  takes the DN back: a DN always belongs to its earliest *live* claimant.
  (389-DS differs only there: its tombstones keep a deleted winner's claim
  against adds made before the delete.  Dogtag deletes the losers, never the
  winner, so the outcomes agree.)
* Replicated modifies and deletes name their target by its unique id (its add
  CSN), not by DN, as 389-DS does: a modify made on an entry that later loses a
  naming conflict follows it to its conflict DN.  A change whose target has not
  arrived yet is *parked* on that replica (it still counts as pending) and is
  applied as soon as the entry arrives; a change for an entry deleted there is
  dropped.  A replicated add does not wait for its parent (the origin checked
  it; 389-DS would make a glue entry).
* Records (``cn=<n>`` children) are stored compactly; their add CSNs are kept
  only while a naming conflict is still possible, i.e. while an older change
  is still in flight somewhere.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from heapq import heappop, heappush
from itertools import pairwise
from typing import Any

from pkisim.directory.records import (
    ANCIENT,
    Attr,
    Csn,
    Entry,
    Shape,
    check_mods,
    fits,
    record_number,
    shape_of,
)
from pkisim.directory.replication import (
    ADD,
    DELETE,
    MODIFY,
    RECORD,
    Change,
    Link,
    Replica,
    ReplicationConflict,
    check_lag,
    csn_of,
    unique_id,
)
from pkisim.ids.protocol import (
    OK,
    Add,
    Command,
    Delete,
    LastNumberInRange,
    Modify,
    NumberExists,
    Read,
    RequestRange,
    Result,
    ResultCode,
    Search,
    Values,
    normalize_attrs,
)
from pkisim.ids.tree import SINGLE_VALUED

_DROP = "drop"  # a change whose target was deleted on this replica
_NO_SUCH_OBJECT = Result(ResultCode.NO_SUCH_OBJECT, message="no such entry")
_SPACES = re.compile(r"\s*,\s*")


def _normalize(dn: str) -> tuple[str, str]:
    """``(key, display)``: spaces around commas stripped; the key is lower case."""
    if " " in dn:
        dn = _SPACES.sub(",", dn.strip())
    return dn.lower(), dn


def _with_rdn(attrs: Mapping[str, Any], dn: str) -> dict[str, Values]:
    """Normalised attributes plus the values of the RDN, as 389-DS adds them."""
    out = normalize_attrs(attrs)
    for ava in dn.partition(",")[0].split("+"):
        name, _, value = ava.partition("=")
        name, values = name.strip().lower(), out.get(name.strip().lower(), ())
        if value.lower() not in {v.lower() for v in values}:
            out[name] = (*values, value)
    return out


def _within(n: int, spans: list[tuple[int, int]]) -> bool:
    return any(first <= n <= last for first, last in spans)


class ReplicatedDirectory:
    """Replicas of one directory tree, linked in a full mesh of one-way links.

    ``lag`` is the replication delay of every link in seconds; ``None`` means
    manual delivery (changes wait for :meth:`deliver`).  ``conflicts`` lists
    every naming conflict as each replica resolved it.
    """

    def __init__(self, replicas: Sequence[str] = ("ds1",), *, lag: float | None = 0.0,
                 single_valued: Iterable[str] = SINGLE_VALUED) -> None:
        names = tuple(replicas)
        if not names or len(set(names)) != len(names):
            raise ValueError(f"replica names must be unique and at least one, got {names!r}")
        check_lag(lag)
        self.replicas = names
        self.conflicts: list[ReplicationConflict] = []
        self._single = frozenset(name.lower() for name in single_valued)
        shapes: dict[str, Shape] = {}  # record shape per container, shared by all replicas
        self._shapes = shapes
        self._replicas = [Replica(name, i, shapes) for i, name in enumerate(names)]
        self._by_name = {r.name: r for r in self._replicas}
        self._links: dict[tuple[str, str], Link] = {}
        for src in self._replicas:
            for dst in self._replicas:
                if src is not dst:
                    link = self._links[src.name, dst.name] = Link(src, dst, lag)
                    src.outgoing.append(link)
                    dst.incoming.append(link)
        self._time, self._seq = -math.inf, 0  # of the last CSN handed out
        self._track = len(names) > 1  # keep record CSNs: naming conflicts are possible
        self._stable: Csn = (-math.inf, 0, 0)  # every CSN below it has reached every replica
        self._fresh, self._purge_min = 0, 4096  # record CSNs noted since the last purge
        self._purge_at = self._purge_min
        self._handlers: dict[type, Callable[[Replica, Any, float], Result]] = {
            Read: self._read, Search: self._search, Modify: self._modify, Add: self._add,
            Delete: self._delete, LastNumberInRange: self._last_number,
            NumberExists: self._number_exists, RequestRange: self._request_range}

    # ------------------------------------------------------------ the Directory protocol
    def execute(self, command: Command, *, replica: str, now: float) -> Result:
        r = self._replica(replica)
        if not r.up:
            return Result(ResultCode.SERVER_DOWN, message=f"{replica} is down")
        if r.incoming:
            self._pull(r, now)
        handler = self._handlers.get(type(command))
        if handler is None:
            raise TypeError(f"not a directory command: {command!r}")
        return handler(r, command, now)

    def bootstrap(self, adds: Iterable[Add], now: float = 0.0) -> None:
        """Load the initial tree on every replica at once (nothing replicates)."""
        for add in adds:
            key, dn = _normalize(add.dn)
            attrs = _with_rdn(add.attrs, dn)
            uid = self._csn(self._replicas[0], now)
            for r in self._replicas:
                if r.uid_at(key) is not None:
                    raise ValueError(f"bootstrap: {dn} already exists on {r.name}")
                r.put(key, Entry(dn, uid, attrs))

    # ------------------------------------------------------------ replication control
    def set_lag(self, src: str, dst: str, lag: float | None, now: float) -> None:
        """Change one link's lag.  Changes already queued arrive no later than
        ``now + lag``; ``None`` holds everything for :meth:`deliver`."""
        link = self._link(src, dst)
        link.lag = check_lag(lag)
        if lag is not None:
            limit = now + lag
            link.queue = deque((min(ready, limit), change) for ready, change in link.queue)
            link.not_before = min(link.not_before, limit)
        link.refresh()

    def set_all_lag(self, lag: float | None, now: float) -> None:
        for src, dst in self._links:
            self.set_lag(src, dst, lag, now)

    def cut(self, src: str, dst: str, now: float) -> None:
        """Stop replication from ``src`` to ``dst``; its changes queue up."""
        link = self._link(src, dst)
        link.up = False
        link.refresh()

    def heal(self, src: str, dst: str, now: float) -> None:
        """Restore a link; what it held arrives at ``now + lag`` at the earliest."""
        link = self._link(src, dst)
        if not link.up:
            link.up = True
            link.hold_until(now)
            link.refresh()

    def partition(self, groups: Sequence[Sequence[str]], now: float) -> None:
        """Cut every link between replicas of different groups, both ways.
        A replica named in no group is cut off from all others."""
        group_of = {self._replica(name).name: i for i, group in enumerate(groups)
                    for name in group}
        for (src, dst), link in self._links.items():
            if group_of.get(src, -1 - link.src.index) != group_of.get(dst, -1 - link.dst.index):
                self.cut(src, dst, now)

    def heal_all(self, now: float) -> None:
        for src, dst in self._links:
            self.heal(src, dst, now)

    def down(self, replica: str, now: float) -> None:
        """The server stops: it answers SERVER_DOWN and neither sends nor receives."""
        self._replica(replica).up = False
        for link in self._links.values():
            link.refresh()

    def up(self, replica: str, now: float) -> None:
        """The server is back; what it missed arrives from ``now + lag`` on."""
        r = self._replica(replica)
        if not r.up:
            r.up = True
            for link in r.incoming + r.outgoing:
                link.hold_until(now)
                link.refresh()

    def deliver(self, src: str | None = None, dst: str | None = None, *, now: float,
                count: int | None = None) -> int:
        """Push queued changes over links that are up (and whose replicas are),
        lag or not, in CSN order; at most ``count``.  Returns how many were
        delivered (a change whose target has not arrived stays parked)."""
        heap = [(link.queue[0][1][0], i, link) for i, link in enumerate(self._select(src, dst))
                if link.queue and link.up and link.src.up and link.dst.up]
        heap.sort()
        delivered = 0
        while heap and (count is None or delivered < count):
            _, i, link = heappop(heap)
            self._apply(link.dst, link.queue.popleft()[1], now)
            delivered += 1
            if link.queue:
                heappush(heap, (link.queue[0][1][0], i, link))
        return delivered

    def pending(self, src: str | None = None, dst: str | None = None) -> int:
        """Changes not applied yet: queued on links, or parked at their target."""
        total = sum(len(link.queue) for link in self._select(src, dst))
        origin = None if src is None else self._replica(src).index
        for r in self._replicas if dst is None else [self._replica(dst)]:
            total += sum(1 for changes in r.parked.values() for change in changes
                         if origin is None or change[0][2] == origin)
        return total

    def settle(self, now: float) -> None:
        """Deliver everything that can be delivered (links and replicas up)."""
        self.deliver(now=now)

    def converged(self) -> bool:
        """Do all replicas hold the same data, with nothing pending?"""
        if self.pending():
            return False
        first = self._replicas[0].state()
        return all(r.state() == first for r in self._replicas[1:])

    # ------------------------------------------------------------ inspection
    def entry(self, replica: str, dn: str, *, now: float | None = None
              ) -> dict[str, Values] | None:
        """The attributes of one entry on one replica, or ``None``."""
        found = self._inspect(replica, now).view_at(_normalize(dn)[0])
        return None if found is None else found[1]

    def entries(self, replica: str, base: str | None = None, now: float | None = None
                ) -> list[tuple[str, dict[str, Values]]]:
        """Every entry at or below ``base`` (default: all), sorted by DN."""
        key = None if base is None else _normalize(base)[0]
        return [(dn, view) for _, dn, view in self._inspect(replica, now).collect(key)]

    def numbers(self, replica: str, base: str, now: float | None = None) -> list[int]:
        """The sorted record numbers directly below a records container."""
        store = self._inspect(replica, now).stores.get(_normalize(base)[0])
        return [] if store is None else store.all_numbers()

    # ------------------------------------------------------------ record runs
    def can_add_records(self, runs: Sequence[tuple[str, str, int, int]],
                        attrs: Mapping[str, Callable[[int], Mapping[str, Any]]]) -> bool:
        """Would every ``Add`` of the records ``first..last`` under ``base`` on
        ``replica`` (``runs`` of ``(replica, base, first, last)``, attributes
        ``attrs[base](n)``) succeed as a compact record, whatever order they
        run in and whatever replication delivers meanwhile?  True when each
        replica is up with the container and its record shape, and no number
        of a run is anywhere else: on no replica, in no change in flight, in
        no other run.  :meth:`add_records` then adds them."""
        by_key: dict[str, list[tuple[int, int]]] = {}
        for replica, base, first, last in runs:
            r = self._replica(replica)
            key = _normalize(base)[0]
            shape = self._shapes.get(key)
            if (first > last or not r.up or shape is None or key not in r.stores
                    or key not in r.entries):
                return False
            make = attrs[base]
            if not (fits(shape, first, make(first))
                    and (first == last or fits(shape, last, make(last)))):
                return False
            by_key.setdefault(key, []).append((first, last))
        for key, spans in by_key.items():
            spans.sort()
            if any(b[0] <= a[1] for a, b in pairwise(spans)):
                return False  # two runs share a number
            for r in self._replicas:
                store = r.stores.get(key)
                if store is None:
                    continue
                if any(store.numbers.last_in(first, last) is not None for first, last in spans):
                    return False
                if store.overlay and any(_within(n, spans) for n in store.overlay):
                    return False
        return len(self._replicas) == 1 or self._quiet_in_flight(by_key)

    def in_flight(self) -> int:
        """Replicated changes queued on links or parked (cheap, unlike :meth:`pending`)."""
        return (sum(len(link.queue) for link in self._links.values())
                + sum(len(changes) for r in self._replicas for changes in r.parked.values()))

    def _quiet_in_flight(self, by_key: dict[str, list[tuple[int, int]]]) -> bool:
        """No change in flight (queued or parked) touches a run's numbers or its container."""
        changes = [change for link in self._links.values() for _, change in link.queue]
        changes += [change for r in self._replicas for parked in r.parked.values()
                    for change in parked]
        for _, kind, key, a, _b in changes:
            if kind == RECORD:
                spans = by_key.get(key)
                if spans is not None and _within(a, spans):
                    return False
                continue
            if key in by_key:
                return False  # the container itself changes
            rdn, _, parent = key.partition(",")
            spans = by_key.get(parent)
            if spans is not None and kind == ADD:
                n = record_number(rdn)
                if n is not None and _within(n, spans):
                    return False
        return True

    def add_records(self, replica: str, base: str, first: int, last: int, now: float) -> None:
        """Add records ``first..last`` at once after :meth:`can_add_records` said
        yes, on a directory of one replica; ``now`` is the time of the last of
        those adds (CSNs advance as theirs would)."""
        assert len(self._replicas) == 1
        r = self._replica(replica)
        r.stores[_normalize(base)[0]].numbers.add_run(first, last)
        if now > self._time:
            self._time = now
        self._seq += last - first + 1

    def add_record_sequence(self, adds: Iterable[tuple[str, str, int, float]]) -> None:
        """Add records one by one, ``(replica, base, number, now)`` in time
        order, after :meth:`can_add_records` said yes for them: what ``execute``
        of each ``Add`` does (replication pulled in first, a CSN, sent on)."""
        keys: dict[str, str] = {}
        by_name = self._by_name
        track = self._track
        for replica, base, n, now in adds:
            r = by_name[replica]
            if r.incoming:
                self._pull(r, now)
            key = keys.get(base)
            if key is None:
                key = keys[base] = _normalize(base)[0]
            store = r.stores[key]
            store.numbers.add(n)
            csn = self._csn(r, now)
            if track:
                store.csns[n] = csn
                self._note_record()
                self._send(r, (csn, RECORD, key, n, store.container_dn), now)

    # ------------------------------------------------------------ commands
    def _read(self, r: Replica, cmd: Read, now: float) -> Result:
        found = r.view_at(_normalize(cmd.dn)[0])
        return _NO_SUCH_OBJECT if found is None else Result(entries=(found,))

    def _search(self, r: Replica, cmd: Search, now: float) -> Result:
        key = _normalize(cmd.base)[0]
        if r.uid_at(key) is None:
            return _NO_SUCH_OBJECT
        match = tuple((name.lower(), str(value)) for name, value in cmd.match.items())
        return Result(entries=tuple((dn, view) for _, dn, view in r.collect(key, match)))

    def _last_number(self, r: Replica, cmd: LastNumberInRange, now: float) -> Result:
        key = _normalize(cmd.base)[0]
        store = r.stores.get(key)
        if store is None:
            return _NO_SUCH_OBJECT if r.uid_at(key) is None else Result(number=None)
        return Result(number=store.last_in(cmd.begin, cmd.end))

    def _number_exists(self, r: Replica, cmd: NumberExists, now: float) -> Result:
        key = _normalize(cmd.base)[0]
        store = r.stores.get(key)
        if store is None:
            return _NO_SUCH_OBJECT if r.uid_at(key) is None else Result(number=None)
        return Result(number=cmd.number if cmd.number in store else None)

    def _request_range(self, r: Replica, cmd: RequestRange, now: float) -> Result:
        return Result(ResultCode.UNWILLING_TO_PERFORM,
                      message=f"RequestRange is DNA's extended operation to peer {cmd.peer}; "
                              "the driver routes it to that server's allocator, not to LDAP")

    def _add(self, r: Replica, cmd: Add, now: float) -> Result:
        key, dn = _normalize(cmd.dn)
        rdn, _, parent = key.partition(",")
        if parent not in r.entries and r.uid_at(parent) is None:
            return Result(ResultCode.NO_SUCH_OBJECT, message=f"parent of {dn} does not exist")
        n = record_number(rdn)
        attrs: Mapping[str, Any] = cmd.attrs
        if n is not None:
            store = r.stores.get(parent)
            if store is None:
                store = r.store(parent, dn.partition(",")[2])
            shape = self._shapes.get(parent)
            compact = shape is not None and fits(shape, n, attrs)
            if not compact:
                attrs = _with_rdn(attrs, dn)
                if shape is None and (shape := shape_of(n, attrs)) is not None:
                    self._shapes[parent] = shape
                compact = shape is not None and fits(shape, n, attrs)
            if n in store.overlay or (not compact and n in store.numbers):
                return Result(ResultCode.ENTRY_ALREADY_EXISTS, message=f"{dn} exists")
            if compact:
                if not store.numbers.add(n):
                    return Result(ResultCode.ENTRY_ALREADY_EXISTS, message=f"{dn} exists")
                csn = self._csn(r, now)
                if self._track:
                    store.csns[n] = csn
                    self._note_record()
                    self._send(r, (csn, RECORD, parent, n, store.container_dn), now)
                return OK
        elif key in r.entries:
            return Result(ResultCode.ENTRY_ALREADY_EXISTS, message=f"{dn} exists")
        attrs = _with_rdn(attrs, dn)
        for name, values in attrs.items():
            if name in self._single and len(values) > 1:
                return Result(ResultCode.CONSTRAINT_VIOLATION,
                              message=f"{name} is single-valued: {values!r}")
        csn = self._csn(r, now)
        r.put(key, Entry(dn, csn, attrs))
        self._send(r, (csn, ADD, key, dn, attrs), now)
        return OK

    def _modify(self, r: Replica, cmd: Modify, now: float) -> Result:
        key = _normalize(cmd.dn)[0]
        found = r.view_at(key)
        if found is None:
            return _NO_SUCH_OBJECT
        mods = tuple((m.op, m.attr.lower(), (m.values,) if isinstance(m.values, str)
                      else tuple(str(v) for v in m.values)) for m in cmd.mods)
        error = check_mods(found[1], mods, self._single)
        if error is not None:
            return error
        entry = r.full(key)
        csn = self._csn(r, now)
        entry.apply(mods, csn, self._single)
        self._send(r, (csn, MODIFY, key, entry.uid, mods), now)
        return OK

    def _delete(self, r: Replica, cmd: Delete, now: float) -> Result:
        key, dn = _normalize(cmd.dn)
        if r.uid_at(key) is None:
            return _NO_SUCH_OBJECT
        if r.has_children(key):
            return Result(ResultCode.UNWILLING_TO_PERFORM,
                          message=f"{dn} has children (notAllowedOnNonLeaf)")
        uid = self._remove(r, key)
        self._send(r, (self._csn(r, now), DELETE, key, uid, None), now)
        return OK

    # ------------------------------------------------------------ replication
    def _csn(self, r: Replica, now: float) -> Csn:
        if now > self._time:
            self._time = now
        self._seq += 1
        return (self._time, self._seq, r.index)

    def _send(self, r: Replica, change: Change, now: float) -> None:
        for link in r.outgoing:
            ready = math.inf if link.lag is None else now + link.lag
            queue = link.queue
            if queue and queue[-1][0] > ready:
                ready = queue[-1][0]
            queue.append((ready, change))

    def _pull(self, r: Replica, now: float) -> None:
        """Apply every change that has arrived at ``r`` by ``now``, in CSN order."""
        batch: list[Change] = []
        sources = 0
        for link in r.incoming:
            queue = link.queue
            if queue and link.auto and queue[0][0] <= now and link.not_before <= now:
                sources += 1
                while queue and queue[0][0] <= now:
                    batch.append(queue.popleft()[1])
        if sources > 1:
            batch.sort(key=csn_of)
        for change in batch:
            self._apply(r, change, now)

    def _apply(self, r: Replica, change: Change, now: float) -> None:
        """Apply one replicated change to ``r``, resolving conflicts by CSN."""
        csn, kind, key, a, b = change
        if kind in (MODIFY, DELETE):
            target = self._target(r, key, a)
            if target is None:
                r.parked.setdefault(a, []).append(change)
            elif target is not _DROP and kind == MODIFY:
                r.full(target).apply(b, csn, self._single)
            elif target is not _DROP:
                self._remove(r, target)
            return
        if kind == RECORD:
            store = r.stores.get(key)
            if store is None:
                store = r.store(key, b)
            fresh = a not in store.overlay and store.numbers.add(a)  # usually: a new number
            if not fresh:
                holder = store.uid(a)
                assert holder is not None
                incoming = r.record_entry(store, key, a, csn)
                fresh = self._naming_conflict(r, f"cn={a},{key}", incoming, holder, now)
                if fresh:
                    store.numbers.add(a)
            if fresh:
                store.csns[a] = csn
                self._note_record()
        else:
            incoming = Entry(a, csn, b)
            holder = r.uid_at(key)
            if holder is None or self._naming_conflict(r, key, incoming, holder, now):
                r.put(key, incoming)
        if r.parked:
            for parked in sorted(r.parked.pop(csn, ())):
                self._apply(r, parked, now)

    def _naming_conflict(self, r: Replica, key: str, incoming: Entry, holder: Csn,
                         now: float) -> bool:
        """Two entries for one DN: the earlier CSN keeps it, the other is renamed.
        True if ``incoming`` wins (the caller then stores it at ``key``)."""
        wins = incoming.uid < holder
        loser = r.evict(key) if wins else incoming
        original = loser.dn
        rdn, _, parent = original.partition(",")
        loser.dn = f"nsuniqueid={unique_id(loser.uid)}+{rdn},{parent}"
        attr = loser.attrs.setdefault("nsds5replconflict", Attr())
        attr.add(f"namingConflict {original}", (*loser.uid, -1))
        r.put(loser.dn.lower(), loser)
        kept = incoming.uid if wins else holder
        self.conflicts.append(ReplicationConflict(original, kept, loser.dn, r.name, now))
        return wins

    def _remove(self, r: Replica, key: str) -> Csn:
        """Delete the entry at ``key``.  If it held a contested DN, the earliest
        conflict entry for that DN takes it back (389-DS's naming conflict
        removal), so that a DN always belongs to its earliest live claimant."""
        uid = r.remove(key)
        if uid != ANCIENT:
            r.gone.add(uid)
        losers = r.conflicts_for(key)
        if losers:
            heir = r.evict(min(losers, key=lambda entry: entry.uid).dn.lower())
            heir.dn = heir.dn.partition("+")[2]
            del heir.attrs["nsds5replconflict"]
            r.put(key, heir)
        return uid

    def _target(self, r: Replica, key: str, uid: Csn) -> str | None:
        """Where the entry with unique id ``uid`` (``key`` at its origin) is on
        ``r``: ``_DROP`` if deleted here, ``None`` if it has not arrived yet."""
        if uid in r.gone:
            return _DROP
        found = r.uids.get(uid)
        if found is not None:
            return found
        holder = r.uid_at(key)
        if holder is not None and (holder == uid or (
                ANCIENT in (holder, uid) and max(holder, uid) < self._stable)):
            return key  # the same stable record; one side no longer knows its CSN
        return _DROP if uid < self._stable else None

    def _note_record(self) -> None:
        self._fresh += 1
        if self._fresh >= self._purge_at:
            self._purge()

    def _purge(self) -> None:
        """Forget the CSNs of records older than every change still in flight:
        every replica has them, so no naming conflict can involve them."""
        floor: Csn = (self._time, self._seq + 1, -1)  # below every CSN not yet made
        for link in self._links.values():
            if link.queue:
                floor = min(floor, link.queue[0][1][0])
        for r in self._replicas:
            for changes in r.parked.values():
                for change in changes:
                    floor = min(floor, change[0])
        kept = 0
        for r in self._replicas:
            for store in r.stores.values():
                if store.csns:
                    store.csns = {n: c for n, c in store.csns.items() if c >= floor}
                    kept += len(store.csns)
        self._stable = max(self._stable, floor)
        self._fresh, self._purge_at = 0, max(self._purge_min, kept)

    # ------------------------------------------------------------ helpers
    def _replica(self, name: str) -> Replica:
        r = self._by_name.get(name)
        if r is None:
            raise ValueError(f"unknown replica {name!r}; replicas are {', '.join(self.replicas)}")
        return r

    def _link(self, src: str, dst: str) -> Link:
        self._replica(src), self._replica(dst)
        link = self._links.get((src, dst))
        if link is None:
            raise ValueError(f"no replication link from {src!r} to itself")
        return link

    def _select(self, src: str | None, dst: str | None) -> list[Link]:
        for name in (src, dst):
            if name is not None:
                self._replica(name)
        return [link for (s, d), link in self._links.items()
                if src in (None, s) and dst in (None, d)]

    def _inspect(self, replica: str, now: float | None) -> Replica:
        r = self._replica(replica)
        if now is not None and r.up:
            self._pull(r, now)
        return r


__all__ = ["ANCIENT", "Csn", "ReplicatedDirectory", "ReplicationConflict"]
