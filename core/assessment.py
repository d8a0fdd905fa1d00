"""The answer the product gives for one scan: a class, or a reason not to give one.

Every surface (app, batch CLI, printable report) asks this module, so a scan gets the same answer
everywhere. Probabilities are always the temperature-calibrated ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.inference import Classifier

OK = "ok"


@dataclass(frozen=True)
class Assessment:
    status: str  # "ok"; the trust-and-safety work adds "uncertain" and "not_mri"
    probabilities: dict[str, float]  # calibrated, every class
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
    probabilities = classifier.probabilities(np.stack([classifier.prepare(gray) for gray in grays]))
    return [Assessment(OK, dict(zip(classifier.classes, map(float, row), strict=True))) for row in probabilities]
