"""Batch augmentation on whatever device holds the batch: one affine warp plus brightness and contrast.

Works on [0, 1] float images (N, 1, S, S) before normalisation, so no per-image Python runs in the loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Augmentation:
    rotation_degrees: float = 15.0
    scale: float = 0.10
    shift: float = 0.08  # fraction of the image size
    flip: bool = True
    brightness: float = 0.20
    contrast: float = 0.20

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        n, device = images.shape[0], images.device

        def uniform(limit: float) -> torch.Tensor:
            return (torch.rand(n, generator=generator, device=device) * 2 - 1) * limit

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
        warped = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        contrast = (1 + uniform(self.contrast)).view(n, 1, 1, 1)
        brightness = (1 + uniform(self.brightness)).view(n, 1, 1, 1)
        mean = warped.mean(dim=(2, 3), keepdim=True)
        return ((warped - mean) * contrast + mean).mul(brightness).clamp(0, 1)
