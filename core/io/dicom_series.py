"""Group decoded DICOM slices into studies and series, and put each series' slices in anatomical order.

Files arrive in any order (a multi-file upload, a ZIP, a PACS retrieval). A series is the files that share
StudyInstanceUID and SeriesInstanceUID. Its slices are ordered, in this precedence:
  1. along the slice normal (from ImageOrientationPatient) by ImagePositionPatient, when every slice has a
     position and all lie in one orientation: the order in space, whatever the scanner numbered;
  2. by InstanceNumber, when every slice has one: the scanner's order, usually the same;
  3. in upload order, otherwise, and the notes say the order is not known from the files.
Only single-picture files join a series: a multi-frame file is a series of its own, with its frame slider.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from core.io.acquisition import Acquisition, slice_normal
from core.io.dicom_io import DicomScan
from core.report.intervals import plural

BY_POSITION, BY_INSTANCE, BY_UPLOAD = "slice position", "instance number", "upload order"
ORIENTATION_TOLERANCE = 1e-3  # direction cosines that differ by less are one orientation (rounding in files)


@dataclass(frozen=True)
class Series:
    study_uid: str
    series_uid: str
    series_number: int | None
    keys: tuple[str, ...]  # the items' keys, in slice order
    ordered_by: str  # BY_POSITION, BY_INSTANCE or BY_UPLOAD
    acquisition: Acquisition | None  # the first slice's (all slices of a series share their acquisition)
    notes: tuple[str, ...] = ()  # what the reader should know about the order, in words

    def __len__(self) -> int:
        return len(self.keys)

    def title(self) -> str:
        """e.g. "Series 4: axial T1C, 24 slices" (technical facts only, never a description or an identifier)."""
        what = " ".join(
            part for part in (self.acquisition.plane, self.acquisition.sequence) if self.acquisition and part
        )
        number = f"Series {self.series_number}" if self.series_number is not None else "Series"
        return f"{number}: {what + ', ' if what else ''}{len(self)} slices"


def group_series(items: list[tuple[str, DicomScan]]) -> list[Series]:
    """(key, decoded DICOM) pairs, in upload order -> one Series per (study, series), in order of first
    appearance. Files without a SeriesInstanceUID, and multi-frame files, are left out."""
    groups: dict[tuple[str, str], list[tuple[int, str, DicomScan]]] = {}
    for upload_index, (key, scan) in enumerate(items):
        place = scan.place
        if place is None or not place.series_uid or scan.frame_count != 1:
            continue
        groups.setdefault((place.study_uid, place.series_uid), []).append((upload_index, key, scan))
    return [_series(study, series, members) for (study, series), members in groups.items()]


def _series(study: str, series: str, members: list[tuple[int, str, DicomScan]]) -> Series:
    ordered, ordered_by, notes = order_slices(members)
    first = members[0][2]
    numbers = Counter(scan.place.series_number for _, _, scan in members if scan.place.series_number is not None)
    return Series(
        study_uid=study,
        series_uid=series,
        series_number=numbers.most_common(1)[0][0] if numbers else None,
        keys=tuple(key for _, key, _ in ordered),
        ordered_by=ordered_by,
        acquisition=first.acquisition,
        notes=tuple(notes),
    )


def order_slices(members: list[tuple[int, str, DicomScan]]) -> tuple[list, str, list[str]]:
    """(ordered members, how they were ordered, notes). Ties keep the scanner's then the upload order."""
    count = len(members)
    places = [scan.place for _, _, scan in members]
    instance = [p.instance_number for p in places]
    orientations = [p.orientation for p in places if p.orientation is not None]
    positions = [p.position for p in places]
    notes: list[str] = []
    one_orientation = bool(orientations) and all(
        np.allclose(o, orientations[0], atol=ORIENTATION_TOLERANCE) for o in orientations
    )
    normal = slice_normal(list(orientations[0])) if one_orientation else None
    if orientations and not one_orientation:
        notes.append("The slices are not all in one orientation (a localizer, or a mixed series).")

    def tie_break(member) -> tuple:
        upload_index, _, scan = member
        number = scan.place.instance_number
        return (number is None, number if number is not None else 0, upload_index)

    if normal is not None and all(p is not None for p in positions):
        depth = {id(m): float(np.dot(m[2].place.position, normal)) for m in members}
        ordered = sorted(members, key=lambda m: (round(depth[id(m)], 3), *tie_break(m)))
        repeated = count - len({round(d, 3) for d in depth.values()})
        if repeated:
            shared = plural(repeated, "slice shares", "slices share")
            notes.append(f"{shared} a position with another slice (repeated or duplicate files).")
        return ordered, BY_POSITION, notes
    missing = sum(p is None for p in positions)
    why = f"{missing} of {count} slices have no position" if missing else "the slice orientation is not known"
    if all(n is not None for n in instance):
        notes.append(f"Ordered by instance number: {why}.")
        return sorted(members, key=tie_break), BY_INSTANCE, notes
    notes.append(
        f"The slice order is not known from the files ({why}, and {sum(n is None for n in instance)} have no "
        "instance number): they are shown in upload order."
    )
    return sorted(members, key=lambda m: m[0]), BY_UPLOAD, notes
