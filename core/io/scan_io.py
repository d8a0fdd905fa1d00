"""One entry point for every file a user can hand the app: `load_scan(data, name)` decides by content.

  DICOM   the "DICM" magic after the 128-byte preamble (or, last, a forced read of a raw dataset)
  NIfTI   a NIfTI-1/-2 header, plain or gzip-compressed
  images  anything PIL reads (JPEG, PNG, BMP, TIFF, ...), via `core.io.image_io.read_image`

The result is a `Scan`: the decoded pixels, and what the app needs to let the user choose the 2-D picture
that gets classified (a frame and a window for DICOM, a plane and a slice for NIfTI). Everything happens in
memory; nothing is written to disk. Every failure is an `UnreadableScanError` with a message for the user.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.io.dicom_io import DicomScan, Window, has_dicom_magic, read_dicom
from core.io.file_kinds import FORMATS, describe_kind, is_picture_kind
from core.io.image_io import UnreadableScanError, UnsupportedFormatError, decode_image
from core.io.nifti_io import NiftiVolume, has_nifti_header, is_gzip, read_nifti

IMAGE, DICOM, NIFTI = "image", "dicom", "nifti"


@dataclass(frozen=True)
class View:
    """Which 2-D picture of a scan to show and classify. Fields that do not apply to a scan are ignored."""

    frame: int = 0  # DICOM: frame of a multi-frame file
    window: Window | None = None  # DICOM: None means the file's own window (or the automatic one)
    plane: str = "axial"  # NIfTI
    index: int | None = None  # NIfTI: slice along the plane; None means the middle one


@dataclass(frozen=True, repr=False)
class Scan:
    name: str
    kind: str  # IMAGE, DICOM or NIFTI
    image: np.ndarray | None = None  # IMAGE: float32 (H, W) in [0, 1], the file's first frame
    image_frames: int = 1  # IMAGE: frames in the file (animated GIF, multi-page TIFF); only the first is read
    dicom: DicomScan | None = None
    volume: NiftiVolume | None = None

    def default_view(self) -> View:
        """The picture shown first: the middle frame or slice (the ends of a stack often miss the brain)."""
        if self.kind == DICOM:
            return View(frame=self.dicom.frame_count // 2)
        if self.kind == NIFTI:
            plane = self.volume.acquisition_plane
            return View(plane=plane, index=self.volume.middle(plane))
        return View()

    def render(self, view: View | None = None) -> np.ndarray:
        """The float32 (H, W) picture in [0, 1] that `view` selects; this is what gets classified."""
        view = view or self.default_view()
        if self.kind == DICOM:
            return self.dicom.frame(view.frame, view.window)
        if self.kind == NIFTI:
            index = self.volume.middle(view.plane) if view.index is None else view.index
            return self.volume.slice(view.plane, index)
        return self.image

    def pixel_spacing_mm(self, view: View | None = None) -> tuple[float, float] | None:
        """(row, column) size in mm of a pixel of `render(view)`; None for a picture file, which gives none."""
        view = view or self.default_view()
        if self.kind == DICOM:
            return self.dicom.pixel_spacing_mm
        if self.kind == NIFTI:
            return self.volume.pixel_spacing(view.plane)
        return None

    def describe(self, view: View | None = None) -> str:
        """Which picture of the file a result is for, in words ("" when the file holds one picture)."""
        view = view or self.default_view()
        if self.kind == DICOM and self.dicom.frame_count > 1:
            return f"frame {view.frame + 1} of {self.dicom.frame_count}"
        if self.kind == NIFTI:
            index = self.volume.middle(view.plane) if view.index is None else view.index
            return f"{view.plane} slice {index + 1} of {self.volume.slice_count(view.plane)}"
        if self.kind == IMAGE and self.image_frames > 1:
            return f"frame 1 of {self.image_frames}"
        return ""

    def facts(self) -> dict[str, str]:
        """Technical facts for the user (never patient fields)."""
        if self.kind == DICOM:
            frames = self.dicom.frames
            low, high = self.dicom.value_range
            facts = {
                "format": "DICOM",
                "modality": self.dicom.modality or "not stated",
                "size": f"{frames.shape[2]}×{frames.shape[1]} px",
                "frames": str(self.dicom.frame_count),
                "values": f"{low:g} to {high:g}",
                "transfer syntax": self.dicom.transfer_syntax,
            }
            if self.dicom.monochrome1:
                facts["photometric"] = "MONOCHROME1 (displayed inverted)"
            if self.dicom.acquisition is not None:
                facts.update(self.dicom.acquisition.facts())
            return facts
        if self.kind == NIFTI:
            x, y, z = self.volume.shape
            facts = {
                "format": "NIfTI",
                "voxels": f"{x}×{y}×{z}",
                "voxel size": " × ".join(f"{v:.3g}" for v in self.volume.zooms) + " mm",
            }
            if self.volume.note:
                facts["note"] = self.volume.note
            return facts
        height, width = self.image.shape
        facts = {"format": "image", "size": f"{width}×{height} px"}
        if self.image_frames > 1:
            # Later frames of an animation or pages of a TIFF can be anything (another slice, a report page):
            # one picture per file is read, and the user is told which.
            facts["note"] = f"the file holds {self.image_frames} frames (pages); only the first is read"
        return facts

    def __repr__(self) -> str:
        return f"Scan({self.name!r}, kind={self.kind!r})"


class UnexpectedDecodingError(UnreadableScanError):
    """A decoder failed in a way nobody anticipated (its original exception is the __cause__). The user gets
    a plain message and the rest of the batch goes on; tests can still tell it from an anticipated refusal."""


UNEXPECTED_FAILURE_MESSAGE = (
    "This file could not be read: its content is damaged or in a form this app does not handle. "
    f"Export the scan again (this app reads {FORMATS})."
)


def load_scan(data: bytes, name: str = "") -> Scan:
    """Decode any supported file from its bytes. Raises UnreadableScanError with a message for the user.

    The default picture is rendered here too, so every decoding step of every format fails here, for this
    file alone, and never later in a batch's classification loop."""
    try:
        scan = _decode_scan(bytes(data), name)
        scan.render()
    except (UnreadableScanError, MemoryError):
        raise
    except Exception as error:  # the per-file error boundary: a library raising a type nobody expected
        raise UnexpectedDecodingError(UNEXPECTED_FAILURE_MESSAGE) from error
    return scan


