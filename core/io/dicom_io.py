"""Decode a DICOM file, held in memory, into grayscale frames and the window to display them with.

Only the pixel data and the handful of tags that say how to turn it into a picture are read out of the
dataset: rescale slope/intercept, window centre/width, photometric interpretation, modality. Patient fields
(name, ID, birth date, ...) never leave this module, so nothing downstream can display, log or report them.
For the same reason, pydicom's own warnings, log records and error texts, which can quote tag values, are
never passed on.
"""

from __future__ import annotations

import io
import logging
import re
import warnings
import zlib
from dataclasses import dataclass

import numpy as np
import pydicom
from pydicom import config as pydicom_config
from pydicom.dataset import FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_dataset, read_partial
from pydicom.pixels import get_decoder
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from core.io.acquisition import Acquisition, acquisition_of
from core.io.image_io import UnreadableScanError, check_picture_size
from core.report.intervals import plural

# Frames × rows × columns. A stack of a few hundred 512×512 slices fits; a crafted header that declares a
# gigantic volume is refused before its pixel data is decoded.
MAX_VOXELS = 64_000_000
# A deflated dataset is inflated whole before anything in it can be checked, and a few kB of deflate can
# expand to gigabytes. Room for 16-bit pixel data at the voxel limit (MR stores 16 bits a pixel) and tags.
MAX_INFLATED_BYTES = MAX_VOXELS * 2 + 16_000_000
PREAMBLE = 128
MAGIC = b"DICM"
FILE_META_GROUP = b"\x02\x00"  # the file meta that follows the magic: group 0x0002, always little endian
COMMAND_GROUP = b"\x00\x00"  # group 0x0000: network commands, never in a stored file
MAX_FILE_META_ELEMENTS = 64  # the standard defines a dozen
# Explicit VRs whose length field is 4 bytes after 2 reserved ones (PS3.5 7.1.2); the others have 2 bytes.
_LONG_LENGTH_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}

# pydicom's warnings and log records can quote tag values, patient fields included: this process emits none.
# Set once at import: warnings.catch_warnings and logger levels are process-wide, not per browser session.
# A logger's filter does not apply to its children's records (pydicom.pixels.decoders.base logs every damaged
# RLE frame), which propagate straight to the root handlers: the level is inherited, and propagation stops.
_PYDICOM_LOGGER = logging.getLogger("pydicom")
_PYDICOM_LOGGER.addFilter(lambda record: False)
_PYDICOM_LOGGER.setLevel(logging.CRITICAL + 1)
_PYDICOM_LOGGER.propagate = False
warnings.filterwarnings("ignore", module=r"pydicom(\.|$)")
pydicom_config.settings.reading_validation_mode = pydicom_config.IGNORE


@dataclass(frozen=True)
class Window:
    """Which modality values map to black (centre - width/2) and white (centre + width/2)."""

    centre: float
    width: float
    source: str = "user"  # "file": the file's own window tags; "auto": from the pixel values; "user"

    @property
    def lower(self) -> float:
        return self.centre - self.width / 2

    @property
    def upper(self) -> float:
        return self.centre + self.width / 2


@dataclass(frozen=True)
class SlicePlace:
    """Which study and series a file belongs to and where its slice lies: identifiers the scanner generates,
    used only to group and order files, never shown or reported."""

    study_uid: str = ""
    series_uid: str = ""
    series_number: int | None = None
    instance_number: int | None = None
    position: tuple[float, float, float] | None = None  # ImagePositionPatient, mm
    orientation: tuple[float, ...] | None = None  # ImageOrientationPatient, six direction cosines


