"""Peak memory of a block of code, as the kernel counts it (Linux).

tracemalloc sees only Python's and numpy's allocations; PIL, libjpeg, zlib and OpenCV allocate in C, and a
decompression bomb does its damage there. The kernel's resident-set high-water mark (VmHWM) sees
everything. Writing "5" to /proc/self/clear_refs resets it to the current resident set, so the mark read
after the block is the block's own peak.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")
MB = 1024 * 1024


@dataclass
class Peak:
    growth: int = 0  # bytes: the highest resident set during the block, less the resident set before it


def available() -> bool:
    try:
        _reset()
        _read("VmHWM")
    except OSError:
        return False
    return True


@contextmanager
def peak_memory():
    """with peak_memory() as peak: ...  -> peak.growth. Raises OSError where the kernel does not offer it."""
    peak = Peak()
    _reset()
    before = _read("VmRSS")
    yield peak
    peak.growth = max(0, _read("VmHWM") - before)


def _reset() -> None:
    with open(CLEAR_REFS, "w") as handle:
        handle.write("5")


def _read(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", STATUS.read_text(), re.MULTILINE)
    if match is None:
        raise OSError(f"{field} not in {STATUS}")
    return int(match.group(1)) * 1024
