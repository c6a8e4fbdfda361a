"""pkisim.limits: the rules every reader of outside input shares."""

from __future__ import annotations

import pytest

from pkisim.errors import ConfigError, shown
from pkisim.limits import (
    ID_LIMIT,
    MAX_DEPTH,
    LimitError,
    check_document,
    id_digits,
    id_number,
    java_int,
    port,
)


def test_ids_are_refused_by_their_digits_before_any_conversion() -> None:
    assert id_digits("0" * 5000 + "17", 10, "k") == 17  # leading zeros are not digits
    assert id_digits("f" * 256, 16, "k") == ID_LIMIT - 1
    for text, base in (("9" * 5000, 10), ("1" + "0" * 309, 10), ("1" + "0" * 256, 16)):
        with pytest.raises(ConfigError, match="an ID has at most 1024 bits"):
            id_digits(text, base, "k")
    with pytest.raises(ConfigError, match="is not a decimal number"):
        id_digits("٣", 10, "k")


@pytest.mark.parametrize(("value", "reason"), [
    (True, "expected an integer"), (1.5, "expected an integer"), (-5, "cannot be negative"),
    ("-5", "cannot be negative"), ("-0x5", "cannot be negative"), ("5x", "expected a decimal"),
    ("", "expected a decimal"), ("0x", "expected a decimal"), (ID_LIMIT, "too large"),
])
def test_an_id_is_a_non_negative_integer_of_at_most_1024_bits(value: object,
                                                                reason: str) -> None:
    with pytest.raises(ConfigError, match=reason):
        id_number(value, "value")


def test_ids_as_written() -> None:
    assert [id_number(v, "k") for v in (5, "5", " 0x1F ", "0X10", str(2**200))] == \
        [5, 5, 31, 16, 2**200]


def test_java_ints_and_ports() -> None:
    assert java_int(" -600 ", "k") == -600 and java_int("+7", "k") == 7
    for text in ("9" * 5000, "2147483648", "1e3", "", "٣"):
        with pytest.raises(ConfigError):
            java_int(text, "k")
    assert port(8443, "k") == 8443
    for number in (0, 65536, 99999999, -1):
        with pytest.raises(ConfigError, match=r"is not a TCP port \(1-65535\)"):
            port(number, "k")


def test_documents_nest_at_most_32_levels_and_hold_no_number_over_1024_bits() -> None:
    deep: object = 1
    for _ in range(MAX_DEPTH - 1):
        deep = [deep]
    check_document({"a": deep})  # 32 levels with the top table
    with pytest.raises(LimitError) as info:
        check_document({"a": [deep]})
    assert info.value.path[:2] == ("a", 0) and "nests deeper than 32" in info.value.reason
    very_deep: object = 1
    for _ in range(100_000):  # no recursion: no RecursionError
        very_deep = {"x": very_deep}
    with pytest.raises(LimitError):
        check_document(very_deep)
    with pytest.raises(LimitError, match="at most 1024 bits") as info:
        check_document({"t": {"n": [1, -ID_LIMIT]}})
    assert info.value.path == ("t", "n", 1)


def test_errors_show_values_short_and_safe() -> None:
    assert shown(10**5000) == "<an integer of 16,610 bits>"
    assert shown("x" * 10_000).endswith("... (10,000 characters)")
    nested: object = []
    for _ in range(5000):
        nested = [nested]
    assert shown(nested) == "[[[[...]]]]"
    assert "\n" not in str(ConfigError("a\nb", "c\nd", "e\nf", source="g\nh"))
