"""Planted bugs: strategy variants with one known defect each.

A property suite that cannot find these proves little.  Each variant patches a
CA's repositories (or how the machine restarts them) to reproduce one way
Dogtag has broken, or pkisim broke before issue 13 fixed it, uniqueness or
liveness; :mod:`pkisim.testing.presets` names a topology that catches each:

``startup-claims-only``
    ``checkRanges`` runs at start-up but the update task never claims, as on
    clones before BZ 1251606: a CA that uses up its ranges stays dead.
``transfer-keeps-donor-end``
    A clone transfer that hands out a slice without lowering the donor's end
    (the missing synchronisation of Pagure 3055): both CAs own the slice.
``stale-recovery``
    Restart recovery reads the highest issued number from another, lagging
    replica instead of the CA's own: numbers already issued are issued again.
``forget-failed-claim``
    After one failed range claim (a lost compare-and-swap, the directory
    down) the update task never claims again (the allocator that counted
    only successful issuances): the range runs dry and stays dry.
``restart-from-range-begin``
    Start-up recovery reads a search the directory did not answer (server
    down, a size limit) as "no records" and starts its range over.
``rsnv3-seeded-by-name``
    The random generator is seeded by the CA's name only: a restarted RSNv3
    process draws the serials of its first start again.
``multi-valued-nextrange-wedge``
    A claim that fails on a multi-valued ``nextRange`` reports only the
    failed compare-and-swap: every later claim fails the same way and
    nothing says why (the wedge of issue 13, item 4).
``transfer-overrun-refused``
    A clone transfer larger than the donor's next range leaves
    ``nextEnd < nextBegin`` in its CS.cfg, as Dogtag writes it; this variant
    refuses that CS.cfg (pkisim before issue 13, item 6).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pkisim.errors import DirectoryUnavailable
from pkisim.ids import protocol as p
from pkisim.ids.config import IdSpaceConfig
from pkisim.ids.repository import Repository
from pkisim.ids.subsystem import CaRepositories


def _no_update_task() -> p.Operation[None]:
    return None
    yield


def _startup_claims_only(repos: CaRepositories) -> None:
    repos.update_task = _no_update_task  # type: ignore[method-assign]


def _transfer_keeps_donor_end(repos: CaRepositories) -> None:
    for repo in repos:
        original = repo.clone_transfer

        def leaky(size: int | None = None, *, _repo: Any = repo, _orig: Any = original,
                  ) -> p.Operation[tuple[int, int]]:
            end, next_end = _repo.end, _repo.next_end
            got = yield from _orig(size)
            _repo.end, _repo.next_end = end, next_end
            return got

        repo.clone_transfer = leaky  # type: ignore[method-assign]


def _forget_failed_claim(repos: CaRepositories) -> None:
    for repo in repos:
        failed, due, restart = repo._claim_failed, repo._claim_due, repo.restart
        gave_up = [False]

        def claim_failed(reason: str, burned: tuple[int, int] | None = None, *,
                         _failed: Any = failed, _gave_up: list[bool] = gave_up) -> None:
            _gave_up[0] = True
            return _failed(reason, burned)  # type: ignore[no-any-return]

        def claim_due(*, _due: Any = due, _gave_up: list[bool] = gave_up) -> bool:
            return not _gave_up[0] and bool(_due())

        def restarted(rng: Any = None, *, _restart: Any = restart,
                      _gave_up: list[bool] = gave_up) -> None:
            _gave_up[0] = False  # a new process starts with a new schedule
            _restart(rng)

        repo._claim_failed = claim_failed  # type: ignore[method-assign]
        repo._claim_due = claim_due  # type: ignore[method-assign]
        repo.restart = restarted  # type: ignore[method-assign]


def _restart_from_range_begin(repos: CaRepositories) -> None:
    repos.start = repos._start  # type: ignore[method-assign]  # no unreachable check
    for repo in repos:
        original = repo.load_cache

        def guessing(*, _repo: Repository = repo, _orig: Any = original) -> p.Operation[None]:
            try:
                yield from _orig()
            except DirectoryUnavailable:
                _repo.last = _repo.begin - 1  # "no records": the range starts over

        repo.load_cache = guessing  # type: ignore[method-assign]


def _multi_valued_wedge(repos: CaRepositories) -> None:
    for repo in repos:
        failed = repo._claim_failed

        def unexplained(reason: str, burned: tuple[int, int] | None = None, *,
                        _failed: Any = failed) -> None:
            return _failed(reason.split("; nextRange of ")[0], burned)  # type: ignore[no-any-return]

        repo._claim_failed = unexplained  # type: ignore[method-assign]


def _transfer_overrun_refused(repos: CaRepositories) -> None:
    for repo in repos:
        def strict(*, _repo: Repository = repo) -> IdSpaceConfig:
            return _repo.config.evolve(begin=_repo.begin, end=_repo.end,
                                       next_begin=_repo.next_begin, next_end=_repo.next_end,
                                       serial_management=_repo.serial_management,
                                       depleted=_repo.end < _repo.begin)

        repo.to_config = strict  # type: ignore[method-assign]


@dataclass(frozen=True)
class Variant:
    """A planted bug: how it patches a CA, where a restarted CA recovers from,
    and whether a restarted process draws from its first start's generators."""

    name: str
    patch: Callable[[CaRepositories], None] = field(default=lambda repos: None)
    stale_recovery: bool = False
    streams_by_name: bool = False

    def apply(self, repos: CaRepositories) -> None:
        self.patch(repos)

    def recovery_replica(self, own: str, replicas: tuple[str, ...]) -> str:
        if not self.stale_recovery or len(replicas) < 2:
            return own
        return replicas[(replicas.index(own) + 1) % len(replicas)]


VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("startup-claims-only", _startup_claims_only),
    Variant("transfer-keeps-donor-end", _transfer_keeps_donor_end),
    Variant("stale-recovery", stale_recovery=True),
    Variant("forget-failed-claim", _forget_failed_claim),
    Variant("restart-from-range-begin", _restart_from_range_begin),
    Variant("rsnv3-seeded-by-name", streams_by_name=True),
    Variant("multi-valued-nextrange-wedge", _multi_valued_wedge),
    Variant("transfer-overrun-refused", _transfer_overrun_refused),
)}
