"""How the embedded directory's changes move between replicas and are resolved.

:class:`Replication` holds the replicas and the full mesh of links between
them, hands out CSNs, queues every change on the links, applies what has
arrived (update resolution, naming conflicts, parked changes) and forgets what
every replica has seen.  :class:`~pkisim.directory.memory.ReplicatedDirectory`
builds the protocol on it.

**The stable CSN.**  ``_floor()`` is the smallest CSN of any change not yet
applied on some replica: the head of every link's queue (each link is FIFO in
CSN order), every parked change, the change being applied, and otherwise the
next CSN to be handed out.  Per origin and destination, that is "what the
destination has applied from that origin"; the minimum over all of them is
stable: every change below it is on every replica, and every change that can
still arrive anywhere is at or above it.  Three things are forgotten below it
(:meth:`Replication._purge`, at points where no change is half-applied):

* the add CSNs of compact records.  A record's unique id reads ``ANCIENT``
  once its CSN is below the floor *at the moment it is read*, whether or not
  it was forgotten yet, so when the purge runs never shows;
* deleted attribute values (:meth:`~pkisim.directory.entries.Attr.prune`),
  pruned as soon as a modify is applied and swept from the attributes left
  with unstable ones;
* tombstones (the unique ids of deleted entries, which make late changes to
  them be dropped), in two steps: once the delete is below the floor, every
  replica has deleted the entry, so no new change can name it; the directory
  notes the last CSN handed out then, and once the floor passes that too,
  every change that named it has been applied or dropped everywhere.

None of them changes any answer the directory gives (tested against no purge).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from heapq import heapify, heappop, heappush

from pkisim.directory.bundles import Bundle, BundleRun, Transit
from pkisim.directory.entries import CONFLICT_ATTR, Attr, Csn, Entry, Mods, Stamp
from pkisim.directory.records import ANCIENT, Shape, record_number
from pkisim.directory.replication import (
    ADD,
    BUNDLE,
    DELETE,
    MODIFY,
    RECORD,
    Change,
    Link,
    Replica,
    ReplicationConflict,
    bundle_item,
    check_lag,
    csn_of,
    unique_id,
)

_DROP = "drop"  # a change whose target was deleted on this replica
#: Bundle records delivered together: (bundle, first index, end index).
Piece = tuple[Bundle, int, int]
#: Record numbers a queued item adds: (container key, first, last, its transit or None).
Span = tuple[str, int, int, "Transit | None"]


class Replication:
    """Replicas of one directory tree, linked in a full mesh of one-way links."""

    def __init__(self, replicas: Sequence[str], lag: float | None,
                 single_valued: Iterable[str]) -> None:
        names = tuple(replicas)
        if not names or len(set(names)) != len(names):
            raise ValueError(f"replica names must be unique and at least one, got {names!r}")
        check_lag(lag)
        self.replicas = names
        self.conflicts: list[ReplicationConflict] = []
        self._single = frozenset(name.lower() for name in single_valued)
        shapes: dict[str, Shape] = {}  # record shape per container, shared by all replicas
        self._shapes = shapes
        self._replicas = [Replica(name, i, shapes, self._floor) for i, name in enumerate(names)]
        self._by_name = {r.name: r for r in self._replicas}
        self._links: dict[tuple[str, str], Link] = {}
        for src in self._replicas:
            for dst in self._replicas:
                if src is not dst:
                    link = self._links[src.name, dst.name] = Link(src, dst, lag)
                    src.outgoing.append(link)
                    dst.incoming.append(link)
        self._link_list = list(self._links.values())
        self._time, self._seq = -math.inf, 0  # of the last CSN handed out
        self._track = len(names) > 1  # keep record CSNs: naming conflicts are possible
        self._current: Csn | None = None  # the change being applied, if any
        #: what to do before the stable CSN is next looked at (record runs
        #: catch the other replicas up only if a pull needs it)
        self._before_floor: Callable[[], None] | None = None
        self._pull_held = False  # record runs: a write of theirs pulls nothing (runs.py)
        self._parked = 0  # changes parked on all replicas
        self._litter: dict[int, Attr] = {}  # attributes holding unstable deleted values
        self._graves = 0  # tombstones on all replicas
        self._fresh, self._purge_min = 0, 4096  # things to forget noted since the last purge
        self._purge_at = self._purge_min

    def _replica(self, name: str) -> Replica:
        r = self._by_name.get(name)
        if r is None:
            raise ValueError(f"unknown replica {name!r}; replicas are {', '.join(self.replicas)}")
        return r

    # ------------------------------------------------------------ CSNs
    def _csn(self, r: Replica, now: float) -> Csn:
        if now > self._time:
            self._time = now
        self._seq += 1
        return (self._time, self._seq, r.index)

    def _floor(self, probe: Csn | Stamp | None = None) -> Csn:
        """The stable CSN (module docstring): no change below it is still to be applied.

        Record runs may have replicas to catch up first (``_before_floor``,
        :mod:`pkisim.directory.runs`).  A caller that only asks whether
        ``probe`` is below the floor passes it: catching up only removes
        changes from the links, so a probe below the floor without the
        catch-up is below the floor with it, and the catch-up is put off."""
        hook = self._before_floor
        if hook is not None:
            if probe is not None:
                floor = self._lowest()
                if probe < floor:
                    return floor
            self._before_floor = None
            hook()
        return self._lowest()

    def _lowest(self) -> Csn:
        """The smallest CSN still to be applied anywhere, as the links hold them now."""
        floor: Csn = (self._time, self._seq + 1, -1)  # below every CSN not yet made
        current = self._current
        if current is not None and current < floor:
            floor = current
        for link in self._link_list:
            queue = link.queue
            if queue:
                head = queue[0][1][0]
                if head < floor:
                    floor = head
        if self._parked:
            for r in self._replicas:
                for changes in r.parked.values():
                    for change in changes:
                        if change[0] < floor:
                            floor = change[0]
        return floor

    # ------------------------------------------------------------ moving changes
    def _send(self, r: Replica, change: Change, now: float) -> None:
        for link in r.outgoing:
            link.send(change, now)

    def _pull(self, r: Replica, now: float) -> None:
        """Apply every change that has arrived at ``r`` by ``now``, in CSN order."""
        singles: list[Change] = []
        pieces: list[Piece] = []
        sources = 0
        for link in r.incoming:
            queue = link.queue
            if queue and link.auto and queue[0][0] <= now and link.not_before <= now:
                sources += 1
                while queue and queue[0][0] <= now:
                    change = queue[0][1]
                    if change[1] != BUNDLE:
                        queue.popleft()
                        link.size -= 1
                        singles.append(change)
                        continue
                    transit = change[3]
                    lo, end = transit.lo, transit.ready_end(now)
                    if end > lo:
                        pieces.append((transit.bundle, lo, end))
                        link.size -= end - lo
                        transit.lo = end
                    if end < len(transit.bundle):
                        queue[0] = (transit.ready(end), bundle_item(transit))
                        break
                    queue.popleft()
        if pieces:
            self._apply_batch(r, singles, pieces, now)
            return
        if sources > 1:
            singles.sort(key=csn_of)
        for change in singles:
            self._current = change[0]
            self._apply(r, change, now)
        self._current = None

    def _deliver(self, links: list[Link], now: float, count: int | None) -> int:
        """Push the changes queued on ``links`` (up, with both replicas up), in
        CSN order, whether ready or not; at most ``count``.  How many went.

        A bundle goes up to the next change due on another link (ties between
        links in link order, as one by one), or whole when everything is
        delivered and its records can meet nothing on the way: no number on
        the destination, none in another change for it, nothing parked for
        them (they commute with everything else then)."""
        heap = [(link.queue[0][1][0], i, link) for i, link in enumerate(links)
                if link.queue and link.up and link.src.up and link.dst.up]
        heapify(heap)
        spans = _spans_by_destination(links) if count is None else {}
        delivered = 0
        while heap and (count is None or delivered < count):
            _, i, link = heappop(heap)
            queue = link.queue
            change = queue[0][1]
            if change[1] != BUNDLE:
                queue.popleft()
                link.size -= 1
                delivered += 1
                self._current = change[0]
                self._apply(link.dst, change, now)
                self._current = None
            else:
                transit = change[3]
                bundle = transit.bundle
                lo = transit.lo
                if not heap or (count is None
                                and self._alone(link.dst, transit, spans[link.dst.index])):
                    end = bundle.sent
                else:
                    end = transit.before(heap[0][0][1] + (i < heap[0][1]))
                if count is not None:
                    end = min(end, lo + count - delivered)
                transit.lo = end
                link.size -= end - lo
                delivered += end - lo
                if end < len(bundle):
                    queue[0] = (transit.ready(end), bundle_item(transit))
                else:
                    queue.popleft()
                self._apply_batch(link.dst, [], [(bundle, lo, end)], now)
            if queue:
                heappush(heap, (queue[0][1][0], i, link))
        return delivered

    def _alone(self, r: Replica, transit: Transit, spans: list[Span]) -> bool:
        """Can what is left of ``transit`` meet nothing on ``r``: no number
        there yet, nothing parked for it, in no other change of ``spans``?"""
        for run, a, b in transit.bundle.pieces(transit.lo, transit.bundle.sent):
            if not self._clean(r, run, a, b):
                return False
            lo, hi = run.first + a, run.first + b - 1
            for key, first, last, owner in spans:
                if owner is not transit and key == run.key and first <= hi and lo <= last:
                    return False
        return True

    # ------------------------------------------------------------ applying
    def _apply_batch(self, r: Replica, singles: list[Change], pieces: list[Piece],
                     now: float, calm: bool = False) -> None:
        """Apply changes that arrived together at ``r``: exactly as one by one
        in CSN order.  The records of a bundle that can meet nothing (no
        number already on ``r``, none touched by another change of the batch,
        no change parked for them) are added as one block per run: they
        commute with everything else, so where they go does not matter.  The
        others are expanded into one ``RECORD`` change each.  ``calm``: every
        piece is known to meet nothing (record runs checked it when they
        took it as calm), so that is not looked at again."""
        runs = [(run, a, b) for bundle, lo, hi in pieces for run, a, b in bundle.pieces(lo, hi)]
        met = set() if calm else _overlapping(runs, singles)
        changes = list(singles)
        for i, (run, a, b) in enumerate(runs):
            if calm or (i not in met and self._clean(r, run, a, b)):
                store = r.store(run.key, run.container_dn)
                store.add_compact(run.first + a, run.first + b - 1,
                                  run if self._track else None, a)
                self._fresh += b - a
            else:
                key, first, dn = run.key, run.first, run.container_dn
                changes.extend((run.csn(rank), RECORD, key, first + rank, dn)
                               for rank in range(a, b))
        changes.sort(key=csn_of)
        for change in changes:
            self._current = change[0]
            self._apply(r, change, now)
        self._current = None

    def _clean(self, r: Replica, run: BundleRun, a: int, b: int) -> bool:
        """No record of ranks ``a..b-1`` is on ``r`` yet, and none has changes parked."""
        store = r.stores.get(run.key)
        if store is not None and store.numbers.last_in(run.first + a, run.first + b - 1) \
                is not None:
            return False
        for uid in r.parked:
            rank = run.rank_of(uid)
            if rank is not None and a <= rank < b:
                return False
        return True

    def _apply(self, r: Replica, change: Change, now: float) -> None:
        """Apply one replicated change to ``r``, resolving conflicts by CSN."""
        csn, kind, key, a, b = change
        if kind in (MODIFY, DELETE):
            target = self._target(r, key, a)
            if target is None:
                r.parked.setdefault(a, []).append(change)
                self._parked += 1
            elif target is not _DROP and kind == MODIFY:
                entry = r.full(target)
                entry.apply(b, csn, self._single)
                self._prune(entry, b)
            elif target is not _DROP:
                self._bury(r, self._remove(r, target), csn)
            return
        if kind == RECORD:
            store = r.stores.get(key)
            if store is None:
                store = r.store(key, b)
            fresh = store.numbers.add(a)  # usually: a new number
            if not fresh:
                holder = store.uid(a, self._floor)
                assert holder is not None
                incoming = r.record_entry(store, key, a, csn)
                fresh = self._naming_conflict(r, f"cn={a},{key}", incoming, holder, now)
                if fresh:
                    store.numbers.add(a)
            if fresh:
                store.csns[a] = csn
                self._fresh += 1
        else:
            incoming = Entry(a, csn, b)
            holder = r.uid_at(key)
            if holder is None or self._naming_conflict(r, key, incoming, holder, now):
                r.put(key, incoming)
        if r.parked:
            released = r.parked.pop(csn, None)
            if released:
                self._parked -= len(released)
                for parked in sorted(released):
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
        attr = loser.attrs.setdefault(CONFLICT_ATTR, Attr())
        attr.add(f"namingConflict {original}", (*loser.uid, -1))
        r.put(loser.dn.lower(), loser)
        kept = incoming.uid if wins else holder
        self.conflicts.append(ReplicationConflict(original, kept, loser.dn, r.name, now))
        return wins

    def _remove(self, r: Replica, key: str) -> Csn:
        """Delete the entry at ``key``.  If it held a contested DN, the earliest
        conflict entry for that DN takes it back (389-DS's naming conflict
        removal), so that a DN always belongs to its earliest *live* claimant."""
        uid = r.remove(key)
        losers = r.conflicts_for(key)
        if losers:
            heir = r.evict(min(losers, key=lambda entry: entry.uid).dn.lower())
            heir.dn = heir.dn.partition("+")[2]
            del heir.attrs[CONFLICT_ATTR]
            r.put(key, heir)
        return uid

    def _bury(self, r: Replica, uid: Csn, delete: Csn) -> None:
        """Keep a tombstone for ``uid``, deleted on ``r`` by the change ``delete``."""
        if uid != ANCIENT:
            r.gone[uid] = (False, delete[1])
            self._graves += 1
            self._fresh += 1

    def _target(self, r: Replica, key: str, uid: Csn) -> str | None:
        """Where the entry with unique id ``uid`` (``key`` at its origin) is on
        ``r``: ``_DROP`` if deleted here, ``None`` if it has not arrived yet."""
        if uid in r.gone:
            return _DROP
        found = r.uids.get(uid)
        if found is not None:
            return found
        holder = r.uid_at(key)
        if holder == uid:
            return key
        floor = self._floor()
        if holder is not None and ANCIENT in (holder, uid) and max(holder, uid) < floor:
            return key  # the same stable record; one side no longer knows its CSN
        return _DROP if uid < floor else None

    def _prune(self, entry: Entry, mods: Mods) -> None:
        """Forget the stable deleted values of the attributes a modify touched."""
        left = entry.prune((name for _, name, _ in mods), self._floor)
        for attr in left:
            if id(attr) not in self._litter:
                self._litter[id(attr)] = attr
                self._fresh += 1

    # ------------------------------------------------------------ forgetting
    def _maybe_purge(self) -> None:
        if self._fresh >= self._purge_at:
            self._purge()

    def _purge(self) -> None:
        """Forget what is below the stable CSN: record CSNs, deleted values,
        tombstones (module docstring).  Only where no change is half-applied."""
        assert self._current is None
        floor = self._floor()
        kept = 0
        for r in self._replicas:
            for store in r.stores.values():
                if store.csns or store.csn_runs:
                    kept += store.purge(floor)
        if self._litter:
            self._litter = {key: attr for key, attr in self._litter.items() if attr.prune(floor)}
        if self._graves:
            mark, graves = self._seq, 0
            for r in self._replicas:
                gone = r.gone
                for uid, (settled, bound) in list(gone.items()):
                    if bound < floor[1]:
                        if settled or mark < floor[1]:  # every change naming it is done
                            del gone[uid]
                            continue
                        gone[uid] = (True, mark)  # deleted everywhere: no new change names it
                    graves += 1
            self._graves = graves
        self._fresh = 0
        # a purge costs what is kept; a quarter of that noted since pays for it
        self._purge_at = max(self._purge_min, (kept + len(self._litter) + self._graves) // 4)


def item_spans(change: Change) -> list[Span]:
    """The record numbers a queued item adds: (container key, first, last, owner)."""
    kind, key = change[1], change[2]
    if kind == RECORD:
        return [(key, change[3], change[3], None)]
    if kind == ADD:
        rdn, _, parent = key.partition(",")
        n = record_number(rdn)
        return [] if n is None else [(parent, n, n, None)]
    if kind == BUNDLE:
        transit = change[3]
        return [(run.key, run.first + a, run.first + b - 1, transit)
                for run, a, b in transit.bundle.pieces(transit.lo, len(transit.bundle))]
    return []


def _spans_by_destination(links: list[Link]) -> dict[int, list[Span]]:
    out: dict[int, list[Span]] = {}
    for link in links:
        spans = out.setdefault(link.dst.index, [])
        for _, change in link.queue:
            spans.extend(item_spans(change))
    return out


def _overlapping(runs: list[tuple[BundleRun, int, int]], singles: list[Change]) -> set[int]:
    """The runs (by index) whose numbers another change of the batch also adds."""
    if not runs or len(runs) + len(singles) < 2:
        return set()
    spans = [(run.key, run.first + a, run.first + b - 1, i) for i, (run, a, b) in enumerate(runs)]
    spans += [(key, lo, hi, -1) for change in singles for key, lo, hi, _ in item_spans(change)]
    spans.sort()
    met: set[int] = set()
    cluster: list[int] = []
    key, end = None, -1
    for span_key, lo, hi, i in spans:
        if span_key == key and lo <= end:
            cluster.append(i)
            end = max(end, hi)
            continue
        if len(cluster) > 1:
            met.update(cluster)
        cluster, key, end = [i], span_key, hi
    if len(cluster) > 1:
        met.update(cluster)
    return met


__all__ = ["Piece", "Replication", "Span", "item_spans"]
