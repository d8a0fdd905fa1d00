"""Fit what lets a trained model say "I don't know": the abstention threshold and the "not a brain MRI" gate.

  python -m train.safety --weights weights/default --data ../shared/data/brain-tumor-mri

Runs at the end of every `python -m train`, and standalone on existing weights: it reads the run's split
manifest, so it uses exactly the run's training, validation and test images. Both settings are chosen on
validation only; the gate's second stage also learns from drawings of other body parts and modalities
(train/non_mri.gate_examples). The test set, each source's part of it, and a separate set of non-MRI
pictures (train/non_mri.non_mri_images) measure them. Writes
`ood.safetensors`, adds "abstention" and "ood" to metadata.json (the weights' hash is untouched) and to
metrics.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from core.decide.assessment import NOT_MRI, assess
from core.decide.outline import (
    MASK_THRESHOLD,
    MIN_REGION_FRACTION,
    NO_TUMOUR_PERCENTILE,
    presence_level,
    region_pixels,
    rows_disagreeing,
)
from core.io.scan_io import load_scan
from core.labels import NO_TUMOUR
from core.model.checkpoint import read_metadata, write_json_atomic
from core.model.inference import Classifier, softmax
from core.model.ood import GateSettings, fit_gate, signatures, stage_statistics
from core.report.scoring import score_images
from core.run.run_folder import GATE_FILE, RunFolder
from train.abstention import choose_threshold, selective_summary, tradeoff
from train.dataset import PreparedData, Source, prepare
from train.non_mri import gate_examples, non_mri_images
from train.other_body_parts import GENERATORS
from train.report import write_test_results
from train.splits import TEST, TRAIN, VAL

TARGET_RISK = 0.01  # stated classes may be wrong at most 1 time in 100 on validation
GATE_PERCENTILE = 99.5  # of validation MRI scores: at most ~0.5 % of real scans refused


def fit_safety(
    weights_dir: str | Path, data: PreparedData, splits: np.ndarray, leak_free: np.ndarray, device: str | None = None
) -> dict:
    """Fit, store and measure both settings; returns what was added to metrics.json."""
    weights_dir = Path(weights_dir)
    classifier = Classifier(weights_dir, device=device)
    train, val, test = (np.nonzero(splits == name)[0] for name in (TRAIN, VAL, TEST))
    clean = leak_free[test]

    # Scored once per image; the leak-free subset is a slice of the full test set's results.
    confidence, correct, signatures, disagree = {}, {}, {}, {}
    presence = None
    for name, index in (("validation", val), ("test_full", test)):
        logits, masks = classifier.logits_and_masks(data.images[index])
        probabilities = softmax(logits / classifier.temperature)
        confidence[name], correct[name] = probabilities.max(1), probabilities.argmax(1) == data.labels[index]
        signatures[name] = _signatures(classifier, data, index)
        if masks is not None and presence is None:  # validation comes first: the level is fitted there only
            healthy = data.classes.index(NO_TUMOUR) if NO_TUMOUR in data.classes else -1
            presence = presence_level(masks[data.labels[index] == healthy])
        disagree[name] = _disagreements(classifier, probabilities, masks, presence)
    for results in (confidence, correct, signatures):
        results["test_leak_free"] = results["test_full"][clean]
    disagree["test_leak_free"] = None if disagree["test_full"] is None else disagree["test_full"][clean]

    threshold = choose_threshold(confidence["validation"], correct["validation"], TARGET_RISK)
    gate = fit_gate(
        _signatures(classifier, data, train),
        signatures["validation"],
        _picture_signatures(classifier, gate_examples()),
        GateSettings(percentile=GATE_PERCENTILE),
    )
    metadata = read_metadata(weights_dir)
    if presence is not None:
        metadata["outline"] = {
            "presence_threshold": presence,
            "rule": (
                f"a region is outlined when its {MIN_REGION_FRACTION:.1%}-of-the-input most confident pixels "
                f"average at least the {NO_TUMOUR_PERCENTILE:g}th percentile of that value on validation no-tumour "
                f"slices; its shape is the mask probability at or above {MASK_THRESHOLD}"
            ),
        }
    metadata["abstention"] = {
        "threshold": threshold,
        "rule": (
            f"lowest calibrated confidence at which validation answers are wrong at most {TARGET_RISK:.0%} of the time"
        ),
        **disagreement_rule(confidence["validation"] >= threshold, correct["validation"], disagree["validation"]),
    }
    metadata["ood"] = {
        "file": GATE_FILE,
        "sha256": gate.save(weights_dir),
        "threshold": gate.threshold,
        "rule": (
            f"Gaussian-mixture score above the {GATE_PERCENTILE}th percentile of validation MRI, or the score of a "
            "logistic regression (MRI against drawings of other body parts and modalities) above the "
            f"{GateSettings().direction_percentile}th percentile of validation MRI"
        ),
        "direction_threshold": gate.direction_threshold,
    }
    write_json_atomic(RunFolder(weights_dir).metadata, metadata)

    abstention = {**metadata["abstention"], "target_risk": TARGET_RISK}
    gate_report = dict(metadata["ood"])
    rejected = {}
    for name in confidence:
        # The answered share under the whole rule: disagreeing heads withhold the class when validation said so.
        withheld = disagree[name] if metadata["abstention"].get("on_head_disagreement") else None
        effective = confidence[name] if withheld is None else np.where(withheld, -1.0, confidence[name])
        abstention[name] = selective_summary(effective, correct[name], threshold)
        abstention[f"{name}_tradeoff"] = tradeoff(confidence[name], correct[name])
        rejected[name] = gate.rejects(signatures[name]) if len(signatures[name]) else np.zeros(0, bool)
        gate_report[f"{name}_false_rejection"] = _share(rejected[name])
    # Per source: a gate that refuses one hospital's scans is a gate that hides from it.
    for name, index in (("validation", val), ("test_full", test)):
        origin = np.array([data.files[i].source for i in index])
        gate_report[f"{name}_false_rejection"]["by_source"] = {
            source: _share(rejected[name][origin == source]) for source in sorted(set(origin))
        }
    # The non-MRI set goes through the product's own path, with the model loaded as the app loads it.
    gate_report["non_mri"] = _non_mri_report(Classifier(weights_dir, device=device))
    sections = {"abstention": abstention, "ood": gate_report}
    metrics_path = RunFolder(weights_dir).metrics
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    write_json_atomic(metrics_path, {**metrics, **sections})
    return sections


def _disagreements(
    classifier: Classifier, probabilities: np.ndarray, masks: np.ndarray | None, presence: float | None
) -> np.ndarray | None:
    """Where the class head and the mask head disagree (core/decide/outline.py); None without a mask head."""
    if masks is None:
        return None
    return rows_disagreeing(classifier.classes, probabilities, region_pixels(masks, presence))


def disagreement_rule(answered: np.ndarray, correct: np.ndarray, disagree: np.ndarray | None) -> dict:
    """Withhold the class where the heads disagree when, on validation, the answers that clear the confidence
    threshold but disagree are right less often than the target (1 - TARGET_RISK)."""
    if disagree is None:
        return {}
    affected = answered & disagree
    accuracy = float(correct[affected].mean()) if affected.any() else None
    return {
        "on_head_disagreement": accuracy is not None and accuracy < 1 - TARGET_RISK,
        "head_disagreement_validation": {"answered_and_disagreeing": int(affected.sum()), "accuracy": accuracy},
    }


def _signatures(classifier: Classifier, data: PreparedData, index: np.ndarray) -> np.ndarray:
    """The gate's input for prepared dataset images: the image statistics recorded while decoding them
    (the decoded pictures are not kept) and the early stages' statistics."""
    return np.concatenate([data.statistics[index], stage_statistics(classifier, data.images[index])], 1)


