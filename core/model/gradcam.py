"""Class activation maps (pytorch-grad-cam) for a `Classifier`, safe to share between browser sessions.

pytorch-grad-cam attaches forward hooks to a layer of the network and collects activations in lists on the
CAM object. On a network shared by every session, a second session's forward pass (a plain prediction, or
another CAM) would land in the first session's lists. So the explainer keeps its own copies of the network,
which no prediction ever runs through, and lends each explanation one copy at a time; the hooks are removed
when the explanation ends, before the copy goes back. One copy serialises explanations like a lock; more
copies let them run side by side (ui/resources.py says how many the app keeps, and why).
"""

from __future__ import annotations

import copy
import importlib
import queue
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import cv2
import numpy as np
from torch import nn

from core.model.inference import Classifier
from core.model.models import cam_layer
from core.model.preprocessing import Preprocessing, head_mask

# The network's last feature map is a few cells a side (4 x 4 for a 128-px input at stride 32), which
# pytorch-grad-cam enlarges bilinearly: ridges along the cell edges, a blocky look. A Gaussian of a sixteenth
# of the input side (half a cell at stride 32, for every architecture here) smooths them before the map is
# enlarged to the picture.
SMOOTHING = 1 / 16

# The first is the app's default. Measured on the shipped model's 787 held-out slices with a tumour outline
# (weights/default/localisation.json), no method's peak lands on the tumour more often than the head's centre
# does (map of the true class: Grad-CAM 2.9 % against 26.4 %; HiResCAM the same, Grad-CAM++ 4.2 %, Layer-CAM
# 3.8 %); the model's own outline does (94.0 %) and is what the page shows first. Two methods are no longer
# offered because their maps fail tests/test_gradcam.py's sanity check (Adebayo et al., 2018): they keep their
# rank order when the network's weights are replaced by random ones, so they show the picture's structure, not
# the model's evidence. XGrad-CAM (rank correlation -0.70 on the 2026-12-03 model) and Eigen-CAM (0.54 on the
# 2026-12-07 model; it also drew one map whatever the class, so it could never be "evidence for" one).
# Each is pytorch-grad-cam's class of that name, imported on first use: the package pulls in matplotlib and
# scipy (2.5 s on 2 cores), which the first verdict of a fresh server must not wait for.
METHODS = {
    "Grad-CAM": "GradCAM",
    "Grad-CAM++": "GradCAMPlusPlus",
    "HiResCAM": "HiResCAM",
    "Layer-CAM": "LayerCAM",
}


@dataclass(frozen=True)
class _NetworkCopy:
    model: nn.Module
    layer: nn.Module  # the layer explained, inside `model`


class Explainer:
    def __init__(self, classifier: Classifier, copies: int = 1):
        if copies < 1:
            raise ValueError(f"an explainer needs at least one copy of the network, got {copies}")
        self.classifier = classifier
        self._copies = [self._copy(classifier) for _ in range(copies)]
        self._idle: queue.SimpleQueue[_NetworkCopy] = queue.SimpleQueue()
        for network in self._copies:
            self._idle.put(network)

    @staticmethod
    def _copy(classifier: Classifier) -> _NetworkCopy:
        # Frozen parameters: the gradient reaches the explained layer through the input instead (see
        # heatmap), so no copy ever holds a .grad computed from a user's scan, and backward skips the weight
        # gradients (about a quarter faster on the CPU, the same maps bit for bit).
        model = copy.deepcopy(classifier.model).eval().requires_grad_(False)
        return _NetworkCopy(model, cam_layer(classifier.architecture, model))

    @contextmanager
    def _borrowed(self) -> Iterator[_NetworkCopy]:
        """A copy of the network no other explanation is using; waits while all of them are busy."""
        network = self._idle.get()
        try:
            yield network
        finally:
            self._idle.put(network)

    def heatmap(self, image: np.ndarray, target: int, method: str = "Grad-CAM") -> np.ndarray:
        """Float32 (S, S) map in [0, 1] over a prepared uint8 (S, S) image: evidence for class `target`."""
        if method not in METHODS:
            raise ValueError(f"unknown CAM method {method!r}; choose from {', '.join(METHODS)}")
        cam_class = getattr(importlib.import_module("pytorch_grad_cam"), METHODS[method])
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

        batch = self.classifier.to_input(image[None]).requires_grad_(True)
        with self._borrowed() as network, cam_class(model=network.model, target_layers=[network.layer]) as cam:
            heat = cam(input_tensor=batch, targets=[ClassifierOutputTarget(int(target))])
        return np.nan_to_num(heat[0]).astype(np.float32)

    def explain(self, gray: np.ndarray, target: int, method: str = "Grad-CAM") -> np.ndarray:
        """The map the user sees for a decoded picture `gray`: float32, `gray`'s shape (see `on_picture`)."""
        heat = self.heatmap(self.classifier.prepare(gray), target, method)
        return on_picture(heat, gray, self.classifier.preprocessing)


