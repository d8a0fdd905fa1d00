import numpy as np
import pandas as pd

from core.report.run_report import Curve
from ui import charts

CLASSES = ["glioma", "meningioma", "notumor", "pituitary"]


def test_probability_bars_follow_the_class_order_and_mark_the_stated_class():
    probabilities = {"glioma": 0.1, "meningioma": 0.7, "notumor": 0.15, "pituitary": 0.05}
    bar = charts.probability_bars(probabilities, CLASSES, stated="meningioma").data[0]
    assert list(bar.y) == ["Glioma", "Meningioma", "No tumour", "Pituitary tumour"]
    assert list(bar.x) == [0.1, 0.7, 0.15, 0.05] and list(bar.text) == ["10.0 %", "70.0 %", "15.0 %", "5.0 %"]
    assert list(bar.marker.opacity) == [0.45, 1.0, 0.45, 0.45]
    unstated = charts.probability_bars(probabilities, CLASSES, stated="").data[0]
    assert set(unstated.marker.opacity) == {1.0}  # no class singled out when none is stated


def test_slice_profile_keeps_gaps_for_unclassified_slices():
    probabilities = np.full((5, 4), 0.25)
    probabilities[0] = np.nan
    figure = charts.slice_profile(probabilities, CLASSES, current=2, plane="axial")
    assert len(figure.data) == 4 + 2 and list(figure.data[0].x) == [1, 2, 3, 4, 5]  # classes, then two statuses
    assert np.isnan(figure.data[0].y[0])
    assert [trace.name for trace in figure.data[4:]] == [
        "answered (its probabilities are drawn above)",
        "no tissue: not classified",
    ]
    assert figure.layout.shapes[0].x0 == 3  # the shown slice, 1-based


def test_slice_profile_draws_scores_only_for_answered_slices_and_marks_the_others_in_words():
    probabilities = np.tile([0.9, 0.05, 0.03, 0.02], (6, 1))
    statuses = ["ok", "uncertain", "not_mri", "ok", "no_tissue", "too_small"]
    figure = charts.slice_profile(probabilities, CLASSES, None, "series", statuses=statuses, supporting=(0, 3))
    glioma = np.asarray(figure.data[0].y, dtype=float)
    assert glioma[0] == 0.9 and glioma[3] == 0.9 and np.isnan(glioma[[1, 2, 4, 5]]).all()
    strip = {trace.name: list(trace.x) for trace in figure.data[4:]}
    assert strip == {
        "answered (its probabilities are drawn above)": [1, 4],
        "uncertain: below the confidence threshold, no class stated": [2],
        "refused: not like a brain MRI slice": [3],
        "refused: too small to classify": [6],
        "no tissue: not classified": [5],
        "supports the series answer": [1, 4],
    }
    assert not figure.layout.shapes  # no slice is marked as shown


def test_confusion_heatmap_labels_counts_and_fractions():
    counts = np.array([[3, 1], [0, 4]])
    counted = charts.confusion_heatmap(counts, ["glioma", "notumor"], normalised=False).data[0]
    assert [list(row) for row in counted.text] == [["3", "1"], ["0", "4"]]
    normalised = charts.confusion_heatmap(counts / counts.sum(1, keepdims=True), ["glioma", "notumor"], True)
    assert list(normalised.data[0].text[0]) == ["75.0 %", "25.0 %"]


def test_curve_legends_carry_the_areas():
    curves = {"glioma": Curve(np.array([0, 1]), np.array([0, 1]), 0.5), "notumor": Curve(np.zeros(2), np.ones(2), None)}
    roc = charts.curves_figure(curves, "roc")
    assert [trace.name for trace in roc.data] == ["Glioma (AUC 0.500)", "No tumour (AUC n/a)", "chance"]
    assert charts.curves_figure(curves, "pr").data[0].name == "Glioma (AP 0.500)"


def test_reliability_and_training_figures_draw_what_is_there():
    bins = pd.DataFrame({"confidence": [0.5, 0.9], "accuracy": [0.4, 0.95], "count": [3, 30]})
    figure = charts.reliability_figure(bins, bins.iloc[:0], 0.1, None)
    assert [trace.name for trace in figure.data] == ["perfect calibration", "before temperature scaling (ECE 0.100)"]
    history = pd.DataFrame({"epoch": [1, 2], "train_loss": [1.0, 0.5], "lr": [0.1, 0.01]})
    assert [trace.name for trace in charts.training_curves(history).data] == ["train", "learning rate"]
