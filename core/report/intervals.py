"""How sure a headline number is: a 95 % interval beside every rate the app shows, and the plain warning
that a set is too small to say much.

Wilson's interval for a proportion (it stays inside 0–100 % and behaves at 0 of n and n of n, where the
normal approximation gives 0-width nonsense), a percentile bootstrap for ROC AUC, and one way of writing a
rate with its count, so that "100.0 %" on three images reads as what it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

CONFIDENCE = 0.95
FEW_PER_CLASS = 50  # under this many images of a class, its numbers are flagged as uncertain
BOOTSTRAP_ROUNDS = 200
BOOTSTRAP_SEED = 0  # the same set always gets the same interval


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def text(self) -> str:
        return f"95 % CI {100 * self.low:.1f}–{percent(self.high)}"

    def score_text(self) -> str:
        """For a score on 0–1 that is not a rate (ROC AUC): "95 % CI 0.961–0.985"."""
        return f"95 % CI {self.low:.3f}–{self.high:.3f}"


def wilson(successes: int, n: int, confidence: float = CONFIDENCE) -> Interval | None:
    """Wilson score interval of successes / n; None for an empty set."""
    if n <= 0:
        return None
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # At 0 of n and n of n the bound is exactly 0 or 1; rounding would leave 1e-17 where a reader expects 0.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return Interval(low, high)


def bootstrap_auc(is_positive: np.ndarray, scores: np.ndarray, rounds: int = BOOTSTRAP_ROUNDS) -> Interval | None:
    """Percentile bootstrap interval of a one-vs-rest ROC AUC; None when the set lacks positives or negatives.
    Resamples that happen to draw one class only are skipped. All rounds at once, each AUC from ranks (the
    Mann-Whitney form, ties averaged as scikit-learn's roc_auc_score does): 200 rounds of 1,300 images take
    tens of milliseconds, not the second that 200 calls of roc_auc_score take."""
    from scipy.stats import rankdata

    is_positive, scores = np.asarray(is_positive, bool), np.asarray(scores, float)
    if is_positive.all() or not is_positive.any():
        return None
    rows = np.random.default_rng(BOOTSTRAP_SEED).integers(0, len(scores), (rounds, len(scores)))
    drawn = is_positive[rows]
    positives = drawn.sum(1).astype(float)
    negatives = len(scores) - positives
    kept = (positives > 0) & (negatives > 0)
    if not kept.any():
        return None
    ranks = rankdata(scores[rows[kept]], axis=1)
    positives, negatives = positives[kept], negatives[kept]
    values = ((ranks * drawn[kept]).sum(1) - positives * (positives + 1) / 2) / (positives * negatives)
    low, high = np.percentile(values, [100 * (1 - CONFIDENCE) / 2, 100 * (1 + CONFIDENCE) / 2])
    return Interval(float(low), float(high))


def percent(value: float) -> str:
    """The one number style for rates: one decimal, a space before the sign ("93.6 %")."""
    return f"{100 * value:.1f} %"


def rate_text(successes: int, n: int) -> str:
    """e.g. "93.6 % (1,227 of 1,311; 95 % CI 92.2–94.7 %)"; "no images" for an empty set."""
    interval = wilson(successes, n)
    if interval is None:
        return "no images"
    return f"{percent(successes / n)} ({successes:,} of {n:,}; {interval.text()})"


def rate_of(share: float | None, n: int | None) -> str:
    """rate_text for a share recorded as a float of n images (reports store accuracy, not counts)."""
    if share is None or not n:
        return "n/a"
    return rate_text(round(share * n), int(n))


def interval_of(share: float | None, n: int | None) -> str:
    """Just the interval of a recorded share of n images ("95 % CI 79.6–85.4 %"), "" when not known."""
    interval = wilson(round(share * n), int(n)) if share is not None and n else None
    return interval.text() if interval else ""


def small_classes(counts: dict[str, int], floor: int = FEW_PER_CLASS) -> dict[str, int]:
    """The classes present with fewer than `floor` images (absent classes are not in the set at all)."""
    return {name: int(count) for name, count in counts.items() if 0 < int(count) < floor}


def small_set_warning(counts: dict[str, int], names=str) -> str:
    """A plain sentence when any class of the set has under FEW_PER_CLASS images, else ""."""
    few = small_classes(counts)
    if not few:
        return ""
    listed = ", ".join(f"{names(name)} {count}" for name, count in few.items())
    return (
        f"Few images ({listed}; under {FEW_PER_CLASS} per class): these numbers could be far from what the "
        "model does on many such scans. Read the intervals, not the percentages."
    )


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """'1 image', '2 images', '1 file with no label' (pass the plural for phrases)."""
    return f"{count:,} {singular if count == 1 else plural_form or singular + 's'}"
