"""The pytest plugin (entry point ``pytest11``, name ``pkisim``): pkisim's
allocation state machine in another project's CI.

* ``--pkisim-backend memory|slapd|slapd-pair|389ds`` (ini ``pkisim_backend``,
  default ``memory``) chooses the directory the state machine runs against; a
  back end whose server is not installed is a one-line usage error naming the
  Debian package;
* fixtures, each a back-end factory ``(replicas, sync) -> Backend`` as
  :class:`~pkisim.testing.machine.MachineConfig` takes it, that stops the
  servers it started when the test ends: ``pkisim_backend`` (the chosen one),
  ``pkisim_memory``, ``pkisim_slapd``, ``pkisim_slapd_pair``, ``pkisim_ds389``
  (on the session's 389-DS pair, ``pkisim_ds389_pair``);
* :func:`check_preset` (and the ``pkisim_preset`` fixture, bound to the
  chosen back end) runs a named preset (:mod:`pkisim.testing.presets`) and
  enforces what it promises: a safe preset passes and reaches its coverage
  goals, a bug preset is caught with the symptom it names;
* the Hypothesis profile ``pkisim-ci`` (:mod:`pkisim.testing.profiles`),
  selected by ``--pkisim-profile`` (ini ``pkisim_profile``) or
  ``HYPOTHESIS_PROFILE``.

Loading the plugin imports neither the state machine, SimPy, pandas nor
matplotlib: they load when a fixture or :func:`check_preset` is used.
``-p no:pkisim`` switches the plugin off.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from pkisim.testing import profiles

profiles.register()

DEFAULT_BACKEND = "memory"


def _named(path: str) -> Any:
    """The object ``"module:attribute"`` names, or None when the module lacks it."""
    module, attribute = path.split(":")
    return getattr(importlib.import_module(module), attribute, None)


@dataclass(frozen=True)
class ServerBackend:
    """One choice of ``--pkisim-backend``: where its factory lives, what it
    needs installed, and how many examples a preset gets on it."""

    name: str
    #: "module:attribute" of the factory ``(replicas, sync) -> Backend`` or, with
    #: ``shared``, of a function that takes the shared server and returns one
    factory: str
    #: (program, Debian package that installs it)
    programs: tuple[tuple[str, str], ...] = ()
    python_ldap: bool = False
    root: bool = False
    #: "module:Class" of a server started once and shared by every example
    #: (:class:`~pkisim.testing.servers.base.ManagedServer`); else each example
    #: starts its own
    shared: str = ""
    #: serves two replicas only: a one-replica preset gets a peer that holds no
    #: CA and replicates from the CAs' directory
    pair: bool = False
    #: caps on the examples and ``stateful_step_count`` a preset gets (None: no cap)
    max_examples: int | None = None
    steps: int | None = None
    #: Hypothesis deadline per example when longer than the profile's
    deadline: timedelta | None = None
    doc: str = ""

    def problem(self) -> str | None:
        """Why this back end cannot run here, in one line, or None."""
        for program, package in self.programs:
            if not os.path.exists(program):
                return f"{program} is not installed (Debian package {package})"
        if self.python_ldap and importlib.util.find_spec("ldap") is None:
            return ("python-ldap is not installed (pip install 'pkisim[ldap]', "
                    "or Debian package python3-ldap)")
        if self.root and os.geteuid() != 0:
            return "389-DS runs ns-slapd as the user dirsrv: the tests must run as root"
        if _named(self.factory) is None:
            return f"this pkisim has no {self.factory.replace(':', '.')}"
        return None

    @contextlib.contextmanager
    def open(self, server: Any = None) -> Iterator[BackendFactory]:
        """A factory for this back end that stops, on exit, every server it
        started (the shared one too, unless ``server`` was handed in)."""
        problem = self.problem()
        if problem:
            raise pytest.UsageError(f"pkisim back end {self.name!r}: {problem}")
        make = _named(self.factory)
        with contextlib.ExitStack() as stack:
            if self.shared:
                if server is None:
                    server = stack.enter_context(_named(self.shared)())
                make = make(server)
            factory = BackendFactory(self.name, make, peer=self.pair)
            stack.callback(factory.close)
            yield factory


_SLAPD = (("/usr/sbin/slapd", "slapd"), ("/usr/sbin/slapadd", "slapd"),
          ("/etc/ldap/schema/core.schema", "slapd"))

BACKENDS: dict[str, ServerBackend] = {b.name: b for b in (
    ServerBackend("memory", "pkisim.testing.faults:memory_backend",
                  doc="the embedded replicated directory: replication held until delivered"),
    ServerBackend("slapd", "pkisim.testing.servers.backends:slapd_backend", _SLAPD,
                  python_ldap=True, max_examples=20, steps=20,
                  doc="one OpenLDAP slapd per one-replica preset, a replicating pair for two"),
    ServerBackend("slapd-pair", "pkisim.testing.servers.backends:SlapdPairBackend", _SLAPD,
                  python_ldap=True, pair=True, max_examples=5, steps=12,
                  doc="always two replicating slapd (a one-replica preset's CAs use the first)"),
    ServerBackend("389ds", "pkisim.testing.servers.backends:ds389_backend",
                  (("/usr/sbin/ns-slapd", "389-ds-base"), ("/usr/sbin/dscreate", "389-ds-base"),
                   ("/usr/sbin/dsconf", "389-ds-base")),
                  python_ldap=True, root=True, shared="pkisim.testing.servers.ds389:Ds389Pair",
                  pair=True, max_examples=10, steps=12, deadline=timedelta(minutes=5),
                  doc="two 389 Directory Server suppliers replicating both ways, set up once "
                      "(about 30 s); each example works below its own base"),
)}


@dataclass
class BackendFactory:
    """A back-end factory ``(replicas, sync) -> Backend`` for
    :class:`~pkisim.testing.machine.MachineConfig`: it keeps the back ends that
    hold servers, and :meth:`close` closes those the state machine's teardown
    did not (an interrupted example)."""

    name: str
    _factory: Callable[[tuple[str, ...], bool], Any] = field(repr=False)
    peer: bool = False
    _open: list[Any] = field(default_factory=list, repr=False)

    def __call__(self, replicas: tuple[str, ...], sync: bool) -> Any:
        replicas = tuple(replicas)
        if self.peer and len(replicas) == 1:
            replicas = (replicas[0], f"{replicas[0]}-peer")
        backend = self._factory(replicas, sync)
        if hasattr(backend, "close"):
            self._open.append(backend)
        return backend

    def close(self) -> None:
        while self._open:
            self._open.pop().close()


def _backend_fixture(request: pytest.FixtureRequest, name: str) -> Iterator[BackendFactory]:
    kind = BACKENDS[name]
    problem = kind.problem()
    if problem:
        pytest.fail(f"pkisim back end {name!r}: {problem}", pytrace=False)
    if name == DEFAULT_BACKEND:
        with kind.open() as factory:
            yield factory
        return
    from pkisim.testing.servers.base import started_here

    server = request.getfixturevalue("pkisim_ds389_pair") if kind.shared else None
    before = set(started_here())
    with kind.open(server) as factory:
        yield factory
    leaked = sorted(set(started_here()) - before)
    assert not leaked, f"pkisim back end {name!r} left server processes running: {leaked}"


@pytest.fixture
def pkisim_backend(request: pytest.FixtureRequest) -> Iterator[BackendFactory]:
    """The back end ``--pkisim-backend`` (or ini ``pkisim_backend``) chose."""
    yield from _backend_fixture(request, chosen_backend(request.config))


def _fixture(backend: str, doc: str) -> Any:
    """The fixture ``pkisim_<backend>``: a factory for that back end."""
    def fixture(request: pytest.FixtureRequest) -> Iterator[BackendFactory]:
        yield from _backend_fixture(request, backend)
    fixture.__doc__ = doc
    name = "pkisim_" + {"389ds": "ds389"}.get(backend, backend.replace("-", "_"))
    return pytest.fixture(name=name)(fixture)


pkisim_memory = _fixture("memory", "The embedded replicated directory (nothing to install).")
pkisim_slapd = _fixture("slapd", "OpenLDAP slapd on 127.0.0.1: one server, or a replicating "
                                 "pair for two replicas.")
pkisim_slapd_pair = _fixture("slapd-pair", "Two replicating OpenLDAP slapd on 127.0.0.1, "
                                           "whatever the preset's replicas.")
pkisim_ds389 = _fixture("389ds", "Two 389 Directory Server suppliers on 127.0.0.1, "
                                 "replicating both ways.")


@pytest.fixture(scope="session")
def pkisim_ds389_pair() -> Iterator[Any]:
    """The 389-DS pair the session's ``389ds`` examples share, started once."""
    kind = BACKENDS["389ds"]
    problem = kind.problem()
    if problem:
        pytest.fail(f"pkisim back end '389ds': {problem}", pytrace=False)
    with _named(kind.shared)() as pair:
        yield pair