def _decode_scan(data: bytes, name: str) -> Scan:
    if not data:
        raise UnreadableScanError("The file is empty.")
    if has_dicom_magic(data):
        return Scan(name, DICOM, dicom=read_dicom(data))
    if is_gzip(data) or has_nifti_header(data):
        return Scan(name, NIFTI, volume=read_nifti(data))
    try:
        decoded = decode_image(data)
        return Scan(name, IMAGE, image=decoded.pixels, image_frames=decoded.frame_count)
    except UnsupportedFormatError:
        pass  # any other UnreadableScanError means PIL recognised the format and found the file damaged
    # DICOM written without the preamble (older or raw datasets): recognised by its first tag's group.
    if _plausible_raw_dicom(data):
        return Scan(name, DICOM, dicom=read_dicom(data, force=True))
    raise UnsupportedFormatError(unsupported_message(data))


def unsupported_message(data: bytes) -> str:
    """ "This is a PDF document, not an image. ..." when the bytes say what they are, else the formats read."""
    kind = describe_kind(data)
    if kind is None:
        return f"Not a format this app can read. It reads {FORMATS}."
    what, advice = kind
    said = (
        f"This is {what}, a format this app does not read."
        if is_picture_kind(what)
        else f"This is {what}, not an image."
    )
    return " ".join(part for part in (said, advice, f"This app reads {FORMATS}.") if part)


def _plausible_raw_dicom(data: bytes) -> bool:
    """A raw (preamble-less) dataset starts with a group 0x0008 or 0x0002 element, little endian."""
    return data[:2] in (b"\x08\x00", b"\x02\x00")
