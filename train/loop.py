"""One epoch of training and one pass of evaluation over images that already sit on the device.

The whole decoded dataset is a single uint8 tensor on the training device; a batch is an index into it,
augmented on the device. Nothing is decoded or copied per epoch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm import tqdm

from core.model.inference import model_logits
from core.model.precision import FLOAT32, autocast_for
from core.model.preprocessing import Preprocessing, standardize, to_unit_range
from train.augment import Augmentation
from train.distributed import World


@dataclass
class Batches:
    """The training batches of one process for one epoch: shuffled, augmented and normalised on the device.

    Seeds derive from (seed, epoch), so a resumed run draws exactly what the uninterrupted one would. The
    shuffle is shared by all processes; augmentation and dropout differ per process. A ragged last batch
    is dropped."""

    images: torch.Tensor  # uint8 (N, S, S) on the device: every image of the dataset
    labels: torch.Tensor  # int64 (N,) on the device
    train_positions: torch.Tensor  # int64, CPU: which of them train
    batch_size: int  # per process
    preprocessing: Preprocessing
    augmentation: Augmentation
    world: World
    seed: int
    epoch: int = 0

    @property
    def steps_per_epoch(self) -> int:
        return max(1, len(self.train_positions) // self.world.size // self.batch_size)

    def for_epoch(self, epoch: int) -> Batches:
        return dataclasses.replace(self, epoch=epoch)

    def __len__(self) -> int:
        return self.steps_per_epoch

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        device = self.images.device
        shuffle = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        process_seed = self.seed * 100_003 + self.epoch * 1_009 + self.world.rank
        torch.manual_seed(process_seed)
        augment = torch.Generator(device=device).manual_seed(process_seed)
        order = self.train_positions[torch.randperm(len(self.train_positions), generator=shuffle)]
        share = order[self.world.rank :: self.world.size][: self.steps_per_epoch * self.batch_size].to(device)
        for start in range(0, len(share) - self.batch_size + 1, self.batch_size):
            index = share[start : start + self.batch_size]
            batch = self.augmentation(to_unit_range(self.images[index]), augment)
            yield (
                standardize(batch, self.preprocessing).contiguous(memory_format=torch.channels_last),
                self.labels[index],
            )


@dataclass
class Progress:
    """Where a run stands; saved with the resumable state after every epoch."""

    epoch: int = 0
    best_epoch: int = 0
    best_score: list | None = None
    stale_epochs: int = 0
    history: list[dict] = field(default_factory=list)
    train_seconds: float = 0.0

    def record(self, row: dict, score: tuple) -> bool:
        """Add an epoch's row; True when its validation score is the best so far."""
        self.history.append(row)
        self.epoch = row["epoch"]
        self.train_seconds += row["epoch_seconds"]
        improved = self.best_score is None or tuple(score) > tuple(self.best_score)
        if improved:
            self.best_score, self.best_epoch, self.stale_epochs = list(score), self.epoch, 0
        else:
            self.stale_epochs += 1
        return improved

    def should_stop(self, patience: int) -> bool:
        return patience > 0 and self.stale_epochs >= patience

    @property
    def best_row(self) -> dict:
        return self.history[self.best_epoch - 1]


def train_one_epoch(
    model: nn.Module,
    criterion: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    batches: Batches,
    precision: str = FLOAT32,
) -> tuple[float, int, int]:
    """Train on one epoch of `batches`. Returns (summed loss, correct, seen)."""
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    for batch, target in tqdm(batches, desc="train", unit="batch", leave=False, disable=None):
        with autocast_for(batch.device, precision):
            logits = model(batch)
        loss = criterion(logits.float(), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        total_loss += loss.detach().item() * len(target)
        correct += (logits.detach().argmax(dim=1) == target).sum().item()
        seen += len(target)
    return total_loss, correct, seen


@torch.inference_mode()
def evaluate_logits(
    model: nn.Module,
    images: torch.Tensor,
    index: torch.Tensor,
    preprocessing: Preprocessing,
    batch_size: int,
    flip_average: bool = True,
    precision: str = FLOAT32,
) -> torch.Tensor:
    """Float32 logits (CPU) for `images[index]`, computed as the app computes them."""
    model.eval()
    chunks = []
    for start in range(0, len(index), batch_size):
        batch = standardize(to_unit_range(images[index[start : start + batch_size]]), preprocessing)
        batch = batch.contiguous(memory_format=torch.channels_last)
        chunks.append(model_logits(model, batch, flip_average, precision).cpu())
    if not chunks:
        return torch.zeros(0, 0)
    return torch.cat(chunks)
