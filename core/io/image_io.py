"""Decode 2-D images (JPEG, PNG, BMP, TIFF, ...) into grayscale float arrays.

Files are decoded by content, never by extension: the public dataset ships PNGs named `.jpg`, and users
rename files freely. Every PIL mode ends up as one float32 array in [0, 1], so nothing downstream has to
care how the pixels were stored.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# A brain MRI slice is at most about a thousand pixels a side; a 12-megapixel phone photo of a film, 4,032.
# Refusing a longer side before decoding protects a shared server from decompression bombs (a tiny file
# that declares an enormous canvas). It is a limit on the side, not on the area, because the model's
# preprocessing pads a picture to the square of its longer side: a 16×50,000 strip is 800,000 pixels but
# pads to 2.5 billion. At 4,096 that square is 16.7 megapixels, about 0.5 s and 200 MB of preprocessing.
MAX_SIDE = 4096
# Below this, a picture is an icon or a placeholder, not a scan: the model would classify the blur that
# resizing it to the input size makes, and a clinician is better served by being told so.
MIN_SIDE = 16
# Only formats a scan is plausibly exported in. PIL can open some forty more (EPS runs Ghostscript, which
# writes temporary files; PSD, FITS, ICO, ...); each one is decoder code an upload could reach for nothing.
# The percentiles that map 16-bit and float pictures to black and white (core.io.dicom_io.auto_window's too).
STRETCH_PERCENTILES = (0.5, 99.5)
READ_FORMATS = ("BMP", "GIF", "JPEG", "PNG", "PPM", "TIFF", "WEBP")

# PIL warns about images between its own limit and twice that, and raises beyond. Its warning is made an
# error once, process-wide, here: warnings.catch_warnings around each decode would not be thread-safe, and
# a Streamlit server decodes uploads of several sessions at once. Our own MAX_SIDE is lower anyway.
warnings.filterwarnings("error", category=Image.DecompressionBombWarning)
# How files of those formats start: names the format of a file that PIL gave up on in its header.
_SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG", "PNG"),
    (b"GIF8", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"RIFF", "WEBP"),
)


_TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*")


class UnreadableScanError(ValueError):
    """The input is not a scan this project can read; the message says why, in words for the user."""


class UnsupportedFormatError(UnreadableScanError):
    """The bytes are not an image in any format this module reads (so another reader may try them)."""


@dataclass(frozen=True)
class DecodedImage:
    pixels: np.ndarray  # float32 (H, W) in [0, 1]: the first frame
    frame_count: int  # animated GIF, multi-page TIFF: more than 1; only the first is decoded


def read_image(source: bytes | str | Path) -> np.ndarray:
    """Decode an image file (path or bytes) into a float32 (H, W) array in [0, 1] (its first frame)."""
    data = Path(source).read_bytes() if isinstance(source, (str, Path)) else bytes(source)
    return decode_image(data).pixels


def decode_image(data: bytes) -> DecodedImage:
    """Image bytes -> DecodedImage. Raises UnsupportedFormatError, or UnreadableScanError saying what is wrong."""
    if not data:
        raise UnreadableScanError("The file is empty.")
    try:
        image = Image.open(io.BytesIO(data), formats=READ_FORMATS)
    except MemoryError:
        raise
    except UnidentifiedImageError:
        if data.startswith(_TIFF_SIGNATURES):  # a TIFF header PIL cannot follow: a layout it does not decode
            raise UnreadableScanError(
                "This TIFF image stores its pixels in a way this app cannot decode (for example as 64-bit "
                "floating point). Export it as an 8- or 16-bit TIFF, or as PNG."
            ) from None
        raise UnsupportedFormatError("Not an image format this app can read.") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # PIL refuses in open(), before the size reaches us: it is beyond twice PIL's own limit.
        raise UnreadableScanError(
            f"The image declares a size far beyond the limit of {MAX_SIDE:,} pixels a side, so it was not decoded."
        ) from None
    except Exception as error:  # a recognised header that is damaged; PIL raises many types for that
        raise _damaged(_format_by_signature(data), error) from None
    check_picture_size(*image.size)
    try:
        frame_count = int(getattr(image, "n_frames", 1) or 1)
        image.seek(0)  # counting frames can leave a multi-frame file on another frame
        image.load()
        pixels = to_grayscale(upright(image))
    except (UnreadableScanError, MemoryError):
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UnreadableScanError(
            f"A part of the image declares a size far beyond the limit of {MAX_SIDE:,} pixels a side."
        ) from None
    except Exception as error:  # truncated or corrupt pixel data: OSError, SyntaxError, ValueError, EOFError, ...
        raise _damaged(image.format, error) from None
    return DecodedImage(pixels=pixels, frame_count=max(frame_count, 1))


def check_picture_size(width: int, height: int) -> None:
    """Refuse, before decoding, a picture too large to decode safely or too small to be a scan."""
    if max(width, height) > MAX_SIDE:
        raise UnreadableScanError(
            f"The picture is {width}×{height} pixels, beyond the limit of {MAX_SIDE:,} pixels a side, so it was "
            "not decoded. A brain MRI slice is at most about 1,000 pixels a side: reduce the picture."
        )
    if min(width, height) < MIN_SIDE:
        raise UnreadableScanError(too_small_message(width, height))


def too_small_message(width: int, height: int) -> str:
    return (
        f"The picture is {width}×{height} pixels: too small to be a scan (a brain MRI slice is at least "
        f"{MIN_SIDE} pixels a side)."
    )


def upright(image: Image.Image) -> Image.Image:
    """The picture as every viewer shows it: turned as its EXIF orientation says (cameras and phones store
    the sensor's pixels and the turn separately). EXIF that cannot be parsed says nothing: as stored."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # damaged EXIF raises many types (SyntaxError, struct.error, ...) in PIL
        return image


def to_grayscale(image: Image.Image) -> np.ndarray:
    """Any PIL mode to float32 grayscale in [0, 1]."""
    mode = image.mode
    if mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in image.info):
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
        gray = rgba[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        alpha = rgba[..., 3]
        if not alpha.any():
            # Alpha 0 everywhere says nothing (many writers of 32-bit BMP and RGBA leave it so); honoured,
            # it would turn the whole picture black.
            return np.ascontiguousarray(gray)
        # Transparent pixels are background; MRI background is black.
        return np.ascontiguousarray(gray * alpha)
    if mode.startswith(("I", "F")):  # 16- and 32-bit integer, float: I;16, I;16B, I, F, ...
        return _stretch(np.asarray(image, dtype=np.float32))
    if mode == "LAB":  # CIELAB TIFF: L is the lightness, and PIL has no LAB -> RGB conversion
        return np.asarray(image.getchannel("L"), dtype=np.float32) / 255.0
    if mode not in ("L", "1"):
        image = image.convert("RGB").convert("L")
    return np.asarray(image.convert("L"), dtype=np.float32) / 255.0


def _stretch(values: np.ndarray) -> np.ndarray:
    """Map high bit-depth pixel values to [0, 1] by their own range (12-bit data in 16-bit files is common),
    taken as the 0.5th to 99.5th percentile, as the DICOM automatic window does: by min/max, one hot pixel
    would make the slice black (and then be refused as not MRI). Values beyond are clipped."""
    values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float64)
    # In float64: the range of 32-bit or float pixels can overflow float32 ((high - low) = inf).
    sample = values.ravel()[:: max(1, values.size // 2_000_000)]  # percentiles of millions of values are slow
    low, high = (float(v) for v in np.percentile(sample, STRETCH_PERCENTILES))
    if high <= low:  # most pixels one value (a mask, a nearly flat picture): fall back on the full range
        low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.zeros_like(values, dtype=np.float32)
    return np.clip((values - low) / (high - low), 0.0, 1.0).astype(np.float32)


def _format_by_signature(data: bytes) -> str:
    """The format a file that PIL gave up on while reading its header claims to be, for the message."""
    return next((name for signature, name in _SIGNATURES if data.startswith(signature)), "")


def _damaged(format_name: str, error: Exception) -> UnreadableScanError:
    """ "This PNG image is damaged or truncated (PIL's reason)": PIL's texts name the fault, never a path."""
    what = f"This {format_name} image" if format_name else "The image file"
    reason = str(error).strip()
    # PIL quotes the stream's repr in a few texts, and some errors have no text: noise to a reader.
    detail = f" ({reason[:160]})" if reason and " object at 0x" not in reason else ""
    return UnreadableScanError(f"{what} is damaged or truncated, so it cannot be decoded{detail}.")
