"""A batch of classified scans as a table: rows, filtering, sorting, and the CSV download.

The CSV has the batch CLI's columns (`core.predict.csv_columns`) with `view` added after `path`, so a
spreadsheet built on one works on the other.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from core.assessment import Assessment
from core.predict import csv_columns

ERROR = "error"
SORT_KEYS = ("file", "confidence", "prediction", "status")


@dataclass(frozen=True)
class ScanResult:
    name: str  # the file name as uploaded
    view: str  # which picture of the file ("axial slice 90 of 181"), "" for a plain image
    status: str  # the assessment's status, or ERROR when the file could not be read
    message: str = ""
    assessment: Assessment | None = None

    @property
    def prediction(self) -> str:
        """The class stated for the scan: only when the status is ok (never for uncertain or not_mri)."""
        return self.assessment.prediction if self.assessment else ""

    @property
    def confidence(self) -> float | None:
        """The calibrated probability of the stated class; None when no class is stated."""
        return self.assessment.confidence if self.assessment and self.prediction else None


def filter_results(
    results: list[ScanResult],
    statuses: set[str] | None = None,
    predictions: set[str] | None = None,
    min_confidence: float = 0.0,
) -> list[ScanResult]:
    """Keep results whose status and stated class are among those given (None: any). A confidence floor
    applies only to results that state a class; the others have no confidence to compare."""
    kept = []
    for result in results:
        if statuses is not None and result.status not in statuses:
            continue
        if predictions is not None and result.prediction and result.prediction not in predictions:
            continue
        if result.confidence is not None and result.confidence < min_confidence:
            continue
        kept.append(result)
    return kept


def sort_results(results: list[ScanResult], key: str = "file", descending: bool = False) -> list[ScanResult]:
    """Sort by a SORT_KEYS column; results without a value (no confidence, no class) always go last."""
    if key not in SORT_KEYS:
        raise ValueError(f"cannot sort by {key!r}; choose from {', '.join(SORT_KEYS)}")
    value = {
        "file": lambda r: (r.name.lower(), r.view),
        "confidence": lambda r: r.confidence,
        "prediction": lambda r: r.prediction or None,
        "status": lambda r: r.status,
    }[key]
    present = [r for r in results if value(r) is not None]
    missing = [r for r in results if value(r) is None]
    return sorted(present, key=value, reverse=descending) + missing


def results_csv(results: list[ScanResult], classes: list[str]) -> str:
    columns = csv_columns(classes)
    columns.insert(1, "view")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for result in results:
        assessment = result.assessment
        if assessment is None:
            values = ["", "", *[""] * len(classes)]
        else:
            values = [
                assessment.prediction,
                f"{assessment.confidence:.6f}" if assessment.prediction else "",
                *[f"{assessment.probabilities[name]:.6f}" for name in classes],
            ]
        writer.writerow([result.name, result.view, *values, result.status, result.message])
    return buffer.getvalue()
