"""A weights directory: `model.safetensors` (tensors only, no pickle) and `metadata.json` beside it.

The metadata says how to rebuild and feed the model (architecture, classes, preprocessing, temperature) and
where it came from (data manifest hash, library versions, git commit, command line). It records the sha256
of the weights file, and loading refuses weights that do not match it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from core.run.run_folder import METADATA_FILE, WEIGHTS_FILE


class CheckpointError(RuntimeError):
    """A weights directory is missing, incomplete, or does not match its recorded hash."""


def save_checkpoint(directory: str | Path, state_dict: dict[str, torch.Tensor], metadata: dict) -> dict:
    """Write weights and metadata atomically; returns the metadata as written (with the weights' sha256)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {key: value.detach().to("cpu").contiguous() for key, value in state_dict.items()}
    with tempfile.NamedTemporaryFile(dir=directory, suffix=".tmp", delete=False) as handle:
        temporary = Path(handle.name)
    try:
        save_file(tensors, str(temporary))
        _readable_by_all(temporary)
        metadata = {**metadata, "weights_sha256": sha256_of_file(temporary)}
        # Metadata first: a crash between the two renames leaves old weights with a hash that no longer
        # matches, which loading reports, rather than new weights silently described by old metadata.
        write_json_atomic(directory / METADATA_FILE, metadata)
        os.replace(temporary, directory / WEIGHTS_FILE)
    finally:
        temporary.unlink(missing_ok=True)
    return metadata


def load_checkpoint(directory: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Read and verify a weights directory. Raises CheckpointError with a message fit for a user."""
    directory = Path(directory)
    weights, metadata_path = directory / WEIGHTS_FILE, directory / METADATA_FILE
    for required in (weights, metadata_path):
        if not required.is_file():
            raise CheckpointError(f"{directory} is not a weights directory: {required.name} is missing")
    metadata = read_metadata(directory)
    expected = metadata.get("weights_sha256")
    actual = sha256_of_file(weights)
    if expected != actual:
        raise CheckpointError(
            f"{weights} does not match the sha256 recorded in {METADATA_FILE} "
            f"(expected {expected}, found {actual}); the file is damaged or was replaced"
        )
    return load_file(str(weights)), metadata


def read_metadata(directory: str | Path) -> dict:
    path = Path(directory) / METADATA_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise CheckpointError(f"cannot read {path}: {error}") from error


def sha256_of_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_json_atomic(path: str | Path, value) -> None:
    write_bytes_atomic(path, (json.dumps(value, indent=2, sort_keys=False) + "\n").encode())


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write to a temporary file in the same directory, then rename: readers see the old file or the new."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    _readable_by_all(handle.name)
    os.replace(handle.name, path)


def _readable_by_all(path: str | Path) -> None:
    """tempfile creates files readable by their owner only; give the result the usual umask permissions."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)
