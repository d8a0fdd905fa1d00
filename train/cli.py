"""`python -m train --data DIR [--data DIR ...] --out weights/NAME`: from labelled slices to weights + report.

The flags are the recipe. The same entry point runs on one CPU, one GPU, or many under `torchrun`.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import shlex
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from core.labels import NO_TUMOUR
from core.model.checkpoint import load_checkpoint, save_checkpoint
from core.model.inference import Classifier
from core.model.models import ARCHITECTURES, build_model, outlines_tumour
from core.model.precision import PRECISIONS, fastest_training_precision
from core.model.preprocessing import Preprocessing
from core.report.scoring import score_images
from core.run.training_copies import NEAR_DUPLICATE_BITS
from train import distributed, evaluate, report, safety
from train.augment import FAMILIES, Augmentation
from train.calibration import fit_temperature
from train.dataset import Source, prepare
from train.loop import Batches, Progress, evaluate_logits, train_one_epoch
from train.mask_loss import ClassAndMaskLoss
from train.oversample import parse_repeat, repeated_positions
from train.split_data import split_dataset
from train.state import discard_state, load_state, save_state


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m train", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data",
        required=True,
        action="append",
        type=Source.parse,
        help="a source: folder of class subfolders, or with Training/ and Testing/; NAME=DIR names it; repeat for more",
    )
    parser.add_argument(
        "--masks",
        action="append",
        default=[],
        type=Source.parse,
        metavar="NAME=DIR",
        help="tumour outlines of the source NAME (same layout, .png); trains the mask head of *_mask networks",
    )
    parser.add_argument("--out", required=True, help="weights folder to write, e.g. weights/my-run")
    parser.add_argument("--external", action="append", default=[], metavar="NAME=DIR", help="score after training")
    parser.add_argument(
        "--repeat",
        action="append",
        default=[],
        type=parse_repeat,
        metavar="NAME=K",
        help="list each training image of the source NAME K times per epoch (a small source counts for more)",
    )
    parser.add_argument("--arch", default="mobilenet_v3_small", choices=sorted(ARCHITECTURES))
    parser.add_argument("--pretrained", action="store_true", help="start from ImageNet weights (torch cache)")
    parser.add_argument("--img-size", type=int, default=128)
    parser.add_argument("--no-crop", action="store_true", help="do not crop to the head's bounding box")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=64, help="global batch, split across processes")
    parser.add_argument("--lr", type=float, default=2e-3, help="peak learning rate of the OneCycle schedule")
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--label-smoothing", type=float, default=0.1)
    parser.add_argument("--augment", default=",".join(FAMILIES), help=f"families: {', '.join(FAMILIES)} or none")
    parser.add_argument("--precision", default="auto", choices=["auto", *PRECISIONS], help="auto: time both")
    parser.add_argument("--patience", type=int, default=15, help="epochs without validation gain before stopping")
    parser.add_argument("--val-fraction", type=float, default=0.15)
    parser.add_argument("--test-fraction", type=float, default=0.15, help="for sources without a Testing folder")
    parser.add_argument("--near-duplicate-bits", type=int, default=NEAR_DUPLICATE_BITS)
    parser.add_argument("--limit-per-class", type=int, help="use at most N files per class and folder (smoke runs)")
    parser.add_argument("--workers", type=int, help="decoding processes (default: all cores)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--deterministic", action="store_true", help="deterministic kernels (slower on GPUs)")
    parser.add_argument("--resume", action="store_true", help="continue the interrupted run in --out")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: CUDA when available)")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = get_args_parser().parse_args(argv)
    world, device = distributed.join(args.device)
    try:
        run(args, world, device)
    finally:
        distributed.leave()


def run(args: argparse.Namespace, world: distributed.World, device: torch.device) -> None:
    """The recipe: data and splits, model and optimiser, epochs, then the report."""
    log = print if world.is_main else (lambda *_, **__: None)
    started = time.perf_counter()
    configure_determinism(args.seed, args.deterministic)
    out = Path(args.out)
    externals = [evaluate.parse_external(value) for value in args.external]  # refuse a typo before training

    workers = args.workers or max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", 1)))
    preprocessing = Preprocessing(img_size=args.img_size, crop_to_head=not args.no_crop)
    data = prepare(args.data, preprocessing, args.limit_per_class, workers, masks=args.masks)
    log(
        f"data: {len(data.files)} images from {len(data.sources)} sources, classes {data.classes}, "
        f"{len(data.unreadable)} unreadable, decoded in {time.perf_counter() - started:.1f}s"
        + (f", {int(data.mask_known.sum())} with a known tumour mask" if data.masks is not None else "")
    )
    split = split_dataset(data, args)
    log(split.describe())
    preprocessing = standardisation_of(data.images[split.train], preprocessing)

    train_positions = repeated_positions(split.train, data.source_names, dict(args.repeat))
    model, trained = build_models(args, len(data.classes), world, device)
    images, labels = torch.from_numpy(data.images).to(device), torch.from_numpy(data.labels).to(device)
    per_process_batch = max(1, min(args.batch_size // world.size, len(train_positions) // world.size))
    batches = Batches(
        images,
        labels,
        torch.from_numpy(train_positions),
        per_process_batch,
        preprocessing,
        Augmentation.from_families(args.augment),
        world,
        args.seed,
        **mask_tensors(data, device),
    )
    precision, speeds = choose_precision(args.precision, model, next(iter(batches.for_epoch(0)))[0])
    log(f"precision {precision} (training images/s measured: {speeds or 'not measured'})")

    criterion = nn.CrossEntropyLoss(
        weight=class_weights(data.labels[train_positions], len(data.classes), device),
        label_smoothing=args.label_smoothing,
    )
    mask_loss = mask_loss_for(model, data, criterion)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.lr, total_steps=args.epochs * batches.steps_per_epoch, pct_start=0.25
    )
    metadata = build_metadata(
        args,
        data,
        preprocessing,
        split,
        world,
        device,
        {
            "precision": precision,
            "precision_images_per_s": speeds,
            "threads": torch.get_num_threads(),
            "augmentation": batches.augmentation.to_dict(),
            "masks": [f"{source.name}={source.root}" for source in args.masks],
            "mask_loss": None
            if mask_loss is None
            else "class cross-entropy + mask BCE (known masks) + Dice (outlines)",
        },
    )
    progress = Progress()
    if args.resume:
        progress, precision = resume(out, metadata, model, optimizer, scheduler)
        metadata["training"]["precision"] = precision
        log(f"resuming after epoch {progress.epoch} in {precision}")

    log(
        f"training {args.arch} ({sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters) at "
        f"{args.img_size}px on {device}{f' × {world.size} processes' if world.is_distributed else ''}"
    )
    val_positions = torch.from_numpy(split.val).to(device)
    while progress.epoch < args.epochs:
        epoch = progress.epoch + 1
        epoch_started = time.perf_counter()
        totals = train_one_epoch(
            trained, criterion, optimizer, scheduler, batches.for_epoch(epoch), precision, mask_loss
        )
        loss_sum, correct, seen = distributed.sum_across(world, totals.counts, device)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - epoch_started
        val_logits = evaluate_logits(model, images, val_positions, preprocessing, 256, precision=precision)
        row = epoch_row(
            epoch, (loss_sum, correct, seen), val_logits, data.labels[split.val], scheduler, seconds, started
        )
        row.update(step_shares(totals.seconds))
        if mask_loss is not None:
            row["train_mask_dice_loss"] = None if totals.mask_dice_loss is None else round(totals.mask_dice_loss, 5)
        # Higher validation accuracy wins; a tie goes to the lower validation loss. No validation: last epoch.
        score = (row["val_accuracy"], -row["val_loss"]) if row["val_accuracy"] is not None else (epoch, 0.0)
        improved = progress.record(row, score)
        log(epoch_line(row, args.epochs, improved))
        if world.is_main:
            if improved:
                save_checkpoint(out, model.state_dict(), {**metadata, "complete": False, "best_epoch": epoch})
            save_state(
                out,
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "progress": dataclasses.asdict(progress),
                    "precision": precision,
                    "manifest_sha256": metadata["data"]["manifest_sha256"],
                },
            )
        if distributed.broadcast_flag(world, progress.should_stop(args.patience), device):
            log(f"early stop: no validation gain in {args.patience} epochs")
            break
    distributed.barrier(world)

    if world.is_main:
        finish(out, model, data, split, metadata, progress, started, device)
        for name, folder in externals:
            log(evaluate.summary_line(evaluate.evaluate_folder(out, folder, name, workers=workers)))
        discard_state(out)
    distributed.barrier(world)


def finish(out, model, data, split, metadata, progress, started, device) -> None:
    """Reload the best epoch, calibrate on validation, fit the safety settings, then score the test set once
    with the served model (the app's own path) and write the report."""
    best_state, _ = load_checkpoint(out)
    model.load_state_dict(best_state)
    preprocessing, precision = Preprocessing.from_dict(metadata["preprocessing"]), metadata["training"]["precision"]
    images = torch.from_numpy(data.images).to(device)
    val_logits = evaluate_logits(
        model, images, torch.from_numpy(split.val).to(device), preprocessing, 256, precision=precision
    )
    temperature = fit_temperature(val_logits, torch.from_numpy(data.labels[split.val]))
    training = {
        "epochs_run": progress.epoch,
        "best_epoch": progress.best_epoch,
        "best_val_accuracy": progress.best_row["val_accuracy"],
        "train_loop_seconds": round(progress.train_seconds, 1),
    }
    metadata = {
        **metadata,
        "complete": True,
        "calibration": {"method": "temperature scaling on validation", "temperature": temperature},
        "training": {**metadata["training"], **training},
    }
    save_checkpoint(out, best_state, metadata)
    safety_sections = safety.fit_safety(out, data, split.names, split.leak_free, str(device))
    print(safety.summary_line(safety_sections))
    classifier = Classifier(out, device=str(device))
    test = split.test
    scored_test = score_images(classifier, data.images[test], data.statistics[test], data.picture_status[test])
    training["total_seconds"] = round(time.perf_counter() - started, 1)
    report.write_report(
        out,
        report.RunRecord(
            data, split, scored_test, temperature, val_logits, training, progress.history, safety_sections
        ),
    )


def mask_tensors(data, device: torch.device) -> dict:
    """The Batches fields that carry tumour masks, when the data has any."""
    if data.masks is None:
        return {}
    return {
        "masks": torch.from_numpy(data.masks).to(device),
        "mask_known": torch.from_numpy(data.mask_known).to(device),
        "no_tumour_class": data.classes.index(NO_TUMOUR) if NO_TUMOUR in data.classes else None,
    }


def mask_loss_for(model: nn.Module, data, criterion: nn.Module) -> ClassAndMaskLoss | None:
    if not outlines_tumour(model):
        return None
    if data.masks is None:
        raise SystemExit("this network outlines tumours: give the outlines with --masks NAME=DIR")
    return ClassAndMaskLoss(criterion)


def step_shares(seconds: dict[str, float]) -> dict:
    """Each part's share of the epoch's training steps, for history.csv (where the time goes)."""
    total = sum(seconds.values()) or 1.0
    return {f"share_{part}": round(value / total, 4) for part, value in seconds.items()}


def choose_precision(requested: str, model: nn.Module, batch: torch.Tensor) -> tuple[str, dict | None]:
    if requested != "auto":
        return requested, None
    return fastest_training_precision(model, batch)


def standardisation_of(train_images: np.ndarray, preprocessing: Preprocessing) -> Preprocessing:
    """The training images' mean and spread, stored with the weights so serving normalises alike."""
    pixels = train_images.astype(np.float32) / 255.0
    return dataclasses.replace(
        preprocessing, mean=round(float(pixels.mean()), 6), std=round(float(pixels.std()) or 1.0, 6)
    )


def class_weights(train_labels: np.ndarray, n_classes: int, device: torch.device) -> torch.Tensor:
    counts = np.bincount(train_labels, minlength=n_classes).astype(np.float64)
    return torch.tensor(counts.sum() / (n_classes * np.maximum(counts, 1)), dtype=torch.float32, device=device)


def build_models(args, n_classes: int, world: distributed.World, device: torch.device) -> tuple[nn.Module, nn.Module]:
    """The model, and what trains it: the same model, or its DistributedDataParallel wrapper."""
    torch.manual_seed(args.seed)
    model = build_model(args.arch, n_classes, pretrained=args.pretrained).to(device, memory_format=torch.channels_last)
    if not world.is_distributed:
        return model, model
    return model, DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def resume(out: Path, metadata: dict, model, optimizer, scheduler) -> tuple[Progress, str]:
    """Continue the interrupted run, in the precision it started with (a resumed run repeats it exactly)."""
    state = load_state(out)
    if state["manifest_sha256"] != metadata["data"]["manifest_sha256"]:
        raise SystemExit("--resume: the data or its splits differ from the interrupted run's")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    return Progress(**state["progress"]), state.get("precision", metadata["training"]["precision"])


def epoch_row(epoch, totals, val_logits, val_labels, scheduler, seconds, started) -> dict:
    loss_sum, correct, seen = totals
    has_val = len(val_labels) > 0
    val_loss = float(F.cross_entropy(val_logits, torch.from_numpy(val_labels)).item()) if has_val else None
    val_accuracy = float((val_logits.argmax(1).numpy() == val_labels).mean()) if has_val else None
    return {
        "epoch": epoch,
        "train_loss": round(loss_sum / max(seen, 1), 5),
        "train_accuracy": round(correct / max(seen, 1), 5),
        "val_loss": None if val_loss is None else round(val_loss, 5),
        "val_accuracy": None if val_accuracy is None else round(val_accuracy, 5),
        "lr": scheduler.get_last_lr()[0],
        "images_per_s": round(seen / seconds, 1),
        "epoch_seconds": round(seconds, 2),
        "elapsed_s": round(time.perf_counter() - started, 1),
    }


def epoch_line(row: dict, epochs: int, improved: bool) -> str:
    return (
        f"epoch {row['epoch']:3d}/{epochs}  loss {row['train_loss']:.4f}  "
        f"val_acc {_fmt(row['val_accuracy'])}  val_loss {_fmt(row['val_loss'])}  lr {row['lr']:.2e}  "
        + (f"mask dice loss {row['train_mask_dice_loss']:.3f}  " if row.get("train_mask_dice_loss") is not None else "")
        + f"{row['images_per_s']:.0f} img/s  elapsed {row['elapsed_s']:.0f}s{'  *' if improved else ''}"
    )


def build_metadata(args, data, preprocessing, split, world, device, recipe: dict) -> dict:
    arguments = {key: value for key, value in vars(args).items() if key != "resume"}
    arguments["data"] = [f"{source.name}={source.root}" for source in args.data]
    arguments["masks"] = [f"{source.name}={source.root}" for source in args.masks]
    return {
        "format_version": 1,
        "name": Path(args.out).name,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "architecture": args.arch,
        "classes": data.classes,
        "preprocessing": preprocessing.to_dict(),
        "training": {
            "command": "python -m train " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
            "args": arguments,
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name(),
            "processes": world.size,
            **recipe,
        },
        "data": {
            "sources": [source.name for source in data.sources],
            "manifest_sha256": split.manifest_sha256,
            "validated_scope": split.validated_scope(),
        },
        "versions": library_versions(),
        "git_commit": _git_commit(),
    }


def library_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for package in ("torch", "torchvision", "numpy", "opencv-python-headless", "pillow", "scikit-learn", "safetensors"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    return versions


def configure_determinism(seed: int, deterministic: bool) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    else:
        torch.backends.cudnn.benchmark = True


def _git_commit() -> str | None:
    try:
        root = Path(__file__).resolve().parent.parent
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if commit.returncode != 0:
        return None
    return commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
