"""Decode 2-D images (JPEG, PNG, BMP, TIFF, ...) into grayscale float arrays.

Files are decoded by content, never by extension: the public dataset ships PNGs named `.jpg`, and users
rename files freely. Every PIL mode ends up as one float32 array in [0, 1], so nothing downstream has to
care how the pixels were stored.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

# A 2-D MRI slice is at most a few thousand pixels on a side. Refusing anything bigger before decoding
# protects a shared server from decompression bombs (a tiny file that declares an enormous canvas).
MAX_PIXELS = 50_000_000


class UnreadableScanError(ValueError):
    """The input is not a scan this project can read; the message says why, in words for the user."""


def read_image(source: bytes | str | Path) -> np.ndarray:
    """Decode an image file (path or bytes) into a float32 (H, W) array in [0, 1]."""
    data = Path(source).read_bytes() if isinstance(source, (str, Path)) else bytes(source)
    if not data:
        raise UnreadableScanError("The file is empty.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise UnreadableScanError(
                    f"The image is {width}×{height} pixels, larger than the {MAX_PIXELS:,}-pixel limit."
                )
            image.load()
    except UnreadableScanError:
        raise
    except UnidentifiedImageError:
        raise UnreadableScanError("Not an image format this app can read.") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UnreadableScanError("The image declares an implausibly large size.") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise UnreadableScanError(f"The image file is damaged or truncated ({error}).") from None
    return to_grayscale(image)


def to_grayscale(image: Image.Image) -> np.ndarray:
    """Any PIL mode to float32 grayscale in [0, 1]."""
    mode = image.mode
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        # Transparent pixels are background; MRI background is black.
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
        gray = rgba[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        return np.ascontiguousarray(gray * rgba[..., 3])
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return _stretch(np.asarray(image, dtype=np.float32))
    if mode not in ("L", "1"):
        image = image.convert("RGB").convert("L")
    return np.asarray(image.convert("L"), dtype=np.float32) / 255.0


def _stretch(values: np.ndarray) -> np.ndarray:
    """Map high bit-depth pixel values to [0, 1] by their own range (12-bit data in 16-bit files is common)."""
    values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.zeros_like(values, dtype=np.float32)
    return ((values - low) / (high - low)).astype(np.float32)
