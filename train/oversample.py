"""Training positions in which some sources repeat: a small source counts for more in every epoch.

The main dataset has five training slices for every Radiopaedia one, and Radiopaedia's T1 and T2 slices are
where the model is weakest. `--repeat radiopaedia-mri=2` lists each of that source's training images twice
per epoch (each copy augmented afresh). Only what an epoch draws changes: the splits, the manifest and the
report's counts stay those of the unique images.
"""

from __future__ import annotations

import argparse

import numpy as np


def parse_repeat(value: str) -> tuple[str, int]:
    """'NAME=K' with a whole K of at least 1."""
    name, separator, times = value.partition("=")
    if not separator or not name or not times.isdigit() or int(times) < 1:
        raise argparse.ArgumentTypeError(f"expected NAME=K with K a whole number of at least 1, got {value!r}")
    return name, int(times)


def repeated_positions(train: np.ndarray, sources: np.ndarray, repeats: dict[str, int]) -> np.ndarray:
    """`train` (positions into the dataset) with every position of a source in `repeats` listed that many
    times, in order. A source name that no image has is refused, so a typo cannot silently do nothing."""
    unknown = sorted(set(repeats) - set(sources.tolist()))
    if unknown:
        known = ", ".join(sorted(set(sources.tolist())))
        raise ValueError(f"--repeat names {', '.join(unknown)}: no data source has that name ({known})")
    times = np.array([repeats.get(source, 1) for source in sources[train]], dtype=np.int64)
    return np.repeat(train, times)
