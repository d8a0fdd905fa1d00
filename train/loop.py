"""One epoch of training and one pass of evaluation over images that already sit on the device.

The whole decoded dataset is a single uint8 tensor on the training device; a batch is an index into it,
augmented on the device. Nothing is decoded or copied per epoch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from core.inference import autocast_for, model_logits
from core.preprocessing import Preprocessing, standardize, to_unit_range
from train.augment import Augmentation
from train.distributed import World


def train_one_epoch(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    order: torch.Tensor,
    batch_size: int,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    preprocessing: Preprocessing,
    augmentation: Augmentation,
    class_weights: torch.Tensor,
    label_smoothing: float,
    generator: torch.Generator,
    world: World,
) -> tuple[float, int, int]:
    """Train on `order` (this process's share of a shuffled index). Returns (summed loss, correct, seen)."""
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    batches = range(0, len(order) - batch_size + 1, batch_size)  # a ragged last batch is dropped
    for start in tqdm(batches, desc="train", unit="batch", leave=False, disable=None):
        index = order[start : start + batch_size]
        batch = augmentation(to_unit_range(images[index]), generator)
        batch = standardize(batch, preprocessing).contiguous(memory_format=torch.channels_last)
        target = labels[index]
        with autocast_for(batch.device):
            logits = model(batch)
        loss = F.cross_entropy(logits.float(), target, weight=class_weights, label_smoothing=label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        total_loss += loss.detach().item() * len(index)
        correct += (logits.detach().argmax(dim=1) == target).sum().item()
        seen += len(index)
    return total_loss, correct, seen


@torch.inference_mode()
def evaluate_logits(
    model: nn.Module,
    images: torch.Tensor,
    index: torch.Tensor,
    preprocessing: Preprocessing,
    batch_size: int,
    flip_average: bool = True,
    progress: bool = False,
) -> torch.Tensor:
    """Float32 logits (CPU) for `images[index]`, computed as the app computes them."""
    model.eval()
    chunks = []
    for start in tqdm(range(0, len(index), batch_size), desc="evaluate", leave=False, disable=not progress or None):
        batch = standardize(to_unit_range(images[index[start : start + batch_size]]), preprocessing)
        chunks.append(model_logits(model, batch.contiguous(memory_format=torch.channels_last), flip_average).cpu())
    if not chunks:
        return torch.zeros(0, 0)
    return torch.cat(chunks)
