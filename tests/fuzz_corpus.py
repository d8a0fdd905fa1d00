"""A reproducible corpus of damaged files: valid seeds of every format the app reads, mutated.

Byte-level mutations (bit flips, truncation, insertion, deletion, repeated runs, "interesting" bytes) find
decoders that trust their input; header-field mutations set a field that a decoder sizes its work by
(width, rows, bits, dimensions, offsets, lengths) to an extreme value, with checksums repaired where the
format has them, so the value reaches the decoder instead of failing the checksum. Every file is derived
from its seed's bytes and a random.Random seeded by (seed name, index): the same corpus on every run.
"""

from __future__ import annotations

import gzip
import io
import random
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pydicom
from PIL import Image
from pydicom.uid import DeflatedExplicitVRLittleEndian, RLELossless

from tests.hostile_files import bmp_with_alpha, palette_dicom
from tests.phantoms import phantom
from tests.scan_files import dicom_bytes, nifti_bytes

INTERESTING_INTS = (0, 1, 2, 3, 7, 8, 15, 16, 17, 255, 256, 4095, 32767, 32768, 65535, 65536, 2**31 - 1, 2**32 - 1)
INTERESTING_FLOATS = (0.0, -0.0, 1.0, -1.0, 1e-38, 1e38, 3e9, float("nan"), float("inf"), float("-inf"))
FIXED_UID = "1.2.826.0.1.3680043.8.498.1"  # pydicom would draw a random UID per run


@dataclass(frozen=True)
class Mutant:
    seed: str
    index: int
    mutation: str
    data: bytes

    @property
    def label(self) -> str:
        return f"{self.seed}#{self.index} ({self.mutation})"


# ---- seeds -------------------------------------------------------------------------------------------------


def _image(picture: np.ndarray | Image.Image, fmt: str, **options) -> bytes:
    image = picture if isinstance(picture, Image.Image) else Image.fromarray(picture)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _dicom(pixels: np.ndarray, **options) -> bytes:
    extra = {"SOPInstanceUID": FIXED_UID, **options.pop("extra", {})}
    return dicom_bytes(pixels, extra=extra, **options)


def _dicom_rle(pixels: np.ndarray) -> bytes:
    dataset = pydicom.dcmread(io.BytesIO(_dicom(pixels)))
    dataset.compress(RLELossless)
    buffer = io.BytesIO()
    dataset.save_as(buffer)
    return buffer.getvalue()


def _orientation(value: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = value  # Orientation
    return exif.tobytes()


def seeds() -> dict[str, bytes]:
    """Small valid files: every format, and the pixel layouts that take different decoder paths."""
    gray = phantom(5, "glioma", 40)
    pages = [Image.fromarray(phantom(s, "pituitary", 32)) for s in (6, 7)]
    volume = np.stack([phantom(s, "notumor", 24).astype(np.float32) for s in range(20)], axis=-1)
    return {
        "png": _image(gray, "PNG"),
        "png-rgba": _image(Image.fromarray(gray).convert("RGBA"), "PNG"),
        "png-16bit": _image(gray.astype(np.uint16) * 257, "PNG"),
        "png-palette": _image(Image.fromarray(gray).convert("P"), "PNG"),
        "jpeg": _image(gray, "JPEG", quality=90),
        "jpeg-progressive-rgb": _image(Image.fromarray(gray).convert("RGB"), "JPEG", progressive=True),
        "bmp": _image(Image.fromarray(gray).convert("RGB"), "BMP"),
        "bmp-8bit": _image(gray, "BMP"),
        "bmp-32bit-alpha-zero": bmp_with_alpha(gray, 0),
        "jpeg-exif-rotated": _image(gray, "JPEG", quality=90, exif=_orientation(6)),
        "tiff": _image(gray, "TIFF"),
        "tiff-pages": _image(pages[0], "TIFF", save_all=True, append_images=pages[1:], compression="tiff_lzw"),
        "gif-animated": _image(pages[0], "GIF", save_all=True, append_images=pages[1:]),
        "dicom": _dicom(gray.astype(np.uint16) * 16, window=(1000, 2000), slope=1.5, intercept=-20),
        "dicom-raw": _dicom(gray.astype(np.uint16), preamble=False),
        "dicom-frames": _dicom(np.stack([gray, gray[::-1]]).astype(np.uint16)),
        "dicom-rle": _dicom_rle(gray.astype(np.uint16)),
        "dicom-deflated": _dicom(gray.astype(np.uint16), transfer_syntax=DeflatedExplicitVRLittleEndian),
        "dicom-palette": palette_dicom("all", gray),
        "nifti": nifti_bytes(volume),
        "nifti-gz": nifti_bytes(volume.astype(np.int16), compress=True),
        "nifti2": nifti_bytes(volume, version=2),
    }


# ---- byte-level mutations ----------------------------------------------------------------------------------


def flip_bits(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        position = rng.randrange(len(out))
        out[position] ^= 1 << rng.randrange(8)
    return bytes(out)


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data))]


