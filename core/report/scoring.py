"""The one way a labelled set of scans is scored: the training report's test set, an external folder
(`python -m train.evaluate`) and a hospital's own scans all go through `score_images` and `summarise`.

`score_images` runs the served model exactly as the app does (calibrated probabilities, the "not a brain
MRI" gate, the abstention threshold) and gives each image its status; `summarise` turns labels and those
results into the report's numbers, for the whole set and broken down by any per-image attribute (source,
sequence, plane, site). A number here is therefore the number a user of the app would have seen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.decide.assessment import NOT_MRI, OK, TOO_SMALL, UNCERTAIN, decide_status
from core.decide.outline import region_pixels, rows_disagreeing
from core.labels import NO_TUMOUR
from core.model.inference import Classifier, softmax
from core.model.ood import stage_statistics
from core.report.metrics import classification_report, expected_calibration_error, reliability_bins


@dataclass(frozen=True)
class ScoredImages:
    logits: np.ndarray  # float32 (N, C), uncalibrated
    probabilities: np.ndarray  # float (N, C), temperature-calibrated
    status: np.ndarray  # str (N,): ok / uncertain / not_mri
    # int (N,): pixels the mask head outlines on the model's input (core/decide/outline.py); None without one
    outlined_pixels: np.ndarray | None = None

    def __getitem__(self, rows) -> ScoredImages:
        outlined = None if self.outlined_pixels is None else self.outlined_pixels[rows]
        return ScoredImages(self.logits[rows], self.probabilities[rows], self.status[rows], outlined)

    def __len__(self) -> int:
        return len(self.status)


def score_images(
    classifier: Classifier, images: np.ndarray, statistics: np.ndarray, picture_status: np.ndarray | None = None
) -> ScoredImages:
    """Prepared uint8 images (N, S, S), their decoded pictures' statistics (core.model.ood.image_statistics) and
    the refusals found on the decoded pictures (core.decide.assessment.picture_status, "" where none)."""
    logits, masks = classifier.logits_and_masks(images)
    probabilities = softmax(logits / classifier.temperature)
    outlined = None if masks is None else region_pixels(masks, classifier.outline_presence)
    disagree = np.zeros(len(images), bool)
    if outlined is not None:
        disagree = rows_disagreeing(classifier.classes, probabilities, outlined)
    if classifier.gate is None or not len(images):
        outside = np.zeros(len(images), dtype=bool)
    else:
        signature = np.concatenate([statistics, stage_statistics(classifier, images)], 1).astype(np.float64)
        outside = classifier.gate.rejects(np.nan_to_num(signature))
    refused = np.full(len(images), "", dtype=object) if picture_status is None else picture_status
    status = np.array(
        [
            refusal or decide_status(classifier, float(p.max()), bool(o), bool(d))
            for p, o, refusal, d in zip(probabilities, outside, refused, disagree, strict=True)
        ],
        dtype=object,
    )
    return ScoredImages(logits, probabilities, status.astype(str), outlined)


def summarise(labels: np.ndarray, scored: ScoredImages, classes: list[str], attributes: dict | None = None) -> dict:
    """The report's numbers for one set; with `attributes` ({"sequence": per-image values, ...}) also the same
    numbers (without reliability curves) for every non-empty value of each attribute."""
    labels = np.asarray(labels)
    report = _metrics(labels, scored, classes)
    report["reliability"] = {
        "uncalibrated": reliability_bins(labels, softmax(scored.logits)),
        "calibrated": reliability_bins(labels, scored.probabilities),
    }
    breakdown = {}
    for name, values in (attributes or {}).items():
        values = np.asarray(values, dtype=object)
        groups = {str(v): values == v for v in dict.fromkeys(values.tolist()) if v not in ("", None)}
        if groups:
            breakdown[name] = {
                key: _metrics(labels[rows], scored[rows], classes) for key, rows in sorted(groups.items())
            }
    if breakdown:
        report["breakdown"] = breakdown
    return report


def _metrics(labels: np.ndarray, scored: ScoredImages, classes: list[str]) -> dict:
    report = classification_report(labels, scored.probabilities, classes)
    report["ece_uncalibrated"] = expected_calibration_error(labels, softmax(scored.logits)) if len(labels) else None
    report["outcomes"] = outcomes(labels, scored, classes)
    return report


def outcomes(labels: np.ndarray, scored: ScoredImages, classes: list[str]) -> dict:
    """What the product did with the set: stated a class (right or wrong), abstained, or refused."""
    n = len(labels)
    stated = scored.status == OK
    wrong = scored.probabilities.argmax(1) != labels if n else np.zeros(0, bool)
    result = {
        "n": n,
        "answered": int(stated.sum()),
        "answered_wrong": int((stated & wrong).sum()),
        "answered_wrong_share": float((stated & wrong).mean()) if n else None,
        "accuracy_when_answered": float((~wrong[stated]).mean()) if stated.any() else None,
        "uncertain": int((scored.status == UNCERTAIN).sum()),
        "not_mri": int((scored.status == NOT_MRI).sum()),
        "not_mri_share": float((scored.status == NOT_MRI).mean()) if n else None,
        "too_small": int((scored.status == TOO_SMALL).sum()),
    }
    if NO_TUMOUR in classes:
        # Tumour vs no tumour, on the top class: a tumour called "the wrong tumour" is still found.
        healthy = classes.index(NO_TUMOUR)
        has_tumour, called_tumour = labels != healthy, scored.probabilities.argmax(1) != healthy
        result["tumour_sensitivity"] = float(called_tumour[has_tumour].mean()) if has_tumour.any() else None
        result["tumour_specificity"] = float((~called_tumour[~has_tumour]).mean()) if (~has_tumour).any() else None
        if scored.outlined_pixels is not None:
            region = scored.outlined_pixels > 0
            result["no_tumour_with_region_share"] = float(region[~has_tumour].mean()) if (~has_tumour).any() else None
            result["tumour_with_region_share"] = float(region[has_tumour].mean()) if has_tumour.any() else None
            disagreeing = rows_disagreeing(classes, scored.probabilities, scored.outlined_pixels)
            result["heads_disagree"] = int(disagreeing.sum())
    return result