def on_picture(heat: np.ndarray, gray: np.ndarray, preprocessing: Preprocessing) -> np.ndarray:
    """A map over the model's input, as shown on the picture `gray` it came from: smoothed, at the picture's
    resolution, zero outside the head (not merely outside the crop's rectangle), and scaled to a peak of 1,
    so the colours compare regions of this picture and say nothing across pictures."""
    smooth = cv2.GaussianBlur(heat.astype(np.float32), (0, 0), sigmaX=SMOOTHING * heat.shape[0])
    placed = preprocessing.project_to_original(smooth, gray)
    placed[~head_mask(gray)] = 0.0
    peak = float(placed.max())
    return placed / peak if peak > 0 else placed


def overlay(gray: np.ndarray, heat: np.ndarray, opacity: float = 0.45) -> np.ndarray:
    """RGB uint8 picture: the grayscale image with the heatmap (jet colours) blended in at `opacity`."""
    base = np.repeat(np.clip(gray, 0, 1)[..., None], 3, axis=2).astype(np.float32)
    colours = cv2.applyColorMap(np.uint8(255 * np.clip(heat, 0, 1)), cv2.COLORMAP_JET)
    colours = cv2.cvtColor(colours, cv2.COLOR_BGR2RGB).astype(np.float32) / 255
    # Colour fades in linearly with the heat: unremarkable tissue stays readable gray instead of a blue wash,
    # and the edge of the head crop (heat 0 outside, small inside) leaves no visible frame.
    weight = float(np.clip(opacity, 0, 1)) * np.clip(heat, 0, 1)[..., None]
    return np.uint8(255 * ((1 - weight) * base + weight * colours))


def colour_scale(opacity: float, width: int = 256, height: int = 12) -> np.ndarray:
    """RGB uint8 strip, no heat on the left to the map's peak on the right, blended exactly as `overlay`
    blends a map over mid-gray tissue at this opacity: the key to the colours the overlay shows."""
    heat = np.tile(np.linspace(0.0, 1.0, width, dtype=np.float32), (height, 1))
    return overlay(np.full((height, width), 0.5, np.float32), heat, opacity)


def with_colour_key(picture: np.ndarray, opacity: float) -> np.ndarray:
    """An RGB overlay with its colour key (`colour_scale`) as a strip along the bottom, after a black gap, so
    the key travels with the picture into downloads and printed reports."""
    width = picture.shape[1]
    height = max(6, round(0.04 * picture.shape[0]))
    gap = np.zeros((max(2, height // 2), width, 3), np.uint8)
    return np.vstack([picture, gap, colour_scale(opacity, width=width, height=height), _key_labels(width)])


KEY_LABELS = ("little effect", "strongest in this image")


def _key_labels(width: int) -> np.ndarray:
    """A black band naming the key's two ends, so a printed or downloaded map says what its colours mean."""
    import cv2

    scale = max(0.3, width / 900)
    thickness = max(1, round(scale * 1.5))
    (_, text_height), baseline = cv2.getTextSize(KEY_LABELS[0], cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    band = np.zeros((text_height + baseline + 6, width, 3), np.uint8)
    y = text_height + 3
    cv2.putText(band, KEY_LABELS[0], (2, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    right_width = cv2.getTextSize(KEY_LABELS[1], cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)[0][0]
    x = max(2, width - right_width - 2)
    cv2.putText(band, KEY_LABELS[1], (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return band
