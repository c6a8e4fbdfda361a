"""pkisim: simulate and verify how replicated Dogtag CAs hand out serial numbers.

The public API, by layer (each subpackage has its own, fuller ``__all__``):

* the core (:mod:`pkisim.ids`): Dogtag's CA protocol with no I/O:
  :class:`IdSpaceConfig`, :class:`CaRepositories`, :func:`master_configs`,
  :func:`new_repository`, the strategies (:data:`STRATEGIES`), Dogtag's tree
  (:class:`DogtagTree`), :func:`run` to drive an operation, CS.cfg access with
  :class:`CSCfg` and :func:`load_ca`;
* the one driver (:mod:`pkisim.driver`): :class:`Driver` executes the core
  against a directory and records a :class:`History`;
* the embedded directory (:mod:`pkisim.directory`): :class:`ReplicatedDirectory`;
  a real one: :mod:`pkisim.ldap` (``LdapDirectory``, ``LdapAllocator``);
* history and checkers (:mod:`pkisim.history`): :class:`History`,
  :func:`check_unique`, :func:`check_ranges`, :func:`explain_duplicates`,
  :func:`waste_report`, :func:`check_compliance`;
* simulation (:mod:`pkisim.sim`): :func:`load_scenario`, :class:`Scenario`,
  :func:`simulate`, :class:`Simulation`, :class:`RunResult`;
* property testing (:mod:`pkisim.testing`, needs Hypothesis): the state machine.

Names are imported on first use, so ``import pkisim`` (or ``pkisim.ids``) stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Where each public name lives.
_WHERE = {
    "AllocationError": "pkisim.errors", "ConfigError": "pkisim.errors",
    "DirectoryError": "pkisim.errors", "DirectoryUnavailable": "pkisim.errors",
    "PkisimError": "pkisim.errors", "SerialNumbersExhausted": "pkisim.errors",
    "STRATEGIES": "pkisim.ids", "CSCfg": "pkisim.ids", "CaRepositories": "pkisim.ids",
    "DogtagTree": "pkisim.ids", "IdKind": "pkisim.ids", "IdSpaceConfig": "pkisim.ids",
    "load_ca": "pkisim.ids", "master_configs": "pkisim.ids", "new_repository": "pkisim.ids",
    "run": "pkisim.ids", "Seeds": "pkisim.seeding", "Driver": "pkisim.driver",
    "ReplicatedDirectory": "pkisim.directory",
    "History": "pkisim.history", "Op": "pkisim.history", "OpType": "pkisim.history",
    "check_compliance": "pkisim.history", "check_ranges": "pkisim.history",
    "check_unique": "pkisim.history", "explain_duplicates": "pkisim.history",
    "waste_report": "pkisim.history",
    "load_scenario": "pkisim.scenario", "RunResult": "pkisim.sim", "Scenario": "pkisim.sim",
    "Simulation": "pkisim.sim", "simulate": "pkisim.sim",
}

__all__ = [
    "STRATEGIES", "AllocationError", "CSCfg", "CaRepositories", "ConfigError", "DirectoryError",
    "DirectoryUnavailable", "DogtagTree", "Driver", "History", "IdKind", "IdSpaceConfig", "Op",
    "OpType", "PkisimError", "ReplicatedDirectory", "RunResult", "Scenario", "Seeds",
    "SerialNumbersExhausted", "Simulation", "__version__", "check_compliance", "check_ranges",
    "check_unique", "explain_duplicates", "load_ca", "load_scenario", "master_configs",
    "new_repository", "run", "simulate", "waste_report",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'pkisim' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once imported, a plain attribute
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, eagerly
    from pkisim.directory import ReplicatedDirectory
    from pkisim.driver import Driver
    from pkisim.errors import (
        AllocationError,
        ConfigError,
        DirectoryError,
        DirectoryUnavailable,
        PkisimError,
        SerialNumbersExhausted,
    )
    from pkisim.history import (
        History,
        Op,
        OpType,
        check_compliance,
        check_ranges,
        check_unique,
        explain_duplicates,
        waste_report,
    )
    from pkisim.ids import (
        STRATEGIES,
        CaRepositories,
        CSCfg,
        DogtagTree,
        IdKind,
        IdSpaceConfig,
        load_ca,
        master_configs,
        new_repository,
        run,
    )
    from pkisim.scenario import load_scenario
    from pkisim.seeding import Seeds
    from pkisim.sim import RunResult, Scenario, Simulation, simulate
