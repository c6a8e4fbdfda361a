"""Planted bugs: strategy variants with one known defect each.

A property suite that cannot find these proves little.  Each variant patches a
CA's repositories (or how the driver recovers them) to reproduce one way Dogtag
has broken, or could break, uniqueness or liveness:

``startup-claims-only``
    ``checkRanges`` runs at start-up but the update task never claims, as on
    clones before BZ 1251606: a CA that uses up its ranges stays dead.
``transfer-keeps-donor-end``
    A clone transfer that hands out a slice without lowering the donor's end
    (the missing synchronisation of Pagure 3055): both CAs own the slice.
``stale-recovery``
    Restart recovery reads the highest issued number from another, lagging
    replica instead of the CA's own: numbers already issued are issued again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pkisim.ids import protocol as p
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


@dataclass(frozen=True)
class Variant:
    """A planted bug: how it patches a CA, and where a restarted CA recovers from."""

    name: str
    patch: Callable[[CaRepositories], None] = field(default=lambda repos: None)
    stale_recovery: bool = False

    def apply(self, repos: CaRepositories) -> None:
        self.patch(repos)

    def recovery_replica(self, own: str, replicas: tuple[str, ...]) -> str:
        if not self.stale_recovery or len(replicas) < 2:
            return own
        return replicas[(replicas.index(own) + 1) % len(replicas)]


VARIANTS: dict[str, Variant] = {
    "startup-claims-only": Variant("startup-claims-only", _startup_claims_only),
    "transfer-keeps-donor-end": Variant("transfer-keeps-donor-end", _transfer_keeps_donor_end),
    "stale-recovery": Variant("stale-recovery", stale_recovery=True),
}
