"""Classify every slice of a volume along one plane, or of a DICOM series: how the answer changes through it.

Each slice goes through `core.decide.assessment.assess`, like any single scan, so each slice holds the Assessment
(and status: ok, uncertain, not_mri) that it would get alone. Slices with (almost) no tissue, the air above
the head or below the skull base, get no answer: a classifier trained on brain slices says nothing
meaningful about them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.decide.assessment import Assessment, assess
from core.io.nifti_io import NiftiVolume
from core.model.inference import Classifier

CHUNK = 16  # slices per batch: small enough to report progress, large enough to batch on the device
NO_TISSUE = "no_tissue"  # the status of a slice that was not classified
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

    def statuses(self) -> list[str]:
        """Each slice's status as a single-slice answer would have it, NO_TISSUE for an unclassified one."""
        return [a.status if a is not None else NO_TISSUE for a in self.assessments]


def has_tissue(picture: np.ndarray) -> bool:
    return float((picture > TISSUE_LEVEL).mean()) >= MIN_TISSUE_FRACTION


def sweep(
    classifier: Classifier,
    volume: NiftiVolume,
    plane: str,
    progress: Callable[[float], None] | None = None,
) -> Sweep:
    """Assess every slice along `plane`; `progress(fraction)` is called after each batch."""
    return sweep_pictures(classifier, volume.slice_count(plane), lambda i: volume.slice(plane, i), plane, progress)


def sweep_pictures(
    classifier: Classifier,
    count: int,
    picture: Callable[[int], np.ndarray],
    plane: str,
    progress: Callable[[float], None] | None = None,
) -> Sweep:
    """Assess pictures 0..count-1 (`picture(i)`, float [0, 1]) in batches of CHUNK: a volume's slices or a
    DICOM series' files in slice order. Only a batch's pictures are held at once."""
    assessments: list[Assessment | None] = [None] * count
    for start in range(0, count, CHUNK):
        batch = [(i, picture(i)) for i in range(start, min(count, start + CHUNK))]
        batch = [(i, gray) for i, gray in batch if has_tissue(gray)]
        for (i, _), assessment in zip(batch, assess(classifier, [gray for _, gray in batch]), strict=True):
            assessments[i] = assessment
        if progress:
            progress(min(count, start + CHUNK) / count)
    return Sweep(plane, list(range(count)), assessments)
