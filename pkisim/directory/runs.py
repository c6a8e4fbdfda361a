"""Record runs: many record adds at once, exactly as one by one.

The SimPy world's batch computes a quiet window of enrollments in one go; the
records it issues are runs of consecutive numbers per CA and container.
:meth:`RecordRuns.can_add_records` says whether every one of those adds would
be a plain success whatever replication delivers meanwhile, and
:meth:`RecordRuns.add_record_runs` then makes them: each replica's records
travel as one :class:`~pkisim.directory.bundles.Bundle` per window, and every
replica that adds records in the window applies what reaches it there as a
block per run.  The result is the one of adding them one by one in lane order
(``execute`` of each ``Add``: replication pulled in first, a CSN, sent on),
down to CSNs, ready times, conflicts, what is pending and when it arrives.

Why that is exact: the window's records meet nothing (no number is anywhere
else), so when a replica applies them does not matter except through what
else it applies at the same pull.  Everything that was already in flight when
the window began is pulled where and when the one-by-one adds would have
pulled it (a *real* pull, the reference code), after every replica has caught
up with the window's records it would have pulled by then; between two real
pulls, the window's records are applied in whole blocks.  That costs O(1) per
run per replica per window, plus one pull per change that was in flight.

Reads between the adds (a CRL fetch reading its replica) are pulls too: a
replica pulls at its adds and at its reads, so a change in flight that does
not commute is pulled for real at the first of them after it arrived.  A read
that may look at records first gets its replica's records up to its place (its
own and the calm ones that reached it); a read of one entry that is not a
record (a CRL fetch) needs nothing more, and costs O(log) instead.  Such a
read sees only what real pulls change, so of a replica's reads between two
real pulls (or writes) only the first is made: the others would see what it
saw, and their callers promise they then do nothing (``add_record_runs``).

Writes between the adds (a revocation's modify) are made for real, at their
place.  Only a modify of a *settled* record is taken (on every replica,
nothing in flight or parked touches it): its change commutes with everything
else the window does, so it is calm too and is caught up with the records,
after the write's place and once it is ready.  For the same reason the write
needs nothing calm applied before it: its replica pulled for real whatever
else had reached it, and is caught up later in a larger block, unless the
write asks whether a CSN near what is still in flight is stable (then every
acting replica is caught up to the write's place first, as for a pull).  The
writing replica's records after the write go in a bundle of their own,
queued behind the change, as one by one.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from heapq import heapify, heappop, heappush
from itertools import pairwise
from typing import Any

import numpy as np

from pkisim.directory.bundles import Bundle, BundleRun, Transit
from pkisim.directory.delivery import Piece, Replication, item_spans
from pkisim.directory.records import dn_key, fits, record_number
from pkisim.directory.replication import (
    ADD,
    BUNDLE,
    DELETE,
    MODIFY,
    RECORD,
    Change,
    Replica,
    bundle_item,
)

#: A run for :meth:`RecordRuns.add_record_runs`: (replica, container, first
#: number, lane positions of its records, increasing).
Run = tuple[str, str, int, Sequence[int]]
#: A read between the adds of :meth:`RecordRuns.add_record_runs`: (lane
#: position, the replica it reads or None, what reads, whether it may look at
#: records).
Read = tuple[int, "str | None", Callable[[], object], bool]
#: A write between the adds of :meth:`RecordRuns.add_record_runs`: (lane
#: position, its replica, what writes: one change there, a modify of a
#: :meth:`~RecordRuns.settled` record, the base and number of that record).
Write = tuple[int, str, Callable[[], object], str, int]


def _add_upto(items: Iterable[list[Any]], position: float) -> None:
    """Add a replica's own records of the window up to lane ``position``
    (exclusive): ``[store, first, lane positions, run or None, how many added]``
    each."""
    for item in items:
        store, first, rows, run, done = item
        upto = int(np.searchsorted(rows, position))
        if upto > done:
            store.add_compact(first + done, first + upto - 1, run, done)
            item[4] = upto


def _within(n: int, spans: list[tuple[int, int]]) -> bool:
    return any(first <= n <= last for first, last in spans)


class RecordRuns(Replication):
    """Adding many records at once (the SimPy batch's windows)."""

    def can_add_records(self, runs: Sequence[tuple[str, str, int, int]],
                        attrs: Mapping[str, Callable[[int], Mapping[str, Any]]]) -> bool:
        """Would every ``Add`` of the records ``first..last`` under ``base`` on
        ``replica`` (``runs`` of ``(replica, base, first, last)``, attributes
        ``attrs[base](n)``) succeed as a compact record, whatever order they
        run in and whatever replication delivers meanwhile?  True when each
        replica is up with the container and its record shape, and no number
        of a run is anywhere else: on no replica, in no change in flight, in
        no other run.  Costs O(runs x replicas x log) plus one look at each
        queued item (a bundle of runs counts once).  :meth:`add_record_runs`
        (or :meth:`add_records`, :meth:`add_record_sequence`) then adds them."""
        by_key: dict[str, list[tuple[int, int]]] = {}
        for replica, base, first, last in runs:
            r = self._replica(replica)
            key = dn_key(base)[0]
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
                if store is not None and any(store.numbers.last_in(first, last) is not None
                                             for first, last in spans):
                    return False
        return len(self._replicas) == 1 or self._quiet_in_flight(by_key)

    def settled(self, base: str, n: int) -> bool:
        """Is record ``n`` under ``base`` on every replica, all of them up, with
        no change in flight that adds, modifies or deletes it and nothing
        parked anywhere?  A modify of it then commutes with everything that
        can happen in a window but another modify of it: :meth:`add_record_runs`
        can take it as one of its writes, and its change is calm."""
        key = dn_key(base)[0]
        if self._parked:
            return False
        for r in self._replicas:
            store = r.stores.get(key)
            if not r.up or store is None or n not in store:
                return False
        record = f"cn={n},{key}"
        if any(change[1] in (MODIFY, DELETE) and change[2] == record
               for link in self._link_list for _, change in link.queue):
            return False
        return self._quiet_in_flight({key: [(n, n)]})

    def has_record(self, replica: str, base: str, n: int) -> bool:
        """Is record ``n`` under ``base`` on ``replica``, which is up, already
        (nothing is pulled)?  Once there, its DN stays taken (no simulated CA
        deletes a record; a naming conflict leaves the DN to one claimant), so
        a modify of it succeeds while the replica is up."""
        r = self._replica(replica)
        store = r.stores.get(dn_key(base)[0])
        return r.up and store is not None and n in store

    def entry_writes_in_flight(self) -> bool:
        """Is an entry that is not a record being added or deleted somewhere
        (queued on a link), or a change parked?  (Only such a change can make
        a naming conflict of, say, a ``pkiRange`` entry.)"""
        if self._parked:
            return True
        return any(change[1] in (ADD, DELETE) for link in self._link_list
                   for _, change in link.queue)

    def in_flight(self) -> int:
        """Items queued on links (a bundle of records counts once) and changes
        parked: what looking at everything in flight costs."""
        return sum(len(link.queue) for link in self._link_list) + self._parked

    def _quiet_in_flight(self, by_key: dict[str, list[tuple[int, int]]]) -> bool:
        """No change in flight (queued or parked) touches a run's numbers or its container."""
        changes = [change for link in self._link_list for _, change in link.queue]
        changes += [change for r in self._replicas for parked in r.parked.values()
                    for change in parked]
        for _, kind, key, a, _b in changes:
            if kind == BUNDLE:
                for run, lo, hi in a.bundle.pieces(a.lo, len(a.bundle)):
                    spans = by_key.get(run.key)
                    if spans and any(first <= run.first + hi - 1 and run.first + lo <= last
                                     for first, last in spans):
                        return False
                continue
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

    # ------------------------------------------------------------ adding
    def add_records(self, replica: str, base: str, first: int, last: int, now: float) -> None:
        """Add records ``first..last`` on ``replica``, all at ``now``, after
        :meth:`can_add_records` said yes: :meth:`add_record_runs` of one run."""
        count = last - first + 1
        self.add_record_runs([(replica, base, first, range(count))], [now] * count)

    def add_record_runs(self, runs: Sequence[Run], times: Sequence[float],
                        reads: Sequence[Read] = (), writes: Sequence[Write] = ()) -> None:
        """Add many records at once, after :meth:`can_add_records` said yes for
        them: exactly what ``execute`` of each ``Add`` in lane order would do,
        with reads in between.

        ``times`` are the times of the adds and reads in lane order
        (non-decreasing); each run ``(replica, base, first, positions)`` added
        the records ``first, first + 1, ...`` on ``replica`` at those lane
        positions (increasing); each read ``(position, replica, read, full)``
        calls ``read()`` at its place, with ``replica`` as the lane would have
        it then (``None``: it reads no replica); ``read`` changes nothing.  A
        *full* read may look at anything and pull (as :meth:`entry` with
        ``now`` does): the replica is caught up to it first.  Any other read
        looks only at entries that are not records and never pulls (a CRL
        fetch): every change that arrived for them is applied there already,
        and the records that arrived wait for the next real pull or catch-up,
        which is cheaper (one block per run instead of one per read).  Such a
        read is *repeatable*: one that sees what the previous repeatable read
        of its replica in this call saw must do nothing, and is not made.  Of
        a replica's repeatable reads only the first is made, and the first
        after each place where something that is not a record may change
        there (a real pull, a full read or a write there; for ``None``, a
        write anywhere).

        Each write ``(position, replica, write, base, n)`` calls ``write()``
        at its place, which makes exactly one change on ``replica`` through
        ``execute`` (a revocation's modify) of record ``n`` under ``base``,
        which :meth:`settled` said yes for when the window was planned; the
        records ``replica`` adds after the write travel behind the write's
        change, as one by one.  The write commutes with everything calm, and
        everything else that reached ``replica`` by then was pulled for real
        before it, so the write pulls nothing: its replica is caught up later,
        in a larger block, unless the write looks at the stable CSN near what
        is still to be applied (then every acting replica is caught up to its
        place first), or an earlier write of the window modified the same
        record (two modifies of one record need not commute: its replica is
        caught up first, as for a full read).  Every position belongs to
        exactly one run, read or write.
        """
        lane = [float(t) for t in times]
        seq0, start = self._seq, self._time
        adds: dict[Replica, list[tuple[str, str, int, np.ndarray]]] = {}
        takes = np.zeros(len(lane), np.int64)  # the positions that take a CSN
        for replica, base, first, positions in runs:
            r = self._by_name[replica]
            key = dn_key(base)[0]
            rows = np.asarray(positions, dtype=np.int64)
            if len(rows):
                adds.setdefault(r, []).append((key, r.stores[key].container_dn, first, rows))
                takes[rows] = 1
        for position, *_ in writes:
            takes[position] = 1
        before = np.cumsum(takes) - takes  # CSNs handed out before each position
        clock = np.maximum.accumulate(np.where(takes == 1, lane, start)) if len(lane) else []

        def at(position: int) -> None:
            """The CSN counter as the lane has it just before lane ``position``."""
            self._seq = seq0 + int(before[position])
            self._time = float(clock[position - 1]) if position else start

        def write(position: int, change: Callable[[], object]) -> None:
            at(position)
            change()
            if self._seq != seq0 + int(before[position]) + 1:
                raise AssertionError("a write of add_record_runs made other than one change")

        purge_at, self._purge_at = self._purge_at, math.inf  # nothing forgotten half-way
        try:
            if not self._track:  # one replica: nothing to remember or send
                self._one_replica(adds, reads, writes, write)
            else:
                self._window(adds, lane, start, before + (seq0 + 1), reads, writes, at, write)
        finally:
            self._purge_at = purge_at
        count = int(takes.sum())
        self._seq = seq0 + count
        if count:
            self._time = max(start, float(clock[-1]))
        self._maybe_purge()

    @staticmethod
    def _one_replica(adds: dict[Replica, list[tuple[str, str, int, np.ndarray]]],
                     reads: Sequence[Read], writes: Sequence[Write],
                     write: Callable[[int, Callable[[], object]], None]) -> None:
        """One replica: each read and write sees the records added before it."""
        items = [[r.stores[key], first, rows, None, 0] for r, group in adds.items()
                 for key, _, first, rows in group]
        steps = sorted([(position, 0, k) for k, (position, *_) in enumerate(reads)]
                       + [(position, 1, k) for k, (position, *_) in enumerate(writes)])
        for position, is_write, k in steps:
            _add_upto(items, position)
            if is_write:
                write(position, writes[k][2])
            else:
                reads[k][2]()
        _add_upto(items, math.inf)

    def _window(self, adds: dict[Replica, list[tuple[str, str, int, np.ndarray]]],
                lane: list[float], start: float, seqs: np.ndarray, reads: Sequence[Read],
                writes: Sequence[Write], at_csn: Callable[[int], None],
                write: Callable[[int, Callable[[], object]], None]) -> None:
        """Send each replica's records as bundles and pull as the lane would:
        a replica pulls at its adds, reads and writes (a *real* pull where it
        meets something that is not calm; calm records are caught up in
        blocks).  A replica's writes cut its records into one bundle per
        stretch between them: the bundle after a write is sent behind it.
        ``seqs``: the CSN sequence number an add at each position takes."""
        pulls: dict[Replica, list[int]] = {}  # where each replica pulls: its adds, reads, writes
        for position, replica, _, _ in reads:
            if replica is not None:
                pulls.setdefault(self._by_name[replica], []).append(position)
        cuts: dict[Replica, list[int]] = {}
        for position, replica, *_ in writes:
            r = self._by_name[replica]
            pulls.setdefault(r, []).append(position)
            cuts.setdefault(r, []).append(position)
        acting = set(adds) | set(pulls)
        #: what is calm (by id): the bundles' transits (-1), the writes' changes
        #: (the lane position of their write: sent after it)
        calm = {id(transit): -1 for r in acting for transit in self._calm(r)}
        window: dict[int, np.ndarray] = {}  # id(bundle) -> its lane positions
        bundles: list[Bundle] = []
        behind: dict[int, Bundle] = {}  # write position -> the bundle sent after it
        acts: dict[Replica, np.ndarray] = {}
        # each replica's own records, added up to its reads (then the rest):
        # [store, first, lane positions, run, how many added]
        own: dict[Replica, list[list[Any]]] = {}
        fresh = self._fresh
        lane_at = np.asarray(lane)
        for r in sorted(acting, key=lambda z: z.index):
            items = adds.get(r, [])
            positions = (np.sort(np.concatenate([rows for *_, rows in items])) if items
                         else np.zeros(0, np.int64))
            acts[r] = np.union1d(positions, pulls.get(r, [])).astype(np.int64)
            if not items:
                continue
            edges = [-1, *sorted(cuts.get(r, []))]
            ends = [*np.searchsorted(positions, edges[1:]).tolist(), len(positions)]
            lo = 0
            for edge, hi in zip(edges, ends, strict=True):
                if hi == lo:
                    continue
                segment = positions[lo:hi]
                lo = hi
                bundle = Bundle(r.index, lane_at[segment].tolist(),
                                seqs[segment].tolist(), start)
                for key, container_dn, first, rows in items:
                    a, b = np.searchsorted(rows, (segment[0], segment[-1] + 1)).tolist()
                    if a == b:
                        continue
                    sub = rows[a:b]
                    run = BundleRun(bundle, key, container_dn, first + a,
                                    np.searchsorted(segment, sub).tolist(), seqs[sub].tolist())
                    bundle.runs.append(run)
                    own.setdefault(r, []).append([r.stores[key], first + a, sub, run, 0])
                    fresh += len(sub)
                bundle.sent = 0
                window[id(bundle)] = segment
                bundles.append(bundle)
                if edge < 0:
                    self._send_window_bundle(r, bundle, calm)
                else:
                    behind[edge] = bundle
        self._fresh = fresh

        # a replica's bundles in lane order: those before the current one all
        # sent, those after it none yet (lane positions only grow below)
        sending = [[0, [bundle for bundle in bundles if bundle.origin == r.index]]
                   for r in acts]
        sending = [pair for pair in sending if pair[1]]

        def at(position: int) -> None:
            """The directory as the lane has it just before lane ``position``."""
            for pair in sending:
                i, mine = pair
                while i < len(mine):
                    bundle = mine[i]
                    segment = window[id(bundle)]
                    if segment[-1] >= position:
                        bundle.sent = int(np.searchsorted(segment, position))
                        break
                    bundle.sent = len(bundle)
                    i += 1
                pair[0] = i
            at_csn(position)

        # the real pulls, where an acting replica meets something that may not
        # commute, then the reads and writes: (lane position, 0 pull / 1 read
        # or write, order, what).  Of the repeatable reads of a replica only
        # those that may see something new go in: the first, and the first
        # after each real pull or write there (:meth:`add_record_runs`).
        heap: list[tuple[int, int, int, Any]] = []
        repeatable: dict[str | None, list[int]] = {}  # replica -> its repeatable reads
        for k, read in enumerate(reads):
            if read[3]:
                heap.append((read[0], 1, k, read))
            else:
                repeatable.setdefault(read[1], []).append(k)
        heap += [(position, 1, len(reads) + k, (position, replica, change, None))
                 for k, (position, replica, change, *_) in enumerate(writes)]
        # a record a write of the window modified: a later write of it on another
        # replica must see that change if it arrived (two modifies of one record
        # need not commute), so that replica is caught up before it
        record_of = {position: (dn_key(base)[0], n) for position, _, _, base, n in writes}
        written: set[tuple[str, int]] = set()
        read_at = {replica: [reads[k][0] for k in ks] for replica, ks in repeatable.items()}
        queued: dict[str | None, int] = {}  # replica -> its repeatable read in the heap

        def may_see_new(replica: str | None, position: int) -> None:
            """``replica``'s next repeatable read from lane ``position`` on goes in."""
            positions = read_at.get(replica)
            if positions is None:
                return
            j = bisect_left(positions, position)
            if j < len(positions) and queued.get(replica, -1) < j:
                queued[replica] = j
                k = repeatable[replica][j]
                heappush(heap, (positions[j], 1, k, reads[k]))

        kept: list[Change] = []  # the writes' changes, alive while ``calm`` names them
        for r in acts:
            due = self._next_arrival(r, acts[r], lane, -1, calm)
            if due is not None:
                heap.append((due, 0, r.index, r))
        heapify(heap)
        for replica in read_at:
            may_see_new(replica, 0)
        while heap:
            position, kind, _, what = heappop(heap)
            if kind:  # a read: a full one's replica caught up to it (calm records included)
                _, replica, read, full = what
                if full is not False:  # a full read, or a write (None)
                    may_see_new(replica, position + 1)
                    if full is None:
                        may_see_new(None, position + 1)
                    at(position)
                    if replica is not None:
                        r = self._by_name[replica]
                        eager = full or record_of[position] in written
                        if eager:
                            _add_upto(own.get(r, ()), position)
                            self._catch_up(r, acts[r], lane, position + 1, window, calm)
                        self._others_at(r, acts, lane, position, window, calm, itself=not eager)
                        if not full:
                            written.add(record_of[position])
                if full is None:  # a write, on ``r``: what is ready there is calm (see above)
                    self._pull_held = True
                    try:
                        write(position, read)
                    finally:
                        self._pull_held = False
                else:
                    read()
                self._before_floor = None
                if full is None:
                    for link in r.outgoing:  # its change: calm, caught up with the records
                        made = link.queue[-1][1]
                        assert made[1] == MODIFY and made[0][1] == self._seq, made
                        calm[id(made)] = position
                        kept.append(made)
                    bundle = behind.pop(position, None)
                    if bundle is not None:
                        self._send_window_bundle(r, bundle, calm)
                continue
            r = what
            at(position)
            self._catch_up(r, acts[r], lane, position, window, calm)
            self._others_at(r, acts, lane, position, window, calm)
            self._pull(r, lane[position])
            may_see_new(r.name, position)
            self._before_floor = None
            due = self._next_arrival(r, acts[r], lane, position, calm)
            if due is not None:
                heappush(heap, (due, 0, r.index, r))
        for bundle in bundles:
            bundle.sent = len(bundle)
        for z, positions in acts.items():
            _add_upto(own.get(z, ()), len(lane))
            self._catch_up(z, positions, lane, len(lane), window, calm)

    @staticmethod
    def _send_window_bundle(r: Replica, bundle: Bundle, calm: dict[int, int]) -> None:
        """Queue ``bundle`` on each of ``r``'s links; its records are calm."""
        for link in r.outgoing:
            transit = Transit(bundle)
            calm[id(transit)] = -1
            link.send_bundle(transit)

    def _others_at(self, r: Replica, acts: dict[Replica, np.ndarray], lane: list[float],
                   position: int, window: dict[int, np.ndarray], calm: dict[int, int],
                   itself: bool = False) -> None:
        """Before ``r`` pulls at lane ``position``: the other acting replicas
        (and ``r`` itself if ``itself``) caught up to it, but only if the pull
        looks at the stable CSN (the only thing their state changes there; a
        catch-up put off is the same catch-up later)."""

        def catch_up() -> None:
            current = self._current
            for z, positions in acts.items():
                if z is not r:
                    self._catch_up(z, positions, lane, position, window, calm)
                elif itself:
                    self._catch_up(z, positions, lane, position + 1, window, calm)
            self._current = current

        self._before_floor = catch_up

    def _calm(self, r: Replica) -> list[Transit]:
        """The bundles queued for ``r`` whose records can meet nothing there
        whenever they arrive in the window: no number on ``r`` yet, in no other
        change for ``r``, no change parked on ``r`` or on its way naming one."""
        items = [change for link in r.incoming for _, change in link.queue]
        transits = [change[3] for change in items if change[1] == BUNDLE]
        if not transits:
            return []
        spans = [span for change in items for span in item_spans(change)]
        named = [change[3] for change in items if change[1] in (MODIFY, DELETE)]
        calm = []
        for transit in transits:
            for run, a, b in transit.bundle.pieces(transit.lo, len(transit.bundle)):
                lo, hi = run.first + a, run.first + b - 1
                if (not self._clean(r, run, a, b)
                        or any(owner is not transit and key == run.key and first <= hi
                               and lo <= last for key, first, last, owner in spans)
                        or any((rank := run.rank_of(uid)) is not None and a <= rank < b
                               for uid in named)):
                    break
            else:
                calm.append(transit)
        return calm

    def _next_arrival(self, r: Replica, positions: np.ndarray, lane: list[float], after: int,
                      calm: dict[int, int]) -> int | None:
        """The lane position of ``r``'s first add after ``after`` at which it
        pulls something that is not calm (None: none in the window)."""
        first = int(np.searchsorted(positions, after, side="right"))
        if first == len(positions):
            return None
        best = None
        for link in r.incoming:
            if not link.auto:
                continue
            for ready, change in link.queue:
                if id(change[3] if change[1] == BUNDLE else change) in calm:
                    continue  # caught up in blocks
                arrival = max(ready, link.not_before)
                k = bisect_left(positions, arrival, first, len(positions),
                                key=lambda p: lane[p])
                if k < len(positions) and (best is None or positions[k] < best):
                    best = int(positions[k])
                break
        return best

    def _catch_up(self, r: Replica, positions: np.ndarray, lane: list[float], before: int,
                  window: dict[int, np.ndarray], calm: dict[int, int]) -> None:
        """Apply the calm records that ``r`` pulled at its adds before lane
        position ``before``: those sent before its last such add and ready by then."""
        last = int(np.searchsorted(positions, before)) - 1
        if last < 0:
            return
        position = int(positions[last])
        now = lane[position]
        pieces: list[Piece] = []
        singles: list[Change] = []
        for link in r.incoming:
            queue = link.queue
            if not queue or not link.auto or link.not_before > now:
                continue
            while queue:
                ready, change = queue[0]
                if change[1] != BUNDLE:
                    written = calm.get(id(change))
                    if written is None or written >= position or ready > now:
                        break  # not calm (a real pull's), or not sent yet then
                    queue.popleft()  # a write of the window
                    link.size -= 1
                    singles.append(change)
                    continue
                if id(change[3]) not in calm:
                    break
                transit = change[3]
                bundle = transit.bundle
                sent = (int(np.searchsorted(window[id(bundle)], position))
                        if id(bundle) in window else len(bundle))
                lo, end = transit.lo, transit.ready_end(now, sent)
                if end > lo:
                    pieces.append((bundle, lo, end))
                    link.size -= end - lo
                    transit.lo = end
                if end < len(bundle):
                    queue[0] = (transit.ready(end), bundle_item(transit))
                    break
                queue.popleft()
        if pieces or singles:
            self._apply_batch(r, singles, pieces, now, calm=True)

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
                key = keys[base] = dn_key(base)[0]
            store = r.stores[key]
            store.numbers.add(n)
            csn = self._csn(r, now)
            if track:
                store.csns[n] = csn
                self._fresh += 1
                self._send(r, (csn, RECORD, key, n, store.container_dn), now)
        self._maybe_purge()


__all__ = ["Read", "RecordRuns", "Run"]
