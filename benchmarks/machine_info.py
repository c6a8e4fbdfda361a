"""The machine a benchmark ran on, and the one way results files are written."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd


def machine() -> dict[str, object]:
    return {"platform": platform.platform(), "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "numpy": np.__version__, "pandas": pd.__version__}


def write_results(path: Path, benchmark: str, fields: Mapping[str, object]) -> None:
    """``path`` as JSON: the benchmark's name, the machine and its load now, then
    ``fields`` (a previous file's header in them is replaced)."""
    header = {"benchmark": benchmark, "machine": machine(), "load_average": os.getloadavg()}
    data = {**header, **{key: value for key, value in fields.items() if key not in header}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(f"written: {path}")
