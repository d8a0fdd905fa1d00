"""Ending a page early without ending the app's run.

`st.stop()` ends the whole script run, so what streamlit_app.py draws after the page would be lost: the
sidebar, which is drawn last because its model facts import PyTorch (seconds on a cold start) and the
Classify page's upload box must not wait for that. Pages call `end_page()` instead: inside
streamlit_app.py's `page_run()` it ends the page alone. A page that Streamlit runs on its own (it does for
scripts in `pages/` in some modes, AppTest's `switch_page` among them) has nothing after it, and there
`end_page()` is `st.stop()`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import NoReturn

import streamlit as st

_INSIDE_APP = ContextVar("inside_app", default=False)


class PageEnded(Exception):
    """The page has said all it has to say for this run."""


@contextmanager
def page_run() -> Iterator[None]:
    token = _INSIDE_APP.set(True)
    try:
        yield
    except PageEnded:
        pass
    finally:
        _INSIDE_APP.reset(token)


def end_page() -> NoReturn:
    if _INSIDE_APP.get():
        raise PageEnded
    st.stop()
