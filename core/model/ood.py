"""Is this a brain MRI slice at all? The out-of-distribution gate.

A classifier trained on four kinds of brain MRI answers one of the four for anything, a photograph of a cat
included, often with high confidence. The gate asks a different question first: does the picture look like
the training scans? Its answer does not depend on the class.

Signature of a picture (both halves cheap):
  * image statistics of the decoded picture before preprocessing: how dark its border and background are,
    how much of it the head's bounding box fills, contrast inside it, edge density, saturated pixels,
    aspect ratio. MRI slices share these; photographs, documents and screenshots do not.
  * the mean and spread of every channel of the network's early stages on the prepared picture: texture
    and contrast as the model sees them.
Model: standardise, project on the main principal axes, fit a Gaussian mixture on the training images; the
score is the negative log-likelihood. The threshold is a high percentile of the *validation* images' scores
(images the mixture never saw), so the false-rejection rate is set on held-out MRI, not guessed.

Second stage, where the run was given pictures that are not brain MRI to learn from (train/safety.py: other
body parts and modalities, drawn): a logistic regression on the same standardised signature, MRI against
those pictures. A density fitted on brain MRI alone let an abdominal CT through 6 times in 10, since a round
body on black with bright bone shares the brain slice's layout; a direction that separates the two catches
it. Its threshold too is a percentile of the validation MRI's values, so what it costs real scans is set on
held-out MRI. A picture is refused when either stage says so.

Why this design (measured on the shared dataset with the CPU-trained default model, see the README): the
last layer's features (Mahalanobis distance) put photographs closer to the MRI than half of the validation
MRI are, rejecting 6-20 % of non-MRI pictures; one Gaussian over this signature rejected ~95 % at ~1 %
false rejections; a mixture of 8 rejected 98-99 % at 0.15-0.31 % false rejections of the test MRI.

The fitted arrays live in `ood.safetensors` beside the weights (no pickle); metadata.json records its sha256
and the threshold, and loading refuses a file that does not match.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from safetensors.numpy import load_file, save_file

from core.model.checkpoint import CheckpointError, sha256_of_file
from core.model.models import early_stages
from core.model.preprocessing import head_bounding_box
from core.run.run_folder import GATE_FILE

IMAGE_STATISTICS = (
    "border mean",
    "border 90th percentile",
    "dark fraction",
    "head box fraction",
    "head mean",
    "head contrast",
    "mean gradient",
    "edge fraction",
    "saturated fraction",
    "aspect ratio",
)


def image_statistics(gray: np.ndarray) -> np.ndarray:
    """The decoded picture's layout and contrast, as float32 (len(IMAGE_STATISTICS),)."""
    gray = np.nan_to_num(np.asarray(gray, dtype=np.float32))
    height, width = gray.shape
    # Relative to the picture's own bright level: windowing and bit depth differ between scanners.
    bright = float(np.percentile(gray, 99)) or 1.0
    relative = np.clip(gray / bright, 0, 1)
    band = max(1, int(0.04 * min(height, width)))
    border = np.concatenate(
        [relative[:band].ravel(), relative[-band:].ravel(), relative[:, :band].ravel(), relative[:, -band:].ravel()]
    )
    top, bottom, left, right = head_bounding_box(gray)
    head = relative[top:bottom, left:right]
    small = cv2.resize(relative, (128, 128), interpolation=cv2.INTER_AREA)
    gradient = np.hypot(*np.gradient(small))
    return np.array(
        [
            border.mean(),
            np.percentile(border, 90),
            (relative < 0.06).mean(),
            (bottom - top) * (right - left) / (height * width),
            head.mean(),
            head.std(),
            gradient.mean(),
            (gradient > 0.1).mean(),
            (relative > 0.95).mean(),
            min(height, width) / max(height, width),
        ],
        dtype=np.float32,
    )


