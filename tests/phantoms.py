"""Synthetic brain-MRI-like slices for tests: a skull ring, brain texture, ventricles, and a class marker.

Each seed gives a different slice (different texture and anatomy), so near-duplicate detection has real
negatives; each class has a visible marker, so a tiny model can learn something in seconds.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

CLASSES = ["glioma", "meningioma", "notumor", "pituitary"]


def phantom(seed: int, label: str = "notumor", size: int = 256) -> np.ndarray:
    """A uint8 (size, size) slice."""
    return phantom_with_mask(seed, label, size)[0]


def phantom_with_mask(seed: int, label: str = "notumor", size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """A uint8 (size, size) slice and its "tumour" mask (the class marker; empty for no tumour), uint8 0/255."""
    rng = np.random.default_rng(seed)
    image = np.zeros((size, size), np.float32)
    centre = (
        size // 2 + int(rng.integers(-size // 20, size // 20)),
        size // 2 + int(rng.integers(-size // 20, size // 20)),
    )
    axes = (int(size * rng.uniform(0.30, 0.40)), int(size * rng.uniform(0.36, 0.45)))
    cv2.ellipse(image, centre, axes, float(rng.uniform(-10, 10)), 0, 360, 0.9, thickness=-1)
    inner = (axes[0] - size // 25, axes[1] - size // 25)
    texture = cv2.GaussianBlur(rng.random((size, size)).astype(np.float32), (0, 0), size / 40)
    texture = (texture - texture.min()) / (np.ptp(texture) + 1e-6)
    brain = np.zeros_like(image)
    cv2.ellipse(brain, centre, inner, 0, 0, 360, 1.0, thickness=-1)
    image = np.where(brain > 0, 0.25 + 0.35 * texture, image)
    for _ in range(int(rng.integers(2, 5))):  # ventricles and sulci
        offset = rng.integers(-size // 8, size // 8, 2)
        small = (int(rng.integers(size // 40, size // 12)), int(rng.integers(size // 30, size // 8)))
        cv2.ellipse(
            image,
            (centre[0] + int(offset[0]), centre[1] + int(offset[1])),
            small,
            float(rng.uniform(0, 180)),
            0,
            360,
            0.08,
            thickness=-1,
        )
    marker = {
        "glioma": ((centre[0] - axes[0] // 2, centre[1] - axes[1] // 4), size // 10, 0.95),
        "meningioma": ((centre[0] + axes[0] - size // 10, centre[1]), size // 12, 1.0),
        "pituitary": ((centre[0], centre[1] + axes[1] // 2), size // 20, 1.0),
    }.get(label)
    mask = np.zeros((size, size), np.uint8)
    if marker:
        cv2.circle(image, marker[0], marker[1], marker[2], thickness=-1)
        cv2.circle(mask, marker[0], marker[1], 255, thickness=-1)
    image += rng.normal(0, 0.02, image.shape).astype(np.float32)
    return np.clip(image * 255, 0, 255).astype(np.uint8), mask


def write_dataset(
    root: Path, per_class: dict[str, int], seed: int = 0, size: int = 96, masks: Path | None = None
) -> Path:
    """root/<split>/<class>/*.png (or root/<class>/* when per_class has no split), one phantom per file; with
    `masks`, each tumour phantom's mask at the same relative path under it (the masks dataset's layout)."""
    counter = seed * 10_000
    for split, count in per_class.items():
        for label in CLASSES:
            folder = root / split / label
            folder.mkdir(parents=True, exist_ok=True)
            for _ in range(count):
                counter += 1
                image, mask = phantom_with_mask(counter, label, size)
                Image.fromarray(image).save(folder / f"{label}_{counter}.png")
                if masks is not None and label != "notumor":
                    (masks / split / label).mkdir(parents=True, exist_ok=True)
                    Image.fromarray(mask).save(masks / split / label / f"{label}_{counter}.png")
    return root
