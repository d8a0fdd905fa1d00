"""Metrics and their intervals on the sets that break naive code: empty, one class, three images."""

import numpy as np
import pytest

from core.report.intervals import bootstrap_auc, plural, rate_of, small_set_warning, wilson
from core.report.metrics import classification_report
from core.report.scoring import ScoredImages, summarise
from train import evaluate

CLASSES = ["glioma", "meningioma", "notumor", "pituitary"]


def scored(probabilities: np.ndarray) -> ScoredImages:
    return ScoredImages(
        np.log(probabilities + 1e-9).astype(np.float32), probabilities, np.full(len(probabilities), "ok")
    )


def test_an_empty_set_has_unknown_rates_and_zero_counts():
    report = summarise(np.zeros(0, np.int64), scored(np.zeros((0, 4))), CLASSES, {"sequence": np.zeros(0, object)})
    assert report["n"] == 0 and report["accuracy"] is None and report["macro"]["f1"] is None
    assert report["confusion_matrix"] == [[0] * 4] * 4 and report["outcomes"]["answered"] == 0


def test_a_one_class_set_is_scored_without_an_auc():
    probabilities = np.eye(4)[[0, 0, 1]] * 0.9 + 0.025
    report = classification_report(np.zeros(3, np.int64), probabilities, CLASSES)
    assert report["accuracy"] == pytest.approx(2 / 3) and report["macro"]["roc_auc"] is None


def test_wilson_interval_is_wide_on_three_images_and_never_leaves_0_to_1():
    three = wilson(3, 3)
    assert three.high == 1.0 and three.low < 0.45  # "100 %" on three images is at best "above 44 %"
    many = wilson(1227, 1311)
    assert 0.92 < many.low < 0.936 < many.high < 0.95
    assert wilson(0, 0) is None and wilson(0, 5).low == 0.0
    assert rate_of(1.0, 3).startswith("100.0 % (3 of 3; 95 % CI 43.9–100.0 %)")


def test_bootstrap_auc_interval_contains_the_auc_and_needs_both_classes():
    generator = np.random.default_rng(1)
    positive = generator.random(200) < 0.5
    scores = positive + generator.normal(0, 0.8, 200)
    interval = bootstrap_auc(positive, scores)
    from sklearn.metrics import roc_auc_score

    assert interval.low < roc_auc_score(positive, scores) < interval.high < 1.0
    assert bootstrap_auc(np.ones(5, bool), np.arange(5.0)) is None


def test_the_bootstrap_auc_of_each_round_is_scikit_learns_auc_of_that_resample():
    """The vectorised rank form must be the AUC itself, ties included (scores rounded to force ties)."""
    from sklearn.metrics import roc_auc_score

    from core.report.intervals import BOOTSTRAP_ROUNDS, BOOTSTRAP_SEED

    generator = np.random.default_rng(2)
    positive = generator.random(300) < 0.3
    scores = np.round(positive * 0.4 + generator.random(300), 1)
    rows = np.random.default_rng(BOOTSTRAP_SEED).integers(0, 300, (BOOTSTRAP_ROUNDS, 300))
    expected = [roc_auc_score(positive[r], scores[r]) for r in rows]
    interval = bootstrap_auc(positive, scores)
    assert interval.low == pytest.approx(np.percentile(expected, 2.5), abs=1e-12)
    assert interval.high == pytest.approx(np.percentile(expected, 97.5), abs=1e-12)


def test_small_sets_are_warned_about_and_plurals_read_right():
    assert small_set_warning({"glioma": 60, "notumor": 0}) == ""
    assert "glioma 3" in small_set_warning({"glioma": 3, "notumor": 80})
    assert plural(1, "image") == "1 image" and plural(2, "image") == "2 images"


def test_the_cli_scores_a_folder_where_nothing_can_be_read(tiny_weights, tmp_path):
    import shutil

    weights = tmp_path / "weights"
    shutil.copytree(tiny_weights, weights)
    folder = tmp_path / "bad"
    (folder / "glioma").mkdir(parents=True)
    (folder / "notumor").mkdir()
    (folder / "glioma" / "empty.jpg").write_bytes(b"")
    (folder / "notumor" / "text.jpg").write_bytes(b"just some words")
    metrics = evaluate.evaluate_folder(weights, folder, "bad", workers=1, device="cpu")
    assert metrics["all"]["n"] == 0 and metrics["all"]["accuracy"] is None
