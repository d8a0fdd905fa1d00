"""Selective classification: answer only when the calibrated confidence clears a threshold.

The threshold is chosen on validation (never on test): the lowest one at which the answered validation
images are wrong at most `target_risk` of the time. Coverage (share answered) and accuracy when answered
are then measured on test, so the trade-off a clinician gets is stated, not assumed.
"""

from __future__ import annotations

import numpy as np

TRADEOFF_THRESHOLDS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


def choose_threshold(confidence: np.ndarray, correct: np.ndarray, target_risk: float) -> float:
    """Lowest confidence threshold whose answered set (confidence >= threshold) has risk <= target_risk.
    1.0 (answer almost never) when even the most confident answers miss the target; 0.0 with no data."""
    if len(confidence) == 0:
        return 0.0
    order = np.argsort(-confidence, kind="stable")
    ordered = confidence[order]
    risk = np.cumsum(~correct[order]) / np.arange(1, len(order) + 1)
    # Only cut between distinct confidences: images tied at the threshold are all answered.
    last_of_tie = np.r_[ordered[1:] < ordered[:-1], True]
    acceptable = np.nonzero((risk <= target_risk) & last_of_tie)[0]
    if len(acceptable) == 0:
        return 1.0
    return float(ordered[acceptable[-1]])


def selective_summary(confidence: np.ndarray, correct: np.ndarray, threshold: float) -> dict:
    """Coverage and accuracy when answered at `threshold`, with the counts behind them."""
    answered = confidence >= threshold
    n_answered = int(answered.sum())
    return {
        "n": len(confidence),
        "answered": n_answered,
        "coverage": float(answered.mean()) if len(confidence) else None,
        "accuracy": float(correct[answered].mean()) if n_answered else None,
        "errors_answered": int((~correct[answered]).sum()),
        "errors_referred": int((~correct[~answered]).sum()),
    }


def tradeoff(confidence: np.ndarray, correct: np.ndarray) -> list[dict]:
    """The trade-off at a few round thresholds, for the report."""
    return [
        {"threshold": threshold, **selective_summary(confidence, correct, threshold)}
        for threshold in TRADEOFF_THRESHOLDS
    ]
