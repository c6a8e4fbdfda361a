"""Full entries with update-resolution state, as 389-DS keeps them.

Every value of an :class:`Attr` carries the CSN stamp of its last add and last
delete, and every attribute the stamp of its last whole delete/replace, so that
replicated changes give the same result in any order.  Also LDAP's modify
rules (:func:`check_mods`) and Search's filter (:func:`matches`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pkisim.ids.protocol import ModOp, Result, ResultCode, Values

#: A change sequence number: (time, directory-wide sequence, replica index).
Csn = tuple[float, int, int]
#: A CSN plus the position of one value change inside its operation.
Stamp = tuple[float, int, int, int]
#: One change of a modify, normalised: (op, lower-case attribute, values).
Mods = tuple[tuple[ModOp, str, Values], ...]
#: The attribute that marks a naming-conflict entry.
CONFLICT_ATTR = "nsds5replconflict"


def _later(a: Stamp | None, b: Stamp) -> Stamp:
    return b if a is None or b > a else a


class Attr:
    """One attribute with update-resolution state: per value ``[display, add
    stamp, delete stamp]``, plus the stamp of the last whole-attribute delete."""

    __slots__ = ("deleted", "values")

    def __init__(self) -> None:
        self.deleted: Stamp | None = None
        self.values: dict[str, list[Any]] = {}

    def add(self, value: str, stamp: Stamp) -> None:
        state = self.values.get(value.lower())
        if state is None:
            self.values[value.lower()] = [value, stamp, None]
        elif state[1] is None or stamp > state[1]:
            state[0], state[1] = value, stamp

    def remove(self, value: str, stamp: Stamp) -> None:
        state = self.values.get(value.lower())
        if state is None:
            self.values[value.lower()] = [value, None, stamp]
        else:
            state[2] = _later(state[2], stamp)

    def present(self) -> Values:
        """The visible values, in the order they were added: a value is there if
        its add is newer than its delete and than the last whole delete."""
        d = self.deleted
        live = [(add, value) for value, add, gone in self.values.values()
                if add is not None and (gone is None or add > gone) and (d is None or add >= d)]
        live.sort()
        return tuple(value for _, value in live)

    def prune(self, floor: Csn | Callable[[Stamp], Csn]) -> bool:
        """Forget the values that are not visible and whose stamps are all below
        ``floor`` (every change that can still arrive is at or above it; a
        callable is asked, with the latest stamp of the value, only for an
        invisible value); True if invisible values are left that are not
        stable yet.

        This never changes what the attribute shows, now or after any later
        change: a later add or delete has a stamp >= ``floor``, above every
        stamp of a forgotten value, so it decides alone as it would have beside
        the old state; and a value invisible now stays invisible until a later
        add, since the whole-delete stamp only grows.
        """
        d = self.deleted
        dead = []
        left = False
        for key, (_, add, gone) in self.values.items():
            if add is not None and (gone is None or add > gone) and (d is None or add >= d):
                continue  # visible
            bound = (floor(add if gone is None else gone if add is None else max(add, gone))
                     if callable(floor) else floor)
            if (add is None or add < bound) and (gone is None or gone < bound):
                dead.append(key)
            else:
                left = True
        for key in dead:
            del self.values[key]
        return left


class Entry:
    """A full entry.  ``uid`` is its add CSN, which is also its unique id."""

    __slots__ = ("attrs", "dn", "uid")

    def __init__(self, dn: str, uid: Csn, attrs: Mapping[str, Values]) -> None:
        self.dn, self.uid = dn, uid
        self.attrs: dict[str, Attr] = {}
        position = 0
        for name, values in attrs.items():
            attr = self.attrs[name] = Attr()
            for value in values:
                attr.add(value, (*uid, position))
                position += 1

    def view(self) -> dict[str, Values]:
        out = {}
        for name, attr in self.attrs.items():
            values = attr.present()
            if values:
                out[name] = values
        return out

    def matches(self, match: Sequence[tuple[str, str]]) -> bool:
        """:func:`matches` of :meth:`view`, looking only at the attributes named."""
        attrs = self.attrs
        return all(_has(attr.present() if (attr := attrs.get(name)) is not None else (), wanted)
                   for name, wanted in match)

    def prune(self, names: Iterable[str], floor: Csn | Callable[[Stamp], Csn]) -> list[Attr]:
        """:meth:`Attr.prune` the attributes ``names``; the ones left with
        invisible values that are not stable yet.  ``nsds5ReplConflict`` is
        never pruned: a naming conflict adds its value with the entry's own,
        old, stamp."""
        attrs = self.attrs
        return [attr for name in names if name != CONFLICT_ATTR
                and (attr := attrs.get(name)) is not None and attr.prune(floor)]

    def apply(self, mods: Mods, csn: Csn, single_valued: frozenset[str]) -> None:
        """Apply mods, each value change with its own stamp.  An add to a
        single-valued attribute replaces it, so that the later CSN wins."""
        position = 0
        for op, name, values in mods:
            attr = self.attrs.get(name)
            if attr is None:
                attr = self.attrs[name] = Attr()
            if op is ModOp.DELETE and values:
                for value in values:
                    attr.remove(value, (*csn, position))
                    position += 1
                continue
            if op is not ModOp.ADD or name in single_valued:  # replace, delete, overwrite
                attr.deleted = _later(attr.deleted, (*csn, position))
            for value in values if op is not ModOp.DELETE else ():
                attr.add(value, (*csn, position))
                position += 1
            position += 1


def check_mods(view: Mapping[str, Values], mods: Mods, single_valued: frozenset[str]
               ) -> Result | None:
    """LDAP's modify rules, applied in order to a copy of the entry: ``None``
    if every mod applies, else the error of the first that does not."""
    work: dict[str, list[str]] = {}
    for op, name, values in mods:
        current = work.setdefault(name, list(view.get(name, ())))
        lowered = [v.lower() for v in current]
        if op is ModOp.DELETE and not values:
            if not current:
                return Result(ResultCode.NO_SUCH_ATTRIBUTE, message=f"no attribute {name}")
            current.clear()
        elif op is ModOp.DELETE:
            for value in values:
                if value.lower() not in lowered:
                    return Result(ResultCode.NO_SUCH_ATTRIBUTE,
                                  message=f"{name} has no value {value!r}")
                del current[lowered.index(value.lower())]
                lowered.remove(value.lower())
        elif op is ModOp.ADD:
            if not values:
                return Result(ResultCode.UNWILLING_TO_PERFORM, message=f"add {name}: no values")
            for value in values:
                if value.lower() in lowered:
                    return Result(ResultCode.ATTRIBUTE_OR_VALUE_EXISTS,
                                  message=f"{name} already has value {value!r}")
                current.append(value)
                lowered.append(value.lower())
        else:
            current[:] = dict.fromkeys(values)
        if name in single_valued and len(current) > 1:
            return Result(ResultCode.CONSTRAINT_VIOLATION,
                          message=f"{name} is single-valued: {tuple(current)!r}")
    return None


def matches(view: Mapping[str, Values], match: Sequence[tuple[str, str]]) -> bool:
    """Search's filter: every (attribute, value) equal, case-insensitively; ``*`` = present."""
    return all(_has(view.get(name, ()), wanted) for name, wanted in match)


def _has(values: Values, wanted: str) -> bool:
    """Does an attribute with ``values`` match ``wanted`` (``*``: any value)?"""
    return bool(values) and (wanted == "*" or wanted.lower() in {v.lower() for v in values})


__all__ = ["CONFLICT_ATTR", "Attr", "Csn", "Entry", "Mods", "Stamp", "check_mods", "matches"]
