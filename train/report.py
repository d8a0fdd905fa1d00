"""Write the evaluation report next to the weights: everything the evaluation page shows, and nothing it
would need the dataset for.

  metrics.json         data summary, calibration, validation and test metrics (full and leak-free)
  predictions.csv      one row per test image: path, true class, calibrated probabilities, prediction
  history.csv          one row per epoch
  split_manifest.csv   every file: class, origin folder, split, duplicate group, sha256
  misclassified.npz    the misclassified test images as the model saw them, with their labels
"""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

import cv2
import numpy as np

from core.checkpoint import write_bytes_atomic
from core.inference import softmax
from core.metrics import classification_report, expected_calibration_error, reliability_bins
from train.dataset import PreparedData
from train.splits import TEST

THUMBNAIL_SIZE = 128
MANIFEST_COLUMNS = ["path", "class", "origin", "split", "group", "leak_free", "copy_of", "sha256", "dhash"]


def build_manifest(
    data: PreparedData, groups: np.ndarray, splits: np.ndarray, leak_free: np.ndarray, copy_of: np.ndarray
) -> list[dict]:
    rows = []
    for i, indexed in enumerate(data.files):
        rows.append(
            {
                "path": indexed.relative,
                "class": indexed.label,
                "origin": indexed.origin,
                "split": str(splits[i]),
                "group": int(groups[i]),
                "leak_free": int(leak_free[i]) if splits[i] == TEST else "",
                "copy_of": data.files[copy_of[i]].relative if copy_of[i] >= 0 else "",
                "sha256": data.sha256[i],
                "dhash": "".join(f"{word:016x}" for word in data.dhash[i]),
            }
        )
    for unreadable in data.unreadable:
        rows.append({"path": unreadable["path"], "split": "unreadable", "copy_of": "", "leak_free": ""})
    return rows


def manifest_sha256(manifest: list[dict]) -> str:
    """Identifies the training data: same files, same content, same splits -> same hash."""
    digest = hashlib.sha256()
    for row in sorted(manifest, key=lambda r: r["path"]):
        digest.update(f"{row['path']}\t{row.get('sha256', '')}\t{row.get('class', '')}\t{row['split']}\n".encode())
    return digest.hexdigest()


def data_summary(
    data: PreparedData, splits: np.ndarray, groups: np.ndarray, leak_free: np.ndarray, duplicates: dict
) -> dict:
    counts = {
        split: {name: int(((splits == split) & (data.labels == c)).sum()) for c, name in enumerate(data.classes)}
        for split in ("train", "val", "test", "excluded")
    }
    is_test = splits == TEST
    test_groups, pool_groups = set(groups[is_test].tolist()), set(groups[~is_test].tolist())
    labels_by_group: dict[int, set] = {}
    for group, label in zip(groups.tolist(), data.labels.tolist(), strict=True):
        labels_by_group.setdefault(group, set()).add(label)
    return {
        "root": data.root.name,
        "classes": data.classes,
        "test_source": "Testing folder" if data.has_test_folder else "stratified split by duplicate group",
        "counts": counts,
        "duplicates": {
            **duplicates,
            "groups_spanning_training_and_test": len(test_groups & pool_groups),
            "groups_with_conflicting_labels": sum(1 for labels in labels_by_group.values() if len(labels) > 1),
        },
        "test_images": int(is_test.sum()),
        "leak_free_test_images": int(leak_free.sum()),
        "unreadable": data.unreadable,
    }


def evaluation_metrics(
    labels: np.ndarray, logits: np.ndarray, temperature: float, classes: list[str]
) -> tuple[dict, np.ndarray]:
    """Metrics on calibrated probabilities, with the uncalibrated ECE and both reliability diagrams."""
    raw, calibrated = softmax(logits), softmax(logits / temperature)
    report = classification_report(labels, calibrated, classes)
    report["ece_uncalibrated"] = expected_calibration_error(labels, raw)
    report["reliability"] = {
        "uncalibrated": reliability_bins(labels, raw),
        "calibrated": reliability_bins(labels, calibrated),
    }
    return report, calibrated


def write_predictions(path: Path, data: PreparedData, index: np.ndarray, probabilities: np.ndarray, leak_free):
    columns = ["path", "true", *[f"p_{name}" for name in data.classes], "prediction", "confidence", "leak_free"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row, i in enumerate(index):
        p = probabilities[row]
        writer.writerow(
            [
                data.files[i].relative,
                data.classes[data.labels[i]],
                *[f"{value:.6f}" for value in p],
                data.classes[int(p.argmax())],
                f"{p.max():.6f}",
                int(leak_free[i]),
            ]
        )
    write_bytes_atomic(path, buffer.getvalue().encode())


def write_csv(path: Path, rows: list[dict], columns: list[str]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_bytes_atomic(path, buffer.getvalue().encode())


def write_misclassified(path: Path, data: PreparedData, index: np.ndarray, probabilities: np.ndarray) -> int:
    """The misclassified test images as the model saw them, small enough to ship with the weights."""
    predicted = probabilities.argmax(axis=1)
    wrong = np.nonzero(predicted != data.labels[index])[0]
    size = min(THUMBNAIL_SIZE, data.images.shape[1])
    thumbnails = np.zeros((len(wrong), size, size), np.uint8)
    for k, row in enumerate(wrong):
        thumbnails[k] = cv2.resize(data.images[index[row]], (size, size), interpolation=cv2.INTER_AREA)
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        images=thumbnails,
        paths=np.array([data.files[index[row]].relative for row in wrong], dtype=str),
        true=np.array([data.classes[data.labels[index[row]]] for row in wrong], dtype=str),
        predicted=np.array([data.classes[predicted[row]] for row in wrong], dtype=str),
        confidence=probabilities[wrong].max(axis=1, initial=0.0).astype(np.float32),
    )
    write_bytes_atomic(path, buffer.getvalue())
    return len(wrong)
