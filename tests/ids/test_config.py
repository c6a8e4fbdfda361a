"""Parameters that cannot work: one line naming the CS.cfg key and the value."""

from __future__ import annotations

import random

import pytest

from pkisim.errors import ConfigError
from pkisim.ids import IdKind, IdSpaceConfig, new_repository

GOOD = dict(begin=0x10, end=0x1F, increment=0x10, low_water_mark=0x8,
            clone_transfer_number=0x4)

BAD = [
    (dict(end=0x5), "dbs.endSerialNumber = '0x5': is below dbs.beginSerialNumber 0x10"),
    (dict(increment=0), "dbs.serialIncrement = '0x0': must be positive"),
    (dict(low_water_mark=0x11), "dbs.serialLowWaterMark = '0x11': is larger than "
                                "dbs.serialIncrement 0x10"),
    (dict(clone_transfer_number=0x40), "dbs.serialCloneTransferNumber = '0x40': is larger "
                                       "than the range (16 numbers)"),
    (dict(next_begin=0x18, next_end=0x30), "dbs.nextBeginSerialNumber = '0x18': next range "
                                           "overlaps the current range"),
    (dict(strategy="ssnv3"), "strategy = 'ssnv3': unknown strategy; choose one of legacy, "
                             "legacy2, legacy-random, random, naive, dna"),
]


@pytest.mark.parametrize(("change", "message"), BAD)
def test_bad_parameters_name_key_and_value(change: dict, message: str) -> None:
    params = {"strategy": "legacy2", **GOOD, **change}
    with pytest.raises(ConfigError) as info:
        IdSpaceConfig(IdKind.CERT, **params)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_request_ids_are_decimal_in_messages() -> None:
    with pytest.raises(ConfigError, match=r"^dbs.endRequestNumber = '5': is below "
                                          r"dbs.beginRequestNumber 10$"):
        IdSpaceConfig(IdKind.REQUEST, "legacy", begin=10, end=5, increment=10, low_water_mark=5)


def test_a_good_configuration_builds_every_strategy() -> None:
    for strategy in ("legacy", "legacy2", "legacy-random", "random", "naive", "dna"):
        repo = new_repository(IdSpaceConfig(IdKind.CERT, strategy, **GOOD),
                              rng=random.Random(0))
        assert repo.strategy == strategy
