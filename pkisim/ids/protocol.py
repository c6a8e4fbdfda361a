"""The directory port: the commands the allocation core emits and the results it consumes.

The allocation logic never performs I/O (style.md, h11).  An operation such as
``checkRanges`` is a generator: it *yields* one of the frozen commands below and
is *sent* the :class:`Result` of executing it.  Whoever drives the generator
decides what "executing" means:

* :class:`pkisim.directory.memory.ReplicatedDirectory` applies it to one replica
  of the in-memory replicated model, at a simulated time;
* the SimPy world adds simulated latency around each command;
* the python-ldap driver turns it into a real ``search``/``modify``/``add``.

Result codes are LDAP's (RFC 4511), so that the memory model and a real server
answer the allocation core in the same words.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from pkisim.errors import DirectoryUnavailable


class ResultCode(enum.IntEnum):
    """The LDAP result codes the allocation core reacts to."""

    SUCCESS = 0
    TIME_LIMIT_EXCEEDED = 3
    SIZE_LIMIT_EXCEEDED = 4
    ADMIN_LIMIT_EXCEEDED = 11
    NO_SUCH_ATTRIBUTE = 16
    UNDEFINED_ATTRIBUTE_TYPE = 17
    CONSTRAINT_VIOLATION = 19
    ATTRIBUTE_OR_VALUE_EXISTS = 20
    NO_SUCH_OBJECT = 32
    INVALID_CREDENTIALS = 49
    BUSY = 51
    UNAVAILABLE = 52
    UNWILLING_TO_PERFORM = 53
    OBJECT_CLASS_VIOLATION = 65
    ENTRY_ALREADY_EXISTS = 68
    SERVER_DOWN = 81  # client-side code (python-ldap's SERVER_DOWN): replica unreachable
    TIMEOUT = 85


#: Codes that mean "the directory did not answer": the server is down or unreachable.
UNREACHABLE = frozenset({ResultCode.SERVER_DOWN, ResultCode.UNAVAILABLE, ResultCode.TIMEOUT})


class ModOp(enum.Enum):
    """One change inside an LDAP modify."""

    ADD = "add"
    DELETE = "delete"
    REPLACE = "replace"


#: Attribute values are strings, as on the wire.  An entry maps a lower-case
#: attribute name to its values.
Values = tuple[str, ...]
Attributes = Mapping[str, Values]


@dataclass(frozen=True, slots=True)
class Mod:
    """One change of a modify: ``Mod(ModOp.DELETE, "nextRange", ("13",))``.

    A DELETE with no values removes the whole attribute; with values, it
    removes exactly those values and fails with noSuchAttribute if one of them
    is absent.  That is what makes delete-old/add-new a compare-and-swap.
    """

    op: ModOp
    attr: str
    values: Values = ()


# ---------------------------------------------------------------- commands
@dataclass(frozen=True, slots=True)
class Read:
    """Read one entry (a base-scope search).  Result: ``entries`` holds it."""

    dn: str


@dataclass(frozen=True, slots=True)
class Modify:
    """Apply all ``mods`` to one entry atomically, or none of them."""

    dn: str
    mods: tuple[Mod, ...]


@dataclass(frozen=True, slots=True)
class Add:
    """Add an entry.  ENTRY_ALREADY_EXISTS if the DN is taken on this replica."""

    dn: str
    attrs: Attributes


@dataclass(frozen=True, slots=True)
class Delete:
    """Delete an entry (used to drop replication conflict entries)."""

    dn: str


@dataclass(frozen=True, slots=True)
class Search:
    """Subtree search below ``base`` for entries whose attributes equal ``match``.

    ``match`` maps an attribute to a required value; the value ``"*"`` means
    "present" (LDAP's presence filter).  This is the only filter shape the core
    needs (Dogtag's ``hasRangeConflict`` filter is a conjunction of equalities and
    one presence test), and each driver turns it into its own query.
    Result: ``entries``, as (dn, attributes) pairs sorted by DN.
    """

    base: str
    match: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LastNumberInRange:
    """Dogtag's ``getLastSerialNumberInRange``: the highest record number in
    ``[begin, end]`` among the ``cn=<number>`` records directly below ``base``.

    Result: ``number`` (``None`` when there is none).
    """

    base: str
    begin: int
    end: int


@dataclass(frozen=True, slots=True)
class NumberExists:
    """Is there a record ``cn=<number>,<base>``?  (RSNv1's collision probe.)

    Result: ``number`` is the number if it exists, ``None`` otherwise.
    """

    base: str
    number: int


@dataclass(frozen=True, slots=True)
class RequestRange:
    """DNA's range-request extended operation, sent to a peer server.

    Not an LDAP operation on the CA's own replica: the driver routes it to the
    peer's allocator (``peer`` is its ``dnaHostname``) for the ID space ``kind``
    (``"cert"``, ``"request"``: one DNA configuration each).  Result: ``number``
    is the lower bound, ``upper`` the upper bound, or code UNWILLING_TO_PERFORM.
    """

    peer: str
    kind: str = "cert"


Command = Read | Modify | Add | Delete | Search | LastNumberInRange | NumberExists | RequestRange


@dataclass(frozen=True, slots=True)
class Result:
    """The outcome of one command."""

    code: ResultCode = ResultCode.SUCCESS
    entries: tuple[tuple[str, Attributes], ...] = ()
    number: int | None = None
    upper: int | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.code is ResultCode.SUCCESS

    @property
    def entry(self) -> Attributes | None:
        """The single entry of a :class:`Read`, or ``None``."""
        return self.entries[0][1] if self.entries else None


OK = Result()

T = TypeVar("T")

#: A sans-IO operation: yields commands, receives results, returns a value.
Operation = Generator[Command, Result, T]


class Directory(Protocol):
    """What a driver needs from a backend: execute one command for a client.

    ``replica`` names the directory server the CA is bound to; ``now`` is the
    simulated time (a real server ignores it).
    """

    def execute(self, command: Command, *, replica: str, now: float) -> Result: ...


def run(operation: Operation[T], execute: Callable[[Command], Result]) -> T:
    """Drive an operation to completion, executing each command synchronously."""
    try:
        command = next(operation)
        while True:
            command = operation.send(execute(command))
    except StopIteration as stop:
        return stop.value


def run_from(operation: Operation[T], command: Command,
             execute: Callable[[Command], Result]) -> T:
    """Finish an operation that has already yielded ``command`` (for tests and
    drivers that interleave several operations step by step)."""
    try:
        while True:
            command = operation.send(execute(command))
    except StopIteration as stop:
        return stop.value


def unless_unreachable(operation: Operation[T], what: str) -> Operation[T]:
    """Run ``operation`` to its end; then, if any of its commands found the
    directory unreachable, raise :class:`~pkisim.errors.DirectoryUnavailable`
    instead of returning.  Dogtag's start-up is like that: an exception
    anywhere in it aborts the start."""
    down: Result | None = None
    try:
        command = next(operation)
        while True:
            result = yield command
            if result.code in UNREACHABLE:
                down = result
            command = operation.send(result)
    except StopIteration as stop:
        value = stop.value
    if down is not None:
        raise DirectoryUnavailable(f"{what}: the directory did not answer ({down.code.name}"
                                   f"{': ' + down.message if down.message else ''})")
    return value


def attr_first(entry: Attributes | None, name: str) -> str | None:
    """The first value of an attribute (attribute names compare case-insensitively)."""
    if entry is None:
        return None
    values = entry.get(name.lower())
    return values[0] if values else None


def normalize_attrs(attrs: Mapping[str, Any]) -> dict[str, Values]:
    """Lower-case names; a bare string or int value becomes a 1-tuple of str."""
    out: dict[str, Values] = {}
    for name, value in attrs.items():
        if isinstance(value, str | int):
            out[name.lower()] = (str(value),)
        else:
            out[name.lower()] = tuple(str(v) for v in value)
    return out
