"""Where the repository keeps its weights: plain paths, importable without loading PyTorch (the command
line's `--help` reads them)."""

from __future__ import annotations

from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
WEIGHTS_ROOT = REPOSITORY / "weights"  # every run folder the app can serve (core/run/runs.py)
DEFAULT_RUN = "default"
DEFAULT_WEIGHTS = WEIGHTS_ROOT / DEFAULT_RUN  # the bundled model
