"""How Dogtag writes numbers: SSNv1's per-repository radix and SSNv2's ``0x`` notation.

* SSNv1 (``legacy``): certificate values are hexadecimal *without* a prefix
  (``dbs.cert.id.radix`` = 16), request and replica values decimal.  The shared
  ``nextRange`` counter is always decimal, which is where the famous
  hex/decimal reinterpretation comes from (dogtag-ranges.md section 4.4).
* SSNv2 (``legacy2``): ``0x`` means hexadecimal, anything else decimal; values
  are written back with ``0x``.
"""

from __future__ import annotations

import enum

from pkisim.errors import ConfigError


class Radix(enum.Enum):
    """A way to read and write a CS.cfg number."""

    DECIMAL = "decimal"  # SSNv1 requests and replica IDs
    HEX = "hex"  # SSNv1 certificate serials: hex digits, no prefix
    PREFIXED = "0x-aware"  # SSNv2: "0x..." is hex, anything else decimal; written as 0x...

    def parse(self, text: str, *, key: str = "value") -> int:
        """Read ``text``; a malformed value raises a one-line :class:`ConfigError`."""
        s = text.strip()
        try:
            if self is Radix.HEX:
                if s.lower().startswith(("0x", "-")):
                    raise ValueError
                return int(s, 16)
            if self is Radix.PREFIXED and s.lower().startswith("0x"):
                return int(s[2:], 16)
            if s == "-1":  # Dogtag's "no next range"
                return -1
            if not s.isdigit():
                raise ValueError
            return int(s, 10)
        except ValueError:
            expected = {Radix.DECIMAL: "a decimal number", Radix.HEX: "a hexadecimal number (no 0x)",
                        Radix.PREFIXED: "a decimal number or 0x-prefixed hexadecimal"}[self]
            raise ConfigError(key, text, f"is not {expected}") from None

    def format(self, number: int) -> str:
        """Write ``number`` the way Dogtag writes it to CS.cfg."""
        if self is Radix.HEX:
            return format(number, "x")
        if self is Radix.PREFIXED:
            return hex(number)
        return str(number)

    @property
    def base(self) -> int:
        return 16 if self is Radix.HEX else 10

    def reinterpret(self, decimal_text: str) -> int:
        """Read a decimal ``nextRange`` string *as this repository's radix*.

        SSNv1 certificates read the decimal digit string ``"13"`` as 0x13; that
        is Dogtag's behaviour and it leaves gaps between ranges.  SSNv2 and
        decimal repositories read it as what it is.
        """
        if self is Radix.HEX:
            return int(decimal_text, 16)
        return int(decimal_text, 10)
