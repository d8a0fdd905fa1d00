"""One epoch of training and one pass of evaluation over images that already sit on the device.

The whole decoded dataset is a single uint8 tensor on the training device; a batch is an index into it,
augmented on the device. Nothing is decoded or copied per epoch. With tumour masks, each batch carries its
masks (moved with the pictures) and a tumour may be pasted into some no-tumour rows (train/tumour_paste.py).
Each epoch reports where its time went: drawing batches, forward, backward and the optimiser.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import nn
from tqdm import tqdm

from core.model.inference import model_logits
from core.model.models import outlines_tumour
from core.model.precision import FLOAT32, autocast_for
from core.model.preprocessing import Preprocessing, standardize, to_unit_range
from train.augment import Augmentation
from train.distributed import World
from train.mask_loss import ClassAndMaskLoss
from train.tumour_paste import Donors, PasteBatch, paste_tumours

PASTE_SHARE = 0.3  # of the no-tumour rows with a known mask, when the "paste" family is on


class TrainingBatch(NamedTuple):
    images: torch.Tensor  # float (B, 1, S, S), standardised, channels_last
    labels: torch.Tensor  # int64 (B,)
    masks: torch.Tensor | None = None  # float (B, 1, S, S) in [0, 1]
    mask_known: torch.Tensor | None = None  # bool (B,)


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
    masks: torch.Tensor | None = None  # uint8 (N, S, S) on the device, 255 = tumour
    mask_known: torch.Tensor | None = None  # bool (N,) on the device
    no_tumour_class: int | None = None  # the class a pasted tumour goes into

    @property
    def steps_per_epoch(self) -> int:
        return max(1, len(self.train_positions) // self.world.size // self.batch_size)

    def for_epoch(self, epoch: int) -> Batches:
        return dataclasses.replace(self, epoch=epoch)

    def __len__(self) -> int:
        return self.steps_per_epoch

    def donors(self) -> Donors | None:
        """The training rows with an outlined tumour, to paste from (None unless the "paste" family is on)."""
        if self.masks is None or "paste" not in self.augmentation.families or self.no_tumour_class is None:
            return None
        positions = self.train_positions.to(self.images.device)
        outlined = positions[self.mask_known[positions] & (self.masks[positions].flatten(1).amax(1) > 127)]
        return Donors(to_unit_range(self.images[outlined]), to_unit_range(self.masks[outlined]), self.labels[outlined])

    def __iter__(self) -> Iterator[TrainingBatch]:
        device = self.images.device
        shuffle = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        process_seed = self.seed * 100_003 + self.epoch * 1_009 + self.world.rank
        torch.manual_seed(process_seed)
        augment = torch.Generator(device=device).manual_seed(process_seed)
        order = self.train_positions[torch.randperm(len(self.train_positions), generator=shuffle)]
        share = order[self.world.rank :: self.world.size][: self.steps_per_epoch * self.batch_size].to(device)
        donors = self.donors()
        for start in range(0, len(share) - self.batch_size + 1, self.batch_size):
            index = share[start : start + self.batch_size]
            if self.masks is None:
                batch = self.augmentation(to_unit_range(self.images[index]), augment)
                yield TrainingBatch(self._for_network(batch), self.labels[index])
                continue
            drawn = PasteBatch(
                to_unit_range(self.images[index]),
                self.labels[index],
                to_unit_range(self.masks[index]),
                self.mask_known[index],
            )
            if donors is not None:
                drawn = paste_tumours(drawn, donors, self.no_tumour_class, PASTE_SHARE, augment)
            images, masks = self.augmentation(drawn.images, augment, drawn.masks)
            yield TrainingBatch(self._for_network(images), drawn.labels, masks, drawn.mask_known)

    def _for_network(self, images: torch.Tensor) -> torch.Tensor:
        return standardize(images, self.preprocessing).contiguous(memory_format=torch.channels_last)


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


STEP_PARTS = ("batch", "forward", "backward", "optimizer")


@dataclass
class EpochTotals:
    loss_sum: float = 0.0
    correct: int = 0
    seen: int = 0
    mask_dice_sum: float = 0.0  # summed per step, over steps with an outlined tumour
    mask_steps: int = 0
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STEP_PARTS, 0.0))

    @property
    def counts(self) -> list[float]:
        return [self.loss_sum, self.correct, self.seen]

    @property
    def mask_dice_loss(self) -> float | None:
        return self.mask_dice_sum / self.mask_steps if self.mask_steps else None


def train_one_epoch(
    model: nn.Module,
    criterion: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    batches: Batches,
    precision: str = FLOAT32,
    mask_loss: ClassAndMaskLoss | None = None,
) -> EpochTotals:
    """Train on one epoch of `batches`: loss, accuracy counts and seconds per step part. With `mask_loss`
    and batches that carry masks, the mask head trains beside the class head (`model` may be wrapped in DDP).

    The seconds are wall-clock; on a GPU, whose kernels run asynchronously, they say little per part."""
    model.train()
    segmenting = mask_loss is not None and outlines_tumour(getattr(model, "module", model))
    totals = EpochTotals()
    seconds = totals.seconds
    clock = time.perf_counter()
    for batch in tqdm(batches, desc="train", unit="batch", leave=False, disable=None):
        clock = _lap(seconds, "batch", clock)
        with autocast_for(batch.images.device, precision):
            if segmenting and batch.masks is not None:
                # Through the module's own call: DDP synchronises gradients only there.
                logits, mask_logits = model(batch.images, with_mask=True)
                parts = mask_loss(logits, mask_logits, batch.labels, batch.masks, batch.mask_known)
                loss = parts.total
                if parts.outlined_rows:
                    totals.mask_dice_sum += parts.mask_dice
                    totals.mask_steps += 1
            else:
                logits = model(batch.images)
                loss = criterion(logits.float(), batch.labels)
        clock = _lap(seconds, "forward", clock)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clock = _lap(seconds, "backward", clock)
        optimizer.step()
        scheduler.step()
        totals.loss_sum += loss.detach().item() * len(batch.labels)
        totals.correct += (logits.detach().argmax(dim=1) == batch.labels).sum().item()
        totals.seen += len(batch.labels)
        clock = _lap(seconds, "optimizer", clock)
    return totals


def _lap(seconds: dict[str, float], part: str, started: float) -> float:
    now = time.perf_counter()
    seconds[part] += now - started
    return now


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
