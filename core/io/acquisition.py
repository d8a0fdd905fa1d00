"""What a DICOM slice is, from its tags: modality, plane and MRI sequence family, and which tags said so.

Plane: the slice normal is the cross product of the row and column directions in ImageOrientationPatient
(patient coordinates: x right-to-left, y anterior-to-posterior, z inferior-to-superior). A normal along x is
sagittal, along y coronal, along z axial. Scans are often tilted (along the AC-PC line, say); the plane is
still named when the normal is within MAX_TILT_DEGREES of an axis, and "oblique" beyond.

Sequence family, in the project's names ("T1", "T1C", "T2", "FLAIR", "DWI", "other"), by this precedence:
  1. DWI when the file says it is diffusion-weighted (a b-value above 0, or the series description), since
     TR/TE alone cannot tell a diffusion series from a T2-weighted one.
  2. The timings the scanner wrote (RepetitionTime, EchoTime, InversionTime, with ScanningSequence and
     SequenceVariant): they record what was acquired, where the description is typed by a person or a
     protocol and is copied between series. Only clear-cut timings decide (see `_from_timings`).
  3. The series description, when the timings are missing or not clear-cut.
  T1 becomes T1C when ContrastBolusAgent names an agent or the description says post-contrast.
When the description and the timings disagree, the timings win and `notes` says so in words: the reader
should know the label on the series is not what its physics says.

Only technical tags are read here; a SeriesDescription is read for its sequence words and never repeated.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pydicom

from core.decide.scope import DICOM as DICOM_FILE
from core.decide.scope import ScanFacts
from core.io.scan_attributes import sequence_from_words

AXIAL, CORONAL, SAGITTAL, OBLIQUE = "axial", "coronal", "sagittal", "oblique"
T1, T1C, T2, FLAIR, DWI, OTHER = "T1", "T1C", "T2", "FLAIR", "DWI", "other"
MAX_TILT_DEGREES = 30.0  # a normal this close to an axis names the plane; further is oblique
_AXIS_PLANES = (SAGITTAL, CORONAL, AXIAL)  # the plane whose normal is patient x, y, z
# Description words beyond core.io.scan_attributes' sequence names.
_CONTRAST_WORDS = {"post", "gd", "gad", "gado", "contrast", "postcontrast", "c+", "+c", "pc", "ce"}
_DIFFUSION_WORDS = {"dwi", "adc", "diffusion", "diff", "trace", "dti", "b1000"}
_WORD = re.compile(r"[A-Za-z0-9+]+")


@dataclass(frozen=True)
class Acquisition:
    modality: str  # "MR", or "" when the file does not say
    plane: str | None  # axial / coronal / sagittal / oblique; None without an orientation tag
    sequence: str | None  # T1 / T1C / T2 / FLAIR / DWI / other; None when the tags do not tell
    notes: tuple[str, ...] = ()  # which tags decided, and any contradiction, in plain sentences

    def facts(self) -> dict[str, str]:
        """For Scan.facts(): what is known, in words."""
        return {
            "plane": self.plane or "not stated in the file",
            "sequence": self.sequence or "not known from the tags",
        }


def scope_facts(acquisition: Acquisition | None, name: str = "") -> ScanFacts:
    """What core.decide.scope compares with the model's validated scope: the tags' plane and sequence, else what the
    file name says (an estimate, and said to be one)."""
    from_name = ScanFacts.from_name(DICOM_FILE, name)
    if acquisition is None:
        return from_name
    return ScanFacts(
        file_type=DICOM_FILE,
        sequence=acquisition.sequence or from_name.sequence,
        sequence_from="DICOM tags" if acquisition.sequence else from_name.sequence_from,
        plane=acquisition.plane or from_name.plane,
        plane_from="DICOM orientation tag" if acquisition.plane else from_name.plane_from,
    )


def acquisition_of(dataset: pydicom.Dataset) -> Acquisition:
    modality = str(dataset.get("Modality", "") or "").strip().upper()
    plane, plane_note = plane_of(_numbers(_lookup(dataset, "ImageOrientationPatient", "PlaneOrientationSequence")))
    sequence, sequence_notes = sequence_of(dataset)
    return Acquisition(modality, plane, sequence, tuple(note for note in (plane_note, *sequence_notes) if note))


def slice_normal(orientation: list[float] | None) -> np.ndarray | None:
    """The unit normal of a slice from ImageOrientationPatient's six direction cosines; None if unusable."""
    if orientation is None or len(orientation) != 6:
        return None
    row, column = np.asarray(orientation[:3], float), np.asarray(orientation[3:], float)
    normal = np.cross(row, column)
    length = float(np.linalg.norm(normal))
    return normal / length if length > 1e-6 else None


def plane_of(orientation: list[float] | None) -> tuple[str | None, str]:
    """(plane, note) from ImageOrientationPatient."""
    normal = slice_normal(orientation)
    if normal is None:
        return None, ""
    axis = int(np.argmax(np.abs(normal)))
    tilt = math.degrees(math.acos(min(1.0, abs(float(normal[axis])))))
    if tilt > MAX_TILT_DEGREES:
        return OBLIQUE, (
            f"Plane from the image orientation tag: oblique (the slice is tilted {tilt:.0f}° from the nearest "
            f"standard plane, {_AXIS_PLANES[axis]})."
        )
    tilted = f", tilted {tilt:.0f}°" if tilt >= 5 else ""
    return _AXIS_PLANES[axis], f"Plane from the image orientation tag: {_AXIS_PLANES[axis]}{tilted}."


