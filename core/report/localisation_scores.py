"""Does a heatmap point at the tumour? The measures `python -m train.localisation` reports and the app shows.

For one picture, given its heatmap (on the picture's pixels, as core.model.gradcam.on_picture makes it), the
tumour's mask and the head's mask:
  pointing game  the heatmap's peak lies on the tumour, or within a tolerance of its edge (Zhang et al.,
                 "Top-down neural attention by excitation backprop", 2018: 15 px on their images)
  heat share     the fraction of the map's total heat that lies on the tumour
and the same two for a baseline that knows nothing about the picture but where the head is: its peak is the
head's centroid, and its heat is spread evenly over the head. A method earns trust only by beating it.

For a network that outlines tumours, the outline itself is also scored as an explanation (its probability map
is the heatmap), and its region is compared with the tumour's mask by Dice and IoU (`overlap`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from core.report.intervals import wilson
from core.run.run_folder import RunFolder

# 15 px on the dataset's 512-px slices (2.9 % of the side), scaled with the picture.
TOLERANCE_FRACTION = 15 / 512


@dataclass(frozen=True)
class PictureScore:
    hit: bool  # the map's peak is on the tumour (within the tolerance)
    heat_share: float  # of the map's heat, the fraction on the tumour (0 for an empty map)
    baseline_hit: bool  # the head's centroid is on the tumour (within the tolerance)
    baseline_share: float  # the tumour's share of the head's area: the heat share of an even map


def tolerance_px(shape: tuple[int, int]) -> float:
    return TOLERANCE_FRACTION * max(shape)


def distance_to(mask: np.ndarray) -> np.ndarray:
    """Per pixel, the Euclidean distance (px) to the nearest pixel of `mask` (0 on it)."""
    if not mask.any():
        return np.full(mask.shape, np.inf, np.float32)
    return cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def peak(heat: np.ndarray) -> tuple[int, int] | None:
    """(row, column) of the map's maximum; None when empty. When several pixels tie (a plateau, or a map that
    is flat over the head), the tied pixel nearest their centroid: a flat map then points where the
    head-centre baseline does, instead of at its top-left corner."""
    if not np.any(heat > 0):
        return None
    rows, columns = np.nonzero(heat == heat.max())
    if len(rows) == 1:
        return int(rows[0]), int(columns[0])
    nearest = int(np.argmin((rows - rows.mean()) ** 2 + (columns - columns.mean()) ** 2))
    return int(rows[nearest]), int(columns[nearest])


def heat_share(heat: np.ndarray, tumour: np.ndarray) -> float:
    total = float(heat.sum())
    return float(heat[tumour].sum()) / total if total > 0 else 0.0


def centroid(mask: np.ndarray) -> tuple[int, int]:
    rows, columns = np.nonzero(mask)
    return round(float(rows.mean())), round(float(columns.mean()))


def score(heat: np.ndarray, tumour: np.ndarray, head: np.ndarray) -> PictureScore:
    """Score one map against its tumour (boolean masks, all three of the picture's shape)."""
    if not (heat.shape == tumour.shape == head.shape):
        raise ValueError(f"heatmap {heat.shape}, tumour {tumour.shape} and head {head.shape} differ in shape")
    if not tumour.any():
        raise ValueError("the tumour mask is empty")
    distance, tolerance = distance_to(tumour), tolerance_px(tumour.shape)
    top = peak(heat)
    head = head if head.any() else np.ones_like(head)
    return PictureScore(
        hit=top is not None and bool(distance[top] <= tolerance),
        heat_share=heat_share(heat, tumour),
        baseline_hit=bool(distance[centroid(head)] <= tolerance),
        baseline_share=float((tumour & head).sum()) / float(head.sum()),
    )


@dataclass(frozen=True)
class Summary:
    n: int
    pointing_game: float
    pointing_game_ci95: tuple[float, float]  # Wilson interval
    heat_share: float  # mean over pictures
    baseline_pointing_game: float
    baseline_heat_share: float

    def to_dict(self) -> dict:
        return asdict(self)


def summarise(scores: list[PictureScore]) -> Summary | None:
    if not scores:
        return None
    hits = sum(s.hit for s in scores)
    interval = wilson(hits, len(scores))  # the interval every other rate in the product carries
    return Summary(
        n=len(scores),
        pointing_game=hits / len(scores),
        pointing_game_ci95=(float(interval.low), float(interval.high)),
        heat_share=float(np.mean([s.heat_share for s in scores])),
        baseline_pointing_game=float(np.mean([s.baseline_hit for s in scores])),
        baseline_heat_share=float(np.mean([s.baseline_share for s in scores])),
    )


@dataclass(frozen=True)
class Overlap:
    dice: float
    iou: float


def overlap(predicted: np.ndarray, tumour: np.ndarray) -> Overlap:
    """Dice and IoU of a predicted region against the tumour (boolean masks of one shape); 0 when nothing is
    predicted, as a reader given no outline was shown nothing of the tumour."""
    if predicted.shape != tumour.shape:
        raise ValueError(f"predicted {predicted.shape} and tumour {tumour.shape} masks differ in shape")
    both = float((predicted & tumour).sum())
    either = float((predicted | tumour).sum())
    total = float(predicted.sum() + tumour.sum())
    return Overlap(dice=2 * both / total if total else 1.0, iou=both / either if either else 1.0)


def summarise_overlap(overlaps: list[Overlap]) -> dict | None:
    """Mean Dice and IoU with a normal-approximation 95 % interval of the mean Dice."""
    if not overlaps:
        return None
    dice = np.array([o.dice for o in overlaps])
    half = 1.96 * float(dice.std(ddof=1)) / np.sqrt(len(dice)) if len(dice) > 1 else 0.0
    return {
        "n": len(dice),
        "dice": float(dice.mean()),
        "dice_ci95": (max(0.0, float(dice.mean()) - half), min(1.0, float(dice.mean()) + half)),
        "iou": float(np.mean([o.iou for o in overlaps])),
        "dice_at_least_0_5": float((dice >= 0.5).mean()),
    }


# ---- the report `python -m train.localisation` writes next to the weights --------------------------------

TARGETS = {"true_class": "map of the true class", "stated_class": "map of the class the app states"}
SUBSETS = {"all": "all test slices with an outline", "leak_free": "leak-free test slices with an outline"}


def read_report(run: Path) -> dict | None:
    """The run's localisation report, or None when it has none (or an unreadable one)."""
    path = RunFolder(run).localisation
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def read_examples(run: Path) -> tuple[np.ndarray, list[str]] | None:
    """The report's example overlays (uint8 (N, S, S, 3)) and their captions, or None."""
    try:
        with np.load(RunFolder(run).localisation_examples, allow_pickle=False) as archive:
            return archive["images"], [str(caption) for caption in archive["captions"]]
    except (OSError, ValueError, KeyError):
        return None


def overall_rows(report: dict, target: str, subset: str) -> list[dict]:
    """One row per method: its overall summary for `target` and `subset` (rows absent from the report are
    left out)."""
    rows = []
    for method in report.get("methods", []):
        overall = report.get("results", {}).get(target, {}).get(subset, {}).get(method, {}).get("overall")
        if overall:
            rows.append({"method": method, **overall})
    return rows


def per_class_rows(report: dict, target: str, subset: str, method: str) -> list[dict]:
    per_class = report.get("results", {}).get(target, {}).get(subset, {}).get(method, {}).get("per_class", {})
    return [{"class": name, **summary} for name, summary in per_class.items()]
