"""Class activation maps (pytorch-grad-cam) for a `Classifier`, safe to share between browser sessions.

pytorch-grad-cam attaches forward hooks to the network and collects activations in lists on the CAM object.
On a model shared by every session, a second session's forward pass (a plain prediction, or another CAM)
would land in the first session's lists. So the explainer works on its own copy of the network, which no
prediction ever runs through, and takes a lock per explanation; the hooks are removed when each one ends.
"""

from __future__ import annotations

import copy
import threading

import cv2
import numpy as np
from pytorch_grad_cam import EigenCAM, GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, XGradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from core.inference import Classifier
from core.models import cam_layer

METHODS = {
    "Grad-CAM": GradCAM,
    "Grad-CAM++": GradCAMPlusPlus,
    "XGrad-CAM": XGradCAM,
    "HiResCAM": HiResCAM,
    "Layer-CAM": LayerCAM,
    "Eigen-CAM": EigenCAM,
}


class Explainer:
    def __init__(self, classifier: Classifier):
        self.classifier = classifier
        self._model = copy.deepcopy(classifier.model).eval()
        for parameter in self._model.parameters():
            parameter.requires_grad_(True)
        self._layer = cam_layer(classifier.architecture, self._model)
        self._lock = threading.Lock()

    def heatmap(self, image: np.ndarray, target: int, method: str = "Grad-CAM") -> np.ndarray:
        """Float32 (S, S) map in [0, 1] over a prepared uint8 (S, S) image: evidence for class `target`."""
        if method not in METHODS:
            raise ValueError(f"unknown CAM method {method!r}; choose from {', '.join(METHODS)}")
        batch = self.classifier.to_input(image[None])
        with self._lock, METHODS[method](model=self._model, target_layers=[self._layer]) as cam:
            heat = cam(input_tensor=batch, targets=[ClassifierOutputTarget(int(target))])
        return np.nan_to_num(heat[0]).astype(np.float32)


def overlay(gray: np.ndarray, heat: np.ndarray, opacity: float = 0.45) -> np.ndarray:
    """RGB uint8 picture: the grayscale image with the heatmap (jet colours) blended in at `opacity`."""
    base = np.repeat(np.clip(gray, 0, 1)[..., None], 3, axis=2).astype(np.float32)
    colours = cv2.applyColorMap(np.uint8(255 * np.clip(heat, 0, 1)), cv2.COLORMAP_JET)
    colours = cv2.cvtColor(colours, cv2.COLOR_BGR2RGB).astype(np.float32) / 255
    # Colour fades in linearly with the heat: unremarkable tissue stays readable gray instead of a blue wash,
    # and the edge of the head crop (heat 0 outside, small inside) leaves no visible frame.
    weight = float(np.clip(opacity, 0, 1)) * np.clip(heat, 0, 1)[..., None]
    return np.uint8(255 * ((1 - weight) * base + weight * colours))
