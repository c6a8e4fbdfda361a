"""What every ``pkisim`` command shares: one-line usage errors, integer
arguments with a floor, and writing an output file without ever touching
the input or leaving half a file behind."""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

EXIT_ERROR = 2


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
