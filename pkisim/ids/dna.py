"""389-DS's Distributed Numeric Assignment plugin as an allocation strategy.

dogtag-ranges.md section 9.  Each server owns an active range
(``dnaNextValue``..``dnaMaxValue``) and may hold one standby ``dnaNextRange``.
There is no global counter: when a server falls below ``dnaThreshold`` with no
standby range, it reads the peers' shared-config entries and asks the one with
the most remaining values for a range (an extended operation, pkisim's
:class:`~pkisim.ids.protocol.RequestRange`).  The donor gives half of its
standby range, or else half of its remaining active values from the top,
rounded down to a multiple of its threshold, lowering its own bound *before*
replying.
"""

from __future__ import annotations

import random

import pkisim.ids.protocol as p
from pkisim.errors import SerialNumbersExhausted
from pkisim.ids.events import CacheLoaded, RangeClaimed, RangeReceived, RangeTransferred
from pkisim.ids.repository import Repository
from pkisim.ids.strategies import STRATEGY


class DnaRepository(Repository):
    """One server's DNA range.  ``begin`` is ``dnaNextValue``, ``end`` ``dnaMaxValue``."""

    mode = STRATEGY["dna"]

    def __init__(self, *args: object, threshold: int | None = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        #: ``dnaThreshold``: pkisim reads it from the low-water mark unless given.
        self.threshold = max(1, threshold if threshold is not None else self.low_water_mark)
        self.extending = False
        self.shared_dn = (f"dnaHostname={self.config.host}+dnaPortNum={self.config.secure_port},"
                          f"{self.tree.dna_shared_config_dn(self.kind)}")
        self.last = self.begin - 1  # DNA persists dnaNextValue on every assignment
        self._emit(RangeReceived(self.kind, self.state, self.begin, self.end, "initial"))

    def restart(self, rng: random.Random | None = None) -> None:
        """``dnaNextValue`` is stored in the server's configuration: nothing is lost."""
        del rng

    def load_cache(self) -> p.Operation[None]:
        self._emit(CacheLoaded(self.kind, self.state, self.last if self.last is not None else 0))
        return
        yield

    def active_remaining(self) -> int:
        assert self.last is not None
        return max(0, self.end - self.last)

    @property
    def wants_check(self) -> bool:
        return (self.active_remaining() < self.threshold and self.next_begin is None
                and not self.extending)

    def issue_now(self) -> int:
        assert self.last is not None
        if self.last >= self.end:
            if self.next_begin is None:
                raise SerialNumbersExhausted(self.kind.value, str(self.end))
            self._switch()
            self.last = self.begin - 1
        self.last += 1
        return self.last

    # -------------------------------------------------------- requesting side
    def publish(self) -> p.Operation[None]:
        """Write this server's shared-config entry (``dnaRemainingValues``)."""
        attrs = p.normalize_attrs({
            "objectClass": ("top", "dnaSharedConfig"), "dnaHostname": self.config.host,
            "dnaPortNum": self.config.secure_port, "dnaRemainingValues": self.remaining()})
        result = yield p.Modify(self.shared_dn, (p.Mod(p.ModOp.REPLACE, "dnaRemainingValues",
                                                       attrs["dnaremainingvalues"]),))
        if result.code is p.ResultCode.NO_SUCH_OBJECT:
            yield p.Add(self.shared_dn, attrs)

    def start(self) -> p.Operation[None]:
        """Publish this server's shared entry; a server with no range asks for one."""
        yield from self.check_ranges()

    def check_due(self) -> bool:
        """DNA publishes its shared-config entry at every run."""
        return True

    def check_ranges(self) -> p.Operation[RangeClaimed | None]:
        """Below the threshold with no standby range: ask the richest peer."""
        if not self.wants_check:
            yield from self.publish()
            return None
        self.extending = True
        try:
            found = yield p.Search(self.tree.dna_shared_config_dn(self.kind),
                                   {"objectClass": "dnaSharedConfig"})
            peers = []
            for dn, attrs in found.entries if found.ok else ():
                host = p.attr_first(attrs, "dnaHostname")
                remaining = p.attr_first(attrs, "dnaRemainingValues") or "0"
                if dn.lower() != self.shared_dn.lower() and host and remaining.isdigit():
                    peers.append((-int(remaining), dn, host))
            for neg_remaining, _, host in sorted(peers):
                if neg_remaining >= 0:
                    break
                reply = yield p.RequestRange(host, self.kind.value)
                if reply.ok and reply.number is not None and reply.upper is not None:
                    self.next_begin, self.next_end = reply.number, reply.upper
                    self._emit(RangeReceived(self.kind, self.state, reply.number, reply.upper,
                                             f"dna:{host}"))
                    break
        finally:
            self.extending = False
        yield from self.publish()
        return None

    # -------------------------------------------------------- donor side
    def release_range(self) -> tuple[int, int] | None:
        """Answer a peer's range request (``dna_release_range``), or refuse (None)."""
        if self.extending or self.active_remaining() <= self.threshold:
            return None
        if self.next_begin is not None and self.next_end is not None:
            size = self.next_end - self.next_begin + 1
            give = (size // 2) // self.threshold * self.threshold
            if give <= 0:
                return None
            lower = self.next_end - give + 1
            upper = self.next_end
            self.next_end = lower - 1
            if self.next_end < self.next_begin:
                self.next_begin = self.next_end = None
            self._emit(RangeTransferred(self.kind, self.state, lower, upper, True))
            return lower, upper
        give = (self.active_remaining() // 2) // self.threshold * self.threshold
        if give <= 0:
            return None
        lower, upper = self.end - give + 1, self.end
        self.end = lower - 1
        self._emit(RangeTransferred(self.kind, self.state, lower, upper, False))
        return lower, upper
