"""What every ``pkisim`` command shares: exit statuses, the one argument parser
whose errors are one line, errors printed as one line, SIGINT and SIGTERM,
option types (integers with bounds, amounts, sizes), ``--set KEY=VALUE``
overrides, and writing an output file without ever touching the input or
leaving half a file behind."""

from __future__ import annotations

import argparse
import math
import os
import re
import signal
import stat
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO

from pkisim.errors import ConfigError, PkisimError, one_line
from pkisim.interrupts import settled

if TYPE_CHECKING:
    from pkisim.scenario.estimate import Budget

EXIT_VALID, EXIT_INVALID, EXIT_ERROR = 0, 1, 2
#: The largest seed a command takes (a scenario's ``seed`` is a 64-bit TOML integer).
MAX_SEED = 2**63 - 1


class UsageError(PkisimError):
    """Arguments that parse but do not go together (``--url`` without ``--bind-dn``)."""


class WriteError(PkisimError):
    """An output file that cannot be written."""


class OneLineParser(argparse.ArgumentParser):
    """The parser of every command: a usage error is one line on stderr and exit
    status 2.  An unrecognized argument is named by its option only, never by its
    value (it could be a password)."""

    def error(self, message: str) -> NoReturn:
        prefix = "unrecognized arguments: "
        if message.startswith(prefix):
            given = message[len(prefix):].split()
            names = [a.split("=", 1)[0] for a in given if a.startswith("-")]
            values = len(given) - len(names)
            if values:
                names.append(f"{'and ' if names else ''}{values} value{'s' if values > 1 else ''}"
                             " (not shown)")
            message = prefix + " ".join(names)
        self.exit(EXIT_ERROR, one_line(f"{self.prog}: {message} (see {self.prog} --help)") + "\n")


def fail(message: object, status: int = EXIT_ERROR) -> int:
    """Print ``message`` as one line on stderr; return ``status``."""
    print(one_line(str(message)), file=sys.stderr)
    return status


# --------------------------------------------------------------------------- signals


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived: unwind (every ``finally`` and ``except
    BaseException`` cleans up), then exit with 128 + the signal number."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.name = signal.Signals(signum).name
        super().__init__(self.name)

    @property
    def status(self) -> int:
        return 128 + self.signum


_received: list[int] = []


