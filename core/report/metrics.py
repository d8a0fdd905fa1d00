"""Classification metrics for the evaluation report and the dashboard, from labels and probabilities."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    precision_recall_fscore_support,
    roc_auc_score,
)

ECE_BINS = 15


def classification_report(labels: np.ndarray, probabilities: np.ndarray, classes: list[str]) -> dict:
    """Everything the dashboard shows for one test set, as plain JSON-ready values."""
    with warnings.catch_warnings():
        # A subset with one class (a source's T1C slices, say) is expected; the numbers below handle it.
        warnings.simplefilter("ignore", UserWarning)
        return _classification_report(labels, probabilities, classes)


def _classification_report(labels: np.ndarray, probabilities: np.ndarray, classes: list[str]) -> dict:
    labels = np.asarray(labels, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64).reshape(len(labels), len(classes))
    if not len(labels):
        return _empty_report(classes)
    predictions = probabilities.argmax(axis=1)
    indices = list(range(len(classes)))
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predictions, labels=indices, zero_division=0
    )
    per_class = {
        name: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
            "roc_auc": one_vs_rest_auc(labels == i, probabilities[:, i]),
        }
        for i, name in enumerate(classes)
    }
    aucs = [values["roc_auc"] for values in per_class.values() if values["roc_auc"] is not None]
    # Macro means over the classes the set holds: a source without pituitary scans is not scored as if it
    # had missed them all.
    present = support > 0 if support.any() else np.ones(len(classes), dtype=bool)
    return {
        "n": len(labels),
        "errors": int((predictions != labels).sum()),
        "accuracy": float(accuracy_score(labels, predictions)) if len(labels) else None,
        "balanced_accuracy": _balanced_accuracy(labels, predictions),
        "macro": {
            "precision": float(precision[present].mean()),
            "recall": float(recall[present].mean()),
            "f1": float(f1[present].mean()),
            "roc_auc": float(np.mean(aucs)) if aucs else None,
        },
        "per_class": per_class,
        "confusion_matrix": confusion_matrix(labels, predictions, labels=indices).tolist(),
        "ece": expected_calibration_error(labels, probabilities),
    }


def _empty_report(classes: list[str]) -> dict:
    """The report of a set with no images (nothing could be read): every rate unknown, every count 0."""
    unknown = {"precision": None, "recall": None, "f1": None}
    return {
        "n": 0,
        "errors": 0,
        "accuracy": None,
        "balanced_accuracy": None,
        "macro": {**unknown, "roc_auc": None},
        "per_class": {name: {**unknown, "support": 0, "roc_auc": None} for name in classes},
        "confusion_matrix": [[0] * len(classes) for _ in classes],
        "ece": None,
    }


def _balanced_accuracy(labels: np.ndarray, predictions: np.ndarray) -> float | None:
    if not len(labels):
        return None
    return float(balanced_accuracy_score(labels, predictions))


def one_vs_rest_auc(is_positive: np.ndarray, scores: np.ndarray) -> float | None:
    """ROC AUC of one class against the rest; None when the set lacks positives or negatives."""
    if is_positive.all() or not is_positive.any():
        return None
    return float(roc_auc_score(is_positive, scores))


def reliability_bins(labels: np.ndarray, probabilities: np.ndarray, bins: int = ECE_BINS) -> list[dict]:
    """Per confidence bin: mean confidence, accuracy and count (the reliability diagram)."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == np.asarray(labels)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    rows = []
    for b in range(bins):
        members = index == b
        count = int(members.sum())
        rows.append(
            {
                "lower": float(edges[b]),
                "upper": float(edges[b + 1]),
                "count": count,
                "confidence": float(confidence[members].mean()) if count else None,
                "accuracy": float(correct[members].mean()) if count else None,
            }
        )
    return rows


def expected_calibration_error(labels: np.ndarray, probabilities: np.ndarray, bins: int = ECE_BINS) -> float:
    """Weighted mean gap between confidence and accuracy over equal-width confidence bins."""
    total = len(labels)
    if not total:
        return 0.0
    return float(
        sum(
            row["count"] / total * abs(row["accuracy"] - row["confidence"])
            for row in reliability_bins(labels, probabilities, bins)
            if row["count"]
        )
    )
