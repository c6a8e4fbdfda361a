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
  is still in flight somewhere.  Records added in one go travel as runs
  (:mod:`pkisim.directory.runs`), with the same result as one by one.
* What every replica has seen is forgotten (record CSNs, deleted attribute
  values, tombstones: :mod:`pkisim.directory.delivery`), so memory and the
  time per operation stay bounded; that never changes an answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pkisim.directory.entries import Csn, Entry, check_mods
from pkisim.directory.records import ANCIENT, dn_key, fits, record_number, shape_of
from pkisim.directory.replication import (
    ADD,
    DELETE,
    MODIFY,
    RECORD,
    Link,
    Replica,
    ReplicationConflict,
    check_lag,
)
from pkisim.directory.runs import RecordRuns
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

_NO_SUCH_OBJECT = Result(ResultCode.NO_SUCH_OBJECT, message="no such entry")


def _with_rdn(attrs: Mapping[str, Any], dn: str) -> dict[str, Values]:
    """Normalised attributes plus the values of the RDN, as 389-DS adds them."""
    out = normalize_attrs(attrs)
    for ava in dn.partition(",")[0].split("+"):
        name, _, value = ava.partition("=")
        name, values = name.strip().lower(), out.get(name.strip().lower(), ())
        if value.lower() not in {v.lower() for v in values}:
            out[name] = (*values, value)
    return out


class ReplicatedDirectory(RecordRuns):
    """Replicas of one directory tree, linked in a full mesh of one-way links.

    ``lag`` is the replication delay of every link in seconds; ``None`` means
    manual delivery (changes wait for :meth:`deliver`).  ``conflicts`` lists
    every naming conflict as each replica resolved it.
    """

    def __init__(self, replicas: Sequence[str] = ("ds1",), *, lag: float | None = 0.0,
                 single_valued: Iterable[str] = SINGLE_VALUED) -> None:
        super().__init__(replicas, lag, single_valued)
        self._handlers: dict[type, Callable[[Replica, Any, float], Result]] = {
            Read: self._read, Search: self._search, Modify: self._modify, Add: self._add,
            Delete: self._delete, LastNumberInRange: self._last_number,
            NumberExists: self._number_exists, RequestRange: self._request_range}

    # ------------------------------------------------------------ the Directory protocol
    def execute(self, command: Command, *, replica: str, now: float) -> Result:
        r = self._replica(replica)
        if not r.up:
            return Result(ResultCode.SERVER_DOWN, message=f"{replica} is down")
        if self._fresh >= self._purge_at:
            self._purge()
        if r.incoming and not self._pull_held:
            self._pull(r, now)
        handler = self._handlers.get(type(command))
        if handler is None:
            raise TypeError(f"not a directory command: {command!r}")
        return handler(r, command, now)

    def bootstrap(self, adds: Iterable[Add], now: float = 0.0) -> None:
        """Load the initial tree on every replica at once (nothing replicates)."""
        for add in adds:
            key, dn = dn_key(add.dn)
            attrs = _with_rdn(add.attrs, dn)
            uid = self._csn(self._replicas[0], now)
            for r in self._replicas:
                if r.has(key):
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
            link.limit(limit)
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
        delivered = self._deliver(self._select(src, dst), now, count)
        self._maybe_purge()
        return delivered

    def pending(self, src: str | None = None, dst: str | None = None) -> int:
        """Changes not applied yet: queued on links, or parked at their target."""
        total = sum(link.size for link in self._select(src, dst))
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
        found = self._inspect(replica, now).view_at(dn_key(dn)[0])
        return None if found is None else found[1]

    def values(self, replica: str, dn: str, name: str, *, now: float | None = None
               ) -> Values | None:
        """The values of one attribute of one entry on one replica (``()``:
        none), or ``None`` if there is no such entry: :meth:`entry`'s
        ``[name]`` without building the entry."""
        return self._inspect(replica, now).values_at(dn_key(dn)[0], name.lower())

    def entries(self, replica: str, base: str | None = None, now: float | None = None
                ) -> list[tuple[str, dict[str, Values]]]:
        """Every entry at or below ``base`` (default: all), sorted by DN."""
        key = None if base is None else dn_key(base)[0]
        return [(dn, view) for _, dn, view in self._inspect(replica, now).collect(key)]

    def numbers(self, replica: str, base: str, now: float | None = None) -> list[int]:
        """The sorted record numbers directly below a records container."""
        store = self._inspect(replica, now).stores.get(dn_key(base)[0])
        return [] if store is None else list(store.numbers)

    # ------------------------------------------------------------ commands
    def _read(self, r: Replica, cmd: Read, now: float) -> Result:
        found = r.view_at(dn_key(cmd.dn)[0])
        return _NO_SUCH_OBJECT if found is None else Result(entries=(found,))

    def _search(self, r: Replica, cmd: Search, now: float) -> Result:
        key = dn_key(cmd.base)[0]
        if not r.has(key):
            return _NO_SUCH_OBJECT
        match = tuple((name.lower(), str(value)) for name, value in cmd.match.items())
        return Result(entries=tuple((dn, view) for _, dn, view in r.collect(key, match)))

    def _last_number(self, r: Replica, cmd: LastNumberInRange, now: float) -> Result:
        key = dn_key(cmd.base)[0]
        store = r.stores.get(key)
        if store is None:
            return _NO_SUCH_OBJECT if not r.has(key) else Result(number=None)
        return Result(number=store.last_in(cmd.begin, cmd.end))

    def _number_exists(self, r: Replica, cmd: NumberExists, now: float) -> Result:
        key = dn_key(cmd.base)[0]
        store = r.stores.get(key)
        if store is None:
            return _NO_SUCH_OBJECT if not r.has(key) else Result(number=None)
        return Result(number=cmd.number if cmd.number in store else None)

    def _request_range(self, r: Replica, cmd: RequestRange, now: float) -> Result:
        return Result(ResultCode.UNWILLING_TO_PERFORM,
                      message=f"RequestRange is DNA's extended operation to peer {cmd.peer}; "
                              "the driver routes it to that server's allocator, not to LDAP")

    def _add(self, r: Replica, cmd: Add, now: float) -> Result:
        key, dn = dn_key(cmd.dn)
        rdn, _, parent = key.partition(",")
        if not r.has(parent):
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
            if n in store.numbers:
                return Result(ResultCode.ENTRY_ALREADY_EXISTS, message=f"{dn} exists")
            if compact:
                store.numbers.add(n)
                csn = self._csn(r, now)
                if self._track:
                    store.csns[n] = csn
                    self._fresh += 1
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
        key = dn_key(cmd.dn)[0]
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
        self._prune(entry, mods)
        return OK

    def _delete(self, r: Replica, cmd: Delete, now: float) -> Result:
        key, dn = dn_key(cmd.dn)
        if not r.has(key):
            return _NO_SUCH_OBJECT
        if r.has_children(key):
            return Result(ResultCode.UNWILLING_TO_PERFORM,
                          message=f"{dn} has children (notAllowedOnNonLeaf)")
        uid = self._remove(r, key)
        csn = self._csn(r, now)
        self._bury(r, uid, csn)
        self._send(r, (csn, DELETE, key, uid, None), now)
        return OK

    # ------------------------------------------------------------ helpers
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
