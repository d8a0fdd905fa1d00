"""Validate the model on a labelled set of scans held in memory: the Validate page and the CLI's CSV form.

Files are decoded in batches (any format `load_scan` reads; a DICOM series or NIfTI volume gives its
default picture, as on the Classify page), hashed for the contamination check, scored with
`core.report.scoring.score_images`, and their full pictures released before the next batch: only a small
thumbnail of each misclassified image is kept, so memory stays bounded whatever the set's size.
`metrics_document` is the report both this and `python -m train.evaluate` write, from `core.report.scoring.summarise`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import cv2
import numpy as np
import pandas as pd

from core.decide.assessment import BATCH_SIZE, picture_status
from core.io.image_io import UnreadableScanError
from core.io.scan_attributes import plane_from_path, sequence_from_path
from core.io.scan_io import load_scan
from core.model.inference import Classifier
from core.model.ood import image_statistics
from core.report.labelled_set import LabelledFile
from core.report.scoring import ScoredImages, score_images, summarise
from core.run.run_folder import MANIFEST_FILE
from core.run.training_copies import perceptual_hashes

THUMBNAIL_SIDE = 64
ATTRIBUTES = ("sequence", "plane", "site")


@dataclass
class ValidationRun:
    classes: list[str]
    names: list[str]  # the scored files, in order
    labels: np.ndarray  # int (N,), index into classes
    scored: ScoredImages
    attributes: dict[str, np.ndarray]  # sequence / plane / site per image ("" when unknown)
    copies: list[str] | None  # per image "" or "exact: PATH" / "near: PATH"; None when not checked
    unreadable: list[dict] = field(default_factory=list)  # {"path", "reason"}
    thumbnails: dict[int, np.ndarray] = field(default_factory=dict)  # misclassified images only
    seconds: float = 0.0

    @property
    def clean(self) -> np.ndarray:
        if self.copies is None:
            return np.ones(len(self.names), dtype=bool)
        return np.array([not match for match in self.copies], dtype=bool)

    @property
    def misclassified(self) -> list[int]:
        return [int(i) for i in np.nonzero(self.scored.probabilities.argmax(1) != self.labels)[0]]


def score_set(
    classifier: Classifier,
    files: list[LabelledFile],
    mapping: dict[str, str | None],
    copies=None,
    progress: Callable[[int, int], None] | None = None,
    batch_size: int = BATCH_SIZE,
) -> ValidationRun:
    """Score the files whose label `mapping` sends to one of the model's classes (the caller lists the rest).
    `copies` is a core.run.training_copies.TrainingCopies, or None when the run has no split manifest."""
    started = time.perf_counter()
    files = [f for f in files if mapping.get(f.label) in classifier.classes]
    names, labels, parts, copy_parts, unreadable, thumbnails = [], [], [], [], [], {}
    attributes: dict[str, list[str]] = {name: [] for name in ATTRIBUTES}
    for start in range(0, len(files), batch_size):
        decoded = []
        for labelled in files[start : start + batch_size]:
            try:
                decoded.append((labelled, *_decode(classifier, labelled.data, labelled.name)))
            except (UnreadableScanError, ValueError, MemoryError) as error:
                reason = str(error) if isinstance(error, UnreadableScanError) else "The file could not be decoded."
                unreadable.append({"path": labelled.name, "reason": reason})
        if decoded:
            images = np.stack([row[1] for row in decoded])
            statistics = np.stack([row[2] for row in decoded])
            scored = score_images(classifier, images, statistics, np.array([row[6] for row in decoded], dtype=object))
            batch_labels = np.array([classifier.classes.index(mapping[row[0].label]) for row in decoded])
            if copies is not None:
                copy_parts += copies.matches(
                    [row[3] for row in decoded],
                    np.stack([row[4] for row in decoded]),
                    np.stack([row[5] for row in decoded]),
                )
            for k in np.nonzero(scored.probabilities.argmax(1) != batch_labels)[0]:
                side = min(THUMBNAIL_SIDE, images.shape[1])
                thumbnails[len(names) + int(k)] = cv2.resize(images[k], (side, side), interpolation=cv2.INTER_AREA)
            for labelled, *_ in decoded:
                names.append(labelled.name)
                for name in ATTRIBUTES:
                    attributes[name].append(_attribute(labelled, name))
            labels.extend(batch_labels.tolist())
            parts.append(scored)
            del images, decoded  # the full pictures go now: only the thumbnails above are kept
        if progress:
            progress(min(start + batch_size, len(files)), len(files))
    return ValidationRun(
        classes=list(classifier.classes),
        names=names,
        labels=np.array(labels, dtype=np.int64),
        scored=_concatenate(parts, len(classifier.classes)),
        attributes={name: np.array(values, dtype=object) for name, values in attributes.items()},
        copies=copy_parts if copies is not None else None,
        unreadable=unreadable,
        thumbnails=thumbnails,
        seconds=time.perf_counter() - started,
    )


def _decode(classifier: Classifier, data: bytes, name: str):
    """The prepared image, its statistics, sha256, near hashes and picture status (too small, montage); the
    decoded picture is not kept."""
    gray = load_scan(data, name).render()
    dhash, mirrored = perceptual_hashes(gray)
    return (
        classifier.prepare(gray),
        image_statistics(gray),
        hashlib.sha256(data).hexdigest(),
        dhash,
        mirrored,
        picture_status(gray, classifier.preprocessing.img_size),
    )


def _attribute(labelled: LabelledFile, name: str) -> str:
    """The CSV's value, else what the file's path says (sequence and plane only), else ""."""
    given = str(labelled.attributes.get(name, "") or "").strip()
    if given:
        return given
    if name == "sequence":
        return sequence_from_path(labelled.name)
    if name == "plane":
        return plane_from_path(labelled.name)
    return ""


def _concatenate(parts: list[ScoredImages], classes: int) -> ScoredImages:
    if not parts:
        empty = np.zeros((0, classes), np.float32)
        return ScoredImages(empty, empty.astype(np.float64), np.zeros(0, dtype=str))
    return ScoredImages(
        np.concatenate([p.logits for p in parts]),
        np.concatenate([p.probabilities for p in parts]),
        np.concatenate([p.status for p in parts]),
    )


def metrics_document(
    classifier: Classifier,
    name: str,
    labels: np.ndarray,
    scored: ScoredImages,
    attributes: dict[str, np.ndarray],
    copies: list[str] | None,
    data: dict,
) -> dict:
    """The validation report's numbers: the model, the data, the contamination check, and `summarise` for
    every image and for those that are not copies of training images. `data` describes the set."""
    clean = np.ones(len(labels), dtype=bool) if copies is None else np.array([not c for c in copies], dtype=bool)
    copies = copies or []
    return {
        "name": name,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": {
            "name": classifier.metadata.get("name"),
            "weights_sha256": classifier.metadata.get("weights_sha256"),
            "precision": classifier.precision,
            "abstention_threshold": classifier.abstain_below,
        },
        "data": {
            "images": len(labels),
            **data,
            "counts": {c: int((labels == i).sum()) for i, c in enumerate(classifier.classes)},
        },
        "contamination": {
            "checked_against": "training and validation images of the run (sha256 and near hash)"
            if data.get("copies_checked", True)
            else f"not checked: the weights have no {MANIFEST_FILE}",
            "exact_copies": sum(match.startswith("exact") for match in copies),
            "near_copies": sum(match.startswith("near") for match in copies),
            "clean_images": int(clean.sum()),
        },
        "all": summarise(labels, scored, classifier.classes, attributes),
        "clean": summarise(
            labels[clean], scored[clean], classifier.classes, {k: v[clean] for k, v in attributes.items()}
        ),
    }


def run_metrics(classifier: Classifier, run: ValidationRun, name: str, data: dict) -> dict:
    """`metrics_document` for a set scored by `score_set`."""
    data = {**data, "unreadable": run.unreadable, "copies_checked": run.copies is not None}
    return metrics_document(classifier, name, run.labels, run.scored, run.attributes, run.copies, data)


def predictions_frame(run: ValidationRun) -> pd.DataFrame:
    """One row per scored image in the columns of predictions.csv, for core.report.run_report's curves."""
    p = run.scored.probabilities
    frame = pd.DataFrame({f"p_{name}": p[:, i] for i, name in enumerate(run.classes)})
    frame.insert(0, "path", run.names)
    frame.insert(1, "true", [run.classes[i] for i in run.labels])
    frame["prediction"] = [run.classes[i] for i in p.argmax(1)] if len(p) else []
    frame["confidence"] = p.max(1) if len(p) else []
    frame["status"] = run.scored.status
    frame["clean"] = run.clean.astype(int)
    return frame
