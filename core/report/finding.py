"""What a result says, independent of how it is written down: the status, every class's calibrated
probability, and what was classified (one slice of a file or series, or a whole series with its rule).

core.report.dicom_results writes it as DICOM with highdicom; it lives apart from that so that the pages that
only describe an answer do not import highdicom (0.4 s), which a fresh server's first verdict would wait for.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.decide.assessment import NOT_MRI, OK, TOO_SMALL, UNCERTAIN, Assessment

STATUSES = (OK, UNCERTAIN, NOT_MRI, TOO_SMALL)


@dataclass(frozen=True)
class Finding:
    """What was classified and the answer, independent of how it was computed: one slice (of a file or a
    series), or a whole series with the rule that turned its slices' answers into one."""

    status: str  # ok, uncertain, not_mri or too_small
    probabilities: tuple[tuple[str, float], ...]  # calibrated, every class, in the model's class order
    label: str = ""  # the class stated: only when the status is ok
    slice_count: int = 1  # slices classified for this answer (a series answer: all of them)
    slice_number: int | None = None  # 1-based, when one slice of several was classified
    series_slice_count: int | None = None  # the slices the source holds, when one slice of several
    rule: str = ""  # a series answer: the stated rule, with its operating point
    # The mask head's outlined region on the classified slice (core/decide/outline.py), when the model has one:
    outlined_pixels: int | None = None
    outlined_mm2: float | None = None  # with the file's pixel spacing

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")
        if bool(self.label) != (self.status == OK):
            raise ValueError("a class is stated exactly when the status is ok")
        if self.label and self.label not in dict(self.probabilities):
            raise ValueError(f"class {self.label!r} has no probability")

    @classmethod
    def of_slice(
        cls, assessment: Assessment, slice_number: int | None = None, of: int | None = None, outline=None
    ) -> Finding:
        """`outline`: the slice's core.decide.outline.Outline, when the model draws one."""
        return cls(
            status=assessment.status,
            probabilities=tuple(assessment.probabilities.items()),
            label=assessment.prediction,
            slice_number=slice_number,
            series_slice_count=of,
            outlined_pixels=None if outline is None else outline.pixels,
            outlined_mm2=None if outline is None or outline.square_mm is None else round(outline.square_mm, 2),
        )

    @property
    def what(self) -> str:
        if self.rule or self.slice_count > 1:
            return f"Series of {self.slice_count} slices, answered as a whole"
        if self.slice_number is not None and self.series_slice_count:
            return f"Slice {self.slice_number} of {self.series_slice_count}"
        return "One slice"
