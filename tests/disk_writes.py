"""Record every file the process opens for writing, through an audit hook (sys.addaudithook).

Audit hooks see os.open, open(), tempfile and everything built on them, so this catches a decoder that
spills an upload to disk however it does it. A hook cannot be removed; it records only while active.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager

_active: list[list[str]] = []
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def _hook(event: str, args: tuple) -> None:
    if not _active:
        return
    if event == "open":
        path, mode, flags = args
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or bool((flags or 0) & _WRITE_FLAGS)
        if writing and not isinstance(path, int):
            _active[-1].append(str(path))
    elif event in ("os.rename", "os.link", "os.symlink", "shutil.copyfile", "os.mkdir"):
        _active[-1].append(f"{event}: {args[0]}")


sys.addaudithook(_hook)


@contextmanager
def recording_disk_writes():
    """with recording_disk_writes() as written: ...  -> `written` lists the paths opened for writing."""
    written: list[str] = []
    _active.append(written)
    try:
        yield written
    finally:
        _active.remove(written)
