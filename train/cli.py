"""`python -m train --data DIR --out weights/NAME`: from a folder of labelled slices to weights + report.

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
from torch.nn.parallel import DistributedDataParallel

from core.checkpoint import load_checkpoint, save_checkpoint, write_json_atomic
from core.models import ARCHITECTURES, build_model
from core.preprocessing import Preprocessing
from train import distributed, report, safety
from train.augment import Augmentation
from train.calibration import fit_temperature
from train.dataset import prepare
from train.dedup import NEAR_DUPLICATE_BITS, duplicate_groups
from train.loop import evaluate_logits, train_one_epoch
from train.splits import TEST, TRAIN, VAL, assign_splits
from train.state import discard_state, load_state, save_state

REPORT_FILES = ("metrics.json", "predictions.csv", "history.csv", "split_manifest.csv", "misclassified.npz")


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m train", description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="folder of class subfolders, or with Training/ and Testing/")
    parser.add_argument("--out", required=True, help="weights folder to write, e.g. weights/my-run")
    parser.add_argument("--arch", default="mobilenet_v3_small", choices=sorted(ARCHITECTURES))
    parser.add_argument("--pretrained", action="store_true", help="start from ImageNet weights (torch cache)")
    parser.add_argument("--img-size", type=int, default=128)
    parser.add_argument("--no-crop", action="store_true", help="do not crop to the head's bounding box")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=64, help="global batch, split across processes")
    parser.add_argument("--lr", type=float, default=2e-3, help="peak learning rate of the OneCycle schedule")
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--label-smoothing", type=float, default=0.1)
    parser.add_argument("--patience", type=int, default=15, help="epochs without validation gain before stopping")
    parser.add_argument("--val-fraction", type=float, default=0.15)
    parser.add_argument("--test-fraction", type=float, default=0.15, help="used only without a Testing folder")
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
    log = print if world.is_main else (lambda *_, **__: None)
    started = time.perf_counter()
    configure_determinism(args.seed, args.deterministic)
    out = Path(args.out)

    preprocessing = Preprocessing(img_size=args.img_size, crop_to_head=not args.no_crop)
    workers = args.workers or max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", 1)))
    data = prepare(args.data, preprocessing, args.limit_per_class, workers)
    log(
        f"data: {len(data.files)} images, {len(data.classes)} classes {data.classes}, "
        f"{len(data.unreadable)} unreadable, decoded in {time.perf_counter() - started:.1f}s"
    )

    groups, duplicates = duplicate_groups(data.sha256, data.dhash, data.dhash_mirrored, args.near_duplicate_bits)
    is_given_test = np.array([f.origin == "Testing" for f in data.files], dtype=bool)
    splits, leak_free, copy_of = assign_splits(
        data.labels, groups, is_given_test, data.sha256, args.val_fraction, args.test_fraction, args.seed
    )
    manifest = report.build_manifest(data, groups, splits, leak_free, copy_of)
    summary = report.data_summary(data, splits, groups, leak_free, duplicates)
    train_index, val_index, test_index = (np.nonzero(splits == name)[0] for name in (TRAIN, VAL, TEST))
    log(
        f"splits: train {len(train_index)}, val {len(val_index)}, test {len(test_index)} "
        f"({summary['leak_free_test_images']} leak-free); {duplicates['exact_duplicate_groups']} exact and "
        f"{duplicates['duplicate_groups']} exact-or-near duplicate groups"
    )
    if len(train_index) == 0:
        raise SystemExit("no training images left after splitting; check --data")

    train_pixels = data.images[train_index].astype(np.float32) / 255.0
    preprocessing = dataclasses.replace(
        preprocessing, mean=round(float(train_pixels.mean()), 6), std=round(float(train_pixels.std()) or 1.0, 6)
    )
    del train_pixels
    images = torch.from_numpy(data.images).to(device)
    labels = torch.from_numpy(data.labels).to(device)

    torch.manual_seed(args.seed)
    model = build_model(args.arch, len(data.classes), pretrained=args.pretrained)
    model = model.to(device, memory_format=torch.channels_last)
    trained = (
        DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        if world.is_distributed
        else model
    )

    per_process_batch = max(1, min(args.batch_size // world.size, len(train_index) // world.size))
    steps_per_epoch = max(1, len(train_index) // world.size // per_process_batch)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch, pct_start=0.25
    )
    counts = np.bincount(data.labels[train_index], minlength=len(data.classes)).astype(np.float64)
    class_weights = torch.tensor(
        counts.sum() / (len(counts) * np.maximum(counts, 1)), dtype=torch.float32, device=device
    )
    augmentation = Augmentation()
    train_positions = torch.from_numpy(train_index)
    val_positions = torch.from_numpy(val_index).to(device)

    metadata = build_metadata(args, data.classes, preprocessing, report.manifest_sha256(manifest), world, device)
    progress = {"epoch": 0, "best_epoch": 0, "best_score": None, "stale_epochs": 0, "history": [], "train_seconds": 0.0}
    if args.resume:
        state = load_state(out)
        if state["manifest_sha256"] != metadata["data"]["manifest_sha256"]:
            raise SystemExit("--resume: the data or its splits differ from the interrupted run's")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        progress = state["progress"]
        log(f"resuming after epoch {progress['epoch']}")

    log(
        f"training {args.arch} ({sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters) at "
        f"{args.img_size}px on {device}{f' × {world.size} processes' if world.is_distributed else ''}"
    )
    augment_generator = torch.Generator(device=device)
    shuffle_generator = torch.Generator()
    while progress["epoch"] < args.epochs:
        epoch = progress["epoch"] + 1
        # Seeds derive from (seed, epoch), so a resumed run draws exactly what the uninterrupted one would.
        # The shuffle is shared by all processes; augmentation and dropout differ per process.
        shuffle_generator.manual_seed(args.seed * 100_003 + epoch)
        torch.manual_seed(args.seed * 100_003 + epoch * 1_009 + world.rank)
        augment_generator.manual_seed(args.seed * 100_003 + epoch * 1_009 + world.rank)
        order = train_positions[torch.randperm(len(train_positions), generator=shuffle_generator)]
        share = order[world.rank :: world.size][: steps_per_epoch * per_process_batch].to(device)
        epoch_started = time.perf_counter()
        loss_sum, correct, seen = train_one_epoch(
            trained,
            images,
            labels,
            share,
            per_process_batch,
            optimizer,
            scheduler,
            preprocessing,
            augmentation,
            class_weights,
            args.label_smoothing,
            augment_generator,
            world,
        )
        loss_sum, correct, seen = distributed.sum_across(world, [loss_sum, correct, seen], device)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - epoch_started
        progress["train_seconds"] += seconds

        val_logits = evaluate_logits(model, images, val_positions, preprocessing, 256)
        val_labels = data.labels[val_index]
        val_loss = float(F.cross_entropy(val_logits, torch.from_numpy(val_labels)).item()) if len(val_index) else None
        val_accuracy = float((val_logits.argmax(1).numpy() == val_labels).mean()) if len(val_index) else None
        row = {
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
        progress["history"].append(row)
        progress["epoch"] = epoch
        # Higher validation accuracy wins; a tie goes to the lower validation loss. No validation: last epoch.
        score = (val_accuracy, -val_loss) if val_accuracy is not None else (epoch, 0.0)
        improved = progress["best_score"] is None or tuple(score) > tuple(progress["best_score"])
        if improved:
            progress.update(best_score=list(score), best_epoch=epoch, stale_epochs=0)
        else:
            progress["stale_epochs"] += 1
        log(
            f"epoch {epoch:3d}/{args.epochs}  loss {row['train_loss']:.4f}  "
            f"val_acc {_fmt(val_accuracy)}  val_loss {_fmt(val_loss)}  lr {row['lr']:.2e}  "
            f"{row['images_per_s']:.0f} img/s  elapsed {row['elapsed_s']:.0f}s{'  *' if improved else ''}"
        )
        if world.is_main:
            if improved:
                save_checkpoint(out, model.state_dict(), {**metadata, "complete": False, "best_epoch": epoch})
            save_state(
                out,
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "progress": progress,
                    "manifest_sha256": metadata["data"]["manifest_sha256"],
                },
            )
        stop = args.patience > 0 and progress["stale_epochs"] >= args.patience
        if distributed.broadcast_flag(world, stop, device):
            log(f"early stop: no validation gain in {args.patience} epochs")
            break
    distributed.barrier(world)

    if world.is_main:
        finish(
            out,
            args,
            data,
            model,
            images,
            preprocessing,
            metadata,
            progress,
            summary,
            manifest,
            val_index,
            test_index,
            leak_free,
            started,
        )
        log(safety.summary_line(safety.fit_safety(out, data, splits, leak_free, str(device))))
        discard_state(out)
    distributed.barrier(world)


def finish(
    out,
    args,
    data,
    model,
    images,
    preprocessing,
    metadata,
    progress,
    summary,
    manifest,
    val_index,
    test_index,
    leak_free,
    started,
) -> None:
    """Reload the best epoch, calibrate on validation, score the test set once, write the report."""
    best_state, _ = load_checkpoint(out)
    model.load_state_dict(best_state)
    device = images.device
    val_logits = evaluate_logits(model, images, torch.from_numpy(val_index).to(device), preprocessing, 256)
    temperature = fit_temperature(val_logits, torch.from_numpy(data.labels[val_index]))
    test_logits = evaluate_logits(
        model, images, torch.from_numpy(test_index).to(device), preprocessing, 256, progress=True
    )
    val_metrics, _ = report.evaluation_metrics(data.labels[val_index], val_logits.numpy(), temperature, data.classes)
    full, probabilities = report.evaluation_metrics(
        data.labels[test_index], test_logits.numpy(), temperature, data.classes
    )
    clean = leak_free[test_index]
    leak_free_metrics, _ = report.evaluation_metrics(
        data.labels[test_index][clean], test_logits.numpy()[clean], temperature, data.classes
    )
    best_row = progress["history"][progress["best_epoch"] - 1]
    training = {
        "epochs_run": progress["epoch"],
        "best_epoch": progress["best_epoch"],
        "best_val_accuracy": best_row["val_accuracy"],
        "train_loop_seconds": round(progress["train_seconds"], 1),
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    metadata = {
        **metadata,
        "complete": True,
        "calibration": {"method": "temperature scaling on validation", "temperature": temperature},
        "training": {**metadata["training"], **training},
        "test_accuracy": {"full": full["accuracy"], "leak_free": leak_free_metrics["accuracy"]},
    }
    save_checkpoint(out, best_state, metadata)
    metrics = {
        "created": metadata["created"],
        "model": {"architecture": args.arch, "img_size": args.img_size, "classes": data.classes},
        "data": summary,
        "training": training,
        "calibration": {
            "temperature": temperature,
            "validation_ece_before": val_metrics["ece_uncalibrated"],
            "validation_ece_after": val_metrics["ece"],
        },
        "validation": val_metrics,
        "test": {"full": full, "leak_free": leak_free_metrics},
    }
    write_json_atomic(out / "metrics.json", metrics)
    report.write_predictions(out / "predictions.csv", data, test_index, probabilities, leak_free)
    report.write_csv(out / "history.csv", progress["history"], list(progress["history"][0]))
    report.write_csv(out / "split_manifest.csv", manifest, report.MANIFEST_COLUMNS)
    wrong = report.write_misclassified(out / "misclassified.npz", data, test_index, probabilities)
    print(
        f"test accuracy {full['accuracy']:.4f} (full, {full['n']} images), "
        f"{_fmt(leak_free_metrics['accuracy'])} (leak-free, {leak_free_metrics['n']}); "
        f"ECE {full['ece_uncalibrated']:.4f} -> {full['ece']:.4f} at T={temperature:.3f}; "
        f"{wrong} misclassified; report in {out}"
    )


def build_metadata(args, classes, preprocessing, manifest_hash, world, device) -> dict:
    return {
        "format_version": 1,
        "name": Path(args.out).name,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "architecture": args.arch,
        "classes": classes,
        "preprocessing": preprocessing.to_dict(),
        "training": {
            "command": "python -m train " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
            "args": {key: value for key, value in vars(args).items() if key != "resume"},
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
            "processes": world.size,
        },
        "data": {"root": Path(args.data).name, "manifest_sha256": manifest_hash},
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


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
