"""The run directory: what ``pkisim run`` writes, and how it gets there safely.

Layout (every file deterministic: the same scenario, seed and code give the
same bytes)::

    summary.json        RunResult.summary() and the exit status, sorted keys
    scenario.json       the resolved scenario, seed, command and code version
    history.parquet     the history (History.save), readable by ``pkisim check``
    tables/NAME.parquet every metric table of RunResult.frames()
    tables/NAME.csv     the small ones again, for a spreadsheet
    *.png               the plots (pkisim.report.plots)

Everything is written into a staging directory next to the destination and
swapped into place at the end (:class:`Staging`), so a failed, interrupted or
killed run never leaves half a report nor loses the previous one, and an
existing destination is replaced only if it is a previous pkisim output (it has
a ``summary.json``) or empty.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import enum
import errno
import hashlib
import json
import math
import os
import platform
import secrets
import shutil
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import pkisim
from pkisim.errors import PkisimError
from pkisim.interrupts import deferred, settle

try:
    import fcntl
except ImportError:  # no flock: stale files of dead runs cannot be told from live ones
    fcntl = None  # type: ignore[assignment]
from pkisim.sim.metrics import RunResult

#: Tables also written as CSV (small whatever the run's size).
CSV_TABLES = ("failures", "forecast", "faults", "claims", "ocsp", "replica_ids")
_INT64 = (-(2**63), 2**63 - 1)


class OutputError(PkisimError):
    """The output directory cannot be used; the message is one line."""


# --------------------------------------------------------------------------- staging


class Staging:
    """A directory next to ``destination`` to write a report into, and the
    commit that puts it in place.

    ``.NAME.pkisim-TOKEN.tmp`` is the staging directory, held by the lock file
    ``.NAME.pkisim-TOKEN.lock`` (``flock``) for as long as this process lives.
    :meth:`commit` swaps it with a previous report in one step where the
    platform can (Linux ``renameat2(RENAME_EXCHANGE)``); elsewhere it writes a
    journal (``.NAME.pkisim-TOKEN.commit``), renames the old report to
    ``.NAME.pkisim-TOKEN.old`` and the new one into place.  A run killed at any
    point leaves its files behind, unlocked: the next run for the same
    destination removes them (:func:`clean_up`) and, if the journal says a
    commit was under way and the destination is missing, puts the old report
    back (or, if there was none, the complete new one).  SIGINT and SIGTERM
    wait until a commit is done.
    """

    def __init__(self, destination: Path, marker: str = "summary.json") -> None:
        self.destination = Path(os.path.abspath(destination))
        self.marker = marker
        self._lock: int | None = None
        parent = self.destination.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            clean_up(self.destination)
            check_replaceable(self.destination, marker)
            with deferred():  # a signal here would leave a lock nobody discards
                self._lock, self._stem = _new_lock(parent, self.destination.name)
                self.path = self._file(".tmp")
                self.path.mkdir(mode=0o700)
        except OSError as err:
            self.discard()
            reason = err.strerror or str(err)
            if isinstance(err, FileExistsError | NotADirectoryError):
                reason = "a parent is not a directory"
            raise OutputError(f"{destination}: cannot write the report here: {reason}") from None
        except BaseException:  # a signal, handled when the lock was taken
            self.discard()
            raise

    def _file(self, suffix: str) -> Path:
        return self.destination.parent / f"{self._stem}{suffix}"

    def commit(self) -> None:
        """Put the staged files in place, replacing a previous output."""
        dest = self.destination
        check_replaceable(dest, self.marker)
        umask = os.umask(0)
        os.umask(umask)
        self.path.chmod(0o777 & ~umask)  # private until now
        note = f"the new report is in place in {dest}"
        done = False
        try:
            with deferred():  # SIGINT and SIGTERM after the commit
                if dest.exists() and exchange(self.path, dest):
                    shutil.rmtree(self.path, ignore_errors=True)  # now the old report
                else:
                    self._commit_with_journal()
                settle(note)  # a later interrupt, wherever it lands, says so too
                done = True
        except OSError as err:
            raise OutputError(f"{dest}: cannot put the report in place: "
                              f"{err.strerror or err}") from None
        except BaseException as stop:  # a signal that waited for the commit
            if done:
                stop.add_note(note)
            raise
        finally:
            self._unlock()

    def _commit_with_journal(self) -> None:
        """Two renames, recoverable from the journal by :func:`clean_up`."""
        dest, old, journal = self.destination, self._file(".old"), self._file(".commit")
        if not dest.exists():
            os.rename(self.path, dest)
            return
        with open(journal, "w") as f:
            f.write(f"{self.path.name} -> {dest.name} (old: {old.name})\n")
            f.flush()
            os.fsync(f.fileno())
        _fsync_directory(dest.parent)
        os.rename(dest, old)
        os.rename(self.path, dest)
        _fsync_directory(dest.parent)
        journal.unlink()
        shutil.rmtree(old, ignore_errors=True)

    def discard(self) -> None:
        if self._lock is not None:
            shutil.rmtree(self.path, ignore_errors=True)
        self._unlock()

    def _unlock(self) -> None:
        if self._lock is not None:
            self._file(".lock").unlink(missing_ok=True)
            os.close(self._lock)
            self._lock = None


def clean_up(destination: Path) -> list[Path]:
    """Remove what dead runs left next to ``destination`` (staging directories,
    old reports, journals, lock files), finishing or rolling back a commit a
    journal says was under way.  A run is dead when its lock file can be
    locked; holding that lock, nothing else can use its files.  Returns what
    was removed."""
    parent, prefix = destination.parent, f".{destination.name}.pkisim-"
    removed: list[Path] = []
    try:
        stems = sorted({p.name.rsplit(".", 1)[0] for p in parent.iterdir()
                        if p.name.startswith(prefix)})
    except OSError:
        return removed
    for stem in stems:
        files = {s: parent / f"{stem}{s}" for s in (".lock", ".new", ".tmp", ".old", ".commit")}
        fd = _lock_if_dead(files[".lock"]) or _lock_if_dead(files[".new"])
        if fd is None:
            continue
        try:
            if files[".commit"].exists() and not destination.exists():
                for report in (files[".old"], files[".tmp"]):  # the old report back, else the new
                    if report.is_dir():
                        os.rename(report, destination)
                        break
            for suffix in (".tmp", ".old", ".commit", ".new", ".lock"):
                leftover = files[suffix]
                if leftover.is_dir() and not leftover.is_symlink():
                    shutil.rmtree(leftover, ignore_errors=True)
                elif leftover.exists() or leftover.is_symlink():
                    leftover.unlink()
                else:
                    continue
                removed.append(leftover)
        finally:
            os.close(fd)
    return removed


def _new_lock(parent: Path, name: str) -> tuple[int, str]:
    """A new lock file ``.NAME.pkisim-TOKEN.lock``, already held when it appears
    (made as ``.new``, locked, then linked): its descriptor, and the stem."""
    while True:
        stem = f".{name}.pkisim-{secrets.token_hex(4)}"
        new, lock = parent / f"{stem}.new", parent / f"{stem}.lock"
        try:
            fd = os.open(new, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.link(new, lock)
        except (FileExistsError, FileNotFoundError):  # taken, or a clean-up removed ``new``
            os.close(fd)
            continue
        finally:
            new.unlink(missing_ok=True)
        return fd, stem


def _lock_if_dead(lock: Path) -> int | None:
    """A descriptor holding ``lock`` if the run that made it is dead; ``None`` if
    it lives, or there is no such file (or no ``flock`` on this platform)."""
    if fcntl is None:
        return None
    try:
        fd = os.open(lock, os.O_RDWR)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


# renameat2(2) (Linux >= 3.15, glibc >= 2.28): swap two paths in one step.
_AT_FDCWD, _RENAME_EXCHANGE = -100, 2


def _load_renameat2() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                         ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_RENAMEAT2 = _load_renameat2()


def exchange(a: Path, b: Path) -> bool:
    """Swap the paths ``a`` and ``b`` atomically; ``False`` where the platform
    or the file system cannot (then nothing happened)."""
    if _RENAMEAT2 is None:
        return False
    if _RENAMEAT2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM):
        return False  # no such system call, or a file system without exchange
    raise OSError(code, os.strerror(code), str(b))


def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def check_replaceable(path: Path, marker: str = "summary.json") -> None:
    """Raise :class:`OutputError` unless ``path`` is absent, an empty directory
    or a previous pkisim output (it has the file ``marker``)."""
    try:
        if path.is_symlink():
            raise OutputError(f"{path}: is a symbolic link; give the directory itself")
        if not path.exists():
            return
        if not path.is_dir():
            raise OutputError(f"{path}: exists and is not a directory; refusing to replace it")
        if (path / marker).is_file():
            return
        empty = next(path.iterdir(), None) is None
    except OSError as err:  # a name too long, no permission, a loop of links
        raise OutputError(f"{path}: cannot use it: {err.strerror or err}") from None
    if not empty:
        raise OutputError(f"{path}: exists and is not a pkisim output (no {marker}); "
                          "refusing to replace it: choose another --out")


# --------------------------------------------------------------------------- writers


def write_run(result: RunResult, directory: Path, summary: Mapping[str, Any],
              provenance: Mapping[str, Any]) -> list[Path]:
    """Write the history, the tables and both JSON files; returns the paths."""
    written = [directory / "summary.json", directory / "scenario.json",
               directory / "history.parquet"]
    write_json(written[0], summary)
    write_json(written[1], {**provenance, "scenario": plain(result.scenario)})
    result.history.save(written[2])
    written[2].chmod(0o644)  # saved through a private temporary file
    tables = directory / "tables"
    tables.mkdir()
    for name, frame in result.frames().items():
        frame = parquet_ready(frame)
        written.append(tables / f"{name}.parquet")
        write_parquet(frame, written[-1])
        if name in CSV_TABLES:
            written.append(tables / f"{name}.csv")
            frame.to_csv(written[-1], index=False, lineterminator="\n")
    return written


def write_json(path: Path, data: Any) -> None:
    text = json.dumps(data, sort_keys=True, indent=2, allow_nan=False, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Fixed writer options: the same frame gives the same bytes."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, path, compression="zstd", compression_level=3, version="2.6",
                   data_page_version="1.0", use_dictionary=True, write_statistics=True,
                   row_group_size=1 << 20)


def parquet_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns typed for Parquet: integers that fit in 64 bits as
    nullable ``Int64``, bigger ones (128-bit serials) as decimal strings."""
    out = frame
    for name in frame.columns:
        column = frame[name]
        if column.dtype != object or not len(column):
            continue
        values = column.tolist()
        present = [v for v in values if not _missing(v)]
        if present and all(isinstance(v, int | np.integer) and not isinstance(v, bool)
                           for v in present):
            if all(_INT64[0] <= v <= _INT64[1] for v in present):
                typed = pd.array([None if _missing(v) else int(v) for v in values], dtype="Int64")
            else:
                typed = pd.array([None if _missing(v) else str(v) for v in values],
                                 dtype="string")
        elif present and all(isinstance(v, float | np.floating | int | np.integer)
                             for v in present):
            typed = pd.array([math.nan if _missing(v) else float(v) for v in values],
                             dtype="float64")
        else:
            typed = pd.array([None if _missing(v) else str(v) for v in values], dtype="string")
        if out is frame:
            out = frame.copy()
        out[name] = typed
    return out


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


