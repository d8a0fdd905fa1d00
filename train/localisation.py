"""Measure where a trained model's heatmaps point: on the held-out test slices that have a tumour outline.

  python -m train.localisation --weights weights/default --data ../shared/data/brain-tumor-mri \
      --masks ../shared/data/brain-tumor-mri-masks

The test images come from the run's `split_manifest.csv` (split "test", source = the --data folder's name);
those with a mask under --masks (same relative path, .png) are scored. Each image is assessed as the app
assesses it, then explained by every method of core.model.gradcam with the map the app draws (smoothed, on the
picture's pixels, inside the head), for two targets:
  stated_class  the class the app states (images the app abstains on or refuses have no such map)
  true_class    the folder's class
and scored with core.report.localisation_scores (pointing game, heat share, and a baseline that knows only
the head), for all test images with a mask and for the leak-free ones (no copy in the training data). Writes
WEIGHTS/localisation.json and a few example overlays (localisation_examples.npz), which the Evaluation page
shows. --limit-per-class draws a seeded sample.

For a network that outlines tumours, the outline is scored too: as an explanation ("Outline", its probability
map on the picture's pixels) beside the Grad-CAM methods, and as a segmentation ("segmentation": Dice and IoU
of the outlined region against the mask, per class, for both subsets).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from core.decide.assessment import assess
from core.decide.outline import outline_on_picture
from core.io.image_io import read_image
from core.io.png import thumbnail
from core.labels import display_name
from core.model.checkpoint import write_json_atomic
from core.model.gradcam import METHODS, Explainer, overlay
from core.model.inference import Classifier
from core.model.preprocessing import head_mask
from core.report.localisation_scores import (
    SUBSETS,
    TARGETS,
    TOLERANCE_FRACTION,
    Overlap,
    PictureScore,
    overlap,
    peak,
    score,
    summarise,
    summarise_overlap,
)
from core.run.run_folder import TEST, RunFolder

EXAMPLES_PER_CLASS, EXAMPLE_SIDE = 2, 192
OUTLINE = "Outline"  # the mask head's probability map, scored as an explanation


def test_images_with_masks(weights: Path, data: Path, masks: Path) -> list[dict]:
    """Manifest rows of the run's test images from `data` that have a tumour mask, with the mask's path."""
    rows = [row for row in RunFolder(weights).manifest_rows() if row["split"] == TEST and row["source"] == data.name]
    found = []
    for row in rows:
        mask = masks / Path(row["path"]).with_suffix(".png")
        if mask.is_file():
            found.append({**row, "mask": mask, "leak_free": row.get("leak_free") in ("1", "1.0")})
    return found


def sample(rows: list[dict], per_class: int | None, seed: int) -> list[dict]:
    if per_class is None:
        return rows
    by_class: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_class[row["class"]].append(row)
    per_class_counts = {name: min(per_class, len(items)) for name, items in by_class.items()}
    generator = random.Random(seed)
    picked = [row for name in sorted(by_class) for row in generator.sample(by_class[name], per_class_counts[name])]
    return sorted(picked, key=lambda row: row["path"])


def read_mask(path: Path, shape: tuple[int, int]) -> np.ndarray:
    mask = read_image(path) > 0.5
    if mask.shape != shape:
        raise ValueError(f"{path}: mask {mask.shape} and image {shape} differ in size")
    return mask


def measure(classifier: Classifier, rows: list[dict], data: Path, methods: list[str], progress=None) -> dict:
    """Scores per (target, subset, method) and class, and the seconds each method's maps took."""
    explainer = Explainer(classifier)
    scores: dict[tuple[str, str, str], dict[str, list[PictureScore]]] = defaultdict(lambda: defaultdict(list))
    seconds = defaultdict(float)
    maps = defaultdict(int)
    stated_counts = defaultdict(int)
    overlaps: dict[str, dict[str, list[Overlap]]] = {subset: defaultdict(list) for subset in SUBSETS}
    for done, row in enumerate(rows, start=1):
        gray = read_image(data / row["path"])
        tumour, head = read_mask(row["mask"], gray.shape), head_mask(gray)
        answer = assess(classifier, [gray])[0]
        stated = answer.prediction
        stated_counts["stated" if stated else "not stated"] += 1
        truth = row["class"]
        if answer.tumour_mask is not None:
            outline = outline_on_picture(
                answer.tumour_mask, gray, classifier.preprocessing, None, classifier.outline_presence
            )
            measured = overlap(outline.mask, tumour)
            heat = classifier.preprocessing.project_to_original(answer.tumour_mask, gray) * head
            outline_score = score(heat, tumour, head)
            for subset in SUBSETS:
                if subset == "all" or row["leak_free"]:
                    overlaps[subset][truth].append(measured)
                    for target_kind in TARGETS:
                        scores[(target_kind, subset, OUTLINE)][truth].append(outline_score)
        for method in methods:
            cache: dict[str, PictureScore] = {}
            for target_kind, name in (("true_class", truth), ("stated_class", stated)):
                if not name:
                    continue
                if name not in cache:
                    started = time.perf_counter()
                    heat = explainer.explain(gray, classifier.classes.index(name), method)
                    seconds[method] += time.perf_counter() - started
                    maps[method] += 1
                    cache[name] = score(heat, tumour, head)
                for subset in SUBSETS:
                    if subset == "all" or row["leak_free"]:
                        scores[(target_kind, subset, method)][truth].append(cache[name])
        if progress:
            progress(done, len(rows))
    results: dict = {target: {subset: {} for subset in SUBSETS} for target in TARGETS}
    for (target_kind, subset, method), by_class in scores.items():
        everything = [item for items in by_class.values() for item in items]
        results[target_kind][subset][method] = {
            "overall": summarise(everything).to_dict(),
            "per_class": {name: summarise(items).to_dict() for name, items in sorted(by_class.items())},
        }
    segmentation = {
        subset: {
            "overall": summarise_overlap([o for items in by_class.values() for o in items]),
            "per_class": {name: summarise_overlap(items) for name, items in sorted(by_class.items())},
        }
        for subset, by_class in overlaps.items()
        if by_class
    }
    return {
        "results": results,
        **({"segmentation": segmentation} if segmentation else {}),
        "stated": dict(stated_counts),
        "ms_per_map": {method: 1000 * seconds[method] / maps[method] for method in methods if maps[method]},
    }