def _share(refused: np.ndarray) -> dict:
    return {"n": len(refused), "rejected": int(refused.sum()), "rate": float(refused.mean()) if len(refused) else None}


def _picture_signatures(classifier: Classifier, pictures: list[tuple[str, bytes]]) -> np.ndarray:
    """The gate's input for pictures given as files, decoded as the app decodes an upload."""
    grays = [load_scan(png, name).render() for name, png in pictures]
    return signatures(classifier, grays, np.stack([classifier.prepare(gray) for gray in grays]))


def _non_mri_report(classifier: Classifier) -> dict:
    """How many of the non-MRI pictures `assess` refuses, and which it lets through."""
    pictures = non_mri_images()
    answers = assess(classifier, [load_scan(png, name).render() for name, png in pictures])
    accepted = [name for (name, _), answer in zip(pictures, answers, strict=True) if answer.status != NOT_MRI]
    refused = np.array([answer.status == NOT_MRI for answer in answers])
    names = [name for name, _ in pictures]
    return {
        **_share(refused),
        "accepted": accepted,
        # The drawn body parts, kind by kind (each also among the totals above).
        "by_kind": {kind: _share(refused[[n.startswith(f"{kind} ") for n in names]]) for kind in GENERATORS},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.safety", description=__doc__.split("\n")[0])
    parser.add_argument("--weights", required=True, help="a weights folder written by python -m train")
    parser.add_argument(
        "--data", required=True, action="append", type=Source.parse, help="a source the run was trained on; repeat"
    )
    parser.add_argument("--workers", type=int, help="decoding processes (default: all cores)")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: CUDA when available)")
    args = parser.parse_args(argv)

    weights = Path(args.weights)
    manifest = {(row.get("source", ""), row["path"]): row for row in RunFolder(weights).manifest_rows()}
    preprocessing = Classifier(weights, device="cpu").preprocessing
    data = prepare(args.data, preprocessing, workers=args.workers)
    # Manifests written before sources existed have no source column.
    has_sources = any(source for source, _ in manifest)
    rows = [manifest.get((f.source if has_sources else "", f.relative)) for f in data.files]
    changed = [
        f.relative
        for f, row, digest in zip(data.files, rows, data.sha256, strict=True)
        if row and row["sha256"] != digest
    ]
    missing = [f"{f.source}/{f.relative}" for f, row in zip(data.files, rows, strict=True) if row is None]
    if missing:
        sources = sorted({source for source, _ in manifest if source})
        print(
            f"error: {len(missing)} files are not in the run's manifest, e.g. {missing[0]}; the run's sources are "
            f"{', '.join(sources) or 'unnamed'} (give each as NAME=DIR)",
            file=sys.stderr,
        )
        return 2
    if changed:
        print(f"error: {len(changed)} files differ from the run's manifest, e.g. {changed[0]}", file=sys.stderr)
        return 2
    splits = np.array([row["split"] if row else "" for row in rows])
    leak_free = np.array([bool(row and row["leak_free"] in ("1", "True", "true")) for row in rows])
    sections = fit_safety(weights, data, splits, leak_free, args.device)
    print(summary_line(sections))
    # Test statuses (ok / uncertain / not MRI) depend on the settings just fitted: score the test set again.
    test = np.nonzero(splits == TEST)[0]
    classifier = Classifier(weights, device=args.device)
    scored = score_images(classifier, data.images[test], data.statistics[test], data.picture_status[test])
    write_test_results(weights, data, test, leak_free[test], scored)
    return 0


def summary_line(sections: dict) -> str:
    abstention, gate = sections["abstention"], sections["ood"]
    test, refused = abstention["test_full"], gate["test_full_false_rejection"]
    return (
        f"abstention below {abstention['threshold']:.3f}: test coverage {_percent(test['coverage'])}, "
        f"accuracy when answered {_percent(test['accuracy'])}; gate: non-MRI rejected "
        f"{_percent(gate['non_mri']['rate'])} ({gate['non_mri']['rejected']}/{gate['non_mri']['n']}), "
        f"test MRI refused {_percent(refused['rate'])} ({refused['rejected']}/{refused['n']})"
    )


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2%}"


if __name__ == "__main__":
    sys.exit(main())
