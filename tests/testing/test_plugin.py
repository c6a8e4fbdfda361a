"""The pytest plugin as another project meets it: the README's test module
runs, unchanged, in a separate pytest process that loads the plugin through
its entry point; options, fixtures, the profile and the presets' promises.

The plugin is loaded as an installed pkisim loads it: a ``.dist-info`` on the
child's path declares the ``pytest11`` entry point that pyproject.toml
declares (the editable install this suite runs from may predate it).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from pkisim.testing import MachineConfig
from pkisim.testing.plugin import check_preset
from pkisim.testing.presets import PRESETS, Preset
from pkisim.testing.profiles import PROFILE

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
MODULE_NAME = "test_pkisim_ci.py"


def readme_module() -> str:
    """The README's copy-paste test module, verbatim."""
    section = README.split("## Property tests in your CI", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```python\n(.*?)^```$", section, flags=re.MULTILINE | re.DOTALL)
    found = [b for b in blocks if b.startswith(f"# {MODULE_NAME}")]
    assert len(found) == 1, "the README's CI section has one test module"
    return found[0]


@pytest.fixture
def project(pytester: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory,
            monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """Another project's folder; its pytest loads the plugin by the entry point."""
    entry = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    site = tmp_path_factory.mktemp("site")
    info = site / "pkisim_entry_point-0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pkisim-entry-point\n"
                                   "Version: 0\n")
    (info / "entry_points.txt").write_text(
        "[pytest11]\n" + "".join(f"{k} = {v}\n" for k, v in entry["pytest11"].items()))
    monkeypatch.setenv("PYTHONPATH", f"{site}:{ROOT}")
    monkeypatch.delenv("HYPOTHESIS_PROFILE", raising=False)
    return pytester


def run(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    return project.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=900)


def test_the_entry_point_names_the_plugin() -> None:
    entry = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    assert entry["pytest11"] == {"pkisim": "pkisim.testing.plugin"}


def test_the_readme_module_passes_on_the_memory_model(project: pytest.Pytester) -> None:
    project.makepyfile(**{MODULE_NAME[:-3]: readme_module()})
    run(project, "--pkisim-profile", PROFILE).assert_outcomes(passed=4)


@pytest.mark.parametrize("backend", [pytest.param("slapd", marks=pytest.mark.ldap),
                                     pytest.param("389ds", marks=pytest.mark.ds389)])
def test_the_readme_safe_preset_on_a_real_server(project: pytest.Pytester, backend: str) -> None:
    from pkisim.testing.servers import backends

    project.makepyfile(**{MODULE_NAME[:-3]: readme_module()})
    result = run(project, "--pkisim-profile", PROFILE, "--pkisim-backend", backend,
                 "-k", "never_overlap")
    if backend == "389ds" and not hasattr(backends, "ds389_backend"):  # until it lands
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        assert result.stderr.lines[0] == ("ERROR: --pkisim-backend 389ds: this pkisim has no "
                                          "pkisim.testing.servers.backends.ds389_backend")
        return
    result.assert_outcomes(passed=1, deselected=3)
    result.stdout.fnmatch_lines([f"pkisim back end: {backend}"])


def test_loading_the_plugin_imports_nothing_heavy(project: pytest.Pytester) -> None:
    project.makepyfile(test_light="""
        import sys

        def test_light(request):
            assert request.config.pluginmanager.has_plugin("pkisim")
            heavy = [m for m in ("pandas", "pyarrow", "simpy", "matplotlib", "ldap")
                     if m in sys.modules]
            assert heavy == []
    """)
    run(project).assert_outcomes(passed=1)


def test_a_missing_server_is_a_one_line_usage_error(project: pytest.Pytester) -> None:
    project.makeconftest("""
        import dataclasses
        from pkisim.testing import plugin

        plugin.BACKENDS["slapd"] = dataclasses.replace(
            plugin.BACKENDS["slapd"], programs=(("/nonexistent/sbin/slapd", "slapd"),))
    """)
    project.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    result = run(project, "--pkisim-backend", "slapd")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.stderr.lines[0] == ("ERROR: --pkisim-backend slapd: /nonexistent/sbin/slapd "
                                      "is not installed (Debian package slapd)")
    assert "Traceback" not in result.stderr.str()
    # the memory back end needs nothing: the same project runs without the option
    run(project).assert_outcomes(passed=1)


def test_bad_choices_are_usage_errors(project: pytest.Pytester) -> None:
    project.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    result = run(project, "--pkisim-backend", "oracle")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "invalid choice: 'oracle'" in result.stderr.str()
    result = run(project, "--pkisim-profile", "fast")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--pkisim-profile fast: no Hypothesis profile" in result.stderr.str()
    project.makeini("[pytest]\npkisim_backend = mysql\n")
    result = run(project)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "pkisim_backend = 'mysql'" in result.stderr.str()


def test_the_profile_is_selected_by_option_ini_or_environment(
        project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    project.makepyfile(test_profile="""
        from hypothesis import settings

        def test_profile():
            assert settings.get_current_profile_name() == "pkisim-ci"
            assert settings.default.report_multiple_bugs is False
    """)
    run(project).assert_outcomes(failed=1)
    run(project, "--pkisim-profile", PROFILE).assert_outcomes(passed=1)
    monkeypatch.setenv("HYPOTHESIS_PROFILE", PROFILE)
    run(project).assert_outcomes(passed=1)
    monkeypatch.delenv("HYPOTHESIS_PROFILE")
    project.makeini(f"[pytest]\npkisim_profile = {PROFILE}\n")
    run(project).assert_outcomes(passed=1)


def test_the_profile_bounds_the_run() -> None:
    from hypothesis import Phase, settings

    profile = settings.get_profile(PROFILE)
    assert profile.report_multiple_bugs is False and profile.derandomize
    assert profile.deadline is not None and profile.deadline.total_seconds() == 30
    assert profile.max_examples == 100 and profile.stateful_step_count == 30
    assert Phase.explain not in profile.phases and profile.print_blob


@pytest.mark.ldap
def test_the_slapd_fixture_stops_what_a_test_left_running(project: pytest.Pytester) -> None:
    """A backend whose state machine never tore down (an interrupted example) is
    stopped by the fixture; the next test sees no server of this process."""
    project.makepyfile(test_servers="""
        from pkisim.testing.servers.base import started_here

        def test_leaves_one_running(pkisim_slapd):
            backend = pkisim_slapd(("ds1",), True)
            assert started_here()

        def test_none_left():
            assert started_here() == []
    """)
    run(project).assert_outcomes(passed=2)


# ---------------------------------------------------------------- check_preset
def test_a_safe_preset_passes_and_reaches_every_goal() -> None:
    preset = PRESETS["legacy2-one-directory"]
    run_ = check_preset(preset.name)
    assert run_.failure is None and preset.goals
    assert all(run_.reached[goal] > 0 for goal in preset.goals), run_.reached
    # the memory model runs the preset's own number of examples (else the profile's)
    assert run_.backend == "memory" and run_.max_examples == getattr(preset, "examples", 100)


def test_a_goal_never_reached_fails_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PRESETS, "one-directory-partitions", Preset(
        "one-directory-partitions", MachineConfig("legacy2"), goals=("claim during partition",)))
    with pytest.raises(AssertionError, match=r"never reached .*'claim during partition'"):
        check_preset("one-directory-partitions", max_examples=10)
    # the goals a test names replace the preset's
    assert check_preset("one-directory-partitions", goals=(), max_examples=10).failure is None


def test_a_bug_preset_that_is_not_caught_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PRESETS, "safe-as-a-bug", Preset(
        "safe-as-a-bug", MachineConfig("legacy2"), expect="duplicate"))
    with pytest.raises(AssertionError, match="never found the 'duplicate' it exists to show"):
        check_preset("safe-as-a-bug", max_examples=10)


