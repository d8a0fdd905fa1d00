"""Which trained runs the app can serve: every folder under the weights root that holds a checkpoint.

The root is `weights/` next to this repository, or the folder named by the environment variable
MRI_WEIGHTS_ROOT (tests point it at runs they train; a deployment can keep weights elsewhere).
"""

from __future__ import annotations

import os
from pathlib import Path

from core.run.paths import DEFAULT_RUN, WEIGHTS_ROOT
from core.run.run_folder import METADATA_FILE, WEIGHTS_FILE

ROOT_VARIABLE = "MRI_WEIGHTS_ROOT"


def weights_root() -> Path:
    return Path(os.environ.get(ROOT_VARIABLE) or WEIGHTS_ROOT)


def find_runs(root: Path | None = None) -> list[Path]:
    """Run folders (a weights file and its metadata), "default" first, then by name."""
    root = root or weights_root()
    if not root.is_dir():
        return []
    runs = [
        folder
        for folder in root.iterdir()
        if folder.is_dir() and (folder / WEIGHTS_FILE).is_file() and (folder / METADATA_FILE).is_file()
    ]
    return sorted(runs, key=lambda folder: (folder.name != DEFAULT_RUN, folder.name))
