"""The machine a benchmark ran on, as every RESULTS.md section states it; appending sections."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def machine() -> str:
    """Cores, CPU model, Python version and the load average when the run started."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} cores (nproc), {cpu}, Python {platform.python_version()}; "
        f"load average at start {load}"
    )


RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def append_results(section: str) -> None:
    """Append one section (already formatted Markdown) to benchmarks/RESULTS.md."""
    with RESULTS.open("a") as fh:
        fh.write(section)
