"""Write the evaluation report next to the weights: everything the evaluation page shows, and nothing it
would need the dataset for.

  metrics.json         data summary, calibration, validation and test metrics (full and leak-free, each
                       broken down by source, sequence and plane), abstention and gate
  predictions.csv      one row per test image: source, path, true class, calibrated probabilities, status
  history.csv          one row per epoch
  split_manifest.csv   every file: source, class, origin folder, split, duplicate group, hashes
  misclassified.npz    the misclassified test images as the model saw them, with their labels
The test numbers come from core.report.scoring with the served model, as external evaluations do.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from core.io.scan_attributes import plane_from_path, sequence_from_path
from core.model.checkpoint import read_metadata, write_bytes_atomic, write_json_atomic
from core.model.inference import softmax
from core.report.metrics import classification_report, expected_calibration_error
from core.report.scoring import ScoredImages, summarise
from core.run.run_folder import RunFolder
from train.dataset import IndexedFile, PreparedData
from train.split_data import MANIFEST_COLUMNS, SplitData

THUMBNAIL_SIZE = 128
# External sets can be large and mostly wrong (that is what they are for): smaller thumbnails keep the
# weights folder small enough to ship.
EXTERNAL_THUMBNAIL_SIZE = 64


@dataclass(frozen=True)
class RunRecord:
    """What a finished run knows, for its report."""

    data: PreparedData
    split: SplitData
    scored_test: ScoredImages  # the served model's results on split.test, in that order
    temperature: float
    val_logits: torch.Tensor  # the training model's, uncalibrated
    training: dict
    history: list[dict]
    safety: dict  # abstention and gate sections from train/safety.py


def write_report(out: Path, record: RunRecord) -> None:
    data, split = record.data, record.split
    metadata = read_metadata(out)
    val_labels = data.labels[split.val]
    validation = validation_metrics(val_labels, record.val_logits.numpy(), record.temperature, data.classes)
    metrics = {
        "created": metadata["created"],
        "model": {
            "architecture": metadata["architecture"],
            "img_size": metadata["preprocessing"]["img_size"],
            "classes": data.classes,
        },
        "data": split.summary(),
        "training": record.training,
        "calibration": {
            "temperature": record.temperature,
            "validation_ece_before": validation["ece_uncalibrated"],
            "validation_ece_after": validation["ece"],
        },
        "validation": validation,
        **record.safety,
    }
    write_json_atomic(RunFolder(out).metrics, metrics)
    write_csv(RunFolder(out).history, record.history, list(record.history[0]))
    write_csv(RunFolder(out).manifest, split.manifest(), MANIFEST_COLUMNS)
    write_test_results(out, data, split.test, split.leak_free[split.test], record.scored_test)


def write_test_results(
    out: Path, data: PreparedData, test: np.ndarray, clean: np.ndarray, scored: ScoredImages
) -> dict:
    """The test section of metrics.json, predictions.csv, misclassified.npz and metadata's test accuracy, from
    the served model's results; also what `python -m train.safety` rewrites after refitting the settings
    (the statuses depend on them)."""
    labels = data.labels[test]
    files = [data.files[i] for i in test]
    attributes = image_attributes(files)
    full = summarise(labels, scored, data.classes, attributes)
    leak_free = summarise(labels[clean], scored[clean], data.classes, {k: v[clean] for k, v in attributes.items()})
    metadata = read_metadata(out)
    write_json_atomic(
        RunFolder(out).metadata,
        {**metadata, "test_accuracy": {"full": full["accuracy"], "leak_free": leak_free["accuracy"]}},
    )
    metrics_path = RunFolder(out).metrics
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    write_json_atomic(metrics_path, {**metrics, "test": {"full": full, "leak_free": leak_free}})
    write_predictions(RunFolder(out).predictions, files, labels, scored, data.classes, {"leak_free": clean.astype(int)})
    wrong = write_misclassified(RunFolder(out).misclassified, files, data.images[test], labels, scored, data.classes)
    print(
        f"test accuracy {_fmt(full['accuracy'])} (full, {full['n']} images), "
        f"{_fmt(leak_free['accuracy'])} (leak-free, {leak_free['n']}); answered but wrong "
        f"{_fmt(full['outcomes']['answered_wrong_share'])}; ECE {full['ece_uncalibrated']:.4f} -> {full['ece']:.4f}; "
        f"{wrong} misclassified; report in {out}"
    )
    for source, values in full.get("breakdown", {}).get("source", {}).items():
        print(f"  {source}: accuracy {_fmt(values['accuracy'])} on {values['n']}")
    return {"full": full, "leak_free": leak_free}


def image_attributes(files: list[IndexedFile]) -> dict[str, np.ndarray]:
    """Per image: its source, and the sequence and plane its name states (empty where it does not)."""
    return {
        "source": np.array([f.source for f in files], dtype=object),
        "sequence": np.array([sequence_from_path(f.relative) for f in files], dtype=object),
        "plane": np.array([plane_from_path(f.relative) for f in files], dtype=object),
    }


def validation_metrics(labels: np.ndarray, logits: np.ndarray, temperature: float, classes: list[str]) -> dict:
    report = classification_report(labels, softmax(logits / temperature), classes)
    report["ece_uncalibrated"] = expected_calibration_error(labels, softmax(logits))
    return report


def write_predictions(
    path: Path,
    files: list[IndexedFile],
    labels: np.ndarray,
    scored: ScoredImages,
    classes: list[str],
    extra: dict[str, np.ndarray],
) -> None:
    """One row per image, in `files` order; `extra` adds columns (leak_free, clean, ...)."""
    columns = ["source", "path", "true", *[f"p_{name}" for name in classes], "prediction", "confidence", "status"]
    columns += [*extra, "sequence", "plane"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row, indexed in enumerate(files):
        p = scored.probabilities[row]
        writer.writerow(
            [
                indexed.source,
                indexed.relative,
                classes[labels[row]],
                *[f"{value:.6f}" for value in p],
                classes[int(p.argmax())],
                f"{p.max():.6f}",
                scored.status[row],
                *[int(values[row]) for values in extra.values()],
                sequence_from_path(indexed.relative),
                plane_from_path(indexed.relative),
            ]
        )
    write_bytes_atomic(path, buffer.getvalue().encode())


def write_csv(path: Path, rows: list[dict], columns: list[str]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_bytes_atomic(path, buffer.getvalue().encode())


def write_misclassified(
    path: Path,
    files: list[IndexedFile],
    images: np.ndarray,
    labels: np.ndarray,
    scored,
    classes: list[str],
    thumbnail_size: int = THUMBNAIL_SIZE,
) -> int:
    """The misclassified images as the model saw them, small enough to ship with the weights."""
    probabilities = scored.probabilities
    predicted = probabilities.argmax(axis=1)
    wrong = np.nonzero(predicted != labels)[0]
    size = min(thumbnail_size, images.shape[1]) if len(images) else thumbnail_size
    thumbnails = np.zeros((len(wrong), size, size), np.uint8)
    for k, row in enumerate(wrong):
        thumbnails[k] = cv2.resize(images[row], (size, size), interpolation=cv2.INTER_AREA)
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        images=thumbnails,
        paths=np.array([f"{files[row].source}/{files[row].relative}" for row in wrong], dtype=str),
        true=np.array([classes[labels[row]] for row in wrong], dtype=str),
        predicted=np.array([classes[predicted[row]] for row in wrong], dtype=str),
        confidence=probabilities[wrong].max(axis=1, initial=0.0).astype(np.float32),
        status=np.array([scored.status[row] for row in wrong], dtype=str),
    )
    write_bytes_atomic(path, buffer.getvalue())
    return len(wrong)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
