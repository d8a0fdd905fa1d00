"""Tumour copy-paste: an outlined tumour, with its mask, pasted into a no-tumour slice of another collection.

Why: in the main dataset every outlined tumour comes from one collection of contrast-enhanced T1 slices, and
the no-tumour slices from others, so "which collection does the background look like" predicts the class. A
tumour on another collection's background takes that shortcut away (TumorCP and CarveMix do this for
segmentation). The pasted picture then goes through the other augmentation families like any other, so the
intensity curves also change how the pasted tumour looks.

How: on a share of the batch's no-tumour rows with a known (empty) mask, the tumour of a random donor row is
blended in through its soft mask, its brightness scaled so that the donor's head brightness matches the
recipient's. The row takes the donor's class and mask. Both pictures are already cropped to the head and
squared by the preprocessing, so the tumour lands where it sat in its own head. Works on [0, 1] float batches
(N, 1, S, S) on any device; randomness comes from `generator` only, so a seeded epoch repeats exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

HEAD_THRESHOLD = 0.05  # pixels brighter than this count as head when matching brightness


@dataclass(frozen=True)
class PasteBatch:
    images: torch.Tensor  # float (N, 1, S, S) in [0, 1]
    labels: torch.Tensor  # int64 (N,)
    masks: torch.Tensor  # float (N, 1, S, S) in [0, 1]
    mask_known: torch.Tensor  # bool (N,)


@dataclass(frozen=True)
class Donors:
    """Outlined tumours to paste: pictures, masks and classes, drawn from the whole training set."""

    images: torch.Tensor  # float (D, 1, S, S)
    masks: torch.Tensor  # float (D, 1, S, S)
    labels: torch.Tensor  # int64 (D,)

    def __len__(self) -> int:
        return len(self.labels)


def paste_tumours(
    batch: PasteBatch, donors: Donors, recipient_class: int, share: float, generator: torch.Generator
) -> PasteBatch:
    """`batch` with a tumour pasted into about `share` of its rows of class `recipient_class` whose mask is
    known (an empty mask): those rows take the donor's picture inside the tumour, its class and its mask."""
    n, device = len(batch.labels), batch.images.device
    draw = torch.rand(n, generator=generator, device=device)
    chosen = (batch.labels == recipient_class) & batch.mask_known & (draw < share)
    if not chosen.any() or len(donors) == 0:
        return batch
    rows = chosen.nonzero().flatten()
    picks = torch.randint(len(donors), (len(rows),), generator=generator, device=device)
    tumour, alpha = donors.images[picks], donors.masks[picks]
    background = batch.images[rows]
    scale = _head_brightness(background) / _head_brightness(tumour).clamp_min(1e-3)
    pasted = background * (1 - alpha) + (tumour * scale.view(-1, 1, 1, 1)).clamp(0, 1) * alpha
    images, labels, masks = batch.images.clone(), batch.labels.clone(), batch.masks.clone()
    images[rows], labels[rows], masks[rows] = pasted, donors.labels[picks], alpha
    return PasteBatch(images, labels, masks, batch.mask_known)


def _head_brightness(images: torch.Tensor) -> torch.Tensor:
    """Mean brightness of each picture's head pixels, (N,)."""
    head = (images > HEAD_THRESHOLD).float()
    return (images * head).sum((1, 2, 3)) / head.sum((1, 2, 3)).clamp_min(1.0)
