"""Scenario files: TOML in, a validated :class:`~pkisim.sim.config.Scenario` out.

The format is documented key by key in ``scenarios/README.md``.  Reading is
strict: an unknown key (with a "did you mean"), a wrong type, a bad duration or
rate, a TOML syntax error, an unreadable ``cs_cfg`` file and every error the
dataclasses raise all come out as one :class:`~pkisim.errors.ConfigError`
line naming the file, the line where it can be found, the key as a dotted
path (``ca[2].ids.serialLowWaterMark``, indices from 0) and the value as written::

    scenarios/x.toml:31: ca[2].ids.serialLowWaterMark = '0x3000': is larger than ...

The modules, in the order a file goes through them: :mod:`~pkisim.scenario.document`
(the text, its syntax errors and the line an error is about),
:mod:`~pkisim.scenario.keys` (dotted key paths and ``--set`` overrides),
:mod:`~pkisim.scenario.values` (durations, rates, distributions, typed tables),
:mod:`~pkisim.scenario.ids` (the CS.cfg ``dbs.*`` keys of ``[ca.ids]``) and
:mod:`~pkisim.scenario.builder` (the :class:`Scenario` and its cross-checks).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pkisim.scenario.builder import build_scenario
from pkisim.scenario.document import read_document
from pkisim.scenario.values import parse_duration, parse_rate
from pkisim.sim.config import Scenario

__all__ = ["load_scenario", "parse_duration", "parse_rate", "scenario_from_dict"]


def load_scenario(path: str | os.PathLike[str], *,
                  overrides: Mapping[str, object] | None = None,
                  strategy: str | None = None) -> Scenario:
    """Read, validate and build the scenario in the TOML file ``path``.

    ``overrides`` sets dotted keys before validation, e.g.
    ``{"workload.enroll_rate": 5, "ca[1].workers": 2}``; ``strategy`` makes
    every CA use that allocation strategy (numbers keep their values).
    Relative paths in the file (``cs_cfg``, ``workload.trace``) are relative to
    the file.  Raises :class:`~pkisim.errors.ConfigError` only.
    """
    source = os.fspath(path)
    data, text = read_document(path)
    return build_scenario(data, source, text, Path(source).parent, overrides, strategy)


def scenario_from_dict(data: Mapping[str, Any], source: str = "<dict>", *,
                       base_dir: str | os.PathLike[str] | None = None,
                       overrides: Mapping[str, object] | None = None,
                       strategy: str | None = None) -> Scenario:
    """The scenario that ``data`` (a parsed TOML document) describes.

    Errors name ``source``; relative paths are relative to ``base_dir``
    (default: the working directory).
    """
    return build_scenario(data, source, None, Path(base_dir or "."), overrides, strategy)
