"""Radix: what Dogtag accepts and writes for each kind of CS.cfg number."""

from __future__ import annotations

import pytest

from pkisim.errors import ConfigError
from pkisim.ids.config import IdKind, radix_for
from pkisim.ids.radix import Radix


@pytest.mark.parametrize(("radix", "text", "number"), [
    (Radix.HEX, "fff0000", 0xFFF0000), (Radix.HEX, "A0", 0xA0),
    (Radix.DECIMAL, "10", 10), (Radix.DECIMAL, "-1", -1),
    (Radix.PREFIXED, "0x10", 16), (Radix.PREFIXED, "10", 10),
    (Radix.DECIMAL_0X, "0X10", 16), (Radix.DECIMAL_0X, " 10 ", 10),
])
def test_parse(radix: Radix, text: str, number: int) -> None:
    assert radix.parse(text) == number


@pytest.mark.parametrize("radix", list(Radix))
@pytest.mark.parametrize("text", ["", "1_0", "+5", "0x", "0x-5", "0x1_0", "\u00b2", "\u0663"])
def test_parse_rejects_what_python_int_would_take(radix: Radix, text: str) -> None:
    with pytest.raises(ConfigError):
        radix.parse(text)


@pytest.mark.parametrize(("kind", "strategy", "written"), [
    (IdKind.CERT, "legacy", "10000000"),
    (IdKind.CERT, "legacy-random", "10000000"),
    (IdKind.CERT, "legacy2", "0x10000000"),
    (IdKind.REQUEST, "legacy", "268435456"),
    (IdKind.REQUEST, "legacy2", "268435456"),  # dbs.request.id.radix stays 10 under SSNv2
    (IdKind.REPLICA, "legacy", "268435456"),
    (IdKind.REPLICA, "legacy2", "268435456"),
])
def test_what_dogtag_writes(kind: IdKind, strategy: str, written: str) -> None:
    assert radix_for(kind, strategy).format(0x10000000) == written