def write_examples(classifier: Classifier, rows: list[dict], data: Path, out: Path) -> Path:
    """A few overlays for the Evaluation page: the first slices of each class by file name (not chosen by how
    they score): for a network that outlines tumours its outline beside the expert's, else the default method's
    map of the true class with the tumour's outline and the map's peak. uint8 (N, side, side, 3) pictures and
    their captions in WEIGHTS/localisation_examples.npz."""
    explainer, method = Explainer(classifier), next(iter(METHODS))
    by_class: dict[str, list[dict]] = defaultdict(list)
    for row in sorted(rows, key=lambda row: row["path"]):
        by_class[row["class"]].append(row)
    pictures, captions = [], []
    for name in sorted(by_class):
        for row in by_class[name][:EXAMPLES_PER_CLASS]:
            gray = read_image(data / row["path"])
            tumour = read_mask(row["mask"], gray.shape)
            width = max(2, round(max(gray.shape) / 170))
            if classifier.outlines_tumour:
                picture, caption = _outline_example(classifier, gray, tumour, width)
            else:
                picture, caption = _heatmap_example(explainer, method, gray, tumour, name, width)
            pictures.append(_square(thumbnail(picture, EXAMPLE_SIDE)))
            captions.append(f"{display_name(name)} · {caption} · {Path(row['path']).name}")
    path = RunFolder(out).localisation_examples
    np.savez_compressed(path, images=np.stack(pictures), captions=np.array(captions), method=np.array(method))
    return path


def _heatmap_example(explainer, method, gray, tumour, name, width) -> tuple[np.ndarray, str]:
    """The method's map of the true class, the tumour's outline in green and the map's peak ringed in white."""
    heat = explainer.explain(gray, explainer.classifier.classes.index(name), method)
    hit = score(heat, tumour, head_mask(gray)).hit
    picture = _draw_mask(overlay(gray, heat, 0.5), tumour, (0, 255, 0), width)
    if (top := peak(heat)) is not None:
        cv2.circle(picture, (top[1], top[0]), 4 * width, (255, 255, 255), width)
    return picture, f"{method} peak {'on' if hit else 'off'} the tumour"


