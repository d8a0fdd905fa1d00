"""The loss of a network with a class head and a tumour-mask head: class cross-entropy, plus BCE and Dice on the
mask where the mask is known.

- A row whose mask is unknown (a tumour slice without an outline) trains its class only.
- A row with a known empty mask (a no-tumour slice, of any source) trains BCE towards "nothing here"; Dice is
  not defined for an empty target, so it counts only where the target holds a tumour.
- The mask head predicts at a quarter of the input's resolution; the target is averaged down to that grid
  (soft edges), so no upsampling is paid in every step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from monai.losses import DiceLoss
from torch import nn


@dataclass
class LossParts:
    total: torch.Tensor
    classes: float
    mask_bce: float
    mask_dice: float
    outlined_rows: int  # rows whose Dice counted


class ClassAndMaskLoss(nn.Module):
    def __init__(self, class_loss: nn.Module, mask_weight: float = 1.0):
        super().__init__()
        self.class_loss, self.mask_weight = class_loss, mask_weight
        self.dice = DiceLoss(sigmoid=True, reduction="mean")

    def forward(
        self, logits: torch.Tensor, mask_logits: torch.Tensor, labels: torch.Tensor, masks: torch.Tensor, known
    ) -> LossParts:
        """`masks`: float (N, 1, S, S) in [0, 1]; `known`: bool (N,)."""
        class_loss = self.class_loss(logits.float(), labels)
        mask_logits = mask_logits.float()
        target = F.adaptive_avg_pool2d(masks.float(), mask_logits.shape[-2:])
        zero = mask_logits.sum() * 0.0  # keeps the graph (and DDP's gradient buckets) whole when nothing is known
        bce = F.binary_cross_entropy_with_logits(mask_logits[known], target[known]) if known.any() else zero
        outlined = known & (target.flatten(1).amax(1) > 0.5)
        dice = self.dice(mask_logits[outlined], target[outlined]) if outlined.any() else zero
        total = class_loss + self.mask_weight * (bce + dice)
        return LossParts(
            total, float(class_loss.detach()), float(bce.detach()), float(dice.detach()), int(outlined.sum())
        )