def insert_bytes(data: bytes, rng: random.Random) -> bytes:
    position = rng.randrange(len(data) + 1)
    return data[:position] + rng.randbytes(rng.randint(1, 64)) + data[position:]


def delete_bytes(data: bytes, rng: random.Random) -> bytes:
    start = rng.randrange(len(data))
    return data[:start] + data[start + rng.randint(1, 64) :]


def repeat_run(data: bytes, rng: random.Random) -> bytes:
    start = rng.randrange(len(data))
    run = data[start : start + rng.randint(1, 32)]
    return data[:start] + run * rng.randint(2, 200) + data[start:]


def interesting_bytes(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    position = rng.randrange(len(out))
    value = rng.choice((0x00, 0xFF, 0x7F, 0x80, 0x01))
    length = rng.randint(1, 8)
    out[position : position + length] = bytes([value]) * len(out[position : position + length])
    return bytes(out)


BYTE_MUTATIONS: tuple[Callable[[bytes, random.Random], bytes], ...] = (
    flip_bits,
    truncate,
    insert_bytes,
    delete_bytes,
    repeat_run,
    interesting_bytes,
)


# ---- header-field mutations --------------------------------------------------------------------------------


def _put(data: bytes, offset: int, fmt: str, value) -> bytes:
    size = struct.calcsize(fmt)
    if offset + size > len(data):
        return data
    try:
        packed = struct.pack(fmt, value)
    except struct.error:  # the value does not fit the field: keep its low bytes
        packed = struct.pack(fmt, int(value) % (1 << (8 * size)) if fmt[-1].isupper() else 0)
    return data[:offset] + packed + data[offset + size :]


def _any_int(rng: random.Random) -> int:
    return rng.choice(INTERESTING_INTS) if rng.random() < 0.8 else rng.randrange(1 << 32)


def png_header(data: bytes, rng: random.Random) -> bytes:
    """A field of IHDR (width, height, bit depth, colour type, interlace) or a chunk length; CRC repaired."""
    field = rng.choice(("width", "height", "depth", "colour", "interlace", "length"))
    if field == "length":
        chunk_starts = [i - 4 for i in range(12, len(data) - 4) if data[i : i + 4] in (b"IDAT", b"PLTE", b"IEND")]
        return _put(data, rng.choice(chunk_starts or [8]), ">I", _any_int(rng))
    offset, fmt = {"width": (16, ">I"), "height": (20, ">I"), "depth": (24, ">B"), "colour": (25, ">B")}.get(
        field, (28, ">B")
    )
    value = _any_int(rng) if fmt == ">I" else rng.choice((0, 1, 2, 3, 4, 6, 8, 16, 255))
    out = _put(data, offset, fmt, value)
    return out[:29] + struct.pack(">I", zlib.crc32(out[12:29])) + out[33:]


def jpeg_header(data: bytes, rng: random.Random) -> bytes:
    """Frame header (SOF0/SOF2) height, width, precision or component count; or any marker's length."""
    sof = next((i for i in range(2, len(data) - 9) if data[i] == 0xFF and data[i + 1] in (0xC0, 0xC2)), None)
    if sof is None or rng.random() < 0.3:
        markers = [i for i in range(2, len(data) - 4) if data[i] == 0xFF and 0xC0 <= data[i + 1] <= 0xFE]
        return _put(data, rng.choice(markers or [2]) + 2, ">H", _any_int(rng) % 65536)
    offset, fmt = rng.choice(((sof + 5, ">H"), (sof + 7, ">H"), (sof + 4, ">B"), (sof + 9, ">B")))
    return _put(data, offset, fmt, _any_int(rng) % (65536 if fmt == ">H" else 256))


def bmp_header(data: bytes, rng: random.Random) -> bytes:
    """File size, pixel offset, header size, width, height (signed), planes, bits, compression, colours."""
    offset, fmt = rng.choice(
        ((2, "<I"), (10, "<I"), (14, "<I"), (18, "<i"), (22, "<i"), (26, "<H"), (28, "<H"), (30, "<I"), (46, "<I"))
    )
    value = _any_int(rng)
    if fmt == "<i":
        value = rng.choice((-1, -(2**31), 0, 1, 2**31 - 1, -40, value % (2**31)))
    return _put(data, offset, fmt, value % 65536 if fmt == "<H" else value)


def tiff_header(data: bytes, rng: random.Random) -> bytes:
    """An entry of the first IFD: its type, count or value (width, strip offsets, bits, compression, ...)."""
    little = data[:2] == b"II"
    order = "<" if little else ">"
    ifd = struct.unpack(order + "I", data[4:8])[0]
    if ifd + 2 > len(data):
        return flip_bits(data, rng)
    entries = struct.unpack(order + "H", data[ifd : ifd + 2])[0]
    entry = ifd + 2 + 12 * rng.randrange(max(1, min(entries, 64)))
    offset, fmt = rng.choice(((entry + 2, "H"), (entry + 4, "I"), (entry + 8, "I"), (entry + 8, "H")))
    value = _any_int(rng)
    return _put(data, offset, order + fmt, value % 65536 if fmt == "H" else value)


def gif_header(data: bytes, rng: random.Random) -> bytes:
    """Logical screen size or flags; an image descriptor's position, size or flags; the LZW code size."""
    descriptors = [i for i in range(13, len(data) - 10) if data[i] == 0x2C]
    choices = [(6, "<H"), (8, "<H"), (10, "<B")]
    if descriptors:
        d = rng.choice(descriptors)
        choices += [(d + 1, "<H"), (d + 3, "<H"), (d + 5, "<H"), (d + 7, "<H"), (d + 9, "<B"), (d + 10, "<B")]
    offset, fmt = rng.choice(choices)
    return _put(data, offset, fmt, _any_int(rng) % (65536 if fmt == "<H" else 256))


# (group, element) of the tags that size or shape the pixel data
_DICOM_TAGS = {
    "Rows": (0x0028, 0x0010),
    "Columns": (0x0028, 0x0011),
    "SamplesPerPixel": (0x0028, 0x0002),
    "BitsAllocated": (0x0028, 0x0100),
    "BitsStored": (0x0028, 0x0101),
    "HighBit": (0x0028, 0x0102),
    "PixelRepresentation": (0x0028, 0x0103),
    "PlanarConfiguration": (0x0028, 0x0006),
    "NumberOfFrames": (0x0028, 0x0008),
    "PhotometricInterpretation": (0x0028, 0x0004),
    "RedPaletteColorLookupTableDescriptor": (0x0028, 0x1101),
    "GreenPaletteColorLookupTableDescriptor": (0x0028, 0x1102),
    "WindowCenter": (0x0028, 0x1050),
    "RescaleSlope": (0x0028, 0x1053),
    "PixelData": (0x7FE0, 0x0010),
    "TransferSyntaxUID": (0x0002, 0x0010),
    "FileMetaInformationGroupLength": (0x0002, 0x0000),
}
_TEXT_VALUES = (
    b"0",
    b"-1",
    b"1e308",
    b"NaN",
    b"inf",
    b"99999999",
    b"MONOCHROME1",
    b"RGB",
    b"PALETTE COLOR",
    b"YBR_FULL",
)
_SYNTAXES = (b"1.2.840.10008.1.2", b"1.2.840.10008.1.2.2", b"1.2.840.10008.1.2.4.50", b"1.2.840.10008.1.2.5", b"9.9")


def dicom_header(data: bytes, rng: random.Random) -> bytes:
    """A pixel-describing element's value or length (explicit or implicit VR, wherever the tag is found)."""
    name = rng.choice(list(_DICOM_TAGS))
    group, element = _DICOM_TAGS[name]
    tag = struct.pack("<HH", group, element)
    position = data.find(tag, 128 if data[128:132] == b"DICM" else 0)
    if position < 0:
        return flip_bits(data, rng)
    explicit = data[position + 4 : position + 6].isalpha()
    long_length = explicit and data[position + 4 : position + 6] in (b"OB", b"OW", b"OF", b"SQ", b"UN", b"UT")
    value_at = position + (12 if long_length else 8)
    if rng.random() < 0.25:  # the length field itself
        return _put(
            data,
            position + (8 if long_length else 6 if explicit else 4),
            "<I" if not explicit or long_length else "<H",
            _any_int(rng) % (1 << (32 if not explicit or long_length else 16)),
        )
    if name in (
        "Rows",
        "Columns",
        "SamplesPerPixel",
        "BitsAllocated",
        "BitsStored",
        "HighBit",
        "PixelRepresentation",
        "PlanarConfiguration",
        "FileMetaInformationGroupLength",
        "RedPaletteColorLookupTableDescriptor",
        "GreenPaletteColorLookupTableDescriptor",
    ):
        fmt = "<I" if name == "FileMetaInformationGroupLength" else "<H"
        return _put(data, value_at, fmt, _any_int(rng) % (1 << (8 * struct.calcsize(fmt))))
    if name == "PixelData":
        return flip_bits(data, rng)
    length = struct.unpack("<H" if explicit else "<I", data[position + (6 if explicit else 4) : value_at])[0]
    values = _SYNTAXES if name == "TransferSyntaxUID" else _TEXT_VALUES
    value = rng.choice(values)[:length].ljust(length, b" " if name != "TransferSyntaxUID" else b"\x00")
    return data[:value_at] + value + data[value_at + length :]


# NIfTI-1 header fields (offset, struct format): the ones nibabel sizes and scales the data by.
_NIFTI_FIELDS = (
    [(40 + 2 * i, "<h") for i in range(8)]  # dim[0..7]
    + [(70, "<h"), (72, "<h")]  # datatype, bitpix
    + [(76 + 4 * i, "<f") for i in range(8)]  # pixdim
    + [(108, "<f"), (112, "<f"), (116, "<f")]  # vox_offset, scl_slope, scl_inter
    + [(252, "<h"), (254, "<h")]  # qform_code, sform_code
    + [(256 + 4 * i, "<f") for i in range(18)]  # quatern_b..d, qoffset, srow_x/y/z
)


def nifti_header(data: bytes, rng: random.Random) -> bytes:
    """A NIfTI-1 header field; a gzip file is unpacked, mutated and packed again, so the value gets through."""
    packed = data[:2] == b"\x1f\x8b"
    try:
        raw = gzip.decompress(data) if packed else data
    except (OSError, EOFError, zlib.error):  # an earlier mutation broke the gzip stream
        return flip_bits(data, rng)
    offset, fmt = rng.choice(_NIFTI_FIELDS)
    if fmt == "<f":
        value = rng.choice(INTERESTING_FLOATS)
    else:
        value = rng.choice((-1, 0, 1, 2, 3, 4, 5, 7, 8, 16, 64, 255, 256, 1024, 2304, 32767, -32768))
    raw = _put(raw, offset, fmt, value)
    return gzip.compress(raw, mtime=0) if packed else raw


HEADER_MUTATIONS: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "png": png_header,
    "jpeg": jpeg_header,
    "bmp": bmp_header,
    "tiff": tiff_header,
    "gif": gif_header,
    "dicom": dicom_header,
    "nifti": nifti_header,
}


def _header_mutation(seed_name: str) -> Callable[[bytes, random.Random], bytes] | None:
    family = seed_name.split("-")[0]
    if family == "nifti2":  # NIfTI-2's header has other offsets; byte mutations cover it
        return None
    return HEADER_MUTATIONS.get(family)


# ---- the corpus --------------------------------------------------------------------------------------------


def corpus(per_seed: int) -> Iterator[Mutant]:
    """`per_seed` mutants of every seed: about 40 % header-field mutations, the rest byte-level, and now
    and then a second mutation on top of the first."""
    for name, data in seeds().items():
        header = _header_mutation(name)
        for index in range(per_seed):
            rng = random.Random(f"{name}:{index}")
            steps = []
            mutant = data
            for _ in range(2 if rng.random() < 0.2 else 1):
                mutate = header if header and rng.random() < 0.4 else rng.choice(BYTE_MUTATIONS)
                mutant = mutate(mutant, rng) or mutant[:1]
                steps.append(mutate.__name__)
            yield Mutant(name, index, " + ".join(steps), mutant)
