"""Run a trained model: load a weights directory once, then classify batches of preprocessed images.

The same `model_logits` function scores the validation and test sets in training, so the probabilities the
app shows are computed exactly as the ones the evaluation report was built from.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from core.model.checkpoint import load_checkpoint
from core.model.models import build_model, outlines_tumour
from core.model.ood import OodGate
from core.model.precision import FLOAT32, autocast_for, serving_precision
from core.model.preprocessing import Preprocessing, normalize
from core.run.paths import DEFAULT_WEIGHTS

BATCH_SIZE = 64


def pick_device(preference: str | None = None) -> torch.device:
    """CUDA when there is a GPU, otherwise the CPU; `preference` ("cpu", "cuda", "cuda:1") overrides."""
    if preference:
        return torch.device(preference)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def model_logits(model: nn.Module, batch: torch.Tensor, flip_average: bool, precision: str = FLOAT32) -> torch.Tensor:
    """Float32 logits for a normalised (N, 1, S, S) batch; with `flip_average`, the mean of the image's
    logits and its mirror image's (brain anatomy is near-symmetric; tumours occur on either side)."""
    with autocast_for(batch.device, precision):
        logits = model(batch).float()
        if flip_average:
            logits = (logits + model(torch.flip(batch, dims=[3])).float()) / 2
    return logits


def model_logits_and_masks(
    model: nn.Module, batch: torch.Tensor, flip_average: bool, precision: str = FLOAT32
) -> tuple[torch.Tensor, torch.Tensor]:
    """`model_logits`, and the tumour-mask probabilities (N, S, S) at the input's size, for a network that
    outlines tumours; with `flip_average`, the mirror image's mask is mirrored back and averaged in."""
    size = batch.shape[-2:]
    with autocast_for(batch.device, precision):
        logits, masks = model(batch, with_mask=True)
        logits, masks = logits.float(), masks.float()
        if flip_average:
            mirror_logits, mirror_masks = model(torch.flip(batch, dims=[3]), with_mask=True)
            logits = (logits + mirror_logits.float()) / 2
            masks = (masks + torch.flip(mirror_masks.float(), dims=[3])) / 2
    upsampled = torch.nn.functional.interpolate(masks, size=size, mode="bilinear", align_corners=False)
    return logits, torch.sigmoid(upsampled)[:, 0]


class Classifier:
    """A trained model ready to classify. Thread-safe for prediction: nothing is mutated after loading."""

    def __init__(
        self,
        weights_dir: str | Path = DEFAULT_WEIGHTS,
        device: str | None = None,
        flip_average: bool = True,
        precision: str | None = None,
    ):
        state_dict, self.metadata = load_checkpoint(weights_dir)
        self.weights_dir = Path(weights_dir)
        self.architecture: str = self.metadata["architecture"]
        self.classes: list[str] = list(self.metadata["classes"])
        self.preprocessing = Preprocessing.from_dict(self.metadata["preprocessing"])
        self.temperature = float(self.metadata.get("calibration", {}).get("temperature", 1.0))
        # The trust-and-safety settings fitted after training (train/safety.py); absent in older weights.
        gate = self.metadata.get("ood")
        self.gate = OodGate.load(weights_dir, gate["sha256"]) if gate else None
        self.abstain_below = float(self.metadata.get("abstention", {}).get("threshold", 0.0))
        # Whether a class head and mask head that disagree withhold the class (core/decide/outline.py).
        self.disagreement_abstains = bool(self.metadata.get("abstention", {}).get("on_head_disagreement", False))
        # How sure the mask head must be that a region is there (core/decide/outline.py), fitted on validation.
        self.outline_presence = float(self.metadata.get("outline", {}).get("presence_threshold", 0.5))
        self.flip_average = flip_average
        self.device = pick_device(device)
        # bf16 only where the hardware runs it natively; tests/test_precision.py bounds the difference.
        self.precision = precision or serving_precision(self.device)
        model = build_model(self.architecture, len(self.classes))
        model.load_state_dict(state_dict)
        self.model = model.to(self.device).eval()
        self.outlines_tumour = outlines_tumour(model)

    @property
    def device_name(self) -> str:
        if self.device.type == "cuda":
            return f"GPU: {torch.cuda.get_device_name(self.device)}"
        return "CPU"

    def prepare(self, gray: np.ndarray) -> np.ndarray:
        """A decoded grayscale scan -> the uint8 image the model sees."""
        return self.preprocessing.to_uint8(gray)

    def to_input(self, images: np.ndarray) -> torch.Tensor:
        """uint8 (N, S, S) -> the normalised tensor on this classifier's device."""
        batch = torch.from_numpy(np.ascontiguousarray(images)).to(self.device)
        return normalize(batch, self.preprocessing).contiguous(memory_format=torch.channels_last)

    @torch.inference_mode()
    def logits(self, images: np.ndarray) -> np.ndarray:
        """Uncalibrated logits for prepared uint8 images (N, S, S), in batches."""
        chunks = [
            model_logits(
                self.model, self.to_input(images[start : start + BATCH_SIZE]), self.flip_average, self.precision
            )
            for start in range(0, len(images), BATCH_SIZE)
        ]
        if not chunks:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        return torch.cat(chunks).cpu().numpy()

    @torch.inference_mode()
    def logits_and_masks(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Uncalibrated logits and, for a network that outlines tumours, its tumour-mask probabilities
        float32 (N, S, S) over the prepared images (None for a classifier only), from one pass."""
        if not self.outlines_tumour:
            return self.logits(images), None
        logits, masks = [], []
        for start in range(0, len(images), BATCH_SIZE):
            batch = self.to_input(images[start : start + BATCH_SIZE])
            chunk_logits, chunk_masks = model_logits_and_masks(self.model, batch, self.flip_average, self.precision)
            logits.append(chunk_logits.cpu().numpy())
            masks.append(chunk_masks.cpu().numpy())
        size = self.preprocessing.img_size
        if not logits:
            return np.zeros((0, len(self.classes)), np.float32), np.zeros((0, size, size), np.float32)
        return np.concatenate(logits), np.concatenate(masks)

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """Temperature-calibrated class probabilities for prepared uint8 images (N, S, S)."""
        return softmax(self.logits(images) / self.temperature)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exponentials = np.exp(shifted)
    return exponentials / exponentials.sum(axis=1, keepdims=True)