@pytest.fixture
def pkisim_preset(pkisim_backend: BackendFactory) -> Callable[..., PresetRun]:
    """``pkisim_preset(name)``: :func:`check_preset` on the chosen back end."""
    def check(name: str, **options: Any) -> PresetRun:
        return check_preset(name, pkisim_backend, **options)
    return check


# ---------------------------------------------------------------- presets
@dataclass(frozen=True)
class PresetRun:
    """What :func:`check_preset` saw: the goals reached (how often), and for a
    bug preset the failure it caught and the schedule that caused it."""

    preset: str
    backend: str
    max_examples: int
    reached: dict[str, int]
    failure: str | None = None
    steps: tuple[str, ...] = ()


def check_preset(name: str, backend: str | Callable[..., Any] = DEFAULT_BACKEND, *,
                 goals: tuple[str, ...] | None = None, max_examples: int | None = None,
                 shrink: bool = False) -> PresetRun:
    """Run the preset ``name`` on ``backend`` (a ``--pkisim-backend`` name, whose
    servers are started and stopped here, or a factory) under the loaded
    Hypothesis profile (``pkisim-ci`` when none was chosen), and enforce what
    the preset promises.

    A safe preset (``expect="pass"``) must pass and reach every goal it lists
    (or ``goals``: a real server's few examples reach fewer): Hypothesis's
    failure, or an ``AssertionError`` naming the goals never reached.  A bug
    preset must fail with the symptom it names; an ``AssertionError`` when it
    is not caught, or fails otherwise.  A failure that is expected is not
    shrunk unless ``shrink``.  The examples are the preset's own
    (``Preset.examples``, else the profile's), capped on real servers
    (:data:`BACKENDS`), unless ``max_examples`` says otherwise.
    """
    from pkisim.testing.presets import PRESETS

    if name not in PRESETS:
        raise ValueError(f"unknown pkisim preset {name!r}: one of {', '.join(sorted(PRESETS))}")
    if isinstance(backend, str):
        if backend not in BACKENDS:
            raise ValueError(f"unknown pkisim back end {backend!r}: one of "
                             f"{', '.join(BACKENDS)}")
        with BACKENDS[backend].open() as factory:
            return check_preset(name, factory, goals=goals, max_examples=max_examples,
                                shrink=shrink)
    label = str(getattr(backend, "name", None) or getattr(backend, "__name__", backend))
    kind = BACKENDS.get(label) or next(
        (b for b in BACKENDS.values() if b.factory.endswith(f":{label}")), None)
    preset = PRESETS[name]
    return _run(preset, backend, label, kind, preset.goals if goals is None else goals,
                max_examples, shrink)