@contextmanager
def interruptible(*, then_ignore: bool = False) -> Iterator[None]:
    """While inside, SIGINT and SIGTERM raise :class:`Interrupted` (the first one;
    later ones wait, so that the clean-up finishes).  Leaving re-raises a signal
    that some code swallowed.  Only the main thread can take signals.

    ``then_ignore``: a process that exits right after (the ``pkisim`` command)
    ignores them once done, instead of dying of a signal while it exits after
    its work was committed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _: object) -> None:
        if not _received:
            _received.append(signum)
            raise Interrupted(signum)

    _received.clear()
    settled(forget=True)
    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
        check_interrupted()
    finally:
        for number, previous in old.items():
            signal.signal(number, signal.SIG_IGN if then_ignore else previous)


def check_interrupted() -> None:
    """Raise :class:`Interrupted` if a signal arrived and was swallowed."""
    if _received:
        raise Interrupted(_received[0])


# --------------------------------------------------------------------------- option types


def integer_at_least(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer (``0x`` prefixes allowed) >= ``minimum``
    (and <= ``maximum``)."""

    def parse(text: str) -> int:
        digits = text.strip().lstrip("+-")
        if len(digits) > 40:  # also spares int() a 5,000-digit string
            raise argparse.ArgumentTypeError(f"not an integer of at most 40 digits: {text[:20]!r}"
                                             "...")
        try:
            value = int(text, 0)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}: {value}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be <= {maximum}: {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"  # argparse names the type in its messages
    return parse


def amount(text: str) -> float:
    """An argparse type: a positive number such as ``5000000``, ``5e9`` or ``inf``."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text[:40]!r}") from None
    if not value > 0 or math.isnan(value):
        raise argparse.ArgumentTypeError(f"must be > 0: {text[:40]!r}")
    return value


_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def byte_size(text: str) -> float:
    """An argparse type: bytes, with an optional unit: ``512M``, ``8G``, ``1.5T``, ``inf``."""
    match = re.fullmatch(r"\s*([0-9.]+(?:e[0-9]+)?|inf)\s*([KMGT]?)i?B?\s*", text, re.I)
    if match is None:
        raise argparse.ArgumentTypeError(f"not a size such as 512M or 8G: {text[:40]!r}")
    try:
        value = float(match[1]) * _UNITS[match[2].upper()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size such as 512M or 8G: {text[:40]!r}") \
            from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0: {text[:40]!r}")
    return value


def add_budget(parser: argparse.ArgumentParser, what: str) -> None:
    """``--max-events`` and ``--max-memory``: how much work ``what`` may start."""
    from pkisim.scenario.estimate import DEFAULT_MAX_EVENTS

    parser.add_argument("--max-events", type=amount, default=DEFAULT_MAX_EVENTS, metavar="N",
                        help=f"refuse {what} estimated at more simulated events than N "
                             f"(default {DEFAULT_MAX_EVENTS:.0e})")
    parser.add_argument("--max-memory", type=byte_size, metavar="SIZE",
                        help=f"refuse {what} estimated to need more memory than SIZE "
                             "(e.g. 32G; default 80%% of this machine's)")


def budget(args: argparse.Namespace) -> Budget:
    """The budget that ``--max-events`` and ``--max-memory`` set."""
    from pkisim.scenario.estimate import Budget

    if args.max_memory is None:
        return Budget(max_events=args.max_events)
    return Budget(max_events=args.max_events, max_memory=args.max_memory)


def parse_overrides(items: Sequence[str]) -> dict[str, object]:
    """``["workload.enroll_rate=5", "duration=2h"]`` -> ``{"workload.enroll_rate": 5,
    "duration": "2h"}``: TOML scalars (numbers, booleans, quoted strings, dates,
    arrays), anything else a bare string; within the limits of a scenario file."""
    from pkisim.scenario.document import TomlSyntaxError, parse_toml

    overrides: dict[str, object] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError("--set", item, "expected KEY=VALUE, e.g. workload.enroll_rate=5")
        try:
            value: object = parse_toml(f"v = {text.strip()}", "--set")["v"]
        except TomlSyntaxError:
            value = text.strip()
        except ConfigError as err:  # TOML beyond the limits (digits, nesting)
            raise ConfigError("--set", item, err.reason) from None
        overrides[key] = value
    return overrides


def same_file(out: Path, source: Path) -> bool:
    """Would writing ``out`` overwrite ``source``?"""
    try:
        return out.resolve() == source.resolve() or (out.exists() and out.samefile(source))
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop
        return False


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it into place."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def is_stdout(out: str | Path) -> bool:
    """Is ``out`` standard output: ``-``, or a path to the file it writes to?"""
    if str(out) == "-":
        return True
    try:
        return os.path.samestat(os.stat(out), os.fstat(sys.stdout.fileno()))
    except (OSError, ValueError, AttributeError):  # no such file; stdout is not a file
        return False


def write_output(out: str | Path, text: str) -> None:
    """Write ``text`` to ``out``: ``-`` or a path to standard output is standard
    output; a FIFO or device is written in place, never replaced; a regular file
    atomically (a symbolic link keeps pointing at it)."""
    if is_stdout(out):
        _put(sys.stdout, text)
        return
    path = Path(out)
    try:
        mode = path.stat().st_mode  # of what a link points at
    except FileNotFoundError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):  # a FIFO, a device: never replaced
        with path.open("w", encoding="utf-8") as f:
            _put(f, text)
        return
    write_atomically(path.resolve() if path.is_symlink() else path, text)


def _put(stream: TextIO, text: str) -> None:
    stream.write(text)
    stream.flush()


#: The longest first line a password file may hold.
MAX_PASSWORD = 4096


def read_password_file(path: Path, key: str = "--password-file") -> str:
    """The bind password: the first line of ``path`` (never shown in an error)."""
    try:
        with path.open(encoding="utf-8") as f:
            first = f.readline(MAX_PASSWORD + 1)
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or type(err).__name__
        raise ConfigError(key, str(path), f"cannot be read: {reason}") from None
    password = first.rstrip("\r\n")
    if not password:
        raise ConfigError(key, str(path), "is empty (the first line is the password)")
    if len(password) > MAX_PASSWORD:
        raise ConfigError(key, str(path), f"its first line is longer than {MAX_PASSWORD:,} "
                          "characters: not a password file")
    return password
