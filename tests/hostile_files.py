"""Files that a clinician (or an attacker) might hand the app by mistake or on purpose, built in memory.

Each `Hostile` pairs a file with what the app must say about it. `REFUSED` must be refused with that
message; `DECODED` must decode (with a note, where the file holds more than the picture that is read).
"""

from __future__ import annotations

import gzip
import io
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import nibabel as nib
import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import get_decoder
from pydicom.uid import (
    JPEG2000,
    DeflatedExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGExtended12Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

from tests.phantoms import phantom
from tests.scan_files import MR_IMAGE_STORAGE, PATIENT, dicom_bytes, marked_volume, nifti_bytes

SLICE = phantom(11, "meningioma", 64)
# Compressed transfer syntaxes that need a plugin (pylibjpeg, GDCM, pyjpegls) which may not be installed.
PLUGIN_SYNTAXES = (JPEGLSLossless, JPEGLSNearLossless, JPEGLosslessSV1, JPEGExtended12Bit, JPEG2000Lossless, JPEG2000)


@dataclass(frozen=True)
class Hostile:
    name: str  # the file name it arrives under (most claim to be a JPEG)
    build: Callable[[], bytes]
    expect: str  # REFUSED: a regular expression the message must match; DECODED: text the facts' note holds


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """An 8-bit gray PNG whose header declares width × height, holding a few rows of black: a few kB that
    would decode into width × height bytes."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = zlib.compress(bytes(width + 1) * 4, 9)  # each row: a filter byte, then the pixels
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def frames(fmt: str) -> bytes:
    """Three different slices as an animated GIF or a multi-page TIFF."""
    pictures = [Image.fromarray(phantom(seed, "glioma", 64)) for seed in (21, 22, 23)]
    return encoded(pictures[0], fmt, save_all=True, append_images=pictures[1:])


def zip_archive() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("IM0001.png", encoded(Image.fromarray(SLICE), "PNG"))
    return buffer.getvalue()


def pdf_document() -> bytes:
    return (
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
        b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
    )


def dicom_without_pixels() -> bytes:
    data = dicom_bytes(SLICE.astype(np.uint16))
    return data[: data.rfind(b"\xe0\x7f\x10\x00")]  # cut at the (7FE0,0010) Pixel Data tag


def undecodable_syntax():
    """A compressed transfer syntax no installed plugin decodes here (None when all are installed)."""
    return next((uid for uid in PLUGIN_SYNTAXES if not get_decoder(uid).is_available), None)


def dicom_compressed_as(transfer_syntax) -> bytes:
    return dicom_bytes(SLICE.astype(np.uint16), transfer_syntax=transfer_syntax)


def dicom_deflate_bomb(inflated_size: int) -> bytes:
    """A deflated DICOM whose dataset inflates to `inflated_size` bytes (pixel data of zeros)."""
    dataset = Dataset()
    dataset.SOPClassUID = MR_IMAGE_STORAGE
    dataset.SOPInstanceUID = pydicom.uid.generate_uid()
    for keyword, value in PATIENT.items():
        setattr(dataset, keyword, value)
    dataset.Rows = dataset.Columns = 64
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 16, 16, 15
    dataset.PixelRepresentation, dataset.SamplesPerPixel = 0, 1
    dataset.PhotometricInterpretation = "MONOCHROME2"
    body = io.BytesIO()
    pydicom.dcmwrite(body, dataset, implicit_vr=False, little_endian=True)
    # Pixel Data (7FE0,0010), VR OB, 4-byte length, then the zeros, deflated chunk by chunk.
    pixels_header = b"\xe0\x7f\x10\x00OB\x00\x00" + struct.pack("<I", inflated_size)
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    deflated = [deflater.compress(body.getvalue() + pixels_header)]
    zeros = bytes(1 << 20)
    for start in range(0, inflated_size, len(zeros)):
        deflated.append(deflater.compress(zeros[: inflated_size - start]))
    deflated.append(deflater.flush())
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = dataset.SOPClassUID
    meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    file_meta = io.BytesIO()
    pydicom.filewriter.write_file_meta_info(file_meta, meta, enforce_standard=True)
    return bytes(128) + b"DICM" + file_meta.getvalue() + b"".join(deflated)


def palette_dicom(tables: str, picture: np.ndarray = SLICE) -> bytes:
    """An 8-bit PALETTE COLOR DICOM with no colour tables ("none"), only the red one ("red"), or all three
    ("all": a valid file, a gray ramp for a palette)."""
    dataset = pydicom.dcmread(io.BytesIO(dicom_bytes(picture.astype(np.uint16), photometric="PALETTE COLOR")))
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 8, 8, 7
    dataset.PixelData = picture.astype(np.uint8).tobytes()
    ramp = (np.arange(256, dtype=np.uint16) * 257).tobytes()
    for colour in range({"none": 0, "red": 1, "all": 3}[tables]):
        # (0028,1101/1102/1103) descriptors: 256 entries from 0, 16 bits; (0028,1201/1202/1203) the tables
        dataset.add_new(0x00281101 + colour, "US", [256, 0, 16])
        dataset.add_new(0x00281201 + colour, "OW", ramp)
    buffer = io.BytesIO()
    dataset.save_as(buffer)
    return buffer.getvalue()


def bmp_with_alpha(gray: np.ndarray, alpha: int) -> bytes:
    """A 32-bit BMP (BITMAPV4HEADER, BI_BITFIELDS with an alpha mask, as some Windows tools write them)
    whose alpha is `alpha` everywhere; PIL reads it as RGBA. Alpha 0 is what many writers leave there."""
    height, width = gray.shape
    pixels = np.stack([gray, gray, gray, np.full_like(gray, alpha)], axis=-1)[::-1].astype(np.uint8)  # BGRA
    info = struct.pack("<IiiHHIIiiII", 108, width, height, 1, 32, 3, pixels.nbytes, 2835, 2835, 0, 0)
    masks = struct.pack("<IIII", 0x00FF0000, 0x0000FF00, 0x000000FF, 0xFF000000)
    info += masks + b"BGRs" + bytes(36) + bytes(12)  # colour space, endpoints, gamma
    offset = 14 + len(info)
    return b"BM" + struct.pack("<IHHI", offset + pixels.nbytes, 0, 0, offset) + info + pixels.tobytes()


def transparent_rgba(gray: np.ndarray) -> Image.Image:
    rgba = np.stack([gray, gray, gray, np.zeros_like(gray)], axis=-1).astype(np.uint8)
    return Image.fromarray(rgba, "RGBA")


def montage(rows: int, columns: int) -> bytes:
    """Slices side by side on one sheet, as a viewer exports a series or a screenshot of its grid shows it."""
    slices = [phantom(30 + i, "glioma" if i % 2 else "notumor", 64) for i in range(rows * columns)]
    sheet = np.block([[slices[r * columns + c] for c in range(columns)] for r in range(rows)])
    return encoded(Image.fromarray(sheet.astype(np.uint8)), "PNG")


def tiff_float64(width: int = 32, height: int = 32) -> bytes:
    """A valid grayscale TIFF of 64-bit floating-point samples (scientific tools write them; PIL cannot)."""
    pixels = np.linspace(0, 1, width * height).astype("<f8").tobytes()
    entries = [  # (tag, type 3 = SHORT / 4 = LONG, value); the strip offset is filled in below
        (256, 3, width), (257, 3, height), (258, 3, 64), (259, 3, 1), (262, 3, 1), (273, 4, 0),
        (277, 3, 1), (278, 3, height), (279, 4, len(pixels)), (339, 3, 3),
    ]  # fmt: skip
    pixels_at = 8 + 2 + 12 * len(entries) + 4
    ifd = struct.pack("<H", len(entries))
    for tag, kind, value in entries:
        value = pixels_at if tag == 273 else value
        ifd += struct.pack("<HHI", tag, kind, 1) + (
            struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)
        )
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + pixels


def rgb_nifti() -> bytes:
    voxels = np.zeros((20, 20, 10), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    return nib.Nifti1Image(voxels, np.eye(4)).to_bytes()


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def damaged_rle_dicom() -> bytes:
    """RLE Lossless (pydicom decodes it natively, so a decoder is always there) with garbage for data."""
    return dicom_compressed_as(RLELossless)


REFUSED = [
    Hostile("empty.jpg", lambda: b"", r"^The file is empty\.$"),
    Hostile(
        "truncated.jpg",
        lambda: (lambda data: data[: len(data) // 2])(encoded(Image.fromarray(SLICE), "JPEG")),
        r"^This JPEG image is damaged or truncated, so it cannot be decoded",
    ),
    Hostile(
        "header_only.jpg",
        lambda: encoded(Image.fromarray(SLICE), "JPEG")[:300],
        r"^This JPEG image is damaged or truncated, so it cannot be decoded",
    ),
    Hostile(
        "truncated.png",
        lambda: (lambda data: data[: len(data) // 2])(encoded(Image.fromarray(SLICE), "PNG")),
        r"^This PNG image is damaged or truncated, so it cannot be decoded",
    ),
    Hostile("notes.jpg", lambda: b"Patient seen today; MRI to follow.\n" * 20, r"^This is a text file, not an image\."),
    Hostile("letter.jpg", pdf_document, r"^This is a PDF document, not an image\."),
    Hostile("series.jpg", zip_archive, r"^This is a ZIP archive .*, not an image\. Unpack it and upload the scans"),
    Hostile(
        "bomb.png",
        lambda: png_declaring(100_000, 100_000),
        r"^The image declares a size far beyond the limit of 4,096 pixels a side, so it was not decoded\.$",
    ),
    Hostile(
        "huge.png",
        lambda: png_declaring(20_000, 20_000),
        r"^The image declares a size far beyond the limit of 4,096 pixels a side, so it was not decoded\.$",
    ),
    Hostile(
        "large.png",
        lambda: png_declaring(8_000, 6_000),
        r"^The picture is 8000×6000 pixels, beyond the limit of 4,096 pixels a side, so it was not decoded\. "
        "A brain MRI slice",
    ),
    Hostile(
        "strip.png",
        lambda: png_declaring(50_000, 16),
        r"^The picture is 50000×16 pixels, beyond the limit of 4,096 pixels a side",
    ),
    Hostile(
        "dot.png",
        lambda: encoded(Image.new("L", (1, 1), 128), "PNG"),
        r"^The picture is 1×1 pixels: too small to be a scan",
    ),
    Hostile(
        "thin.png",
        lambda: encoded(Image.new("L", (300, 15), 128), "PNG"),
        r"^The picture is 300×15 pixels: too small to be a scan",
    ),
    Hostile("no_pixels.dcm", dicom_without_pixels, r"^This DICOM file holds no image \(it has no pixel data\)\.$"),
    Hostile(
        "tiny.dcm",
        lambda: dicom_bytes(np.full((8, 8), 100, np.uint16)),
        r"^The picture is 8×8 pixels: too small to be a scan",
    ),
    Hostile(
        "damaged_rle.dcm",
        damaged_rle_dicom,
        r"^The DICOM pixel data \(RLE Lossless\) is damaged and cannot be decoded",
    ),
    Hostile(
        "palette_without_tables.dcm",
        lambda: palette_dicom("none"),
        r"^This DICOM file stores its pixels as palette colour, but its colour tables are missing or damaged",
    ),
    Hostile(
        "palette_red_table_only.dcm",
        lambda: palette_dicom("red"),
        r"^This DICOM file stores its pixels as palette colour, but its colour tables are missing or damaged",
    ),
    Hostile(
        "ct.dcm",
        lambda: dicom_bytes(SLICE.astype(np.uint16), extra={"Modality": "CT"}),
        r"^This DICOM file is a CT image \(modality CT\), not MRI\. This app classifies brain MRI only\.$",
    ),
    Hostile(
        "scan.jp2",
        lambda: b"\x00\x00\x00\x0cjP  \r\n\x87\n" + bytes(200),
        r"^This is a JPEG 2000 image, a format this app does not read\. Export the picture as PNG or JPEG\.",
    ),
    Hostile(
        "float64.tif",
        tiff_float64,
        r"^This TIFF image stores its pixels in a way this app cannot decode \(for example as 64-bit floating "
        r"point\)\. Export it as an 8- or 16-bit TIFF, or as PNG\.$",
    ),
    Hostile(
        "IM0001.dcm.gz",
        lambda: gzipped(dicom_bytes(SLICE.astype(np.uint16))),
        r"^This is a gzip-compressed DICOM file\. Unpack it \(gunzip, 7-Zip\) and upload the DICOM file it holds\.$",
    ),
    Hostile(
        "notes.txt.gz",
        lambda: gzipped(b"not a scan " * 100),
        r"^This is a gzip-compressed file that holds no NIfTI volume\. Unpack it and upload the scans it holds\.$",
    ),
    Hostile(
        "rgb.nii",
        rgb_nifti,
        r"^This NIfTI file stores colour \(RGB\) voxels; this app reads grayscale MRI volumes\. Export the volume "
        r"as grayscale\.$",
    ),
    Hostile(
        "tiny.nii",
        lambda: nifti_bytes(np.ones((4, 4, 4), np.float32)),
        r"^The volume is 4×4×4 voxels: too small to be a scan",
    ),
]

DECODED = [
    Hostile("sixteen_bit.png", lambda: encoded(Image.fromarray(SLICE.astype(np.uint16) * 257), "PNG"), ""),
    Hostile("cmyk.jpg", lambda: encoded(Image.fromarray(SLICE).convert("CMYK"), "JPEG", quality=95), ""),
    Hostile("rgba.png", lambda: encoded(Image.fromarray(SLICE).convert("RGBA"), "PNG"), ""),
    Hostile("palette.png", lambda: encoded(Image.fromarray(SLICE).convert("P"), "PNG"), ""),
    Hostile("gray_alpha.png", lambda: encoded(Image.fromarray(SLICE).convert("LA"), "PNG"), ""),
    Hostile("alpha_all_zero.png", lambda: encoded(transparent_rgba(SLICE), "PNG"), ""),
    Hostile("alpha_all_zero.bmp", lambda: bmp_with_alpha(SLICE, 0), ""),
    Hostile("alpha_opaque.bmp", lambda: bmp_with_alpha(SLICE, 255), ""),
    Hostile("animated.gif", lambda: frames("GIF"), "the file holds 3 frames (pages); only the first is read"),
    Hostile("pages.tif", lambda: frames("TIFF"), "the file holds 3 frames (pages); only the first is read"),
    Hostile("slice.nii", lambda: nifti_bytes(SLICE.astype(np.float32)), ""),
    Hostile(
        "series.nii.gz",
        lambda: nifti_bytes(np.stack([marked_volume()[0]] * 2, axis=-1), compress=True),
        "the file holds 2 volumes; the first is shown",
    ),
]
