"""Histories of ID issuance.

Record with :class:`History` (``issue`` on the hot path, ``event`` for range
events, ``note`` for crashes and restarts), look with ``to_frame`` /
``events_frame``, keep with ``save`` / ``load`` (Parquet, CSV; Jepsen JSON Lines
read too).
"""

from pkisim.history.formats import HistoryFormatError
from pkisim.history.history import EventRecord, History, IssueColumns, Op, OpType

__all__ = ["EventRecord", "History", "HistoryFormatError", "IssueColumns", "Op", "OpType"]
