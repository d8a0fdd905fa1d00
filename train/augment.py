"""Batch augmentation on whatever device holds the batch, in three families that can be switched separately.

  geometry     one affine warp (rotation, scale, shift, mirror) plus brightness and contrast
  intensity    contrast and sequence randomisation: a random intensity curve (some not monotone, so tissue
               contrast can invert as between T1 and T2), gamma, and a smooth multiplicative bias field
  degradation  blur, noise, low resolution and JPEG compression, as in pictures taken from other viewers
  paste        tumour copy-paste: an outlined tumour pasted into a no-tumour slice (train/tumour_paste.py; it
               runs in the training loop, which holds the donors)

Why intensity and degradation: in the main dataset the tumour images come mostly from one collection of T1
contrast-enhanced slices and the normal ones from collections with other sequences, so a network can learn
"which sequence / which collection" instead of "which tumour". Randomising what differs between sequences and
collections takes that shortcut away. Kornia does the standard pieces batched on the device; the curve, the
bias field and the low resolution are a few lines by hand. Works on [0, 1] float images (N, 1, S, S) before
normalisation, with no per-image Python in the loop. Randomness comes from `generator` and torch's global
generator (kornia), both seeded per epoch by the training loop, so a seeded run repeats exactly.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import kornia.augmentation as K
import torch
import torch.nn.functional as F

FAMILIES = ("geometry", "intensity", "degradation", "paste")


@dataclass(frozen=True)
class Augmentation:
    families: tuple[str, ...] = FAMILIES
    # geometry
    rotation_degrees: float = 15.0
    scale: float = 0.10
    shift: float = 0.08  # fraction of the image size
    flip: bool = True
    brightness: float = 0.20
    contrast: float = 0.20
    # intensity: each applied to this share of the images
    curve_probability: float = 0.5
    curve_points: int = 5
    non_monotone_share: float = 0.5  # of the curves
    gamma_probability: float = 0.3
    gamma_range: tuple[float, float] = (0.5, 2.0)
    bias_probability: float = 0.3
    bias_strength: float = 0.3  # log-amplitude of the multiplicative field
    # degradation
    blur_probability: float = 0.15
    noise_probability: float = 0.15
    noise_std: float = 0.04
    low_resolution_probability: float = 0.15
    jpeg_probability: float = 0.1

    def __post_init__(self):
        unknown = set(self.families) - set(FAMILIES)
        if unknown:
            raise ValueError(f"unknown augmentation families {sorted(unknown)}; choose from {', '.join(FAMILIES)}")

    @classmethod
    def from_families(cls, text: str) -> Augmentation:
        """'geometry,intensity' -> those families only; 'none' or '' -> no augmentation."""
        names = tuple(name.strip() for name in text.split(",") if name.strip() and name.strip() != "none")
        return cls(families=names)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def __call__(
        self, images: torch.Tensor, generator: torch.Generator | None = None, masks: torch.Tensor | None = None
    ):
        """Augmented images; with `masks` (N, 1, S, S), also the masks, moved by the same geometry (only geometry
        touches a mask: the other families change how the tumour looks, not where it is)."""
        if "intensity" in self.families:
            images = self._intensity(images, generator)
        if "degradation" in self.families:
            images = self._degradation(images, generator)
        if "geometry" in self.families:
            images, masks = self._geometry(images, generator, masks)
        images = images.clamp(0, 1)
        return images if masks is None else (images, masks.clamp(0, 1))

    def _geometry(
        self, images: torch.Tensor, generator: torch.Generator | None, masks: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        n, device = images.shape[0], images.device
        uniform = _uniform_sampler(n, device, generator)
        angle = uniform(math.radians(self.rotation_degrees))
        zoom = 1 + uniform(self.scale)
        mirror = torch.ones(n, device=device)
        if self.flip:
            mirror = torch.where(torch.rand(n, generator=generator, device=device) < 0.5, -1.0, 1.0)
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        # affine_grid maps output coordinates to input coordinates in [-1, 1], hence shift × 2.
        theta = torch.stack(
            [
                torch.stack([cos * mirror, -sin, uniform(self.shift * 2)], dim=1),
                torch.stack([sin * mirror, cos, uniform(self.shift * 2)], dim=1),
            ],
            dim=1,
        )
        grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
        # One warp for picture and mask together keeps them aligned to the pixel.
        stacked = images if masks is None else torch.cat([images, masks.to(images.dtype)], dim=1)
        warped = F.grid_sample(stacked, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        warped, masks = (warped, None) if masks is None else (warped[:, :1], warped[:, 1:])
        contrast = (1 + uniform(self.contrast)).view(n, 1, 1, 1)
        brightness = (1 + uniform(self.brightness)).view(n, 1, 1, 1)
        mean = warped.mean(dim=(2, 3), keepdim=True)
        return ((warped - mean) * contrast + mean).mul(brightness).clamp(0, 1), masks

    def _intensity(self, images: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        n, device = images.shape[0], images.device
        images = _on_some(images, _chosen(n, self.curve_probability, device, generator), random_curves, self, generator)
        if self.gamma_probability > 0:
            images = K.RandomGamma(self.gamma_range, p=self.gamma_probability)(images)
        chosen = _chosen(n, self.bias_probability, device, generator)
        images = _on_some(images, chosen, bias_field, self.bias_strength, generator)
        return images.clamp(0, 1)

    def _degradation(self, images: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        n, device = images.shape[0], images.device
        if self.blur_probability > 0:
            images = K.RandomGaussianBlur((5, 5), (0.3, 1.5), p=self.blur_probability)(images)
        if self.noise_probability > 0:
            std = self.noise_std * torch.rand(1, generator=generator, device=device).item()
            images = K.RandomGaussianNoise(std=std, p=self.noise_probability)(images)
        images = _on_some(
            images, _chosen(n, self.low_resolution_probability, device, generator), low_resolution, generator
        )
        return _on_some(images, _chosen(n, self.jpeg_probability, device, generator), jpeg).clamp(0, 1)


def jpeg(images: torch.Tensor) -> torch.Tensor:
    """JPEG compression at quality 25–75 (Kornia's codec wants colour images, so grey is copied to three)."""
    return K.RandomJPEG(jpeg_quality=(25.0, 75.0), p=1.0)(images.clamp(0, 1).expand(-1, 3, -1, -1)).mean(
        1, keepdim=True
    )


def random_curves(images: torch.Tensor, policy: Augmentation, generator: torch.Generator | None) -> torch.Tensor:
    """A random piecewise-linear intensity curve per image through (0, 0): black background stays black.
    Monotone curves change contrast; the others reorder tissue brightness (grey vs white matter vs fluid)."""
    n, device, points = images.shape[0], images.device, policy.curve_points
    values = torch.rand(n, points, generator=generator, device=device)
    monotone = torch.rand(n, generator=generator, device=device) >= policy.non_monotone_share
    values = torch.where(monotone.view(n, 1), values.sort(dim=1).values, values)
    values = values / values.amax(dim=1, keepdim=True).clamp_min(1e-6)
    table = torch.cat([torch.zeros(n, 1, device=device), values], dim=1)  # (n, points + 1) at 0, 1/p, ..., 1
    position = images.clamp(0, 1) * points
    low = position.floor().long().clamp(max=points - 1)
    weight = position - low
    flat_low = low.view(n, -1)
    lower = table.gather(1, flat_low).view_as(images)
    upper = table.gather(1, flat_low + 1).view_as(images)
    return lower + (upper - lower) * weight


def bias_field(images: torch.Tensor, strength: float, generator: torch.Generator | None) -> torch.Tensor:
    """A smooth multiplicative field (coil inhomogeneity): a 4×4 random grid, upsampled bicubically."""
    n, _, height, width = images.shape
    coarse = (torch.rand(n, 1, 4, 4, generator=generator, device=images.device) * 2 - 1) * strength
    field = F.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=True)
    return images * field.exp()


def low_resolution(images: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Down to 35–70 % of the size and back up: the look of a small picture enlarged."""
    _, _, height, width = images.shape
    factor = 0.35 + 0.35 * torch.rand(1, generator=generator, device=images.device).item()
    small = F.interpolate(images, size=(max(8, round(height * factor)), max(8, round(width * factor))), mode="area")
    return F.interpolate(small, size=(height, width), mode="bilinear", align_corners=False)


def _uniform_sampler(n: int, device: torch.device, generator: torch.Generator | None):
    def uniform(limit: float) -> torch.Tensor:
        return (torch.rand(n, generator=generator, device=device) * 2 - 1) * limit

    return uniform


def _on_some(images: torch.Tensor, chosen: torch.Tensor, transform, *arguments) -> torch.Tensor:
    """`transform` applied to the chosen images only, so a rare step costs only what it touches."""
    if not chosen.any():
        return images
    images = images.clone()
    images[chosen] = transform(images[chosen], *arguments)
    return images


def _chosen(n: int, probability: float, device: torch.device, generator: torch.Generator | None) -> torch.Tensor:
    return torch.rand(n, generator=generator, device=device) < probability
