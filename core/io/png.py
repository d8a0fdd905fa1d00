"""Pictures for browsers and reports: PNG bytes, thumbnails, data URIs. All in memory."""

from __future__ import annotations

import base64
import io

import cv2
import numpy as np
from PIL import Image


def to_uint8(picture: np.ndarray) -> np.ndarray:
    """Float pictures in [0, 1] (gray or RGB) -> uint8; uint8 passes through."""
    if picture.dtype == np.uint8:
        return picture
    return np.clip(np.rint(np.nan_to_num(picture) * 255.0), 0, 255).astype(np.uint8)


def png_bytes(picture: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(to_uint8(picture)).save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def thumbnail(picture: np.ndarray, side: int = 96) -> np.ndarray:
    """Fit within side × side, aspect kept (area averaging, so small thumbnails do not alias)."""
    height, width = picture.shape[:2]
    scale = side / max(height, width)
    if scale >= 1:
        return to_uint8(picture)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(to_uint8(picture), size, interpolation=cv2.INTER_AREA)


def data_uri(png: bytes) -> str:
    """A PNG embedded in a page or a table cell, with no file and no request."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
