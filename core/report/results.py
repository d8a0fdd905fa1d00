"""The one result type of every surface (batch CLI, the app's table and CSV, the printable report), and the
one CSV writer they share.

The CSV's columns, in order (`csv_columns`):
  path            the file (CLI: as given or found; app: the name it was uploaded under)
  view            which picture of the file was classified ("frame 2 of 3", "axial slice 90 of 181"); empty
                  for a file that holds one picture
  prediction      the class stated; empty unless status is ok
  confidence      its calibrated probability; empty unless status is ok
  p_<class>       calibrated probability of each class (empty when the file could not be read)
  status          ok, uncertain, not_mri, too_small, or error (the file could not be read)
  message         why no class is given, or what was done that the reader should know
  outlined_pixels a model with a mask head: the outlined tumour region's area on the picture's pixels (0: no
                  region); outlined_mm2 the same in mm² where the file gives a pixel spacing. Both empty for a
                  classifier without a mask head and for a picture the model refused (core.decide.assessment)
  modality        DICOM: the Modality tag ("MR"); plane: DICOM from the orientation tag, NIfTI the plane
                  shown; sequence: DICOM from the tags (core/io/acquisition.py); each empty when not known
  model           the model's name; weights_sha256: the sha256 of its weights file
  generated_at    when the CSV was written (ISO 8601, UTC)
Text cells a spreadsheet would evaluate as a formula are escaped (see `spreadsheet_text`).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from core.decide.assessment import Assessment
from core.decide.outline import Outline
from core.io.scan_io import DICOM, NIFTI, Scan, View
from core.run.model_info import ModelInfo

SORT_KEYS = ("file", "confidence", "prediction", "status")


@dataclass(frozen=True)
class ScanResult:
    name: str  # the file: its path (CLI) or the name it was uploaded under (app)
    view: str  # which picture of the file ("axial slice 90 of 181"), "" for a plain image
    status: str  # the assessment's status, or ERROR when the file could not be read
    message: str = ""
    assessment: Assessment | None = None
    modality: str = ""  # what the scan is, when its file says: core/io/acquisition.py
    plane: str = ""
    sequence: str = ""
    outlined_pixels: int | None = None  # the shown outline's area (core.decide.assessment.shown_outline)
    outlined_mm2: float | None = None

    @property
    def prediction(self) -> str:
        """The class stated for the scan: only when the status is ok (never for uncertain or not_mri)."""
        return self.assessment.prediction if self.assessment else ""

    @property
    def confidence(self) -> float | None:
        """The calibrated probability of the stated class; None when no class is stated."""
        return self.assessment.confidence if self.assessment and self.prediction else None


def scan_result(
    name: str, scan: Scan, view: View | None, assessment: Assessment, outline: Outline | None = None
) -> ScanResult:
    """The result for one picture of a decoded file: which picture, what the reader should know (the file's
    note, "the file holds 3 volumes; the first is shown", then the assessment's message), and the area of
    the outline shown on it."""
    note = scan.facts().get("note", "")
    message = " ".join(part for part in (_sentence(note), assessment.message) if part)
    return ScanResult(
        name,
        scan.describe(view),
        assessment.status,
        message,
        assessment,
        *acquisition_fields(scan, view),
        outlined_pixels=None if outline is None else outline.pixels,
        outlined_mm2=None if outline is None else outline.square_mm,
    )


def acquisition_fields(scan: Scan, view: View | None) -> tuple[str, str, str]:
    """(modality, plane, sequence) of the picture, each "" when not known."""
    if scan.kind == DICOM and scan.dicom.acquisition is not None:
        known = scan.dicom.acquisition
        return known.modality, known.plane or "", known.sequence or ""
    if scan.kind == NIFTI:
        return "", (view or scan.default_view()).plane, ""
    return "", "", ""


def _sentence(note: str) -> str:
    return f"{note[0].upper()}{note[1:]}." if note else ""


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


@dataclass(frozen=True)
class Provenance:
    """Which model gave the answers, and when they were written: on every CSV row, so a row copied into
    another spreadsheet still says where it came from."""

    model: str
    weights_sha256: str
    generated_at: str  # ISO 8601, UTC, to the second

    @classmethod
    def of(cls, model: ModelInfo, when: datetime | None = None) -> Provenance:
        moment = (when or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
        return cls(model.name, model.weights_sha256, moment.isoformat().replace("+00:00", "Z"))

    @classmethod
    def of_metadata(cls, metadata: dict, when: datetime | None = None) -> Provenance:
        return cls.of(ModelInfo.from_artifacts(metadata, None), when)


PROVENANCE_COLUMNS = ["model", "weights_sha256", "generated_at"]
ACQUISITION_COLUMNS = ["modality", "plane", "sequence"]
# A spreadsheet evaluates a cell that starts with one of these as a formula, so a file named
# =HYPERLINK(...) would run. OWASP's advice: a leading apostrophe. (A leading tab or CR, which some
# spreadsheets skip before looking, is written as an escape by legible_text, so it never leads a cell.)
_FORMULA_STARTS = ("=", "+", "-", "@")


def csv_columns(classes: list[str]) -> list[str]:
    probabilities = [f"p_{name}" for name in classes]
    return [
        "path",
        "view",
        "prediction",
        "confidence",
        *probabilities,
        "status",
        "message",
        "outlined_pixels",
        "outlined_mm2",
        *ACQUISITION_COLUMNS,
        *PROVENANCE_COLUMNS,
    ]


def is_results_csv(path: Path) -> bool:
    """Whether a file starts with this CSV's header (so replacing it loses nothing but an earlier result)."""
    try:
        with open(path, "rb") as handle:
            first_line = handle.read(4096).split(b"\n", 1)[0]
    except OSError:
        return False
    columns = first_line.decode("utf-8", "replace").strip().split(",")
    return columns[:4] == ["path", "view", "prediction", "confidence"] and columns[-3:] == PROVENANCE_COLUMNS


def write_results_csv(
    results: Iterable[ScanResult],
    classes: list[str],
    provenance: Provenance,
    handle: TextIO,
    numbers: Iterable[int] | None = None,
) -> int:
    """Write the header and one row per result as results arrive; returns the number of rows. With `numbers`
    (the app's upload order), a first column "#" carries the number the page shows for each row."""
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow((["#"] if numbers is not None else []) + csv_columns(classes))
    stamp = [provenance.model, provenance.weights_sha256, provenance.generated_at]
    numbered = iter(numbers) if numbers is not None else None
    rows = 0
    for result in results:
        lead = [str(next(numbered))] if numbered is not None else []
        writer.writerow(lead + [spreadsheet_text(cell) for cell in (*_row(result, classes), *stamp)])
        rows += 1
    return rows


def results_csv(
    results: Iterable[ScanResult], classes: list[str], provenance: Provenance, numbers: Iterable[int] | None = None
) -> str:
    buffer = io.StringIO()
    write_results_csv(results, classes, provenance, buffer, numbers)
    return buffer.getvalue()


def spreadsheet_text(cell: str) -> str:
    """A cell as text that is valid UTF-8 and that a spreadsheet shows rather than evaluates."""
    text = legible_text(cell)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def legible_text(text: str) -> str:
    """Text any UTF-8 writer accepts, on one line. A file name that is not valid UTF-8 reaches Python with
    its bytes as lone surrogates (os.fsdecode); they are written as the bytes they stand for, "caf\\xe9.png".
    Control characters (a CR or a tab in a file name) are written as escapes too: raw, they split a CSV row
    for many readers, and a leading one hides a formula from the check below."""
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that stands for no byte
        raw = text.encode("utf-8", "backslashreplace")
    return _CONTROL.sub(
        lambda match: match.group().encode("unicode_escape").decode("ascii"), raw.decode("utf-8", "backslashreplace")
    )


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _row(result: ScanResult, classes: list[str]) -> list[str]:
    assessment = result.assessment
    if assessment is None:
        scores = ["", "", *[""] * len(classes)]
    else:
        confidence = result.confidence
        scores = [
            result.prediction,
            "" if confidence is None else f"{confidence:.6f}",
            *[f"{assessment.probabilities[name]:.6f}" for name in classes],
        ]
    return [
        result.name,
        result.view,
        *scores,
        result.status,
        result.message,
        "" if result.outlined_pixels is None else str(result.outlined_pixels),
        "" if result.outlined_mm2 is None else f"{result.outlined_mm2:.1f}",
        result.modality,
        result.plane,
        result.sequence,
    ]
