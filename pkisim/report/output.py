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
renamed into place at the end (:class:`Staging`), so a failed run never leaves
half a report, and an existing destination is replaced only if it is a previous
pkisim output (it has a ``summary.json``) or empty.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import math
import os
import platform
import shutil
import tempfile
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
from pkisim.sim.metrics import RunResult

#: Tables also written as CSV (small whatever the run's size).
CSV_TABLES = ("failures", "forecast", "faults", "claims")
_INT64 = (-(2**63), 2**63 - 1)


class OutputError(PkisimError):
    """The output directory cannot be used; the message is one line."""


# --------------------------------------------------------------------------- staging


class Staging:
    """A temporary directory next to ``destination``, renamed onto it by
    :meth:`commit`, deleted by :meth:`discard`."""

    def __init__(self, destination: Path, marker: str = "summary.json") -> None:
        self.destination = Path(os.path.abspath(destination))
        self.marker = marker
        check_replaceable(self.destination, marker)
        parent = self.destination.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            self.path = Path(tempfile.mkdtemp(prefix=f".{self.destination.name}.",
                                              suffix=".tmp", dir=parent))
        except OSError as err:
            reason = err.strerror or str(err)
            if isinstance(err, FileExistsError | NotADirectoryError):
                reason = "a parent is not a directory"
            raise OutputError(f"{destination}: cannot write the report here: {reason}") from None

    def commit(self) -> None:
        """Put the staged files in place, replacing a previous output."""
        dest = self.destination
        check_replaceable(dest, self.marker)
        umask = os.umask(0)
        os.umask(umask)
        self.path.chmod(0o777 & ~umask)  # mkdtemp made it private
        old = self.path.with_name(self.path.name + ".old")
        try:
            if dest.exists():
                os.rename(dest, old)
            try:
                os.rename(self.path, dest)
            except OSError:
                if old.exists():
                    os.rename(old, dest)
                raise
        except OSError as err:
            raise OutputError(f"{dest}: cannot put the report in place: "
                              f"{err.strerror or err}") from None
        shutil.rmtree(old, ignore_errors=True)

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def check_replaceable(path: Path, marker: str = "summary.json") -> None:
    """Raise :class:`OutputError` unless ``path`` is absent, an empty directory
    or a previous pkisim output (it has the file ``marker``)."""
    if path.is_symlink():
        raise OutputError(f"{path}: is a symbolic link; give the directory itself")
    if not path.exists():
        return
    if not path.is_dir():
        raise OutputError(f"{path}: exists and is not a directory; refusing to replace it")
    if (path / marker).is_file():
        return
    try:
        empty = next(path.iterdir(), None) is None
    except OSError as err:
        raise OutputError(f"{path}: cannot read: {err.strerror or err}") from None
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


__all__ = ["CSV_TABLES", "OutputError", "Staging", "check_replaceable", "code_version",
           "file_sha256", "package_version", "parquet_ready", "plain", "write_json",
           "write_parquet", "write_run"]
