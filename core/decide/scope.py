"""Is this scan like the ones the model was validated on, and how well did the model do on scans like it?

Everything comes from the run's own report, never from what we hope: `metadata.json`'s validated scope (its
sources, and the sequences and planes its file names stated), the file types in `split_manifest.csv`, and
`metrics.json`'s leak-free test figures, per sequence where the report has them. A scan is *outside* when a
known fact about it (its sequence, plane or file type) was never in the training and test data; *unknown*
when the facts that would decide are not known; *inside* only when every fact that the report can check was
checked and matches.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from core.io.scan_attributes import plane_from_path, sequence_from_path
from core.report.intervals import percent
from core.run.run_folder import RunFolder

SEQUENCE_NAMES = {
    "T1": "T1",
    "T1C": "T1 with contrast",
    "T2": "T2",
    "FLAIR": "FLAIR",
    "DWI": "diffusion (DWI)",
    "other": "another sequence",
}
PICTURE, DICOM, NIFTI = "picture", "dicom", "nifti"
FILE_TYPE_NAMES = {PICTURE: "exported pictures (JPEG, PNG)", DICOM: "DICOM files", NIFTI: "NIfTI volumes"}
_PICTURE_SUFFIXES = {"jpg", "jpeg", "png", "bmp", "tif", "tiff", "webp", "gif"}
NOT_NAMED = "not named"


@dataclass(frozen=True)
class ScanFacts:
    """What is known about the scan being read, and from where ("DICOM tags", "file name", ...)."""

    file_type: str  # PICTURE, DICOM or NIFTI
    sequence: str = ""  # a key of SEQUENCE_NAMES, or "" when unknown
    sequence_from: str = ""
    plane: str = ""  # "axial", "coronal", "sagittal", "oblique", or "" when unknown
    plane_from: str = ""

    @classmethod
    def from_name(cls, file_type: str, name: str, plane: str = "", plane_from: str = "") -> ScanFacts:
        """Facts a file name states ("astrocytoma_T2_007.jpg"): an estimate, and said to be one."""
        sequence = sequence_from_path(name)
        named_plane = plane_from_path(name)
        return cls(
            file_type=file_type,
            sequence=sequence,
            sequence_from="file name" if sequence else "",
            plane=plane or named_plane,
            plane_from=plane_from or ("file name" if named_plane else ""),
        )


@dataclass(frozen=True)
class Figure:
    """How the model did on held-out scans of one kind."""

    what: str  # "held-out T2 slices", in words
    n: int
    accuracy: float
    answered: int
    accuracy_when_answered: float | None

    def sentence(self) -> str:
        said = f"On {self.n} {self.what} it was right {percent(self.accuracy)} of the time"
        if self.answered and self.accuracy_when_answered is not None:
            said += f"; on the {self.answered} it answered (not uncertain), {percent(self.accuracy_when_answered)}"
        elif self.n:
            said += "; it answered none of them (all uncertain)"
        return said + "."


@dataclass(frozen=True)
class ScopeReport:
    """The run's validated scope, read once per run."""

    sources: tuple[str, ...]
    sequences: tuple[str, ...]  # sequences the training file names stated, most frequent first
    planes: tuple[str, ...]  # planes the training file names stated (often none)
    file_types: tuple[str, ...]  # PICTURE, DICOM, NIFTI: what the training files were
    overall: Figure | None
    by_sequence: dict[str, Figure]

    @classmethod
    def from_run(cls, metadata: dict, metrics: dict | None, run_folder: Path) -> ScopeReport:
        scope = (metadata.get("data") or {}).get("validated_scope") or {}
        leak_free = ((metrics or {}).get("test") or {}).get("leak_free") or {}
        by_sequence = {
            name: _figure(f"held-out {SEQUENCE_NAMES.get(name, name)} slices", values)
            for name, values in ((leak_free.get("breakdown") or {}).get("sequence") or {}).items()
            if values.get("n")
        }
        return cls(
            sources=tuple(scope.get("sources") or (metadata.get("data") or {}).get("sources") or ()),
            sequences=_named(scope.get("sequences_named")),
            planes=_named(scope.get("planes_named")),
            file_types=_file_types(RunFolder(run_folder).manifest),
            overall=_figure("held-out slices with no copy in the training data", leak_free) if leak_free else None,
            by_sequence=by_sequence,
        )


@dataclass(frozen=True)
class ScopeCheck:
    inside: bool | None  # True inside, False outside, None: cannot tell
    reasons: tuple[str, ...]  # why outside, or what is unknown, in plain sentences
    like_this: Figure | None  # the model's held-out figure for scans like this one

    @property
    def headline(self) -> str:
        if self.inside is False:
            return "Outside what this model was validated on"
        if self.inside is None:
            return "Not known whether this scan is like the ones the model was validated on"
        return "Like the scans this model was validated on"


def check_scope(report: ScopeReport, scan: ScanFacts) -> ScopeCheck:
    outside: list[str] = []
    unknown: list[str] = []
    if report.file_types and scan.file_type not in report.file_types:
        trained = " and ".join(FILE_TYPE_NAMES[kind] for kind in report.file_types)
        outside.append(
            f"It was trained and tested on {trained} only, not on {FILE_TYPE_NAMES[scan.file_type]}: "
            "how the scanner's values are mapped to grey (the window) changes what the model sees."
        )
    sequences = ", ".join(SEQUENCE_NAMES.get(name, name) for name in report.sequences)
    if scan.sequence and report.sequences and scan.sequence not in report.sequences:
        outside.append(
            f"This is {SEQUENCE_NAMES.get(scan.sequence, scan.sequence)} ({scan.sequence_from}); the model was "
            f"tested on {sequences} slices only."
        )
    elif not scan.sequence:
        unknown.append(
            "The sequence is not known" + (f"; the model was tested on {sequences} slices." if sequences else ".")
        )
    if scan.plane and report.planes and scan.plane not in report.planes:
        outside.append(f"This is a {scan.plane} slice; the model was tested on {', '.join(report.planes)} slices.")
    elif scan.plane == "oblique":
        unknown.append("This slice is oblique; the planes of the training slices were not recorded.")
    inside = False if outside else (None if unknown else True)
    like_this = report.by_sequence.get(scan.sequence) if scan.sequence else None
    return ScopeCheck(inside, tuple(outside + unknown), like_this or report.overall)


def _figure(what: str, values: dict) -> Figure:
    outcomes = values.get("outcomes") or {}
    return Figure(
        what=what,
        n=int(values.get("n") or 0),
        accuracy=float(values.get("accuracy") or 0.0),
        answered=int(outcomes.get("answered") or 0),
        accuracy_when_answered=outcomes.get("accuracy_when_answered"),
    )


def _named(counts: dict | None) -> tuple[str, ...]:
    ranked = sorted((counts or {}).items(), key=lambda item: -item[1])
    return tuple(name for name, count in ranked if name != NOT_NAMED and count)


def _file_types(manifest: Path) -> tuple[str, ...]:
    """The kinds of file the run trained and tested on, from its manifest's paths; () when unknown."""
    if not manifest.is_file():
        return ()
    kinds = set()
    with manifest.open(newline="") as handle:
        for row in csv.DictReader(handle):
            name = row.get("path", "").lower()
            suffix = name.rsplit(".", 1)[-1] if "." in name else ""
            kinds.add(
                PICTURE if suffix in _PICTURE_SUFFIXES else NIFTI if name.endswith((".nii", ".nii.gz")) else DICOM
            )
    return tuple(kind for kind in (PICTURE, DICOM, NIFTI) if kind in kinds)
