"""Health checks that sleep while they cannot change anything give exactly the
pool changes of checks stepped every interval (the reference)."""

from __future__ import annotations

from types import SimpleNamespace

import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from pkisim.sim.balancer import Balancer
from pkisim.sim.config import LoadBalancer

changes = st.lists(st.tuples(st.floats(0.0, 300.0, allow_nan=False), st.integers(0, 2),
                             st.sampled_from(["serve", "fail", "drain", "undrain"])),
                   max_size=25)


def pool_history(interval: float, threshold: int, schedule: list[tuple[float, int, str]],
                 *, skip: bool) -> list[tuple[float, tuple[str, ...]]]:
    env = simpy.Environment()
    balancer = Balancer(LoadBalancer(health_interval=interval, failure_threshold=threshold))
    nodes = [SimpleNamespace(name=f"ca{i}", serving=True, outstanding=0) for i in range(3)]
    for node in nodes:
        balancer.add(node, in_pool=True)  # type: ignore[arg-type]
    seen: list[tuple[float, tuple[str, ...]]] = []

    def watch() -> object:  # the pool after every event, as requests would see it
        last = None
        while True:
            pool = tuple(n.name for n in balancer.pool)
            if pool != last:
                seen.append((env.now, pool))
                last = pool
            yield env.timeout(interval / 7)

    def act(at: float, index: int, what: str) -> object:
        yield env.timeout(at)
        node = nodes[index]
        if what in ("serve", "fail"):
            node.serving = what == "serve"
            balancer.wake()
        elif what == "drain":
            balancer.drain(node)  # type: ignore[arg-type]
        else:
            balancer.undrain(node)  # type: ignore[arg-type]

    env.process(balancer.health_checks(env, skip_settled=skip))
    env.process(watch())
    for at, index, what in schedule:
        env.process(act(at, index, what))
    env.run(until=400.0)
    return seen


@settings(max_examples=60, deadline=None)
@given(schedule=changes, interval=st.sampled_from([10.0, 0.1, 3.7, 1 / 3]),
       threshold=st.integers(1, 3), on_grid=st.booleans())
def test_sleeping_checks_change_the_pool_exactly_as_stepped_checks(
        schedule: list[tuple[float, int, str]], interval: float, threshold: int,
        on_grid: bool) -> None:
    if on_grid:  # changes exactly at check times, as a fault at a round time lands
        grid = [0.0]
        while grid[-1] < 300.0:
            grid.append(grid[-1] + interval)
        schedule = [(grid[int(at / 300.0 * (len(grid) - 1))], i, w) for at, i, w in schedule]
    stepped = pool_history(interval, threshold, schedule, skip=False)
    sleeping = pool_history(interval, threshold, schedule, skip=True)
    assert sleeping == stepped