@dataclass(frozen=True, repr=False)
class DicomScan:
    frames: np.ndarray  # float32 (F, H, W) in modality units: rescale slope and intercept applied
    monochrome1: bool  # MONOCHROME1 stores low values as bright: displayed inverted
    window: Window  # the file's window, or an automatic one when the file has none (or an unusable one)
    modality: str  # e.g. "MR"; a technical field, never a patient field
    transfer_syntax: str
    acquisition: Acquisition | None = None  # plane and sequence from the tags (core/io/acquisition.py)
    place: SlicePlace | None = None  # where the slice sits in its series, to group and order (core/io/dicom_series.py)
    pixel_spacing_mm: tuple[float, float] | None = None  # PixelSpacing (rows, columns), for areas in mm²

    @property
    def frame_count(self) -> int:
        return int(self.frames.shape[0])

    @property
    def value_range(self) -> tuple[float, float]:
        return float(self.frames.min()), float(self.frames.max())

    def frame(self, index: int = 0, window: Window | None = None) -> np.ndarray:
        """Frame `index` as a float32 (H, W) picture in [0, 1], through `window` (default: the scan's own)."""
        if not 0 <= index < self.frame_count:
            raise IndexError(f"frame {index} of a {self.frame_count}-frame scan")
        return apply_window(self.frames[index], window or self.window, self.monochrome1)

    def __repr__(self) -> str:
        # Only technical facts: a repr can end up in a log.
        return (
            f"DicomScan({self.frame_count} frame(s) of {self.frames.shape[1]}×{self.frames.shape[2]}, "
            f"modality={self.modality!r}, monochrome1={self.monochrome1}, window={self.window})"
        )


def has_dicom_magic(data: bytes) -> bool:
    """The standard file format: a 128-byte preamble, then "DICM"."""
    return data[PREAMBLE : PREAMBLE + len(MAGIC)] == MAGIC