def _run(preset: Any, backend: Callable[..., Any], label: str, kind: ServerBackend | None,
         goals: tuple[str, ...], max_examples: int | None, shrink: bool) -> PresetRun:
    from hypothesis import Phase, settings

    from pkisim.testing.presets import run_preset

    # the profile the run chose, else pkisim-ci (not Hypothesis's 200 ms deadline)
    base = (settings.default if settings.get_current_profile_name() != "default"
            else settings.get_profile(profiles.PROFILE))
    cap = (kind and kind.max_examples) or 10**9
    examples = max_examples or min(getattr(preset, "examples", base.max_examples), cap)
    steps = min(base.stateful_step_count, (kind and kind.steps) or 10**9)
    expected = preset.expect != "pass"
    phases = [p for p in base.phases if p is not Phase.explain
              and (p is not Phase.shrink or shrink or not expected)]
    run_settings = settings(base, max_examples=examples, stateful_step_count=steps,
                            phases=phases, report_multiple_bugs=False,
                            deadline=(kind and kind.deadline) or base.deadline)
    where = f"pkisim preset {preset.name!r} on the {label} back end ({examples} examples)"
    try:
        got = run_preset(preset, run_settings, backend=backend, goals=goals)
    except AssertionError as err:
        err.add_note(where)
        raise
    return PresetRun(preset.name, label, examples, got.reached, got.message or None,
                     tuple(got.steps))


