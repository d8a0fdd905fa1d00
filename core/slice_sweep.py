"""Classify every slice of a volume along one plane: how the answer changes through the volume.

Each slice goes through `core.assessment.assess`, like any single scan. Slices with (almost) no tissue,
the air above the head or below the skull base, get no answer: a classifier trained on brain slices says
nothing meaningful about them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.assessment import Assessment, assess
from core.inference import Classifier
from core.nifti_io import NiftiVolume

CHUNK = 16  # slices per batch: small enough to report progress, large enough to batch on the device
TISSUE_LEVEL = 0.1  # intensity (of the volume's [0, 1] range) above which a voxel counts as tissue
MIN_TISSUE_FRACTION = 0.02


@dataclass(frozen=True)
class Sweep:
    plane: str
    indices: list[int]  # every slice index along the plane
    assessments: list[Assessment | None]  # None for slices without tissue

    def probabilities(self, classes: list[str]) -> np.ndarray:
        """(slices, classes) calibrated probabilities; NaN rows for slices that were not classified."""
        rows = [
            [a.probabilities[name] for name in classes] if a is not None else [np.nan] * len(classes)
            for a in self.assessments
        ]
        return np.array(rows, dtype=np.float64).reshape(len(self.indices), len(classes))


def has_tissue(picture: np.ndarray) -> bool:
    return float((picture > TISSUE_LEVEL).mean()) >= MIN_TISSUE_FRACTION


def sweep(
    classifier: Classifier,
    volume: NiftiVolume,
    plane: str,
    progress: Callable[[float], None] | None = None,
) -> Sweep:
    """Assess every slice along `plane`; `progress(fraction)` is called after each batch."""
    count = volume.slice_count(plane)
    assessments: list[Assessment | None] = [None] * count
    for start in range(0, count, CHUNK):
        batch = [(i, volume.slice(plane, i)) for i in range(start, min(count, start + CHUNK))]
        batch = [(i, picture) for i, picture in batch if has_tissue(picture)]
        for (i, _), assessment in zip(batch, assess(classifier, [p for _, p in batch]), strict=True):
            assessments[i] = assessment
        if progress:
            progress(min(count, start + CHUNK) / count)
    return Sweep(plane, list(range(count)), assessments)