def _outline_example(classifier, gray, tumour, width) -> tuple[np.ndarray, str]:
    """The expert's outline in green and the model's in yellow, on the slice."""
    mask = assess(classifier, [gray])[0].tumour_mask
    predicted = outline_on_picture(mask, gray, classifier.preprocessing, None, classifier.outline_presence).mask
    grey = np.repeat(np.clip(np.rint(gray * 255), 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    picture = _draw_mask(_draw_mask(grey, tumour, (0, 255, 0), width), predicted, (255, 255, 0), width)
    return picture, f"outline Dice {overlap(predicted, tumour).dice:.2f} (green: expert, yellow: model)"


def _draw_mask(picture: np.ndarray, mask: np.ndarray, colour, width) -> np.ndarray:
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    picture = np.ascontiguousarray(picture)
    cv2.drawContours(picture, contours, -1, colour, width)
    return picture


def _square(picture: np.ndarray) -> np.ndarray:
    """Centre an RGB thumbnail on a black EXAMPLE_SIDE square, so the examples stack into one array."""
    height, width = picture.shape[:2]
    square = np.zeros((EXAMPLE_SIDE, EXAMPLE_SIDE, 3), np.uint8)
    top, left = (EXAMPLE_SIDE - height) // 2, (EXAMPLE_SIDE - width) // 2
    square[top : top + height, left : left + width] = picture
    return square


def run(weights: Path, data: Path, masks: Path, per_class: int | None = None, seed: int = 0, methods=None) -> dict:
    classifier = Classifier(weights, device="cpu")
    methods = list(methods or METHODS)
    shown = ([OUTLINE] if classifier.outlines_tumour else []) + methods  # every method the report lists
    rows = sample(test_images_with_masks(weights, data, masks), per_class, seed)
    if not rows:
        raise SystemExit(f"no test image of {RunFolder(weights).manifest} from {data.name} has a mask under {masks}")
    started = time.perf_counter()

    def progress(done: int, total: int) -> None:
        if done % 50 == 0 or done == total:
            print(f"{done}/{total} images, {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)

    measured = measure(classifier, rows, data, methods, progress)
    counts = defaultdict(lambda: [0, 0])
    for row in rows:
        counts[row["class"]][0] += 1
        counts[row["class"]][1] += row["leak_free"]
    document = {
        "weights": weights.name,
        "architecture": classifier.architecture,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python -m train.localisation", *sys.argv[1:]]),
        "data": data.name,
        "masks": masks.name,
        "sample": {"limit_per_class": per_class, "seed": seed},
        "images": {name: {"all": n, "leak_free": clean} for name, (n, clean) in sorted(counts.items())},
        "tolerance": f"{TOLERANCE_FRACTION:.4f} of the picture's longer side (15 px on a 512-px slice)",
        "baselines": "pointing: the head's centroid; heat share: heat spread evenly over the head",
        "methods": shown,
        "seconds": round(time.perf_counter() - started, 1),
        **measured,
    }
    write_json_atomic(RunFolder(weights).localisation, document)
    write_examples(classifier, rows, data, weights)
    return document


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.localisation", description=__doc__.split("\n")[0])
    parser.add_argument("--weights", type=Path, required=True, help="a run folder (model + split_manifest.csv)")
    parser.add_argument("--data", type=Path, required=True, help="the image folder the run's manifest names")
    parser.add_argument("--masks", type=Path, required=True, help="tumour masks: the same layout, .png")
    parser.add_argument("--limit-per-class", type=int, default=None, help="score a seeded sample of this many")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=None)
    args = parser.parse_args(argv)
    document = run(args.weights, args.data, args.masks, args.limit_per_class, args.seed, args.methods)
    for method in document["methods"]:
        overall = document["results"]["true_class"]["all"][method]["overall"]
        print(
            f"{method:12s} true class: pointing {overall['pointing_game']:.1%} (baseline "
            f"{overall['baseline_pointing_game']:.1%}), heat share {overall['heat_share']:.1%} (baseline "
            f"{overall['baseline_heat_share']:.1%}), n={overall['n']}"
        )
    print(f"wrote {RunFolder(args.weights).localisation}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