# ---------------------------------------------------------------- pytest hooks
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pkisim", "pkisim: Dogtag serial-number allocation properties")
    group.addoption("--pkisim-backend", choices=tuple(BACKENDS), default=None,
                    help="directory the pkisim state machine runs against (default: the "
                         f"ini option pkisim_backend, else {DEFAULT_BACKEND})")
    group.addoption("--pkisim-profile", default=None, metavar="NAME",
                    help=f"load this Hypothesis profile ({profiles.PROFILE}: bounded, "
                         "derandomised, for CI); default: ini pkisim_profile, else "
                         "$HYPOTHESIS_PROFILE when registered")
    parser.addini("pkisim_backend", f"pkisim back end ({', '.join(BACKENDS)})",
                  default=DEFAULT_BACKEND)
    parser.addini("pkisim_profile", "Hypothesis profile the pkisim plugin loads", default="")


def chosen_backend(config: pytest.Config) -> str:
    """The ``--pkisim-backend`` option, else the ini option (checked)."""
    name = config.getoption("--pkisim-backend") or config.getini("pkisim_backend")
    if name not in BACKENDS:
        raise pytest.UsageError(f"ini option pkisim_backend = {name!r}: not one of "
                                f"{', '.join(BACKENDS)}")
    return str(name)


def pytest_configure(config: pytest.Config) -> None:
    name = chosen_backend(config)
    problem = BACKENDS[name].problem() if name != DEFAULT_BACKEND else None
    if problem:
        raise pytest.UsageError(f"--pkisim-backend {name}: {problem}")
    profile = config.getoption("--pkisim-profile") or config.getini("pkisim_profile")
    from_env = not profile and os.environ.get("HYPOTHESIS_PROFILE")
    if profile or from_env:
        try:
            from hypothesis import settings
            from hypothesis.errors import InvalidArgument
        except ImportError:
            if not profile:
                return
            raise pytest.UsageError(f"--pkisim-profile {profile}: Hypothesis is not "
                                    "installed (pip install 'pkisim[test]')") from None
        try:
            settings.load_profile(str(profile or from_env))
        except InvalidArgument:
            if profile:  # a name in $HYPOTHESIS_PROFILE may be the project's own, for later
                raise pytest.UsageError(f"--pkisim-profile {profile}: no Hypothesis profile "
                                        f"of that name (pkisim ships {profiles.PROFILE})"
                                        ) from None


def pytest_report_header(config: pytest.Config) -> str | None:
    name = chosen_backend(config)
    return None if name == DEFAULT_BACKEND else f"pkisim back end: {name}"


__all__ = ["BACKENDS", "BackendFactory", "PresetRun", "ServerBackend", "check_preset",
           "chosen_backend"]

