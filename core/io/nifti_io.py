"""Decode a NIfTI volume (`.nii`, `.nii.gz`), held in memory, and cut it into displayable 2-D slices.

The volume is reoriented to the closest RAS+ axes, so "axial", "coronal" and "sagittal" mean the anatomical
planes whatever order the file stores its voxels in. Slices are shown the way radiologists read them:
axial and coronal with the patient's right on the viewer's left, anterior (axial) or superior (coronal,
sagittal) at the top, sagittal facing left. Voxels that are not square in a plane are resampled so anatomy
keeps its proportions. Header text fields (`descrip`, `db_name`, ...) can hold patient details and are
never read out.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import cv2
import nibabel as nib
import numpy as np

from core.io.dicom_io import has_dicom_magic
from core.io.image_io import MAX_SIDE, MIN_SIDE, UnreadableScanError

PLANES = ("axial", "coronal", "sagittal")
# Voxel index axis that a plane's slices run along, in RAS+ order (x: left→right, y: posterior→anterior,
# z: inferior→superior).
_SLICE_AXIS = {"sagittal": 0, "coronal": 1, "axial": 2}
_PLANE_OF_AXIS = {axis: plane for plane, axis in _SLICE_AXIS.items()}
MAX_VOXELS = 64_000_000
# A gzip stream can expand a thousandfold; stop decompressing well before memory runs out.
MAX_DECOMPRESSED_BYTES = MAX_VOXELS * 8 + 1_000_000
GZIP_MAGIC = b"\x1f\x8b"
_HEADER_SIZES = {348: "NIfTI-1", 540: "NIfTI-2"}
# A plane whose slices are thinner than this is not a picture (e.g. a single-slice file): the same minimum
# as any picture, so a slice is never shown or classified that would be refused as an upload.
MIN_SLICE_SIDE = MIN_SIDE
# A 2-D acquisition has clearly fewer slices (or clearly thicker voxels) along its slice axis than in plane.
ACQUISITION_COUNT_RATIO = 2.0
ACQUISITION_THICKNESS_RATIO = 1.5
# Thick 2-D acquisitions reach 6 mm slices at 0.4 mm in-plane (15:1). Beyond this, the header is wrong, and
# following it would stretch a slice of a few voxels into a picture thousands of pixels long.
MAX_ANISOTROPY = 25.0


@dataclass(frozen=True, repr=False)
class NiftiVolume:
    data: np.ndarray  # float32 (X, Y, Z) in RAS+ voxel order, intensities mapped to [0, 1]
    zooms: tuple[float, float, float]  # voxel size along X, Y, Z (mm)
    note: str = ""  # what was done that the user should know, e.g. "first of 20 volumes"

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(n) for n in self.data.shape)  # type: ignore[return-value]

    @property
    def planes(self) -> list[str]:
        """The planes whose slices are pictures (both in-plane sides at least MIN_SLICE_SIDE voxels)."""
        return [plane for plane in PLANES if min(self._in_plane_sides(plane)) >= MIN_SLICE_SIDE]

    @property
    def acquisition_plane(self) -> str:
        """The plane the volume opens in: the one it was acquired in, whose slices are the scanner's own
        pictures. A 2-D acquisition has thick voxels, or few of them, along its slice axis; across that
        axis its slices are strips a few dozen pixels high. A near-isotropic (3-D) volume opens axially."""
        planes = self.planes or ["axial"]
        thickest = _standout(self.zooms, larger=True, ratio=ACQUISITION_THICKNESS_RATIO)
        fewest = _standout(self.shape, larger=False, ratio=ACQUISITION_COUNT_RATIO)
        for axis in (thickest, fewest):
            if axis is not None and _PLANE_OF_AXIS[axis] in planes:
                return _PLANE_OF_AXIS[axis]
        return "axial" if "axial" in planes else planes[0]

    def slice_count(self, plane: str) -> int:
        return self.shape[_axis(plane)]

    def middle(self, plane: str) -> int:
        return self.slice_count(plane) // 2

    def slice(self, plane: str, index: int) -> np.ndarray:
        """Slice `index` of `plane` as a float32 (H, W) picture in [0, 1], in display orientation."""
        axis = _axis(plane)
        if not 0 <= index < self.shape[axis]:
            raise IndexError(f"{plane} slice {index} of {self.shape[axis]}")
        cut = np.take(self.data, index, axis=axis)  # the two remaining axes, in RAS+ order
        # Rows along the higher axis (y or z), flipped so anterior/superior is at the top; columns along the
        # lower axis (x or y), flipped: patient's right on the left (axial, coronal), anterior on the left.
        picture = np.ascontiguousarray(cut.T[::-1, ::-1])
        row_mm, column_mm = (self.zooms[a] for a in _in_plane_axes(axis)[::-1])
        return _square_pixels(picture, row_mm, column_mm)

    def pixel_spacing(self, plane: str) -> tuple[float, float]:
        """(row, column) size in mm of a pixel of `slice(plane, ...)`, after its resampling to square pixels."""
        axis = _axis(plane)
        row_mm, column_mm = (float(self.zooms[a]) for a in _in_plane_axes(axis)[::-1])
        first, second = _in_plane_axes(axis)
        rows, columns = self.shape[second], self.shape[first]
        height, width = _square_pixels(np.zeros((rows, columns), np.float32), row_mm, column_mm).shape
        return row_mm * rows / height, column_mm * columns / width

    def __repr__(self) -> str:
        return f"NiftiVolume(shape={self.shape}, zooms={self.zooms}, note={self.note!r})"

    def _in_plane_sides(self, plane: str) -> tuple[int, int]:
        first, second = _in_plane_axes(_axis(plane))
        return self.shape[first], self.shape[second]


def is_gzip(data: bytes) -> bool:
    return data[:2] == GZIP_MAGIC


def has_nifti_header(data: bytes) -> bool:
    """NIfTI-1 or -2 single-file header (either byte order), checked by its size field and magic string."""
    if len(data) < 348:
        return False
    for order in ("<", ">"):
        size = int(np.frombuffer(data[:4], dtype=f"{order}i4")[0])
        if size == 348 and data[344:348] in (b"n+1\0", b"ni1\0"):
            return True
        if size == 540 and data[4:8] in (b"n+2\0", b"ni2\0"):
            return True
    return False


def gunzip(data: bytes, limit: int = MAX_DECOMPRESSED_BYTES) -> bytes:
    """Decompress gzip bytes in memory, refusing output beyond `limit` (a decompression bomb)."""
    decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = decompressor.decompress(data, limit)
    except zlib.error:
        raise UnreadableScanError("The compressed (.gz) file is damaged.") from None
    if decompressor.unconsumed_tail:
        raise UnreadableScanError(f"The compressed file expands to more than {limit:,} bytes.")
    return out


def read_nifti(data: bytes) -> NiftiVolume:
    """NIfTI bytes (optionally gzip-compressed) -> NiftiVolume. Raises UnreadableScanError."""
    raw = gunzip(data) if is_gzip(data) else data
    if not has_nifti_header(raw):
        raise UnreadableScanError(_not_nifti_message(raw, compressed=is_gzip(data)))
    if raw[344:348] == b"ni1\0" or raw[4:8] == b"ni2\0":
        raise UnreadableScanError(
            "This is the header of a two-file NIfTI (.hdr/.img) pair; upload a single-file .nii or .nii.gz."
        )
    image_class = nib.Nifti2Image if raw[4:8] == b"n+2\0" else nib.Nifti1Image
    try:
        # from_bytes reads through an in-memory stream: nothing is written to disk.
        image = image_class.from_bytes(raw)
        shape = tuple(int(n) for n in image.shape)
    except Exception:
        raise UnreadableScanError("The NIfTI header is damaged, so the file cannot be read. Export it again.") from None
    _check_voxel_type(image)
    if len(shape) < 2 or min(shape) < 1:
        raise UnreadableScanError(f"The NIfTI file holds no image (shape {shape}).")
    if int(np.prod(shape[:3], dtype=np.int64)) > MAX_VOXELS:
        raise UnreadableScanError(f"The volume has {shape} voxels, more than the {MAX_VOXELS:,}-voxel limit.")
    if max(shape[:3]) > MAX_SIDE:  # every axis is a side of some plane's slices
        raise UnreadableScanError(
            f"The volume is {'×'.join(map(str, shape[:3]))} voxels: a side longer than {MAX_SIDE:,} voxels is "
            "not a scan."
        )
    notes = []
    if len(shape) >= 3:
        image, oriented = _canonical(image)
        if not oriented:
            notes.append("the file's orientation is unusable, so the planes follow its storage order")
    if len(shape) > 3 and int(np.prod(shape[3:])) > 1:
        notes.append(f"the file holds {int(np.prod(shape[3:]))} volumes; the first is shown")
    try:
        volume = np.asanyarray(image.dataobj[_first_volume(shape)], dtype=np.float32)
    except MemoryError:
        raise  # not damage: the caller says the file is too large for this machine
    except Exception:
        raise UnreadableScanError(
            "The NIfTI voxel data is damaged or truncated, so the volume cannot be read. Export it again."
        ) from None
    volume = volume.reshape(volume.shape + (1,) * (3 - volume.ndim))
    if not _has_a_picture(volume.shape):
        size = "×".join(str(n) for n in volume.shape)
        raise UnreadableScanError(
            f"The volume is {size} voxels: too small to be a scan (a brain MRI slice is at least {MIN_SIDE} "
            "pixels a side)."
        )
    zooms = _voxel_sizes(image.affine)
    if max(zooms) > MAX_ANISOTROPY * min(zooms):
        stated = " × ".join(f"{v:.3g}" for v in zooms)
        notes.append(f"the file's voxel sizes ({stated} mm) are implausible, so voxels are drawn square")
        zooms = (1.0, 1.0, 1.0)
    return NiftiVolume(data=normalize_intensity(volume), zooms=zooms, note="; ".join(notes))


def _not_nifti_message(raw: bytes, compressed: bool) -> str:
    """What a file that reached the NIfTI reader but is not NIfTI is (a .gz of something else, mostly)."""
    if not compressed:
        return "Not a NIfTI file (no NIfTI-1 or NIfTI-2 header)."
    if has_dicom_magic(raw):
        return "This is a gzip-compressed DICOM file. Unpack it (gunzip, 7-Zip) and upload the DICOM file it holds."
    return "This is a gzip-compressed file that holds no NIfTI volume. Unpack it and upload the scans it holds."


def _check_voxel_type(image) -> None:
    """Colour (RGB, RGBA) and complex voxels have no single intensity to read as MRI: say so plainly."""
    try:
        dtype = image.header.get_data_dtype()
    except Exception:
        return  # the voxel read reports the damage
    if dtype.fields is not None:
        raise UnreadableScanError(
            "This NIfTI file stores colour (RGB) voxels; this app reads grayscale MRI volumes. Export the volume "
            "as grayscale."
        )
    if dtype.kind == "c":
        raise UnreadableScanError(
            "This NIfTI file stores complex-valued voxels (raw scanner data); this app reads magnitude images. "
            "Export the magnitude volume."
        )


def normalize_intensity(volume: np.ndarray) -> np.ndarray:
    """One window for the whole volume (0.5th-99.5th percentile of the non-background voxels) mapped to
    [0, 1], so every slice of a volume is displayed alike; MRI intensities have no absolute scale."""
    volume = np.nan_to_num(volume.astype(np.float32, copy=False), nan=0.0, posinf=0.0, neginf=0.0)
    sample = volume.ravel()[:: max(1, volume.size // 2_000_000)]
    floor = float(sample.min())
    foreground = sample[sample > floor]
    if foreground.size < 16:
        foreground = sample
    low, high = float(floor), float(np.percentile(foreground, 99.5))
    if high <= low:
        return np.zeros_like(volume)
    return np.clip((volume - low) / (high - low), 0.0, 1.0).astype(np.float32)


def _standout(values, larger: bool, ratio: float) -> int | None:
    """The axis whose value is at least `ratio` times larger (or smaller) than both others', else None."""
    order = sorted(range(3), key=lambda axis: values[axis], reverse=larger)
    first, second = float(values[order[0]]), float(values[order[1]])
    stands_out = first >= ratio * second if larger else first * ratio <= second
    return order[0] if stands_out else None


