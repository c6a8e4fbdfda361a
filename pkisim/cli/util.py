"""What every ``pkisim`` command shares: exit statuses, one-line usage errors,
integer arguments with a floor, ``--set KEY=VALUE`` overrides, and writing an
output file without ever touching the input or leaving half a file behind."""

from __future__ import annotations

import argparse
import os
import tempfile
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from pkisim.errors import ConfigError

EXIT_VALID, EXIT_INVALID, EXIT_ERROR = 0, 1, 2


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line, like every other input error (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_ERROR, f"{self.prog}: {message} (see {self.prog} --help)\n")


def integer_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer (``0x`` prefixes allowed) >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text, 0)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}: {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"  # argparse names the type in its messages
    return parse


def parse_overrides(items: Sequence[str]) -> dict[str, object]:
    """``["workload.enroll_rate=5", "duration=2h"]`` -> ``{"workload.enroll_rate": 5,
    "duration": "2h"}``: TOML scalars (numbers, booleans, quoted strings, dates,
    arrays), anything else a bare string."""
    overrides: dict[str, object] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError("--set", item, "expected KEY=VALUE, e.g. workload.enroll_rate=5")
        try:
            value: object = tomllib.loads(f"v = {text.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = text.strip()
        overrides[key] = value
    return overrides


def same_file(out: Path, source: Path) -> bool:
    """Would writing ``out`` overwrite ``source``?"""
    try:
        return out.resolve() == source.resolve() or (out.exists() and out.samefile(source))
    except OSError:
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