@torch.inference_mode()
def stage_statistics(classifier, images: np.ndarray, batch_size: int = 128) -> np.ndarray:
    """Per-channel mean and standard deviation of each early stage, for prepared uint8 images (N, S, S)."""
    stages = early_stages(classifier.architecture, classifier.model)
    rows = []
    for start in range(0, len(images), batch_size):
        activations = classifier.to_input(images[start : start + batch_size])
        summaries = []
        for stage in stages:
            activations = stage(activations)
            summaries += [activations.float().mean((2, 3)), activations.float().std((2, 3))]
        rows.append(torch.cat(summaries, 1).cpu().numpy())
    return np.concatenate(rows) if rows else np.zeros((0, 0), np.float32)


def signatures(classifier, grays: list[np.ndarray], images: np.ndarray) -> np.ndarray:
    """The gate's input for decoded pictures and their prepared images: float64 (N, D)."""
    statistics = np.stack([image_statistics(gray) for gray in grays])
    return np.nan_to_num(np.concatenate([statistics, stage_statistics(classifier, images)], 1).astype(np.float64))


@dataclass(frozen=True)
class OodGate:
    center: np.ndarray  # (D,) training mean of the signature
    scale: np.ndarray  # (D,) training standard deviation
    axes: np.ndarray  # (K, D) principal axes of the standardised training signatures
    weights: np.ndarray  # (M,) mixture weights
    means: np.ndarray  # (M, K)
    covariances: np.ndarray  # (M, K, K)
    threshold: float  # scores above it are "not a brain MRI"
    # The second stage (None for a gate fitted without non-MRI pictures, as gates before it were):
    direction: np.ndarray | None = None  # (D,) logistic-regression weights on the standardised signature
    offset: float = 0.0  # its intercept
    direction_threshold: float = np.inf  # values above it are "not a brain MRI"

    def scores(self, signature: np.ndarray) -> np.ndarray:
        """Negative log-likelihood under the training mixture: higher is less like the training scans."""
        projected = ((np.atleast_2d(signature) - self.center) / self.scale) @ self.axes.T
        log_densities = np.stack(
            [
                np.log(weight) + _gaussian_log_density(projected, mean, covariance)
                for weight, mean, covariance in zip(self.weights, self.means, self.covariances, strict=True)
            ],
            axis=1,
        )
        return -np.logaddexp.reduce(log_densities, axis=1)

    def unlikeness(self, signature: np.ndarray) -> np.ndarray:
        """The second stage's value (log-odds of "not a brain MRI"); -inf everywhere without one."""
        signature = np.atleast_2d(signature)
        if self.direction is None:
            return np.full(len(signature), -np.inf)
        return ((signature - self.center) / self.scale) @ self.direction + self.offset

    def rejects(self, signature: np.ndarray) -> np.ndarray:
        return (self.scores(signature) > self.threshold) | (self.unlikeness(signature) > self.direction_threshold)

    def save(self, directory: str | Path) -> str:
        """Write the arrays; returns the file's sha256 for the metadata."""
        path = Path(directory) / GATE_FILE
        arrays = {name: np.ascontiguousarray(getattr(self, name)) for name in _ARRAYS}
        if self.direction is not None:
            arrays["direction"] = np.ascontiguousarray(self.direction)
            arrays["direction_offset_threshold"] = np.array([self.offset, self.direction_threshold])
        save_file({**arrays, "threshold": np.array([self.threshold])}, str(path))
        return sha256_of_file(path)

    @classmethod
    def load(cls, directory: str | Path, expected_sha256: str) -> OodGate:
        path = Path(directory) / GATE_FILE
        if not path.is_file():
            raise CheckpointError(f"{path} is missing; the metadata says this model has an out-of-distribution gate")
        actual = sha256_of_file(path)
        if actual != expected_sha256:
            raise CheckpointError(
                f"{path} does not match the sha256 recorded in metadata.json "
                f"(expected {expected_sha256}, found {actual}); the file is damaged or was replaced"
            )
        arrays = load_file(str(path))
        second = {}
        if "direction" in arrays:
            offset, direction_threshold = (float(v) for v in arrays["direction_offset_threshold"])
            second = {"direction": arrays["direction"], "offset": offset, "direction_threshold": direction_threshold}
        return cls(**{name: arrays[name] for name in _ARRAYS}, threshold=float(arrays["threshold"][0]), **second)


