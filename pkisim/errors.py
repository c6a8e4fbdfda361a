"""pkisim's exceptions.

Two families, as in h11: :class:`ConfigError` for input the caller got wrong
(a CS.cfg value, a scenario key, a parameter) and :class:`DirectoryError` for a
directory that answered badly.  Each renders as one line that names the file,
the key and the value, so the command line can print ``str(err)`` and exit.
Dogtag's own runtime failures (:class:`SerialNumbersExhausted`) are ordinary
outcomes a simulation records, not bugs.
"""

from __future__ import annotations

import reprlib

#: The most characters of a value an error message shows.
SHOWN = 100
_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = _SHORT.maxlong = SHOWN
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxdict, _SHORT.maxtuple = 3, 8, 8, 8


def shown(value: object) -> str:
    """``repr(value)`` for an error message, short and safe: a 5,000-digit
    number, a megabyte string or a list nested 1,000 deep is cut (``...``)."""
    if isinstance(value, int) and value.bit_length() > 4 * SHOWN:  # repr refuses 4300 digits
        return f"<an integer of {value.bit_length():,} bits>"
    if isinstance(value, str) and len(value) > SHOWN:
        return f"{value[:SHOWN - 20]!r}... ({len(value):,} characters)"
    return _SHORT.repr(value)


def one_line(text: str) -> str:
    """``text`` with every line break and control character escaped: whatever a
    file name, key, value or library message holds, an error stays on one line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in text)


class PkisimError(Exception):
    """Base class of every error pkisim raises on purpose."""


class ConfigError(PkisimError, ValueError):
    """A configuration value that cannot work.

    ``ConfigError("dbs.endSerialNumber", "0x5", "is below dbs.beginSerialNumber 0x10",
    source="CS.cfg")`` renders as
    ``CS.cfg: dbs.endSerialNumber = '0x5': is below dbs.beginSerialNumber 0x10``.
    """

    def __init__(self, key: str, value: object, reason: str, *, source: str | None = None,
                 line: int | None = None) -> None:
        self.key, self.value, self.reason, self.source, self.line = key, value, reason, source, line
        super().__init__(self._render())

    def _render(self) -> str:
        where = ""
        if self.source:
            where = f"{self.source}:{self.line}: " if self.line else f"{self.source}: "
        return one_line(f"{where}{self.key} = {shown(self.value)}: {self.reason}")

    def with_source(self, source: str, line: int | None = None) -> ConfigError:
        """The same error, located in a file (keeps a line already known)."""
        return ConfigError(self.key, self.value, self.reason, source=source,
                           line=line if line is not None else self.line)


class DirectoryError(PkisimError):
    """A directory server that is unreachable, refuses us, or lacks an entry.

    Names the server and the DN, never a password.
    """

    def __init__(self, server: str, dn: str, reason: str) -> None:
        self.server, self.dn, self.reason = server, dn, reason
        super().__init__(one_line(f"{server}: {dn}: {reason}"))


class AllocationError(PkisimError):
    """An ID could not be allocated.  Carries Dogtag's own message."""


class SerialNumbersExhausted(AllocationError):
    """Dogtag's ``CMS_DBS_LIMIT_REACHED``: nothing left in the current range and
    no next range to switch to (or serial management is off).

    ``max_number`` is written with its radix stated (``0x18``, or decimal).
    ``cause`` is why no next range came, when pkisim knows: the reason the
    last range claim failed (the update task retries it at its next run).
    """

    def __init__(self, kind: str, max_number: str, cause: str | None = None) -> None:
        self.kind, self.max_number, self.cause = kind, max_number, cause
        text = f"All serial numbers are used. The max serial number is {max_number}"
        if cause:
            text += f"; the last range claim failed ({cause}); the update task retries it"
        super().__init__(text)


class DirectoryUnavailable(AllocationError):
    """The CA's directory could not answer what the CA cannot do without: the
    server is down or unreachable, or refused a search (a size or time limit).

    Raised by start-up recovery (``initCache``) instead of guessing "no
    records", which would start the range over and issue numbers again, and by
    a start-up during which the directory was unreachable (Dogtag aborts its
    start).  Try again once the directory answers.
    """


class RangeDepleted(AllocationError):
    """Restart recovery found a depleted range and no next range (Pagure 3055)."""


class TransferError(AllocationError):
    """A clone transfer (``UpdateNumberRange``) that the donor cannot serve."""
