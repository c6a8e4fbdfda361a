"""A growable numpy column, the storage of the history's tables, and how the
issue table's values are read back from its ``lo``/``hi``/``flag`` columns."""

from __future__ import annotations

from typing import Any

import numpy as np

#: Value flags of the issue table.
VALUE_PRESENT, VALUE_NONE, VALUE_OTHER = 0, 1, 2


class Column:
    """A growable numpy column: appends copy into spare capacity; growth
    reallocates (doubling), so views handed out earlier stay valid.

    A ``sparse`` column (``hi``, ``flag``: nearly always zero) holds no data
    until a non-zero value arrives; until then its view is a fresh
    ``np.zeros``, whose pages the kernel maps only when written, so an
    all-zero column costs no memory even while a checker reads it."""

    def __init__(self, dtype: type[np.generic], *, sparse: bool = False) -> None:
        self._dtype = dtype
        self._data: np.ndarray | None = None if sparse else np.empty(1 << 12, dtype=dtype)
        self._size = 0

    def extend(self, chunk: np.ndarray) -> None:
        data = self._data
        if data is None:
            if not np.any(chunk):
                self._size += len(chunk)
                return
            data = self._data = np.zeros(max(1 << 12, 2 * (self._size + len(chunk))),
                                         self._dtype)
        elif not self._size and len(chunk) > len(data):  # a file's whole column: adopt it
            self._data = np.array(chunk, dtype=data.dtype, copy=None, order="C")
            if not self._data.flags.writeable or self._data.base is not None:
                self._data = self._data.copy()
            self._size = len(chunk)
            return
        end = self._size + len(chunk)
        if end > len(data):
            grown = np.empty(max(end, 2 * len(data)), data.dtype)
            grown[: self._size] = data[: self._size]
            self._data = data = grown
        data[self._size:end] = chunk
        self._size = end

    def view(self) -> np.ndarray:
        out = (np.zeros(self._size, self._dtype) if self._data is None
               else self._data[: self._size])
        out.flags.writeable = False
        return out

    @property
    def nbytes(self) -> int:
        """Bytes the rows use (capacity grows by doubling, but untouched pages
        of the spare capacity take no memory)."""
        return 0 if self._data is None else self._size * self._data.itemsize


def exact_values(c: Any, others: dict[int, object], index: np.ndarray,
                 rows: np.ndarray | None = None) -> list[object]:
    """Values of ``c``'s rows ``index``; ``rows``: their logical rows (the keys
    of ``others``) when not ``index``."""
    lo, hi = c.lo[index].tolist(), c.hi[index].tolist()
    out: list[object] = [low | high << 64 if high else low
                         for low, high in zip(lo, hi, strict=True)]
    flags = c.flag[index]
    for i in np.flatnonzero(flags != VALUE_PRESENT).tolist():
        out[i] = None if flags[i] == VALUE_NONE else others[int((index if rows is None
                                                                   else rows)[i])]
    return out


def value_column(c: Any, others: dict[int, object]) -> Any:
    """The issue table's ``value`` column: integers where they fit, else objects."""
    import pandas as pd

    missing = c.flag == VALUE_NONE
    if not others and not c.hi.any():
        return pd.arrays.IntegerArray(c.lo.copy(), missing.copy())
    out = np.empty(len(c.time), dtype=object)
    out[:] = exact_values(c, others, np.arange(len(c.time)))
    return out