def sequence_of(dataset: pydicom.Dataset) -> tuple[str | None, list[str]]:
    """(sequence family, notes) by the precedence in the module docstring."""
    ordered = _words(str(dataset.get("SeriesDescription", "") or ""))
    words = set(ordered)
    described = _from_description(ordered)
    b_value = _number(_lookup(dataset, "DiffusionBValue", "MRDiffusionSequence"))
    if (b_value is not None and b_value > 0) or described == DWI:
        said = f"a b-value of {b_value:g}" if b_value else "the series description"
        return DWI, [f"Sequence DWI (diffusion-weighted), from {said}."]

    timed, timing_words = _from_timings(dataset)
    notes = []
    if timed is not None:
        family = timed
        notes.append(f"Sequence {timed} from the scanner's timings ({timing_words}).")
        if described is not None and _base(described) != timed:
            notes.append(
                f"The series description says {described}, but the timings ({timing_words}) are those of "
                f"{timed}; the timings are used. Check which sequence this is."
            )
    elif described is not None:
        family = _base(described)
        said = f" The timings ({timing_words}) do not settle it." if timing_words else ""
        notes.append(f"Sequence {described} from the series description.{said}")
    else:
        unsettled = f"The sequence is not known: the timings ({timing_words}) do not settle it."
        return None, [unsettled] if timing_words else []

    if family == T1:
        agent = str(dataset.get("ContrastBolusAgent", "") or "").strip()
        if agent:
            notes.append("Contrast agent given (the file names a contrast bolus agent): T1 with contrast (T1C).")
            return T1C, notes
        if described == T1C or words & _CONTRAST_WORDS:
            notes.append("The series description says post-contrast: T1 with contrast (T1C).")
            return T1C, notes
    return family, notes


def _from_timings(dataset: pydicom.Dataset) -> tuple[str | None, str]:
    """(family, the timings in words) from TR, TE and TI (ms), or (None, ...) when they are not clear-cut.

    The cut-offs are the textbook ones for 1.5-3 T: T1-weighted spin echo TR < 1000 and TE < 30; T2-weighted
    TR > 2000 and TE > 80; FLAIR an inversion recovery with TI > 1500 (it nulls CSF) and TE > 60; a T1-weighted
    inversion-recovery gradient echo (MPRAGE) TI 300-1300 with TE < 30; a short-TI inversion (STIR) is
    "other", as is a long-TR short-TE (proton density) series. Anything between is left to the description.
    """
    tr = _number(_lookup(dataset, "RepetitionTime", "MRTimingAndRelatedParametersSequence"))
    te = _number(_lookup(dataset, "EchoTime", "MREchoSequence")) or _number(
        _lookup(dataset, "EffectiveEchoTime", "MREchoSequence")
    )
    ti = _number(_lookup(dataset, "InversionTime", "MRModifierSequence"))
    scanning = {str(v).strip().upper() for v in _values(dataset.get("ScanningSequence"))}
    variant = {str(v).strip().upper() for v in _values(dataset.get("SequenceVariant"))}
    said = ", ".join(f"{name} {value:g} ms" for name, value in (("TR", tr), ("TE", te), ("TI", ti)) if value)
    inversion = "IR" in scanning or (ti is not None and ti > 0)
    if inversion and ti:
        if ti > 1500 and te is not None and te > 60:
            return FLAIR, said
        if ti < 300:
            return OTHER, said + " (a short-TI inversion, STIR)"
        if 300 <= ti <= 1300 and te is not None and te < 30:
            return T1, said
        return None, said
    if tr is None or te is None:
        return None, said
    if "EP" in scanning and "SP" in variant and te > 50:
        return None, said  # an echo-planar spin echo: DWI or perfusion, which the timings do not tell apart
    if tr < 1000 and te < 30:
        return T1, said
    if tr > 2000 and te > 80:
        return T2, said
    if tr > 2000 and te < 30:
        return OTHER, said + " (proton density)"
    return None, said


def _from_description(words: list[str]) -> str | None:
    """The description's sequence: "T2 FLAIR" is FLAIR, but "T1 FLAIR" is a T1-weighted inversion recovery."""
    if set(words) & _DIFFUSION_WORDS:
        return DWI
    if "flair" in words:
        return T1 if "t1" in words else FLAIR
    return sequence_from_words(" ".join(words)) or None


def _base(family: str) -> str:
    """T1C compared with timings is T1: timings say nothing about contrast."""
    return T1 if family == T1C else family


def _words(text: str) -> list[str]:
    return [word.lower() for word in _WORD.findall(text)]


def _lookup(dataset, keyword: str, sequence: str):
    """A tag at the top level, else in an enhanced multi-frame file's shared or first per-frame group."""
    if keyword in dataset:
        return dataset[keyword].value
    for groups_keyword in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        groups = dataset.get(groups_keyword)
        if groups:
            inner = groups[0].get(sequence)
            if inner and keyword in inner[0]:
                return inner[0][keyword].value
    return None


def _values(value) -> list:
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return list(value)
    return [value]


def _number(value) -> float | None:
    values = _values(value)
    try:
        number = float(values[0]) if values else None
    except (TypeError, ValueError):
        return None
    return number if number is not None and math.isfinite(number) else None


def _numbers(value) -> list[float] | None:
    try:
        numbers = [float(v) for v in _values(value)]
    except (TypeError, ValueError):
        return None
    return numbers if numbers and all(math.isfinite(n) for n in numbers) else None
