"""The one definition of what pixels the model sees. Training and serving both call this module.

The pipeline is split in two at a uint8 image of the model's input size:
  1. `Preprocessing.to_uint8`: grayscale float image -> crop to the head -> pad to square -> resize -> uint8.
     Training caches this output (in memory, or in a data pack for the GPU machine).
  2. `normalize`: a batch of those uint8 images -> float tensor for the network, on any device
     (training augments between its two halves, `to_unit_range` and `standardize`).
Because the app runs exactly steps 1 and 2, a model never sees different pixels in serving than it saw
in training. The settings travel in every checkpoint's metadata.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np
import torch


@dataclass(frozen=True)
class Preprocessing:
    img_size: int = 128
    crop_to_head: bool = True
    # Filled in from the training images; stored with the weights.
    mean: float = 0.5
    std: float = 0.25

    def to_uint8(self, gray: np.ndarray) -> np.ndarray:
        """Float (H, W) image in [0, 1] -> uint8 (img_size, img_size)."""
        if gray.ndim != 2 or min(gray.shape) < 1:
            raise ValueError(f"expected a 2-D image, got shape {gray.shape}")
        gray = np.clip(np.nan_to_num(gray.astype(np.float32, copy=False)), 0.0, 1.0)
        return self._square_uint8(stretch_contrast(pad_to_square(self._crop(gray, gray))))

    def mask_to_uint8(self, mask: np.ndarray, gray: np.ndarray) -> np.ndarray:
        """A tumour mask (H, W) of `gray` -> uint8 (img_size, img_size), 255 = tumour, moved exactly as `to_uint8`
        moves the picture (the same crop, padding and resize; edge pixels become partial values)."""
        if mask.shape != gray.shape:
            raise ValueError(f"mask {mask.shape} and image {gray.shape} differ in size")
        gray = np.clip(np.nan_to_num(gray.astype(np.float32, copy=False)), 0.0, 1.0)
        return self._square_uint8(pad_to_square(self._crop(mask.astype(np.float32), gray)))

    def _crop(self, pixels: np.ndarray, gray: np.ndarray) -> np.ndarray:
        if not self.crop_to_head:
            return pixels
        top, bottom, left, right = head_bounding_box(gray)
        return pixels[top:bottom, left:right]

    def _square_uint8(self, square: np.ndarray) -> np.ndarray:
        interpolation = cv2.INTER_AREA if square.shape[0] > self.img_size else cv2.INTER_LINEAR
        resized = cv2.resize(square, (self.img_size, self.img_size), interpolation=interpolation)
        return np.clip(np.rint(resized * 255.0), 0, 255).astype(np.uint8)

    def project_to_original(self, values: np.ndarray, gray: np.ndarray) -> np.ndarray:
        """Map a float (S, S) map over the model's input (a heatmap) back onto the pixels of `gray`, the image
        it was prepared from: undoes the resize and the padding, and places it at the crop (zero outside)."""
        height, width = gray.shape
        top, bottom, left, right = head_bounding_box(gray) if self.crop_to_head else (0, height, 0, width)
        crop_height, crop_width = bottom - top, right - left
        side = max(crop_height, crop_width)
        # Bicubic for a smooth map; clipped to the input's range, as bicubic overshoots at steep edges.
        values = values.astype(np.float32)
        square = cv2.resize(values, (side, side), interpolation=cv2.INTER_CUBIC)
        square = np.clip(square, float(values.min()), float(values.max()))
        pad_top, pad_left = (side - crop_height) // 2, (side - crop_width) // 2
        placed = np.zeros((height, width), np.float32)
        placed[top:bottom, left:right] = square[pad_top : pad_top + crop_height, pad_left : pad_left + crop_width]
        return placed

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> Preprocessing:
        return cls(**{key: values[key] for key in cls.__dataclass_fields__ if key in values})


def normalize(batch: torch.Tensor, preprocessing: Preprocessing) -> torch.Tensor:
    """uint8 (N, S, S) or (N, 1, S, S) -> float32 (N, 1, S, S), standardised."""
    return standardize(to_unit_range(batch), preprocessing)


def to_unit_range(batch: torch.Tensor) -> torch.Tensor:
    """uint8 (N, S, S) or (N, 1, S, S) -> float32 (N, 1, S, S) in [0, 1]; training augments at this stage."""
    if batch.ndim == 3:
        batch = batch.unsqueeze(1)
    return batch.float() / 255.0


def standardize(batch: torch.Tensor, preprocessing: Preprocessing) -> torch.Tensor:
    return (batch - preprocessing.mean) / preprocessing.std


def head_bounding_box(gray: np.ndarray, margin: float = 0.02) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the largest bright region: the head, without text labels or noise.

    Falls back to the whole image when nothing stands out (a blank image, or a crop that is already tight).
    """
    height, width = gray.shape
    region = _head_region(gray)
    if region is None:
        return 0, height, 0, width
    _, (left, top, box_width, box_height) = region
    # The margin scales with the head, not the canvas, so the same head on a larger black canvas crops alike.
    pad_y, pad_x = round(margin * box_height), round(margin * box_width)
    return (
        max(0, top - pad_y),
        min(height, top + box_height + pad_y),
        max(0, left - pad_x),
        min(width, left + box_width + pad_x),
    )


def head_mask(gray: np.ndarray) -> np.ndarray:
    """Boolean (H, W) mask of the head: the region `head_bounding_box` crops to, with its holes filled
    (dark ventricles, cysts and necrotic cores belong to the head). All True when no head stands out, as
    the crop then keeps the whole image."""
    region = _head_region(gray)
    if region is None:
        return np.ones(gray.shape, dtype=bool)
    component, _ = region
    contours, _ = cv2.findContours(component.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    filled = np.zeros(gray.shape, np.uint8)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    return filled.astype(bool)


def _head_region(gray: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
    """The largest bright connected region (mask, (left, top, width, height)), or None when none stands out."""
    height, width = gray.shape
    reference = float(np.percentile(gray, 99))
    if reference <= 0:
        return None
    mask = cv2.GaussianBlur(gray, (0, 0), sigmaX=max(1.0, min(height, width) / 200)) > 0.1 * reference
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count < 2:
        return None
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    left, top, box_width, box_height, area = stats[largest]
    if area < 0.01 * height * width:
        return None
    return labels == largest, (int(left), int(top), int(box_width), int(box_height))


def pad_to_square(gray: np.ndarray) -> np.ndarray:
    """Centre the image on a black square so resizing never distorts anatomy."""
    height, width = gray.shape
    side = max(height, width)
    top, left = (side - height) // 2, (side - width) // 2
    return cv2.copyMakeBorder(gray, top, side - height - top, left, side - width - left, cv2.BORDER_CONSTANT, value=0)


def stretch_contrast(gray: np.ndarray) -> np.ndarray:
    """Rescale to the full [0, 1] range so scans stored darker or brighter look alike to the model."""
    low, high = float(gray.min()), float(gray.max())
    if high - low < 1e-6:
        return np.zeros_like(gray)
    return (gray - low) / (high - low)
