"""Helpers for driving the Streamlit app with `streamlit.testing.v1.AppTest` (no browser, same process)."""

from __future__ import annotations

import shutil
from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.run.runs import ROOT_VARIABLE

APP = Path(__file__).resolve().parents[1] / "streamlit_app.py"
TIMEOUT = 120  # seconds per script run: the first one loads the model


def serve(monkeypatch, root: Path, runs: dict[str, Path]) -> Path:
    """A weights root holding copies of `runs` ({name: run folder}), and the app pointed at it."""
    root.mkdir(parents=True, exist_ok=True)
    for name, source in runs.items():
        shutil.copytree(source, root / name)
    monkeypatch.setenv(ROOT_VARIABLE, str(root))
    return root


def start(page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    if page:
        at.switch_page(page).run()
    return at


def upload(at: AppTest, *files: tuple[str, bytes]) -> AppTest:
    """Put (name, bytes) files into the Classify page's uploader and run the page."""
    at.file_uploader[0].set_value([(name, data, "application/octet-stream") for name, data in files])
    return at.run()


def open_tab(at: AppTest, label: str) -> AppTest:
    """Open a tab of a lazily drawn `st.tabs` (pages/evaluation.py) and run the page, as a click would."""
    at.session_state["eval:tab"] = label
    return at.run()


def texts(at: AppTest) -> str:
    """Everything the app sent to the browser in its last run (main area and sidebar), as one string."""
    parts: list[str] = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(parts)


def by_label(widgets, label: str):
    matches = [w for w in widgets if w.label == label]
    assert matches, f"no widget labelled {label!r} among {[w.label for w in widgets]}"
    return matches[0]
