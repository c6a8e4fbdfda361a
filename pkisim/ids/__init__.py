"""The ID spaces Dogtag manages and the sans-IO allocators ("repositories").

Configure an ID space with :class:`IdSpaceConfig` (or read it from a CS.cfg
with :func:`load_ca`), build a CA's repositories with :class:`CaRepositories`
or one with :func:`new_repository`, and drive their operations (generators of
directory commands) with :func:`pkisim.ids.protocol.run`.
"""

from pkisim.ids.config import (
    KEYS,
    IdKind,
    IdSpaceConfig,
    RangeKeys,
    pkispawn_defaults,
    radix_for,
)
from pkisim.ids.cscfg import CSCfg, load_ca, load_id_space, store_id_space, strategy_from_cscfg
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
from pkisim.ids.protocol import run
from pkisim.ids.radix import Radix
from pkisim.ids.random_serials import LegacyRandomRepository, RandomRepository
from pkisim.ids.repository import (
    NaiveRepository,
    RangeRepository,
    RangeRepositoryV2,
    Repository,
)
from pkisim.ids.strategies import RANGED_STRATEGIES, STRATEGIES, STRATEGY, Strategy
from pkisim.ids.subsystem import REPOSITORY_CLASSES, CaRepositories, master_configs, new_repository
from pkisim.ids.tree import DogtagTree

__all__ = [
    "KEYS",
    "RANGED_STRATEGIES",
    "REPOSITORY_CLASSES",
    "STRATEGIES",
    "CSCfg",
    "CaRepositories",
    "CacheLoaded",
    "ClaimFailed",
    "ConflictDropped",
    "DnaRepository",
    "DogtagTree",
    "IdKind",
    "IdSpaceConfig",
    "LegacyRandomRepository",
    "NaiveRepository",
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
    "SwitchedToNextRange",
    "load_ca",
    "load_id_space",
    "master_configs",
    "new_repository",
    "pkispawn_defaults",
    "radix_for",
    "run",
    "store_id_space",
    "strategy_from_cscfg",
]
