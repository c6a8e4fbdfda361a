"""Explanations for the state machine's failure messages: the history
checker's account of duplicates, and how two CAs came to hold overlapping ranges."""

from __future__ import annotations

from collections.abc import Callable

from pkisim.history import History
from pkisim.history.history import ISSUE_OP
from pkisim.ids.config import IdKind
from pkisim.ids.events import RangeClaimed, RangeEvent, RangeReceived, RangeTransferred


def final_run() -> bool:
    """Is Hypothesis replaying the shrunk example for its report?  Explanations
    use the pandas checkers; skipping them while shrinking saves minutes."""
    try:
        from hypothesis.control import current_build_context

        return bool(current_build_context().is_final)
    except Exception:  # outside Hypothesis, or an internal API that moved
        return True


def explain(history: History, kinds: tuple[IdKind, ...] = (IdKind.CERT, IdKind.REQUEST)) -> str:
    """The checker's explanation of the duplicates of ``kinds`` in ``history``
    (a CA's serials and request IDs by default; a KRA's key IDs and request IDs)."""
    from pkisim.history import check_unique, explain_duplicates

    lines = []
    for kind in kinds:
        result = check_unique(history, op=ISSUE_OP[kind])
        if not result.valid:
            lines += [str(w) for w in explain_duplicates(history, result, limit=3)]
    return "\n".join(lines)


def explain_ranges(log: list[tuple[float, str, str, RangeEvent]], kind: IdKind,
                   cas: tuple[str, str], overlap: tuple[int, int],
                   show: Callable[[int], str] = str) -> str:
    """How each of the two CAs came to hold its range: its claims and received
    slices, and every transfer (by any donor) of the overlapping numbers, with
    the replica each went through."""
    out = []
    for time, ca, replica, ev in log:
        if ev.kind is not kind:
            continue
        gave = (isinstance(ev, RangeTransferred) and ev.begin <= overlap[1]
                and ev.end >= overlap[0])
        if ca not in cas and not gave:
            continue
        if isinstance(ev, RangeClaimed):
            out.append(f"  t={time:g} {ca} claim {show(ev.begin)}-{show(ev.end)} on {replica} "
                       f"(read nextRange {ev.counter}, wrote {ev.record_end + 1}; decimal)")
        elif isinstance(ev, RangeTransferred | RangeReceived):
            what = "transfer" if isinstance(ev, RangeTransferred) else "receive"
            next_range = ""
            if isinstance(ev, RangeTransferred) and ev.from_next:
                next_range = " from its next range"
                if ev.state.next_end is not None and ev.state.next_begin is not None \
                        and ev.state.next_end < ev.state.next_begin:
                    next_range += (f", leaving nextEnd {show(ev.state.next_end)} below "
                                   f"nextBegin {show(ev.state.next_begin)}")
            out.append(f"  t={time:g} {ca} {what} {show(ev.begin)}-{show(ev.end)}{next_range} "
                       f"on {replica}")
    return "\n".join(out)


__all__ = ["explain", "explain_ranges", "final_run"]
