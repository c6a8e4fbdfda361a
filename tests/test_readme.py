"""Every Python block of README.md runs, verbatim, as a reader would paste it.

Each block runs on its own (a fresh interpreter, ``python -c BLOCK``, which
like a notebook needs no ``if __name__ == "__main__":`` guard around a process
pool) in a scratch directory that sees the repository's ``scenarios/`` and ``tests/``,
so a block must define everything it uses.  A block that cannot run here says
so on its first line, visibly: ``# not run by the tests: <reason>``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"^```python\n(.*?)^```$", README, flags=re.MULTILINE | re.DOTALL)
SKIP = "# not run by the tests: "


def _line(block: str) -> int:
    return README[:README.index(block)].count("\n") + 1


def test_the_readme_has_python_examples_and_skips_few() -> None:
    assert len(BLOCKS) >= 4
    skipped = [b for b in BLOCKS if b.startswith(SKIP)]
    assert len(skipped) <= 1, "keep README blocks that the tests cannot run rare"
    assert all(len(b.splitlines()[0]) > len(SKIP) + 10 for b in skipped), "say why"


@pytest.mark.parametrize("block", [b for b in BLOCKS if not b.startswith(SKIP)],
                         ids=[f"line-{_line(b)}" for b in BLOCKS if not b.startswith(SKIP)])
def test_readme_block_runs_verbatim(block: str, tmp_path: Path) -> None:
    for name in ("scenarios", "tests"):
        (tmp_path / name).symlink_to(ROOT / name)
    env = {**os.environ, "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get(
               "PYTHONPATH")])])}
    done = subprocess.run([sys.executable, "-c", block], text=True, capture_output=True,
                          cwd=tmp_path, env=env, timeout=600)
    assert done.returncode == 0, f"README.md line {_line(block)}:\n{done.stderr[-3000:]}"
