"""The machine a benchmark ran on, for its results file."""

from __future__ import annotations

import os
import platform

import numpy as np
import pandas as pd


def machine() -> dict[str, object]:
    return {"platform": platform.platform(), "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "numpy": np.__version__, "pandas": pd.__version__}
