"""The directory port: the commands the allocation core emits, Dogtag's tree,
and the embedded replicated directory that answers them."""

from pkisim.directory.memory import ReplicatedDirectory
from pkisim.directory.protocol import (
    Add,
    Command,
    Delete,
    Directory,
    LastNumberInRange,
    Mod,
    Modify,
    ModOp,
    NumberExists,
    Operation,
    Read,
    RequestRange,
    Result,
    ResultCode,
    Search,
    run,
    run_from,
)
from pkisim.directory.tree import DogtagTree

__all__ = [
    "Add", "Command", "Delete", "Directory", "DogtagTree", "LastNumberInRange", "Mod", "ModOp",
    "Modify", "NumberExists", "Operation", "Read", "ReplicatedDirectory", "RequestRange",
    "Result", "ResultCode", "Search", "run", "run_from",
]
