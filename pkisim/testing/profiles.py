"""The Hypothesis profile shipped with the pytest plugin: ``pkisim-ci``.

Registered when the plugin loads (``--pkisim-profile pkisim-ci``,
``HYPOTHESIS_PROFILE=pkisim-ci`` or Hypothesis's own ``--hypothesis-profile``
select it).  It is made for a CI job that must finish in minutes and fail the
same way on every rerun:

* ``derandomize``: the same examples on every run (no example database), so a
  failure in CI is a failure on the developer's machine; ``print_blob`` prints
  the ``@reproduce_failure`` line all the same;
* ``max_examples`` 100 and ``stateful_step_count`` 30: the budget of the
  in-memory back end (real servers get fewer, see
  :func:`pkisim.testing.plugin.check_preset`);
* shrinking bounded: no ``explain`` or ``target`` phase, and Hypothesis's own
  caps (500 successful shrinks, 5 minutes; Hypothesis has no public setting
  for a shorter shrink time).  :func:`~pkisim.testing.plugin.check_preset`
  does not shrink a failure it expects at all;
* a ``deadline`` of 30 s per example: long enough for a real server pair to
  start and converge on a loaded 2-core runner, short enough to name a hang;
* ``report_multiple_bugs=False``: one failure, as an ``AssertionError``, never
  an ``ExceptionGroup``.
"""

from __future__ import annotations

from datetime import timedelta

PROFILE = "pkisim-ci"

#: The profile's settings, as keyword arguments of ``hypothesis.settings``.
CI_SETTINGS: dict[str, object] = dict(
    max_examples=100, stateful_step_count=30, deadline=timedelta(seconds=30),
    derandomize=True, database=None, print_blob=True, report_multiple_bugs=False)


def register() -> bool:
    """Register ``pkisim-ci`` with Hypothesis; False when Hypothesis is not installed."""
    try:
        from hypothesis import HealthCheck, Phase, settings
    except ImportError:
        return False
    settings.register_profile(
        PROFILE, phases=(Phase.explicit, Phase.generate, Phase.shrink),
        # a state machine on a real server is slow by nature; its data is big by design
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        **CI_SETTINGS)  # type: ignore[arg-type]
    return True


__all__ = ["CI_SETTINGS", "PROFILE", "register"]
