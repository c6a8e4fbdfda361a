"""Are the serials acceptable to RFC 5280 and to the CA/Browser Forum?

* RFC 5280 4.1.2.2: a serial is a positive integer of at most 20 octets, and an
  INTEGER is DER-encoded in two's complement, so a positive value whose top bit
  is set needs a leading zero octet: ``octets = bit_length // 8 + 1``, hence
  at most 159 significant bits.
* CA/B Forum Baseline Requirements 7.1: serials greater than zero, non-sequential,
  with at least 64 bits of CSPRNG output.  Only a random strategy gives that:
  RSNv3 (``random``) with ``dbs.cert.id.length`` >= 64.  RSNv1
  (``legacy-random``) draws inside its range, so its entropy is the bit length
  of the range (28 bits with pkispawn's ranges); sequential strategies give none.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

import pkisim.history.runchecks as runchecks
from pkisim.history.history import VALUE_OTHER, VALUE_PRESENT, History, Op, OpType
from pkisim.ids.config import check_strategy
from pkisim.ids.strategies import strategy as strategy_row

MAX_OCTETS = 20  # RFC 5280 4.1.2.2
BR_RANDOM_BITS = 64  # CA/B Forum BR 7.1
DEFAULT_ID_LENGTH = 128  # dbs.cert.id.length
PKISPAWN_RANGE = 0x10000000  # dbs.serialIncrement written by pkispawn


def der_integer_octets(value: int) -> int:
    """Content octets of ``value`` as a DER INTEGER (two's complement, minimal)."""
    if value >= 0:
        return value.bit_length() // 8 + 1
    return (-value - 1).bit_length() // 8 + 1


def random_bits(strategy: str, id_length: int | None = None,
                range_size: int | None = None) -> int:
    """Bits of CSPRNG output per serial a strategy provides."""
    mode = strategy_row(strategy)
    if mode.full_length_random:  # RSNv3: every bit
        return DEFAULT_ID_LENGTH if id_length is None else id_length
    if mode.random:  # RSNv1: random inside its range
        size = PKISPAWN_RANGE if range_size is None else range_size
        return max(0, size.bit_length() - 1)
    return 0


@dataclass(frozen=True)
class ComplianceResult:
    """Verdicts and the evidence behind them; ``examples`` are offending serials."""

    strategy: str
    count: int
    non_positive: int
    too_long: int
    max_octets: int
    random_bits: int
    rfc5280: bool
    baseline_requirements: bool
    reasons: tuple[str, ...] = ()
    examples: tuple[int, ...] = ()

    def __str__(self) -> str:
        def verdict(ok: bool) -> str:
            return "compliant" if ok else "NOT compliant"

        lines = [f"{self.count} serials ({self.strategy}, {self.random_bits} random bits, up to "
                 f"{self.max_octets} octets): RFC 5280 {verdict(self.rfc5280)}, CA/B Forum BR "
                 f"7.1 {verdict(self.baseline_requirements)}"]
        return "\n".join(lines + [f"  {reason}" for reason in self.reasons])


def check_compliance(values: Iterable[int] | History, strategy: str,
                     id_length: int | None = None, *,
                     range_size: int | None = None) -> ComplianceResult:
    """Check serials against RFC 5280 and BR 7.1.

    ``values`` is any iterable of ints, or a History (its acknowledged
    certificate serials, checked without leaving numpy).  ``id_length`` is
    ``dbs.cert.id.length`` (random strategies, default 128); ``range_size``
    the range size of ``legacy-random`` (default pkispawn's 0x10000000).
    """
    check_strategy(strategy)
    if isinstance(values, History) and not values.integer_ids:
        raise ValueError("check_compliance: the history has IDs that are not integers; "
                         "certificate serials are integers")
    if isinstance(values, History):
        count, non_positive, too_long, highest, examples = _history_stats(values)
    else:
        count, non_positive, too_long, highest, examples = _value_stats(values)
    max_octets = 0 if highest is None else der_integer_octets(highest)
    bits = random_bits(strategy, id_length, range_size)
    reasons = []
    if non_positive:
        reasons.append(f"{non_positive} serial(s) not positive (RFC 5280 4.1.2.2, BR 7.1)")
    if too_long:
        reasons.append(f"{too_long} serial(s) longer than {MAX_OCTETS} octets (RFC 5280 4.1.2.2)")
    mode = strategy_row(strategy)
    unbounded = mode.full_length_random  # RSNv3: dbs.cert.id.length bits
    config_too_long = unbounded and bits >= 8 * MAX_OCTETS
    if config_too_long:
        reasons.append(f"dbs.cert.id.length {bits} can produce {bits // 8 + 1}-octet serials: "
                       f"at most {8 * MAX_OCTETS - 1} bits fit in {MAX_OCTETS} octets")
    if unbounded and bits < BR_RANDOM_BITS:
        reasons.append(f"{bits} random bits: BR 7.1 requires at least {BR_RANDOM_BITS} bits of "
                       f"CSPRNG output (and a serial of 0 has probability 2^-{bits})")
    elif mode.random:
        reasons.append(f"RSNv1 draws inside its range: {bits} random bits, BR 7.1 requires "
                       f"{BR_RANDOM_BITS}")
    elif bits == 0:
        reasons.append(f"{strategy} serials are sequential: no CSPRNG output (BR 7.1 requires "
                       f"{BR_RANDOM_BITS} bits); fine for a private CA only")
    rfc = not non_positive and not too_long and not config_too_long
    return ComplianceResult(strategy, count, non_positive, too_long, max_octets, bits, rfc,
                            not non_positive and bits >= BR_RANDOM_BITS, tuple(reasons),
                            tuple(examples))


def _value_stats(values: Iterable[int]) -> tuple[int, int, int, int | None, list[int]]:
    count = non_positive = too_long = 0
    highest: int | None = None
    examples: list[int] = []
    for value in values:
        count += 1
        bad = False
        if value <= 0:
            non_positive += 1
            bad = True
        if der_integer_octets(value) > MAX_OCTETS:
            too_long += 1
            bad = True
        if bad and len(examples) < 5:
            examples.append(value)
        if highest is None or abs(value) > abs(highest):
            highest = value
    return count, non_positive, too_long, highest, examples


def _history_stats(history: History) -> tuple[int, int, int, int | None, list[int]]:
    if history.has_runs:
        return _run_stats(history)
    c = history.columns()
    ok = (c.op == Op.ISSUE_CERT) & (c.type == OpType.OK)
    present = ok & (c.flag == VALUE_PRESENT)
    lo, hi = c.lo[present], c.hi[present]
    zero = (lo == 0) & (hi == 0)
    count = int(np.count_nonzero(present))
    non_positive = int(np.count_nonzero(zero))
    examples = [0] if non_positive else []
    highest = None
    if count:
        top = hi.max()
        highest = int(top) << 64 | int(lo[hi == top].max())
    others = history.other_values
    other = [others[row] for row in np.flatnonzero(ok & (c.flag == VALUE_OTHER)).tolist()]
    n, bad_sign, long, high, more = _value_stats(other)
    if high is not None and (highest is None or abs(high) > highest):
        highest = high
    return (count + n, non_positive + bad_sign, long, highest, (examples + more)[:5])


def _run_stats(history: History) -> tuple[int, int, int, int | None, list[int]]:
    """:func:`_history_stats` on runs: a run holds 0 only as its first ID."""
    item = runchecks.items(history, Op.ISSUE_CERT)
    ok = item.type == OpType.OK
    present = ok & runchecks.present(item)
    count = int(item.count[present].sum())
    non_positive = int(np.count_nonzero(present & (item.lo == 0) & (item.hi == 0)))
    highest = runchecks.extremes(item, present)[1]
    n, bad_sign, long, high, more = _value_stats(
        [value for _, value in runchecks.other_ids(history, item, ok)])
    if high is not None and (highest is None or abs(high) > highest):
        highest = high
    return (count + n, non_positive + bad_sign, long, highest,
            (([0] if non_positive else []) + more)[:5])
