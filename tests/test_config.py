"""Server settings that keep the app quiet and offline (.streamlit/config.toml)."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_file_watcher_is_off_and_the_page_icon_is_a_shipped_file():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["fileWatcherType"] == "none"  # else it walks .venv and floods the log
    app = (ROOT / "streamlit_app.py").read_text()
    assert 'page_icon=":material' not in app and (ROOT / "ui" / "assets" / "icon.png").is_file()
