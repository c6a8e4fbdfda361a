"""How Dogtag writes numbers: SSNv1's per-repository radix and SSNv2's ``0x`` notation.

* SSNv1 (``legacy``): certificate values are hexadecimal *without* a prefix
  (``dbs.cert.id.radix`` = 16), request and replica values decimal.  The shared
  ``nextRange`` counter is always decimal, which is where the famous
  hex/decimal reinterpretation comes from (dogtag-ranges.md section 4.4).
* SSNv2 (``legacy2``): ``0x`` means hexadecimal, anything else decimal.  Only
  certificate values (``dbs.cert.id.radix`` = 16) are written back with ``0x``;
  request values (``dbs.request.id.radix`` = 10) are written in decimal, as are
  replica IDs in every mode (``Repository.set*SerialConfig`` adds ``0x`` only
  when the radix is 16; upstream CI ``ca-clone-ssnv2-test.yml`` shows
  ``dbs.beginSerialNumber=0x9`` next to ``dbs.nextBeginRequestNumber=11``).
"""

from __future__ import annotations

import enum
import string

from pkisim.errors import ConfigError
from pkisim.limits import id_digits


class Radix(enum.Enum):
    """A way to read and write a CS.cfg number."""

    DECIMAL = "decimal"  # SSNv1 request IDs
    HEX = "hex"  # SSNv1 certificate serials: hex digits, no prefix
    PREFIXED = "0x-aware"  # SSNv2 certs: "0x..." is hex, anything else decimal; written as 0x...
    DECIMAL_0X = "decimal, 0x accepted"  # SSNv2 requests, replica IDs: read 0x-aware, write decimal

    def parse(self, text: str, *, key: str = "value") -> int:
        """Read ``text``; a malformed value, or one longer than an ID can be
        (:func:`pkisim.limits.id_digits`), raises a one-line :class:`ConfigError`."""
        s = text.strip()
        if self is Radix.HEX:
            digits, base = s, 16
        elif self in (Radix.PREFIXED, Radix.DECIMAL_0X) and s.lower().startswith("0x"):
            digits, base = s[2:], 16
        elif s == "-1":  # Dogtag's "no next range"
            return -1
        else:
            digits, base = s, 10
        # str.isdigit() would also take "²" and "٣", int(x, 16) "+", "-" and "_"
        if not digits or not all(c in (string.hexdigits if base == 16 else string.digits)
                                 for c in digits):
            expected = ("a hexadecimal number (no 0x)" if self is Radix.HEX
                        else "a decimal number" if self is Radix.DECIMAL
                        else "a decimal number or 0x-prefixed hexadecimal")
            raise ConfigError(key, text, f"is not {expected}")
        return id_digits(digits, base, key, text)

    def format(self, number: int) -> str:
        """Write ``number`` the way Dogtag writes it to CS.cfg."""
        if self is Radix.HEX:
            return format(number, "x")
        if self is Radix.PREFIXED:
            return hex(number)
        return str(number)

    def show(self, number: int) -> str:
        """``number`` in a message, its radix stated: ``0x``-prefixed when this
        repository's numbers are hexadecimal (SSNv1 and SSNv2 certificates),
        plain decimal otherwise.  CS.cfg's own spelling (:meth:`format`) would
        leave SSNv1's ``12`` ambiguous next to a decimal ``nextRange``."""
        return hex(number) if self in (Radix.HEX, Radix.PREFIXED) else str(number)

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