def test_a_caught_bug_returns_its_message_and_schedule() -> None:
    run_ = check_preset("legacy2-cross-replica-race")
    assert run_.failure is not None and run_.failure.count(" claim ") >= 2
    assert "ds1" in run_.failure and "ds2" in run_.failure and run_.steps


@pytest.mark.ldap
def test_a_preset_on_a_slapd_pair_and_a_factory_by_name() -> None:
    """A one-replica preset on a replicating pair (its CAs on the first server);
    a factory passed by itself is known by its name and gets its back end's budget."""
    from pkisim.testing.servers.backends import slapd_backend
    from pkisim.testing.servers.base import started_here

    run_ = check_preset("legacy2-one-directory", "slapd-pair", goals=("range exhausted",))
    assert run_.backend == "slapd-pair" and run_.max_examples == 5
    assert run_.reached["range exhausted"] > 0
    run_ = check_preset("random-128", slapd_backend, goals=())
    assert run_.backend == "slapd_backend" and run_.max_examples == 20
    assert started_here() == []


def test_unknown_names_are_one_line_errors() -> None:
    with pytest.raises(ValueError, match="unknown pkisim preset 'nope': one of "):
        check_preset("nope")
    with pytest.raises(ValueError, match="unknown pkisim back end 'oracle'"):
        check_preset("random-128", "oracle")
