"""The allocation core: Dogtag's CA protocol for ID ranges, with no I/O.

The ground layer of pkisim.  It knows the ID spaces (:class:`IdKind`,
:class:`IdSpaceConfig`, CS.cfg's ``dbs.*`` keys with :func:`load_ca`), the
strategies as data (:data:`STRATEGY`), Dogtag's directory tree
(:class:`DogtagTree`), the subsystems that own ID spaces (:class:`Subsystem`:
a CA's certificates and requests, a KRA's keys and requests) and the command
vocabulary a repository speaks (:mod:`pkisim.ids.protocol`: ``Read``, ``Modify``, ``Add``, ...).  A
:class:`SubsystemRepositories` holds a subsystem's three repositories
(:class:`CaRepositories` a CA's, :class:`KraRepositories` a KRA's); their operations are
generators that yield commands and take results, and their range events wait
in an outbox.  :func:`run` drives an operation synchronously; the one driver
that also records events and issuances is :class:`pkisim.driver.Driver`.

Importing it loads neither pandas, pyarrow, SimPy nor matplotlib.
"""

from pkisim.ids.config import KEYS, IdKind, IdSpaceConfig, RangeKeys, pkispawn_defaults, radix_for
from pkisim.ids.cscfg import (
    CSCfg,
    load_ca,
    load_id_space,
    load_subsystem,
    store_id_space,
    strategy_from_cscfg,
)
from pkisim.ids.dna import DnaRepository
from pkisim.ids.events import (
    CacheLoaded,
    ClaimFailed,
    ConflictDropped,
    RangeClaimed,
    RangeEvent,
    RangeReceived,
    RangeState,
    RangeTransferred,
    SwitchedToNextRange,
)
from pkisim.ids.layout import SUBSYSTEMS, Subsystem
from pkisim.ids.protocol import Operation, Result, ResultCode, run
from pkisim.ids.radix import Radix
from pkisim.ids.random_serials import LegacyRandomRepository, RandomRepository
from pkisim.ids.repository import (
    NaiveRepository,
    RangeRepository,
    RangeRepositoryV2,
    Repository,
)
from pkisim.ids.strategies import RANGED_STRATEGIES, STRATEGIES, STRATEGY, Strategy
from pkisim.ids.subsystem import (
    REPOSITORY_CLASSES,
    CaRepositories,
    KraRepositories,
    SubsystemRepositories,
    master_configs,
    new_repository,
)
from pkisim.ids.tree import DogtagTree

__all__ = [
    "KEYS",
    "RANGED_STRATEGIES",
    "REPOSITORY_CLASSES",
    "STRATEGIES",
    "STRATEGY",
    "SUBSYSTEMS",
    "CSCfg",
    "CaRepositories",
    "CacheLoaded",
    "ClaimFailed",
    "ConflictDropped",
    "DnaRepository",
    "DogtagTree",
    "IdKind",
    "IdSpaceConfig",
    "KraRepositories",
    "LegacyRandomRepository",
    "NaiveRepository",
    "Operation",
    "Radix",
    "RandomRepository",
    "RangeClaimed",
    "RangeEvent",
    "RangeKeys",
    "RangeReceived",
    "RangeRepository",
    "RangeRepositoryV2",
    "RangeState",
    "RangeTransferred",
    "Repository",
    "Result",
    "ResultCode",
    "Strategy",
    "Subsystem",
    "SubsystemRepositories",
    "SwitchedToNextRange",
    "load_ca",
    "load_id_space",
    "load_subsystem",
    "master_configs",
    "new_repository",
    "pkispawn_defaults",
    "radix_for",
    "run",
    "store_id_space",
    "strategy_from_cscfg",
]
