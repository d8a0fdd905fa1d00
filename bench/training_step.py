"""Where a training step's time goes, with the project's own loop, on a sample of the real data.

  python -m bench.training_step --data ../shared/data/brain-tumor-mri --data ../shared/data/radiopaedia-mri \
      --masks brain-tumor-mri=../shared/data/brain-tumor-mri-masks --limit-per-class 150

For each recipe (the classifier with the augmentation it shipped with, and the mask network with every family
including tumour copy-paste) one epoch of `train.loop.train_one_epoch` over the decoded sample: images per
second and each part's share (drawing the batch: indexing, paste and augmentation; forward; backward;
optimiser). Then a bare training step of the mask network on one batch already in memory, contiguous against
channels_last, and with torch.compile where it compiles here, to decide which to keep. Run it on an idle
machine: another process on the two cores halves every figure. Writes bench/results/training_step-cpu.json.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from bench.record import machine_facts, write_result
from core.labels import NO_TUMOUR
from core.model.models import build_model, outlines_tumour
from core.model.preprocessing import Preprocessing
from train.augment import Augmentation
from train.cli import standardisation_of
from train.dataset import Source, prepare
from train.distributed import World
from train.loop import Batches, train_one_epoch
from train.mask_loss import ClassAndMaskLoss

RECIPES = {
    "classifier (shipped before the mask head)": ("mobilenet_v3_small", "geometry,intensity,degradation"),
    "mask network, every family": ("mobilenet_v3_small_mask", "geometry,intensity,degradation,paste"),
}
BATCH = 64


def loop_split(data, preprocessing: Preprocessing, arch: str, families: str) -> dict:
    torch.manual_seed(0)
    model = build_model(arch, len(data.classes)).to(memory_format=torch.channels_last)
    masked = outlines_tumour(model)
    extra = {}
    if masked:
        extra = {
            "masks": torch.from_numpy(data.masks),
            "mask_known": torch.from_numpy(data.mask_known),
            "no_tumour_class": data.classes.index(NO_TUMOUR),
        }
    batches = Batches(
        torch.from_numpy(data.images),
        torch.from_numpy(data.labels),
        torch.arange(len(data.labels)),
        BATCH,
        preprocessing,
        Augmentation.from_families(families),
        World(),
        seed=0,
        **extra,
    )
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    started = time.perf_counter()
    totals = train_one_epoch(
        model,
        criterion,
        optimizer,
        scheduler,
        batches.for_epoch(1),
        mask_loss=ClassAndMaskLoss(criterion) if masked else None,
    )
    seconds = time.perf_counter() - started
    spent = sum(totals.seconds.values())
    shares = {part: round(value / spent, 4) for part, value in totals.seconds.items()}
    return {
        "architecture": arch,
        "augmentation": families,
        "steps": len(batches),
        "images_per_s": round(totals.seen / seconds, 1),
        "shares": shares,
        "forward_backward_share": round(shares["forward"] + shares["backward"], 4),
    }


def bare_steps(arch: str, size: int, variant: str, steps: int = 12) -> float | str:
    """Images per second of forward + backward + AdamW on one batch in memory; a reason when it cannot run."""
    torch.manual_seed(0)
    model = build_model(arch, 4)
    batch = torch.randn(BATCH, 1, size, size)
    if variant != "contiguous":
        model, batch = model.to(memory_format=torch.channels_last), batch.contiguous(memory_format=torch.channels_last)
    step_model = model
    if variant == "channels_last + torch.compile":
        try:
            step_model = torch.compile(model)
        except Exception as error:  # no compiler on this machine, or an unsupported op
            return f"not available: {type(error).__name__}"
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    try:
        for step in range(steps):
            if step == 2:  # the first steps warm up (and compile)
                started = time.perf_counter()
            logits, masks = step_model(batch, with_mask=True)
            loss = logits.float().mean() + masks.float().mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    except Exception as error:
        return f"failed: {type(error).__name__}: {str(error)[:200]}"
    return round(BATCH * (steps - 2) / (time.perf_counter() - started), 1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.training_step", description=__doc__.split("\n")[0])
    parser.add_argument("--data", action="append", required=True, type=Source.parse)
    parser.add_argument("--masks", action="append", default=[], type=Source.parse, metavar="NAME=DIR")
    parser.add_argument("--limit-per-class", type=int, default=150)
    parser.add_argument("--img-size", type=int, default=128)
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile variant")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    data = prepare(args.data, Preprocessing(img_size=args.img_size), args.limit_per_class, masks=args.masks)
    preprocessing = standardisation_of(data.images, Preprocessing(img_size=args.img_size))
    print(f"{len(data.labels)} images decoded in {time.perf_counter() - started:.0f} s", flush=True)
    loops = {name: loop_split(data, preprocessing, *recipe) for name, recipe in RECIPES.items()}
    for name, found in loops.items():
        share = found["forward_backward_share"]
        print(f"{name}: {found['images_per_s']} img/s, forward+backward {share:.1%}, {found['shares']}")
    variants = ["contiguous", "channels_last"] + ([] if args.no_compile else ["channels_last + torch.compile"])
    bare = {variant: bare_steps("mobilenet_v3_small_mask", args.img_size, variant) for variant in variants}
    print(f"bare step, mask network, images/s: {bare}")
    write_result(
        "training_step-cpu.json",
        {
            "machine": machine_facts(),
            "threads": torch.get_num_threads(),
            "sample_images": len(data.labels),
            "loop": loops,
            "bare_step_images_per_s": bare,
        },
    )


if __name__ == "__main__":
    main()
