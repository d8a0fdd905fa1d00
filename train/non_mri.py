"""Reproducible sets of images that are not brain MRI slices: one that measures the out-of-distribution
gate, one that teaches its second stage.

The measured set (`non_mri_images`, seed 0): what installed packages ship (scikit-image's and scikit-learn's
sample images: photographs, microscopy, retina, astronomy, documents, a CT head phantom), generated pictures
(noise, blank and constant images, gradients, patterns, text pages, screenshots, charts, simple shapes), and
drawings of other body parts and modalities (train/other_body_parts.py: chest and limb radiographs,
abdominal CT, ultrasound, spine and knee MRI).

The teaching set (`gate_examples`): only the body-part drawings, from other seeds. The package samples and
the generic pictures are never taught, so they measure whether the gate refuses kinds it was not shown;
the drawings of the measured set are new pictures of taught kinds. Each picture comes as PNG bytes, so both
run the product's own decoding path.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

from train.other_body_parts import other_body_parts

MEASURED_EACH = 10  # drawings of each body part in the measured set
TAUGHT_EACH, TAUGHT_SEEDS = 15, (1, 2, 3)  # and in the teaching set: 270, none of them measured

# scikit-image's bundled samples (no download): name -> what it shows.
SKIMAGE_SAMPLES = {
    "astronaut": "photograph",
    "brick": "texture",
    "camera": "photograph",
    "cat": "photograph",
    "cell": "microscopy",
    "checkerboard": "pattern",
    "clock": "photograph",
    "coffee": "photograph",
    "coins": "photograph",
    "colorwheel": "graphic",
    "grass": "texture",
    "gravel": "texture",
    "horse": "silhouette",
    "hubble_deep_field": "astronomy",
    "immunohistochemistry": "microscopy",
    "logo": "graphic",
    "microaneurysms": "retina",
    "moon": "photograph",
    "page": "document",
    "retina": "retina",
    "rocket": "photograph",
    "shepp_logan_phantom": "CT head phantom",
    "text": "document",
}


def non_mri_images(seed: int = 0) -> list[tuple[str, bytes]]:
    """(name, PNG bytes) pairs: every sample image in a few presentations, then the generated ones."""
    images: list[tuple[str, np.ndarray]] = []
    for name, array in _package_samples():
        images.append((name, array))
        images.append((f"{name} (gray)", _gray(array)))
        images.append((f"{name} (centre crop)", _centre_crop(array)))
        images.append((f"{name} (inverted)", 255 - _gray(array)))
    generator = np.random.default_rng(seed)
    images.extend(_generated(generator))
    images.extend(other_body_parts(generator, MEASURED_EACH))
    return [(name, _png(array)) for name, array in images]


def gate_examples(seeds: tuple[int, ...] = TAUGHT_SEEDS, each: int = TAUGHT_EACH) -> list[tuple[str, bytes]]:
    """(name, PNG bytes) of the drawings the gate's second stage learns from; seed 0 is the measured set's."""
    if 0 in seeds:
        raise ValueError("seed 0 draws the measured set; teaching on it would measure the gate on what it was taught")
    return [
        (f"{name} (seed {seed})", _png(array))
        for seed in seeds
        for name, array in other_body_parts(np.random.default_rng(seed), each)
    ]


def _package_samples() -> list[tuple[str, np.ndarray]]:
    import skimage.data
    from sklearn.datasets import load_sample_images

    samples = [
        (f"skimage {name} ({kind})", _uint8(getattr(skimage.data, name)())) for name, kind in SKIMAGE_SAMPLES.items()
    ]
    samples += [
        (f"sklearn {name} (photograph)", image)
        for name, image in zip(("china", "flower"), load_sample_images().images, strict=True)
    ]
    return samples


def _generated(rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    size = 256
    y, x = np.mgrid[0:size, 0:size] / (size - 1)
    smooth = _upsample(rng.random((8, 8)), size)
    generated = [
        ("blank black", np.zeros((size, size), np.uint8)),
        ("blank white", np.full((size, size), 255, np.uint8)),
        ("constant gray", np.full((size, size), 128, np.uint8)),
        ("constant colour", np.broadcast_to(np.array([40, 120, 200], np.uint8), (size, size, 3)).copy()),
        ("uniform noise", rng.integers(0, 256, (size, size), dtype=np.uint8)),
        ("gaussian noise", _uint8(np.clip(rng.normal(0.5, 0.15, (size, size)), 0, 1))),
        ("colour noise", rng.integers(0, 256, (size, size, 3), dtype=np.uint8)),
        ("salt and pepper", _uint8((rng.random((size, size)) > 0.5).astype(float))),
        ("smooth noise", _uint8(smooth)),
        ("horizontal gradient", _uint8(x)),
        ("radial gradient", _uint8(np.clip(1 - np.hypot(x - 0.5, y - 0.5) * 2, 0, 1))),
        ("stripes", _uint8((np.sin(x * 40) > 0).astype(float))),
        ("fine checkerboard", _uint8(((x * 32).astype(int) + (y * 32).astype(int)) % 2 * 1.0)),
        ("bright disc on black", _uint8((np.hypot(x - 0.5, y - 0.5) < 0.35).astype(float))),
        ("gray ellipse on black", _uint8(((x - 0.5) ** 2 / 0.16 + (y - 0.5) ** 2 / 0.1 < 1) * 0.6)),
    ]
    generated += [(f"text page {i}", _text_page(rng)) for i in range(3)]
    generated += [(f"screenshot {i}", _screenshot(rng)) for i in range(3)]
    generated += [(f"bar chart {i}", _bar_chart(rng)) for i in range(2)]
    generated += [(f"random shapes {i}", _shapes(rng)) for i in range(3)]
    return generated


def _text_page(rng: np.random.Generator) -> np.ndarray:
    page = Image.new("L", (400, 520), 255)
    draw = ImageDraw.Draw(page)
    words = ["patient", "report", "findings", "the", "of", "and", "normal", "study", "left", "right", "image"]
    for line in range(24):
        text = " ".join(rng.choice(words, size=8))
        draw.text((20, 16 + line * 20), text, fill=int(rng.integers(0, 60)))
    return np.asarray(page)


def _screenshot(rng: np.random.Generator) -> np.ndarray:
    shot = Image.new("RGB", (480, 320), (240, 240, 240))
    draw = ImageDraw.Draw(shot)
    draw.rectangle((0, 0, 480, 28), fill=(50, 80, 140))
    draw.text((10, 8), "Viewer - study list", fill=(255, 255, 255))
    for row in range(8):
        top = 40 + row * 32
        shade = tuple(int(v) for v in rng.integers(180, 255, 3))
        draw.rectangle((10, top, 470, top + 26), fill=shade, outline=(120, 120, 120))
        draw.text((18, top + 8), f"Item {row + 1}   {int(rng.integers(1000, 9999))}", fill=(0, 0, 0))
    return np.asarray(shot)


def _bar_chart(rng: np.random.Generator) -> np.ndarray:
    chart = Image.new("RGB", (400, 300), (255, 255, 255))
    draw = ImageDraw.Draw(chart)
    draw.line((40, 260, 380, 260), fill=(0, 0, 0), width=2)
    draw.line((40, 20, 40, 260), fill=(0, 0, 0), width=2)
    for bar in range(6):
        height = int(rng.integers(30, 230))
        left = 60 + bar * 52
        draw.rectangle((left, 260 - height, left + 36, 259), fill=(70, 130, 180))
    return np.asarray(chart)


def _shapes(rng: np.random.Generator) -> np.ndarray:
    canvas = Image.new("RGB", (300, 300), tuple(int(v) for v in rng.integers(0, 255, 3)))
    draw = ImageDraw.Draw(canvas)
    for _ in range(12):
        x0, y0 = (int(v) for v in rng.integers(0, 250, 2))
        x1, y1 = x0 + int(rng.integers(10, 120)), y0 + int(rng.integers(10, 120))
        colour = tuple(int(v) for v in rng.integers(0, 255, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=colour)
    return np.asarray(canvas)


def _uint8(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values)
    if values.dtype == np.uint8:
        return values
    values = values.astype(np.float64)
    low, high = values.min(), values.max()
    return np.uint8(np.rint(255 * (values - low) / (high - low if high > low else 1)))


def _gray(array: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(array).convert("L")) if array.ndim == 3 else array


def _centre_crop(array: np.ndarray) -> np.ndarray:
    height, width = array.shape[:2]
    return array[height // 4 : height - height // 4, width // 4 : width - width // 4]


def _upsample(values: np.ndarray, size: int) -> np.ndarray:
    return np.asarray(Image.fromarray(_uint8(values)).resize((size, size), Image.BICUBIC), np.float64) / 255


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buffer, format="PNG")
    return buffer.getvalue()