def _has_a_picture(shape: tuple[int, ...]) -> bool:
    """Some plane's slices are at least MIN_SIDE voxels on both sides (a single 2-D slice counts)."""
    return any(min(side for axis, side in enumerate(shape) if axis != cut) >= MIN_SIDE for cut in range(3))


def _canonical(image) -> tuple[nib.Nifti1Image, bool]:
    try:
        return nib.as_closest_canonical(image), True
    except Exception:  # a singular or garbage affine: keep the storage order rather than refuse the file
        return image, False


def _voxel_sizes(affine: np.ndarray) -> tuple[float, float, float]:
    """Voxel size along each storage axis (mm), from the affine; 1 where the affine does not say."""
    sizes = np.sqrt((np.asarray(affine, dtype=np.float64)[:3, :3] ** 2).sum(axis=0))
    return tuple(float(s) if np.isfinite(s) and s > 0 else 1.0 for s in sizes)  # type: ignore[return-value]


def _first_volume(shape: tuple[int, ...]) -> tuple:
    return (slice(None),) * min(3, len(shape)) + (0,) * max(0, len(shape) - 3)


def _axis(plane: str) -> int:
    if plane not in _SLICE_AXIS:
        raise ValueError(f"unknown plane {plane!r}; choose from {', '.join(PLANES)}")
    return _SLICE_AXIS[plane]


def _in_plane_axes(axis: int) -> tuple[int, int]:
    return tuple(a for a in range(3) if a != axis)  # type: ignore[return-value]


def _square_pixels(picture: np.ndarray, row_mm: float, column_mm: float) -> np.ndarray:
    """Resample so a pixel is as tall as it is wide (thick slices would otherwise squash coronal views)."""
    if abs(row_mm - column_mm) <= 0.01 * min(row_mm, column_mm):
        return picture
    unit = min(row_mm, column_mm)
    height, width = picture.shape[0] * row_mm / unit, picture.shape[1] * column_mm / unit
    # Implausible voxel sizes (a header that says 1 mm by 10 km) would stretch a slice without bound.
    shrink = max(1.0, max(height, width) / MAX_SIDE)
    height, width = max(1, round(height / shrink)), max(1, round(width / shrink))
    return cv2.resize(picture, (width, height), interpolation=cv2.INTER_LINEAR)
