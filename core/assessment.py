"""The answer the product gives for one scan: a class, or a reason not to give one.

Every surface (app, batch CLI, printable report) asks this module, so a scan gets the same answer
everywhere. Probabilities are always the temperature-calibrated ones. In order:
  not_mri    the out-of-distribution gate finds the picture unlike the training scans (core/ood.py)
  uncertain  the calibrated confidence is below the threshold chosen on validation (train/safety.py)
  ok         a class is stated
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.inference import Classifier
from core.ood import signatures

OK, UNCERTAIN, NOT_MRI = "ok", "uncertain", "not_mri"
NOT_MRI_MESSAGE = (
    "Not a brain MRI slice: the picture's layout, contrast and texture are unlike the training scans "
    "(photographs, documents, screenshots, other images and blank pictures are refused), so no class is given."
)


@dataclass(frozen=True)
class Assessment:
    status: str  # OK, UNCERTAIN or NOT_MRI
    probabilities: dict[str, float]  # calibrated, every class (shown on demand, never as the answer)
    message: str = ""

    @property
    def top_class(self) -> str:
        return max(self.probabilities, key=self.probabilities.get)

    @property
    def confidence(self) -> float:
        return max(self.probabilities.values())

    @property
    def prediction(self) -> str:
        """The class the product states: only when the status is ok."""
        return self.top_class if self.status == OK else ""


def assess(classifier: Classifier, grays: list[np.ndarray]) -> list[Assessment]:
    """Decoded grayscale scans (float, [0, 1]) -> one Assessment each."""
    if not grays:
        return []
    images = np.stack([classifier.prepare(gray) for gray in grays])
    probabilities = classifier.probabilities(images)
    if classifier.gate is None:
        outside = np.zeros(len(grays), dtype=bool)
    else:
        outside = classifier.gate.rejects(signatures(classifier, grays, images))
    return [
        _decide(classifier, dict(zip(classifier.classes, map(float, row), strict=True)), bool(is_outside))
        for row, is_outside in zip(probabilities, outside, strict=True)
    ]


def _decide(classifier: Classifier, probabilities: dict[str, float], outside: bool) -> Assessment:
    status = decide_status(classifier, max(probabilities.values()), outside)
    if status == NOT_MRI:
        return Assessment(NOT_MRI, probabilities, NOT_MRI_MESSAGE)
    if status == UNCERTAIN:
        confidence = max(probabilities.values())
        return Assessment(
            UNCERTAIN,
            probabilities,
            f"The calibrated confidence, {confidence:.1%}, is below the {classifier.abstain_below:.1%} this model "
            "needs to state a class (set on validation data); please read the scan without a model suggestion.",
        )
    return Assessment(OK, probabilities)


def decide_status(classifier: Classifier, confidence: float, outside: bool) -> str:
    """The rule, in the order the product applies it; core.scoring uses it for whole evaluation sets."""
    if outside:
        return NOT_MRI
    if confidence < classifier.abstain_below:
        return UNCERTAIN
    return OK