_ARRAYS = ("center", "scale", "axes", "weights", "means", "covariances")


def _gaussian_log_density(points: np.ndarray, mean: np.ndarray, covariance: np.ndarray) -> np.ndarray:
    """log N(points; mean, covariance) per row, through the Cholesky factor; the same values as
    scipy.stats.multivariate_normal.logpdf (tests/test_safety.py checks it). Written out because importing
    scipy.stats takes 0.7 s, and PyTorch's MultivariateNormal imports sympy (1 s) on first use: a fresh
    server's first verdict waits for every import on its path. The fitted covariances are regularised
    (reg_covar), so the factor exists."""
    factor = np.linalg.cholesky(covariance)
    whitened = np.linalg.solve(factor, (points - mean).T)  # (K, N)
    log_determinant = 2 * np.log(np.diag(factor)).sum()
    return -0.5 * ((whitened**2).sum(0) + log_determinant + len(mean) * np.log(2 * np.pi))


@dataclass(frozen=True)
class GateSettings:
    percentile: float = 99.5  # of validation MRI scores, for the mixture
    # The second stage adds at most about 1 in 1,000 validation scans to the mixture's 1 in 200: the drawings lie
    # far out on its axis (all 60 measured ones refused at this setting), and real scans must not pay for them.
    direction_percentile: float = 99.9  # of validation MRI values, for the second stage
    max_axes: int = 64
    max_components: int = 8


def fit_gate(
    train: np.ndarray,
    validation: np.ndarray,
    not_mri: np.ndarray | None = None,
    settings: GateSettings = GateSettings(),
) -> OodGate:
    """Fit the mixture on training signatures, and the second stage on training signatures against `not_mri`
    (pictures that are not brain MRI) when there are some; each threshold is a percentile of validation."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.mixture import GaussianMixture

    max_axes, max_components = settings.max_axes, settings.max_components

    center = train.mean(0)
    scale = train.std(0)
    scale[scale < 1e-9] = 1.0  # a statistic constant in training carries no information; do not divide by 0
    standardised = (train - center) / scale
    axes = PCA(min(max_axes, len(train) - 1, train.shape[1]), random_state=0).fit(standardised).components_
    # Enough images per component for a full covariance: 8 on the real dataset, 1 on a tiny test set.
    components = int(np.clip(len(train) // 100, 1, max_components))
    mixture = GaussianMixture(components, covariance_type="full", reg_covar=1e-3, random_state=0)
    mixture.fit(standardised @ axes.T)
    gate = OodGate(center, scale, axes, mixture.weights_, mixture.means_, mixture.covariances_, threshold=np.inf)
    held_out = validation if len(validation) else train
    gate = dataclasses.replace(gate, threshold=float(np.percentile(gate.scores(held_out), settings.percentile)))
    if not_mri is None or not len(not_mri):
        return gate
    examples = np.concatenate([standardised, (not_mri - center) / scale])
    labels = np.r_[np.zeros(len(train)), np.ones(len(not_mri))]
    # Balanced: a few hundred drawings against thousands of scans must still shape the direction.
    separator = LogisticRegression(C=0.1, class_weight="balanced", max_iter=5000).fit(examples, labels)
    gate = dataclasses.replace(gate, direction=separator.coef_[0], offset=float(separator.intercept_[0]))
    limit = float(np.percentile(gate.unlikeness(held_out), settings.direction_percentile))
    return dataclasses.replace(gate, direction_threshold=limit)
