"""Whether any session is waiting for an answer right now, so that work nobody is waiting for can wait.

app.py's start-up thread imports, after what a verdict needs, what only a heatmap needs (pytorch-grad-cam,
2 s of CPU on 2 cores). A verdict computed at the same time shares the cores and the interpreter with that
import: the first scan of a fresh server, uploaded while PyTorch was still loading, waited 1.5 s longer for
it. So the Classify page marks the stretch from its uploads to the end of the scan's panel (the verdict, and
what is drawn beside it), and the thread waits for no such stretch to be open before it goes on; a panel
that needs pytorch-grad-cam meanwhile imports it itself. Not marked: a series fetched from the PACS with
nothing uploaded (it is known only once the page's imports are in). A cheap module on purpose: the page
imports it before PyTorch.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

_open = 0  # page runs between uploads and their verdict, across sessions
_changed = threading.Condition()


@contextmanager
def answering(active: bool = True) -> Iterator[None]:
    """Marks the block as a verdict being waited for (nothing when `active` is false). The mark is removed
    however the block ends: a page that ends early, a rerun, an error."""
    global _open
    if not active:
        yield
        return
    with _changed:
        _open += 1
    try:
        yield
    finally:
        with _changed:
            _open -= 1
            _changed.notify_all()


def wait_until_nobody_waits(timeout: float) -> bool:
    """Block until no verdict is being waited for, or `timeout` seconds; True when nobody waits."""
    with _changed:
        return _changed.wait_for(lambda: _open == 0, timeout)
