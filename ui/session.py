"""Per-session memory for expensive results (decoded scans, assessments, heatmaps), bounded in size.

Everything lives in `st.session_state`, which Streamlit keeps in this process's memory and drops when the
browser session ends: uploads are never written to disk, and one user's scans are never served to another.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

import streamlit as st

T = TypeVar("T")


class Memo:
    """A least-recently-used dict: the newest `capacity` entries survive."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._items: OrderedDict = OrderedDict()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = compute()
        self._items[key] = value
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)
        return value

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def put(self, key: Hashable, value) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def keep_only(self, wanted: Callable[[Hashable], bool]) -> None:
        for key in [k for k in self._items if not wanted(k)]:
            del self._items[key]


def memo(name: str, capacity: int) -> Memo:
    """The session's Memo called `name`, created on first use."""
    key = f"memo:{name}"
    if key not in st.session_state:
        st.session_state[key] = Memo(capacity)
    return st.session_state[key]