def read_dicom(data: bytes, force: bool = False) -> DicomScan:
    """DICOM bytes -> DicomScan. `force` also accepts files without the preamble (older raw datasets).

    Raises UnreadableScanError, with a message that never quotes the file's tag values.
    """
    dataset = _parse(data, force)
    if "PixelData" not in dataset and "FloatPixelData" not in dataset and "DoubleFloatPixelData" not in dataset:
        raise UnreadableScanError("This DICOM file holds no image (it has no pixel data).")
    rows, columns = _count(dataset, "Rows", 0), _count(dataset, "Columns", 0)
    frames = max(1, _count(dataset, "NumberOfFrames", 1))
    if rows < 1 or columns < 1:
        raise UnreadableScanError("This DICOM file declares an image without rows or columns.")
    if rows * columns * frames > MAX_VOXELS:
        raise UnreadableScanError(
            f"This DICOM file declares {plural(frames, 'frame')} of {rows}×{columns} pixels, more than the "
            f"{MAX_VOXELS:,}-pixel limit."
        )
    check_picture_size(columns, rows)
    modality = _modality(dataset)
    transfer_syntax = _transfer_syntax_name(dataset)
    if not _can_decode(dataset.file_meta.TransferSyntaxUID):
        raise UnreadableScanError(
            f"This DICOM file's pixel data is compressed as {transfer_syntax}, which this installation cannot "
            "decode. Export the series uncompressed, or as PNG."
        )
    try:
        pixels = dataset.pixel_array
    except MemoryError:
        raise  # not damage: the caller says the file is too large for this machine
    except Exception:  # pydicom raises many types for damaged data; none of their texts are shown
        raise UnreadableScanError(
            f"The DICOM pixel data ({transfer_syntax}) is damaged and cannot be decoded. Export the series again "
            "from the scanner or viewer."
        ) from None

    photometric = str(dataset.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    samples = max(1, _count(dataset, "SamplesPerPixel", 1))
    values = _to_gray_frames(dataset, pixels, frames, samples, photometric)
    values = _rescale(dataset, values)
    if not np.isfinite(values).all():
        values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    window = file_window(dataset) or auto_window(values)
    return DicomScan(
        frames=values,
        monochrome1=photometric == "MONOCHROME1",
        window=window,
        modality=modality,
        transfer_syntax=transfer_syntax,
        acquisition=_unless_malformed(acquisition_of, dataset),
        place=_unless_malformed(slice_place, dataset),
        pixel_spacing_mm=_unless_malformed(pixel_spacing, dataset),
    )


def _unless_malformed(read, dataset):
    """Facts from optional technical tags, or None when a crafted or damaged tag breaks reading them: a
    malformed orientation or timing tag costs the scan its plane and sequence, never its answer."""
    try:
        return read(dataset)
    except MemoryError:
        raise
    except Exception:
        return None


def pixel_spacing(dataset: pydicom.Dataset) -> tuple[float, float] | None:
    """PixelSpacing (row, column) in mm, from the top level or the functional groups; None when absent or not
    two positive numbers (an area in mm² is then not given, rather than a wrong one)."""
    spacing = _floats(_lookup(dataset, "PixelSpacing", "PixelMeasuresSequence"), 2)
    if spacing is None or not all(0 < value < 100 for value in spacing):
        return None
    return float(spacing[0]), float(spacing[1])


def slice_place(dataset: pydicom.Dataset) -> SlicePlace:
    """The grouping and ordering tags, each None (or "") when absent or malformed."""
    position = _floats(_lookup(dataset, "ImagePositionPatient", "PlanePositionSequence"), 3)
    orientation = _floats(_lookup(dataset, "ImageOrientationPatient", "PlaneOrientationSequence"), 6)
    return SlicePlace(
        study_uid=_uid(dataset.get("StudyInstanceUID")),
        series_uid=_uid(dataset.get("SeriesInstanceUID")),
        series_number=_optional_int(dataset.get("SeriesNumber")),
        instance_number=_optional_int(dataset.get("InstanceNumber")),
        position=position,
        orientation=orientation,
    )


def _uid(value) -> str:
    text = str(value or "").strip()
    return text if re.fullmatch(r"[0-9.]{1,64}", text) else ""


def _optional_int(value) -> int | None:
    try:
        return int(float(value)) if value not in (None, "") else None
    except (TypeError, ValueError, OverflowError):
        return None


def _floats(value, count: int) -> tuple[float, ...] | None:
    try:
        numbers = tuple(float(v) for v in value) if value is not None and not isinstance(value, (str, bytes)) else ()
    except (TypeError, ValueError):
        return None
    return numbers if len(numbers) == count and all(np.isfinite(numbers)) else None


def apply_window(values: np.ndarray, window: Window, invert: bool = False) -> np.ndarray:
    """Modality values -> float32 [0, 1] picture: linear between the window's edges, clipped outside."""
    width = max(float(window.width), 1e-6)
    picture = np.clip((values.astype(np.float32) - np.float32(window.lower)) / np.float32(width), 0.0, 1.0)
    return (1.0 - picture if invert else picture).astype(np.float32)


def auto_window(values: np.ndarray) -> Window:
    """A window over the 0.5th-99.5th percentile of the values: robust to a few very bright voxels."""
    sample = values.ravel()[:: max(1, values.size // 2_000_000)]  # percentiles of millions of values are slow
    low, high = (float(v) for v in np.percentile(sample, [0.5, 99.5]))
    if high <= low:
        low, high = float(sample.min()), float(sample.max())
    if high <= low:  # a flat image: any window shows it as one gray
        high = low + 1.0
    return Window(centre=(low + high) / 2, width=high - low, source="auto")


def file_window(dataset: pydicom.Dataset) -> Window | None:
    """The first window the file suggests (top level, or an enhanced multi-frame functional group)."""
    centre = _first_number(_lookup(dataset, "WindowCenter", "FrameVOILUTSequence"))
    width = _first_number(_lookup(dataset, "WindowWidth", "FrameVOILUTSequence"))
    if centre is None or width is None or width <= 0:
        return None
    return Window(centre=centre, width=width, source="file")


def _parse(data: bytes, force: bool) -> pydicom.Dataset:
    if not data:
        raise UnreadableScanError("The file is empty.")
    if has_dicom_magic(data) and not _dataset_can_follow(data):
        raise UnreadableScanError(
            "This file starts like a DICOM file, but no DICOM data follows its header, so it holds no scan."
        )
    interrupted = _CommandGroupStop()
    try:
        dataset = _read_deflated(data, interrupted) or read_partial(io.BytesIO(data), interrupted, force=force)
        # Reading is lazy; touch the elements now so damage is reported here, as a clear message.
        for _ in dataset.iterall():
            pass
    except UnreadableScanError:
        raise
    except InvalidDicomError:
        raise UnreadableScanError("Not a DICOM file.") from None
    except Exception:  # pydicom's texts can quote tag values: never shown
        raise UnreadableScanError(
            "The DICOM file is damaged or truncated, so it cannot be read. Copy or export it again."
        ) from None
    if interrupted.stopped:
        raise UnreadableScanError(
            "This DICOM file is damaged: a run of data that is not DICOM (zeros, say) interrupts it, so it cannot be "
            "read. Copy or export it again."
        )
    _assume_transfer_syntax(dataset)
    return dataset


class _CommandGroupStop:
    """pydicom's stop_when for a dataset: stop at a group-0000 (command) element, which a stored file never
    holds. A run of zeros reads as a chain of empty (0000,0000) elements, parsed 8 bytes at a time (20 s a
    megabyte here); stopping there bounds the work by the file's structure, whatever its size."""

    def __init__(self):
        self.stopped = False

    def __call__(self, tag, vr, length) -> bool:
        if tag.group == 0:
            self.stopped = True
        return self.stopped


def _dataset_can_follow(data: bytes) -> bool:
    """Whether what follows "DICM" has the structure of a file: a file meta group (0002), then an element
    of any group but 0000 (command elements are never stored). Zeros after the magic or after the file meta
    read as a chain of empty (0000,0000) elements, which pydicom parses 8 bytes at a time to the end of
    the file (0.7 s a megabyte); this bounds the work by the structure, not the size."""
    start = PREAMBLE + len(MAGIC)
    if data[start : start + 2] != FILE_META_GROUP:
        return False
    end = _end_of_file_meta(data, start)
    return end is None or data[end : end + 2] != COMMAND_GROUP


def _end_of_file_meta(data: bytes, offset: int) -> int | None:
    """The offset of the first element after the file meta group (explicit VR little endian, always), or
    None when the group is longer than any file meta (then pydicom's reader judges it)."""
    for _ in range(MAX_FILE_META_ELEMENTS):
        if data[offset : offset + 2] != FILE_META_GROUP:
            return offset
        if data[offset + 4 : offset + 6] in _LONG_LENGTH_VRS:
            offset += 12 + int.from_bytes(data[offset + 8 : offset + 12], "little")
        else:
            offset += 8 + int.from_bytes(data[offset + 6 : offset + 8], "little")
    return None


def _read_deflated(data: bytes, stop_when) -> pydicom.Dataset | None:
    """A file in the deflated transfer syntax, inflated here with a bound (pydicom inflates without one);
    None for any other file."""
    if not has_dicom_magic(data):
        return None  # deflate needs file meta, which only the standard file format has
    stream = io.BytesIO(data)
    stream.seek(PREAMBLE + len(MAGIC))
    try:
        meta = FileMetaDataset(read_dataset(stream, False, True, stop_when=lambda tag, vr, length: tag.group != 2))
        deflated = meta.get("TransferSyntaxUID") == DeflatedExplicitVRLittleEndian
    except Exception:
        return None  # pydicom's own reader reports the damage
    if not deflated:
        return None
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        inflated = inflater.decompress(data[stream.tell() :], MAX_INFLATED_BYTES)
    except zlib.error:
        raise UnreadableScanError(
            "This DICOM file is compressed (deflated), and its compressed data is damaged."
        ) from None
    if inflater.unconsumed_tail:
        raise UnreadableScanError(f"The compressed DICOM file expands to more than {MAX_INFLATED_BYTES:,} bytes.")
    dataset = read_dataset(io.BytesIO(inflated), False, True, stop_when=stop_when)
    dataset.file_meta = meta
    return dataset


def _can_decode(transfer_syntax) -> bool:
    """Whether an installed plugin decodes this transfer syntax (JPEG-LS, for one, needs pylibjpeg or GDCM)."""
    try:
        return bool(get_decoder(UID(str(transfer_syntax))).is_available)
    except Exception:  # NotImplementedError: a transfer syntax pydicom knows no decoder for (private, invalid)
        return False


def _assume_transfer_syntax(dataset) -> None:
    """A raw dataset (no file meta) says nothing about its encoding, and pydicom will not decode pixels
    without it; the encoding the parser detected is the uncompressed transfer syntax it was written in."""
    meta = getattr(dataset, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        return
    implicit, little = getattr(dataset, "original_encoding", (True, True))
    syntax = ImplicitVRLittleEndian if implicit else (ExplicitVRLittleEndian if little else ExplicitVRBigEndian)
    if meta is None:
        dataset.file_meta = FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = syntax


def _modality(dataset) -> str:
    """The Modality tag ("MR"), or "" when the file does not say. Any other modality is refused: the model
    has only seen MRI, and a CT or an X-ray would get a confident answer that means nothing."""
    modality = str(dataset.get("Modality", "") or "").strip().upper()
    if modality in ("", "MR"):
        return modality
    # The value goes into a message: quoted only when it has the shape of a modality code (CS, 16 characters).
    code = modality if re.fullmatch(r"[A-Z0-9_ ]{1,16}", modality) else ""
    what = f"a {_MODALITY_NAMES.get(code, code)} image (modality {code})" if code else "not an MRI image"
    raise UnreadableScanError(f"This DICOM file is {what}, not MRI. This app classifies brain MRI only.")


_MODALITY_NAMES = {
    "CT": "CT",
    "PT": "PET",
    "NM": "nuclear medicine",
    "US": "ultrasound",
    "CR": "radiograph (X-ray)",
    "DX": "radiograph (X-ray)",
    "MG": "mammography",
    "XA": "angiography (X-ray)",
    "OT": "non-medical or secondary-capture",
    "SC": "secondary-capture",
}


def _palette_to_rgb(dataset, pixels: np.ndarray) -> np.ndarray:
    """PALETTE COLOR pixels through the file's colour tables (pydicom's apply_color_lut). The tables are
    three separate tags, each of which can be missing or inconsistent; pydicom then raises ValueError,
    AttributeError, IndexError, ..., none of which is a reason to stop a batch."""
    from pydicom.pixels import apply_color_lut

    try:
        return apply_color_lut(pixels, dataset)
    except MemoryError:
        raise
    except Exception:
        raise UnreadableScanError(
            "This DICOM file stores its pixels as palette colour, but its colour tables are missing or damaged, "
            "so the picture cannot be rebuilt. Export the series again from the scanner or viewer, as grayscale."
        ) from None


def _to_gray_frames(dataset, pixels: np.ndarray, frames: int, samples: int, photometric: str) -> np.ndarray:
    """pydicom's array, whatever its layout, -> float32 (F, H, W)."""
    if photometric == "PALETTE COLOR":
        pixels = _palette_to_rgb(dataset, pixels)
        samples = 3
    values = pixels.astype(np.float32)
    if samples > 1:  # colour (RGB, or YBR that pydicom has converted): luminance
        values = values[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    if frames == 1 or values.ndim == 2:
        values = values.reshape((-1, *values.shape[-2:]))
    return np.ascontiguousarray(values, dtype=np.float32)


def _rescale(dataset, values: np.ndarray) -> np.ndarray:
    """Stored values -> modality values (slope × stored + intercept), per frame for enhanced multi-frame."""
    for index in range(values.shape[0]):
        slope = _first_number(_lookup(dataset, "RescaleSlope", "PixelValueTransformationSequence", index))
        intercept = _first_number(_lookup(dataset, "RescaleIntercept", "PixelValueTransformationSequence", index))
        slope = 1.0 if slope is None or slope == 0 else slope
        intercept = 0.0 if intercept is None else intercept
        if slope != 1.0 or intercept != 0.0:
            values[index] = values[index] * np.float32(slope) + np.float32(intercept)
    return values


def _count(dataset, keyword: str, default: int) -> int:
    """An integer tag (Rows, NumberOfFrames, ...); a value that is not a number is damage, said as such."""
    value = dataset.get(keyword, default)
    try:
        return int(value if value not in (None, "") else default)
    except (TypeError, ValueError):
        raise UnreadableScanError(f"This DICOM file's {keyword} is not a number; the file is damaged.") from None


def _lookup(dataset, keyword: str, sequence: str, frame: int = 0):
    """A tag at the top level; else in the frame's functional group; else in the shared functional group
    (where enhanced multi-frame files keep rescale and window values)."""
    if keyword in dataset:
        return dataset[keyword].value
    for groups_keyword, index in (("PerFrameFunctionalGroupsSequence", frame), ("SharedFunctionalGroupsSequence", 0)):
        groups = dataset.get(groups_keyword)
        if groups and len(groups) > index:
            inner = groups[index].get(sequence)
            if inner and keyword in inner[0]:
                return inner[0][keyword].value
    return None


def _first_number(value) -> float | None:
    """Window and rescale tags may hold several values (one per suggested window); use the first."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        if not len(value):
            return None
        value = value[0]
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def _transfer_syntax_name(dataset) -> str:
    """The transfer syntax's name ("JPEG-LS Lossless Image Compression"); for one pydicom does not know, its
    UID, if it is a UID (the field is free text in a crafted file, and the name goes into messages)."""
    meta = getattr(dataset, "file_meta", None)
    uid = meta.get("TransferSyntaxUID") if meta is not None else None
    if uid is None:
        return "implicit VR little endian"
    name = str(getattr(uid, "name", "") or uid)
    if name == str(uid) and not re.fullmatch(r"[0-9.]{1,64}", name):
        return "an unrecognised transfer syntax"
    return name
