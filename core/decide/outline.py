"""The tumour region a network with a mask head outlines, and what the product does with it.

One definition for every surface: the region is the mask probability at or above MASK_THRESHOLD on the model's
input, and it is there at all only when the mean of its REGION_PIXELS most confident pixels (a minimum-size
region's worth, MIN_REGION_FRACTION of the input) reaches the run's presence level. That level is chosen on
validation by train/safety.py: the 98th percentile of the no-tumour validation slices' values, so that at most
about 2 % of them get an outline (without it, a mask head that marks ventricles and deep grey matter on a third
of normal slices would show a finding on each). The two heads disagree
when the class head names a tumour and no region is outlined, or says "no tumour" beside a clear region; the
page states that, and the abstention rule may withhold the class for it (`disagreement_abstains`, chosen on
validation by train/safety.py). The outline the reader sees is the region moved back onto the picture's own
pixels, with its area in mm² when the file gives a pixel spacing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from core.labels import NO_TUMOUR, display_name
from core.model.preprocessing import Preprocessing

MASK_THRESHOLD = 0.5
MIN_REGION_FRACTION = 0.001  # of the model's input: 16 pixels of 128 × 128, about 2 × 2 mm on a 24 cm field
NO_TUMOUR_PERCENTILE = 98.0  # of validation no-tumour slices' region evidence: the presence level


def region_evidence(masks: np.ndarray) -> np.ndarray:
    """How sure the mask head is that a region is there: the mean probability of each mask's (N, S, S) most
    confident minimum-size region's worth of pixels, float (N,)."""
    if masks.size == 0:
        return np.zeros(len(masks), dtype=np.float64)
    count = math.ceil(MIN_REGION_FRACTION * masks.shape[-1] * masks.shape[-2])
    flat = masks.reshape(len(masks), -1)
    top = np.partition(flat, flat.shape[1] - count, axis=1)[:, -count:]
    return top.mean(1).astype(np.float64)


def region_pixels(masks: np.ndarray, presence: float = MASK_THRESHOLD) -> np.ndarray:
    """Outlined pixels of each mask (N, S, S) on the model's input, int (N,): 0 where the region's evidence is
    under `presence` (the run's level, `Classifier.outline_presence`) or the region is under the minimum size."""
    if masks.size == 0:
        return np.zeros(len(masks), dtype=np.int64)
    pixels = (masks >= MASK_THRESHOLD).reshape(len(masks), -1).sum(1)
    minimum = math.ceil(MIN_REGION_FRACTION * masks.shape[-1] * masks.shape[-2])
    present = (pixels >= minimum) & (region_evidence(masks) >= presence)
    return np.where(present, pixels, 0).astype(np.int64)


def presence_level(no_tumour_masks: np.ndarray) -> float:
    """The presence level from validation no-tumour slices' masks; MASK_THRESHOLD when there are none."""
    if not len(no_tumour_masks):
        return MASK_THRESHOLD
    return max(MASK_THRESHOLD, float(np.percentile(region_evidence(no_tumour_masks), NO_TUMOUR_PERCENTILE)))


def heads_disagree(top_class: str, outlined_pixels: int) -> bool:
    """A tumour class with nothing outlined, or "no tumour" beside an outlined region."""
    return (top_class == NO_TUMOUR) == (outlined_pixels > 0)


def rows_disagreeing(classes: list[str], probabilities: np.ndarray, outlined: np.ndarray) -> np.ndarray:
    """`heads_disagree` for each row of calibrated probabilities (N, C) and outlined pixels (N,), bool (N,)."""
    top = [classes[i] for i in probabilities.argmax(1)]
    return np.array([heads_disagree(name, int(n)) for name, n in zip(top, outlined, strict=True)], bool)


def disagreement_text(top_class: str) -> str:
    if top_class == NO_TUMOUR:
        return "The class head says no tumour, but the outline head marks a region: the two do not agree."
    return (
        f"The class head says {display_name(top_class).lower()}, but the outline head marks no tumour region: "
        "the two do not agree."
    )


@dataclass(frozen=True)
class Outline:
    """The outlined region on the picture's own pixels."""

    mask: np.ndarray  # bool (H, W)
    contours: tuple  # OpenCV contours of `mask`, for drawing
    pixels: int
    square_mm: float | None  # with a pixel spacing

    def area_text(self) -> str:
        if self.pixels == 0:
            return "no region outlined"
        if self.square_mm is not None:
            return f"{self.square_mm:,.0f} mm² ({self.pixels:,} pixels)"
        return f"{self.pixels:,} pixels (no pixel spacing in the file, so no mm²)"


def outline_on_picture(
    mask: np.ndarray,
    gray: np.ndarray,
    preprocessing: Preprocessing,
    pixel_spacing_mm: tuple[float, float] | None,
    presence: float = MASK_THRESHOLD,
) -> Outline:
    """The model-input mask probabilities (S, S) of `gray` -> its outline on `gray`'s pixels. A region that is no
    region on the model's input (`region_pixels` with the run's `presence`) is none here either, so the page and
    the decision never differ."""
    if region_pixels(mask[None], presence)[0] == 0:
        empty = np.zeros(gray.shape[:2], bool)
        return Outline(empty, (), 0, None if pixel_spacing_mm is None else 0.0)
    on_picture = preprocessing.project_to_original(mask, gray) >= MASK_THRESHOLD
    contours, _ = cv2.findContours(on_picture.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    pixels = int(on_picture.sum())
    square_mm = None if pixel_spacing_mm is None else pixels * float(pixel_spacing_mm[0]) * float(pixel_spacing_mm[1])
    return Outline(on_picture, tuple(contours), pixels, square_mm)


def draw_outline(picture: np.ndarray, outline: Outline, colour=(255, 255, 0)) -> np.ndarray:
    """An RGB uint8 copy of `picture` (grey float [0, 1] or RGB uint8) with the outline drawn on it."""
    if picture.ndim == 2:
        picture = np.repeat(np.clip(np.rint(picture * 255), 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    drawn = np.ascontiguousarray(picture.copy())
    width = max(1, round(max(drawn.shape[:2]) / 256))
    cv2.drawContours(drawn, list(outline.contours), -1, colour, width)
    return drawn
