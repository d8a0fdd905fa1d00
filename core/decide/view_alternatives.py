"""The other pictures of a scan that a reader could as easily have chosen: the other display windows of a
DICOM, and the neighbouring slices or frames. If the answer changes across them, the reader must be told
next to the control, because a verdict that flips with the window or one slice over is not a finding.
"""

from __future__ import annotations

from dataclasses import replace

from core.decide.assessment import Assessment
from core.io.dicom_io import auto_window
from core.io.scan_io import DICOM, NIFTI, Scan, View
from core.labels import display_name, status_text
from core.report.intervals import percent

NEIGHBOURS = (-2, -1, 1, 2)  # slices (or frames) either side: a lesion spans several


def window_alternatives(scan: Scan, view: View) -> list[tuple[str, View]]:
    """(label, view) for each other window mode of a DICOM's current frame: the file's own and the automatic."""
    if scan.kind != DICOM:
        return []
    has_file_window = scan.dicom.window.source == "file"
    automatic = auto_window(scan.dicom.frames)
    current = "file" if view.window is None and has_file_window else _mode(view)
    options = []
    if has_file_window and current != "file":
        options.append(("the file's window", replace(view, window=None)))
    if current != "automatic":
        options.append(("the automatic window", replace(view, window=automatic)))
    return options


def neighbour_alternatives(scan: Scan, view: View) -> list[tuple[str, View]]:
    """(label, view) for the slices of a NIfTI plane, or the frames of a multi-frame DICOM, next to this one."""
    if scan.kind == NIFTI:
        count = scan.volume.slice_count(view.plane)
        index = scan.volume.middle(view.plane) if view.index is None else view.index
        return [
            (f"slice {index + step + 1}", replace(view, index=index + step))
            for step in NEIGHBOURS
            if 0 <= index + step < count
        ]
    if scan.kind == DICOM and scan.dicom.frame_count > 1:
        return [
            (f"frame {view.frame + step + 1}", replace(view, frame=view.frame + step))
            for step in NEIGHBOURS
            if 0 <= view.frame + step < scan.dicom.frame_count
        ]
    return []


def _mode(view: View) -> str:
    if view.window is None:
        return "automatic"  # no file window: the file's "own" is the automatic one
    return "automatic" if view.window.source == "auto" else view.window.source


def changed_answers(current: Assessment, alternatives: list[tuple[str, Assessment]]) -> list[tuple[str, Assessment]]:
    """The alternatives whose answer differs from the current one: another status, or another stated class."""
    return [
        (label, other)
        for label, other in alternatives
        if other.status != current.status or other.prediction != current.prediction
    ]


def answer_in_words(assessment: Assessment) -> str:
    if assessment.prediction:
        return f"{display_name(assessment.prediction)} ({percent(assessment.confidence)})"
    return status_text(assessment.status)
