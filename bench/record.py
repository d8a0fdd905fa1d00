"""What every benchmark records beside its numbers, and where it writes them: `bench/results/<file>`.

Numbers taken on a busy machine, another CPU or other library versions are not comparable, so each result
carries the core count, the load average when it was written, Python's and the main libraries' versions,
the date and the exact command line.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
LIBRARIES = ("torch", "torchvision", "grad-cam", "numpy", "streamlit")


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages, to two decimals."""
    return [round(value, 2) for value in os.getloadavg()]


def machine_facts() -> dict:
    return {
        "cores": os.cpu_count(),
        "load_average": load_average(),
        "python": platform.python_version(),
        "versions": library_versions(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        # as typed, e.g. "python -m bench.page_speed --runs 3"
        "command": " ".join(["python", *sys.orig_argv[1:]]),
    }


def write_result(file_name: str, result: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / file_name
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


def library_versions() -> dict[str, str]:
    found = {}
    for package in LIBRARIES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found
