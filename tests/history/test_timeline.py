"""The numeric helpers the checkers share: row lookup, 128-bit comparisons, ID formats."""

from __future__ import annotations

import numpy as np
import pytest

from pkisim.history.timeline import fmt_id, fmt_range, join128, less_equal, rows_among, split128
from pkisim.ids.config import IdKind


@pytest.mark.parametrize("wanted", [0, 1, 3, 5, 200, 5000])
def test_rows_among_matches_isin(wanted: int) -> None:
    rng = np.random.default_rng(wanted)
    values = rng.integers(0, 2**64, 20_000, dtype=np.uint64)
    values[::7] = np.arange(len(values[::7]), dtype=np.uint64)  # sequential stretches too
    chosen = rng.choice(values, wanted, replace=False) if wanted else np.zeros(0, np.uint64)
    expected = np.flatnonzero(np.isin(values, chosen))
    assert (rows_among(values, chosen) == expected).all()


def test_128_bit_helpers() -> None:
    values = [0, 5, 2**64 - 1, 2**64, 2**127 + 3, 2**128 - 1]
    hi, lo = split128(values)
    assert join128(hi, lo) == values
    assert join128(*split128([-5, 2**200])) == [0, 2**128 - 1]  # clamped
    a_hi, a_lo = split128([5, 2**64, 2**64])
    b_hi, b_lo = split128([5, 2**64 - 1, 2**65])
    assert less_equal(a_hi, a_lo, b_hi, b_lo).tolist() == [True, False, True]


def test_ids_are_written_the_dogtag_way() -> None:
    assert fmt_id(0x1000005) == "0x1000005"
    assert fmt_id(1234, IdKind.REQUEST) == "1234"
    assert fmt_range(16, 31, IdKind.CERT) == "0x10-0x1f"
    assert fmt_id(None) == "none"
