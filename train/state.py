"""The resumable state of a run, `OUT/resume/last.pt`, written atomically after every epoch.

It holds tensors and plain values only and is read back with `torch.load(weights_only=True)`, which
refuses to run pickled code. The served weights never go through this file: they are safetensors.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import torch

from core.model.checkpoint import write_bytes_atomic

RESUME_FOLDER = "resume"
STATE_FILE = "last.pt"


def state_path(out: Path) -> Path:
    return out / RESUME_FOLDER / STATE_FILE


def save_state(out: Path, state: dict) -> None:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_bytes_atomic(state_path(out), buffer.getvalue())


def load_state(out: Path) -> dict:
    path = state_path(out)
    if not path.is_file():
        raise FileNotFoundError(f"--resume: no interrupted run to continue in {out} ({path} is missing)")
    return torch.load(path, map_location="cpu", weights_only=True)


def discard_state(out: Path) -> None:
    """A finished run needs no resume state; removing it keeps weight folders small."""
    shutil.rmtree(out / RESUME_FOLDER, ignore_errors=True)
