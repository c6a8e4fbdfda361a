"""The shape of the package: what the README promises about it holds.

* every package's public ``__all__`` is exactly what the README's "Public API"
  section lists for it, and every listed name exists;
* the core imports light: ``import pkisim.ids`` (and ``import pkisim``) load
  neither pandas, pyarrow, SimPy nor matplotlib;
* every module can be read in one sitting (at most 700 lines).
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "pkisim"
MAX_LINES = 700
HEAVY = ("pandas", "pyarrow", "simpy", "matplotlib")


def documented_api() -> dict[str, set[str]]:
    """``- `pkisim.x`: `a`, `b`, ...`` lines of the README's Public API section."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Public API", 1)[1].split("\n## ", 1)[0]
    api: dict[str, set[str]] = {}
    for line in re.split(r"\n(?=- `)", section):
        found = re.match(r"- `(pkisim[\w.]*)`: (.*)", line.strip(), re.S)
        if found:
            api[found.group(1)] = set(re.findall(r"`([\w.]+)`", found.group(2)))
    return api


def packages() -> list[str]:
    return sorted("pkisim" + "".join(f".{p}" for p in init.parent.relative_to(PACKAGE).parts)
                  for init in PACKAGE.rglob("__init__.py"))


def test_the_readme_lists_every_package() -> None:
    assert sorted(documented_api()) == packages()


@pytest.mark.parametrize("package", packages())
def test_public_names_are_what_the_readme_documents(package: str) -> None:
    module = importlib.import_module(package)
    public = set(module.__all__)
    assert public == documented_api()[package]
    for name in public:
        assert hasattr(module, name), f"{package}.__all__ names {name}, which does not exist"


@pytest.mark.parametrize("module", ["pkisim", "pkisim.ids", "pkisim.driver"])
def test_the_core_imports_light(module: str) -> None:
    code = (f"import sys, {module}; "
            f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=ROOT)
    loaded = done.stdout.split()
    if module == "pkisim.driver":  # the driver records into a History (pandas for frames)
        loaded = [m for m in loaded if m not in ("pandas", "pyarrow")]
    assert loaded == []


def test_every_module_reads_in_one_sitting() -> None:
    long = {str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}
