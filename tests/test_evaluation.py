import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.report import run_report
from core.report.run_report import load_report

SHIPPED = Path(__file__).resolve().parents[1] / "weights" / "default"


@pytest.fixture(scope="module")
def run(tiny_weights):
    return load_report(tiny_weights)


def test_a_complete_report_loads_without_problems(run):
    assert run.problems == []
    assert run.classes == ["glioma", "meningioma", "notumor", "pituitary"]
    assert run.metrics and run.predictions is not None and run.history is not None and run.misclassified is not None
    assert len(run.predictions) == run.test("full")["n"]


@pytest.mark.parametrize("subset", ["full", "leak_free"])
def test_confusion_matrix_from_predictions_matches_the_report(run, subset):
    rows = run_report.subset(run.predictions, subset)
    assert len(rows) == run.test(subset)["n"]
    np.testing.assert_array_equal(
        run_report.confusion_counts(rows, run.classes), np.array(run.test(subset)["confusion_matrix"])
    )


def test_one_vs_rest_areas_by_hand():
    # class a: positives score 0.9 and 0.4, negatives 0.5 and 0.1 -> 3 of 4 pairs ordered: AUC 0.75
    predictions = pd.DataFrame({"true": ["a", "a", "b", "b"], "p_a": [0.9, 0.4, 0.5, 0.1], "p_b": [0.1, 0.6, 0.5, 0.9]})
    roc = run_report.roc_curves(predictions, ["a", "b"])
    assert roc["a"].area == pytest.approx(0.75) and roc["b"].area == pytest.approx(0.75)
    assert roc["a"].x[0] == 0 and roc["a"].y[-1] == 1
    pr = run_report.precision_recall_curves(predictions, ["a", "b"])
    assert pr["a"].area == pytest.approx((1 / 1 + 2 / 3) / 2)  # average precision: hits at ranks 1 and 3


@pytest.mark.skipif(not SHIPPED.joinpath("predictions.csv").is_file(), reason="no shipped weights report")
def test_roc_areas_from_predictions_reproduce_the_shipped_report():
    shipped = load_report(SHIPPED)
    curves = run_report.roc_curves(shipped.predictions, shipped.classes)
    for name in shipped.classes:
        # predictions.csv rounds probabilities to 6 decimals: ties may move the AUC in the 4th decimal
        assert curves[name].area == pytest.approx(shipped.test("full")["per_class"][name]["roc_auc"], abs=1e-3)


def test_curves_handle_a_class_without_positives():
    predictions = pd.DataFrame(
        {"true": ["a", "a", "b"], "p_a": [0.9, 0.6, 0.3], "p_b": [0.05, 0.3, 0.6], "p_c": [0.05, 0.1, 0.1]}
    )
    roc = run_report.roc_curves(predictions, ["a", "b", "c"])
    assert roc["a"].area == 1.0 and roc["c"].area is None
    pr = run_report.precision_recall_curves(predictions, ["a", "b", "c"])
    assert pr["b"].area == pytest.approx(1.0) and pr["c"].area is None


def test_risk_coverage_by_hand():
    predictions = pd.DataFrame(
        {
            "confidence": [0.99, 0.95, 0.80, 0.60],
            "prediction": ["a", "b", "a", "b"],
            "true": ["a", "a", "a", "a"],  # wrong at 0.95 and at 0.60
        }
    )
    curve = run_report.risk_coverage(predictions)
    np.testing.assert_allclose(curve.x, [0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(curve.y, [0.0, 0.5, 1 / 3, 0.5])
    assert curve.area == pytest.approx(np.mean([0.0, 0.5, 1 / 3, 0.5]))


def test_full_coverage_risk_is_the_error_rate(run):
    curve = run_report.risk_coverage(run.predictions)
    assert curve.y[-1] == pytest.approx(1 - run.test("full")["accuracy"])


def test_row_normalised_rows_sum_to_one_and_empty_rows_stay_zero():
    normalised = run_report.row_normalised(np.array([[3, 1], [0, 0]]))
    np.testing.assert_allclose(normalised, [[0.75, 0.25], [0.0, 0.0]])


def test_misclassified_gallery_subsets(run):
    everything = run_report.misclassified_in(run, "full")
    assert len(everything) == run.test("full")["errors"]
    clean = run_report.misclassified_in(run, "leak_free")
    assert len(clean) == run.test("leak_free")["errors"] and set(clean) <= set(everything)


def test_missing_and_damaged_artifacts_become_notes_not_errors(tmp_path, tiny_weights):
    partial = tmp_path / "partial"
    shutil.copytree(tiny_weights, partial)
    for name in ("history.csv", "misclassified.npz", "predictions.csv"):
        (partial / name).unlink()
    (partial / "metrics.json").write_text("{ not json")
    loaded = load_report(partial)
    assert loaded.metrics is None and loaded.history is None and loaded.predictions is None
    assert len(loaded.problems) == 4 and any("metrics.json could not be read" in p for p in loaded.problems)
    assert loaded.test("full") is None and run_report.misclassified_in(loaded, "full") == []
    assert loaded.classes == ["glioma", "meningioma", "notumor", "pituitary"]  # from metadata.json


def test_comparison_puts_runs_side_by_side(tmp_path, tiny_weights, run):
    other_path = tmp_path / "other"
    shutil.copytree(tiny_weights, other_path)
    other = load_report(other_path)
    table = run_report.comparison([run, other])
    assert list(table.columns) == ["subset", "metric", run.name, "other"]
    accuracy = table[(table.metric == "accuracy") & (table.subset == "Full test set")]
    assert accuracy[run.name].item() == run.test("full")["accuracy"] == accuracy["other"].item()
    assert run_report.same_test_data([run, other])
    metadata = json.loads((other_path / "metadata.json").read_text())
    metadata["data"]["manifest_sha256"] = "0" * 64
    (other_path / "metadata.json").write_text(json.dumps(metadata))
    assert not run_report.same_test_data([run, load_report(other_path)])


def test_recipe_reads_the_training_arguments(run):
    recipe = run_report.recipe(run.metadata)
    assert recipe["architecture"] == "custom_cnn" and recipe["input size (px)"] == 32
    assert recipe["epochs (max / run / best)"].startswith("3 / 3 / ")
    assert recipe["calibration temperature"] == run.metadata["calibration"]["temperature"]
    assert recipe["sources repeated per epoch"] is None  # no --repeat
    repeated = {**run.metadata, "training": {"args": {"repeat": [["radiopaedia-mri", 2]]}}}
    assert run_report.recipe(repeated)["sources repeated per epoch"] == "radiopaedia-mri × 2"


def test_reliability_table_keeps_bins_with_images(run):
    table = run_report.reliability_table(run.test("full")["reliability"]["calibrated"])
    assert (table["count"] > 0).all() and table["count"].sum() == run.test("full")["n"]
