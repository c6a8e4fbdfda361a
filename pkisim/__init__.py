"""pkisim: simulate and verify how replicated Dogtag CAs hand out serial numbers.

The public API, by layer (each subpackage has its own, fuller ``__all__``):

* allocation core (:mod:`pkisim.ids`): :class:`IdSpaceConfig`, :class:`CaRepositories`,
  :func:`master_configs`, :func:`new_repository`, CS.cfg access with :class:`CSCfg`
  and :func:`load_ca`;
* the embedded directory (:mod:`pkisim.directory`): :class:`ReplicatedDirectory`;
  Dogtag's tree (:class:`DogtagTree`) and :func:`run` to drive an operation are the core's;
* history and checkers (:mod:`pkisim.history`): :class:`History`,
  :func:`check_unique`, :func:`check_ranges`, :func:`explain_duplicates`,
  :func:`waste_report`, :func:`check_compliance`;
* simulation (:mod:`pkisim.sim`): :func:`load_scenario`, :class:`Scenario`,
  :func:`simulate`, :class:`RunResult`;
* property testing (:mod:`pkisim.testing`, needs Hypothesis): the state machine.
"""

from pkisim.directory import ReplicatedDirectory
from pkisim.errors import (
    AllocationError,
    ConfigError,
    DirectoryError,
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

__version__ = "0.1.0"

__all__ = [
    "STRATEGIES", "AllocationError", "CSCfg", "CaRepositories", "ConfigError", "DirectoryError",
    "DogtagTree", "History", "IdKind", "IdSpaceConfig", "Op", "OpType", "PkisimError",
    "ReplicatedDirectory", "RunResult", "Scenario", "Seeds", "SerialNumbersExhausted",
    "Simulation", "__version__", "check_compliance", "check_ranges", "check_unique",
    "explain_duplicates", "load_ca", "load_scenario", "master_configs", "new_repository", "run",
    "simulate", "waste_report",
]
