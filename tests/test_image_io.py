import io

import numpy as np
import pytest
from PIL import Image

from core.io.image_io import MAX_SIDE, UnreadableScanError, read_image
from tests.phantoms import phantom

GRAY = phantom(1, "glioma", 64)


def encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def as_mode(mode: str) -> Image.Image:
    base = Image.fromarray(GRAY)
    if mode == "I;16":
        return Image.fromarray(GRAY.astype(np.uint16) * 257)
    return base.convert(mode)


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [
        ("L", "PNG"),
        ("RGB", "JPEG"),
        ("RGBA", "PNG"),
        ("P", "PNG"),
        ("CMYK", "JPEG"),
        ("I;16", "PNG"),
        ("LA", "PNG"),
        ("1", "PNG"),
        ("RGB", "BMP"),
        ("L", "TIFF"),
        ("I;16", "TIFF"),
    ],
)
def test_every_mode_decodes_to_gray_float(mode, fmt):
    decoded = read_image(encode(as_mode(mode), fmt))
    assert decoded.dtype == np.float32 and decoded.shape == GRAY.shape
    assert decoded.min() >= 0.0 and decoded.max() <= 1.0
    if mode not in ("1", "P"):  # bilevel and palette quantise; the rest keep the picture
        assert np.corrcoef(decoded.ravel(), GRAY.ravel())[0, 1] > 0.98


def test_transparent_pixels_are_background():
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., :3] = 255
    rgba[:8, :, 3] = 255  # top half opaque white, bottom half transparent white
    decoded = read_image(encode(Image.fromarray(rgba, "RGBA")))
    assert decoded[:8].min() > 0.99 and decoded[8:].max() < 0.01


def test_png_named_jpg_decodes_by_content(tmp_path):
    path = tmp_path / "scan.jpg"
    Image.fromarray(GRAY).save(path, format="PNG")
    assert np.array_equal(read_image(path), GRAY.astype(np.float32) / 255)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "empty"),
        (b"hello, this is a text file", "Not an image"),
        (encode(Image.fromarray(GRAY), "PNG")[:200], "damaged or truncated"),
    ],
)
def test_unreadable_input_raises_a_typed_error(payload, message):
    with pytest.raises(UnreadableScanError, match=message):
        read_image(payload)


def test_huge_declared_size_is_refused_before_decoding():
    side = MAX_SIDE + 1
    bomb = encode(Image.new("1", (side, side)), "PNG")  # a few kB on disk
    assert len(bomb) < 200_000
    with pytest.raises(UnreadableScanError, match="limit of 4,096 pixels a side"):
        read_image(bomb)