# --------------------------------------------------------------------------- provenance


def plain(value: Any) -> Any:
    """A dataclass tree (the resolved scenario) as JSON-ready data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if f.repr}
    if isinstance(value, enum.Enum):
        return plain(value.value)
    if isinstance(value, Mapping):
        return {str(plain(k)): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else str(float(value))
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, np.integer):
        return int(value)
    return str(value)


def code_version() -> dict[str, str]:
    """pkisim's version and a hash of its source, and the versions of the
    libraries that draw or shape the numbers (a seed replays only with these)."""
    root = Path(pkisim.__file__).parent
    digest = hashlib.sha256()
    for source in sorted(root.rglob("*.py")):
        digest.update(source.relative_to(root).as_posix().encode() + b"\0")
        digest.update(source.read_bytes())
    versions = {"pkisim": package_version(), "pkisim_source_sha256": digest.hexdigest(),
                "python": platform.python_version()}
    for lib in ("simpy", "numpy", "pandas", "pyarrow", "matplotlib"):
        versions[lib] = _version(lib)
    return versions


def package_version() -> str:
    return _version("pkisim")


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"


def file_sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


__all__ = ["CSV_TABLES", "OutputError", "Staging", "check_replaceable", "clean_up",
           "code_version", "exchange", "file_sha256", "package_version", "parquet_ready", "plain",
           "write_json", "write_parquet", "write_run"]
