"""The Evaluation and About pages through AppTest, on reports the training module wrote for a tiny model,
complete and with optional parts missing."""

import json
import shutil

import numpy as np
import pytest

from core.model.gradcam import METHODS
from core.report.intervals import percent
from core.report.localisation_scores import SUBSETS, TARGETS, PictureScore, summarise
from core.run.run_folder import LOCALISATION_EXAMPLES_FILE, LOCALISATION_FILE
from tests.apptest import by_label, open_tab, serve, start, texts


@pytest.fixture
def tiny_report(tiny_weights):
    return json.loads((tiny_weights / "metrics.json").read_text())


def test_evaluation_page_shows_the_reports_numbers(tmp_path, monkeypatch, tiny_weights, tiny_report):
    serve(monkeypatch, tmp_path / "weights", {"default": tiny_weights})
    at = start("pages/evaluation.py")
    assert not at.exception
    assert at.title[0].value == "Held-out evaluation"
    full, clean = tiny_report["test"]["full"], tiny_report["test"]["leak_free"]
    metrics = {m.label: m.value for m in at.metric}
    assert at.metric[0].label == "Accuracy" and at.metric[0].value == percent(full["accuracy"])
    assert at.metric[3].value == percent(clean["accuracy"])
    assert "Macro F1" in metrics and "Balanced accuracy" in metrics
    assert [t.label for t in at.tabs][:7] == [
        "Confusion & per class",
        "Calibration & abstention",
        "Training",
        "Misclassified",
        "Where the model looks",
        "Scored after training",
        "Data",
    ]
    # Only the open tab is drawn: confusion (counts, normalised), ROC, PR
    assert len(at.get("plotly_chart")) == 4
    assert [s.value for s in at.subheader][:4] == [
        "Where this model has been measured",
        "Confusion matrix",
        "Per class",
        "ROC and precision-recall",
    ]
    charts = {"Calibration & abstention": 2, "Training": 1, "Misclassified": 0}  # reliability, risk-coverage; curves
    for tab, count in charts.items():
        open_tab(at, tab)
        assert not at.exception and len(at.get("plotly_chart")) == count, tab
    assert len(at.get("image")) == clean["errors"]  # the misclassified gallery, leak-free by default
    by_label(at.radio, "Test subset for the sections below").set_value("leak_free").run()
    assert not at.exception and len(at.get("image")) == clean["errors"]


def localisation_report(methods: list[str]) -> dict:
    """A report shaped as `python -m train.localisation` writes it, from hand-made scores."""
    hits = [PictureScore(True, 0.5, False, 0.1)] * 3 + [PictureScore(False, 0.1, True, 0.3)]
    entry = {"overall": summarise(hits).to_dict(), "per_class": {"glioma": summarise(hits).to_dict()}}
    results = {target: {subset: dict.fromkeys(methods, entry) for subset in SUBSETS} for target in TARGETS}
    return {
        "methods": methods,
        "results": results,
        "images": {"glioma": {"all": 4, "leak_free": 4}},
        "stated": {"stated": 4},
        "tolerance": "15 px",
        "command": "python -m train.localisation",
        "created": "2026-12-01T00:00:00+00:00",
    }


def test_where_the_model_looks_shows_the_localisation_report_beside_its_baseline(tmp_path, monkeypatch, tiny_weights):
    root = serve(monkeypatch, tmp_path / "weights", {"default": tiny_weights})
    at = open_tab(start("pages/evaluation.py"), "Where the model looks")
    assert "This run has no localisation report" in texts(at)
    (root / "default" / LOCALISATION_FILE).write_text(json.dumps(localisation_report(list(METHODS))))
    at = open_tab(start("pages/evaluation.py"), "Where the model looks")
    assert not at.exception
    table = next(frame.value for frame in at.dataframe if "pointing game" in frame.value.columns)
    assert list(table["method"]) == list(METHODS)
    assert set(table["pointing game"]) == {"75.0 %"} and set(table["baseline pointing"]) == {"25.0 %"}
    assert set(table["heat share"]) == {"40.0 %"} and set(table["baseline heat share"]) == {"15.0 %"}
    assert not at.get("image")  # only this tab is drawn, and there is no examples file
    pictures = np.zeros((2, 8, 8, 3), np.uint8)
    np.savez_compressed(
        root / "default" / LOCALISATION_EXAMPLES_FILE, images=pictures, captions=np.array(["one", "two"])
    )
    at = open_tab(start("pages/evaluation.py"), "Where the model looks")
    captions = [image.proto.imgs[0].caption for image in at.get("image")]
    assert captions == ["one", "two"]


def test_evaluation_page_renders_without_optional_artifacts(tmp_path, monkeypatch, tiny_weights, tiny_report):
    root = serve(monkeypatch, tmp_path / "weights", {"default": tiny_weights})
    for name in ("history.csv", "misclassified.npz", "predictions.csv"):
        (root / "default" / name).unlink()
    stripped = {key: value for key, value in tiny_report.items() if key not in ("data", "calibration", "training")}
    for subset in stripped["test"].values():
        subset.pop("reliability")
    (root / "default" / "metrics.json").write_text(json.dumps(stripped))
    at = start("pages/evaluation.py")
    assert not at.exception
    shown = texts(at)
    assert len(at.get("plotly_chart")) == 2  # the confusion matrices still come from metrics.json
    for tab in ("Calibration & abstention", "Training", "Misclassified", "Data"):
        open_tab(at, tab)
        shown += texts(at)
    for missing in ("history.csv is missing", "misclassified.npz is missing", "No reliability bins", "No data summary"):
        assert missing in shown


def test_abstention_and_gate_measurements_are_shown(tmp_path, monkeypatch, tiny_weights):
    serve(monkeypatch, tmp_path / "weights", {"default": tiny_weights})
    at = start("pages/evaluation.py")
    assert not at.exception
    metrics = json.loads((tiny_weights / "metrics.json").read_text())
    open_tab(at, "Calibration & abstention")
    shown = texts(at)
    assert f"no class below {percent(metrics['abstention']['threshold'])} calibrated confidence" in shown
    non_mri = metrics["ood"]["non_mri"]
    assert f"non-MRI pictures refused {non_mri['rejected']} of {non_mri['n']}" in shown
    abstention = next(frame.value for frame in at.dataframe if "accuracy when answered" in frame.value.columns)
    assert list(abstention["images"]) == ["Validation", "Full test", "Leak-free test"]
    gate = next(frame.value for frame in at.dataframe if "real MRI" in frame.value.columns)
    assert list(gate["real MRI"]) == ["Validation", "Full test", "Leak-free test"]  # one source: no parts
    assert "Drawings of other body parts and modalities refused" in shown and "abdominal CT" in shown


def test_two_runs_can_be_chosen_and_compared(tmp_path, monkeypatch, tiny_weights):
    serve(monkeypatch, tmp_path / "weights", {"default": tiny_weights, "second": tiny_weights})
    at = start()
    model = by_label(at.sidebar.selectbox, "Model")
    assert model.options == ["default", "second"] and model.value == "default"
    model.set_value("second").run()
    assert not at.exception
    # (AppTest loses the entry script's sidebar after a page switch; the browser test sees it on every page)
    at.switch_page("pages/evaluation.py").run()
    open_tab(at, "Compare runs")
    assert by_label(at.selectbox, "Compare with").options == ["default"]
    comparison = next(frame.value for frame in at.dataframe if "metric" in frame.value.columns)
    assert list(comparison.columns) == ["subset", "metric", "second", "default"]


def test_about_page_is_a_model_card_from_the_artifacts(tmp_path, monkeypatch, tiny_weights, tiny_report):
    serve(monkeypatch, tmp_path / "weights", {"default": tiny_weights})
    at = start("pages/about.py")
    assert not at.exception
    headers = [h.value for h in at.header]
    assert headers[:6] == [
        "Intended use",
        "Model and training recipe",
        "Data and its known issues",
        "Held-out performance",
        "Limitations",
        "Example scans",
    ]
    shown = texts(at)
    assert at.caption[0].value.startswith("Model card for run `tiny`, version ")
    data = tiny_report["data"]
    assert f"**{data['leak_free_test_images']} leak-free**" in shown
    assert f"{percent(tiny_report['test']['full']['accuracy'])} on the whole test set" in shown
    samples = next(frame.value for frame in at.dataframe if "source" in frame.value.columns)
    assert len(samples) == 8 and set(samples["leak-free in this run"]) == {"not in this run's test set"}


def test_without_any_trained_run_the_pages_say_so(tmp_path, monkeypatch, tiny_weights):
    serve(monkeypatch, tmp_path / "weights", {})
    for page in (None, "pages/evaluation.py", "pages/about.py"):
        at = start(page)
        assert not at.exception
        assert "No trained model found" in at.error[0].value


def test_damaged_weights_are_reported_not_raised(tmp_path, monkeypatch, tiny_weights):
    root = serve(monkeypatch, tmp_path / "weights", {"default": tiny_weights})
    shutil.copy(root / "default" / "history.csv", root / "default" / "model.safetensors")
    at = start()
    assert not at.exception
    assert any("does not match the sha256" in e.value for e in [*at.error, *at.sidebar.error])


def test_evaluation_page_shows_external_sets_beside_the_test_results(tmp_path, monkeypatch, tiny_weights):
    from tests.phantoms import write_dataset
    from train.evaluate import evaluate_folder

    root = serve(monkeypatch, tmp_path / "weights", {"default": tiny_weights})
    folder = write_dataset(tmp_path / "hospital-b", {"": 3}, seed=41)
    scored = evaluate_folder(root / "default", folder, "hospital-b", workers=1, device="cpu")
    at = start("pages/evaluation.py")
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["set"][:4]) == [  # the honest subset first
        "Leak-free test subset",
        "Leak-free test subset: mri",
        "Full test set",
        "Full test set: mri",
    ]
    assert at.radio(key="eval:subset").value == "leak_free"
    external = table[table["set"].str.startswith("hospital-b")]
    copies = scored["contamination"]["exact_copies"] + scored["contamination"]["near_copies"]
    assert list(external["images"]) == [scored["clean"]["n"]] + ([scored["all"]["n"]] if copies else [])
    assert set(external["kind"]) == {"source never trained on"}
    assert "Sources never trained on" in texts(start())  # the sidebar (drawn on the first page) names it
    open_tab(at, "Scored after training")
    assert "No other source has been scored" not in texts(at)
    assert by_label(at.selectbox, "Set").value == "hospital-b"


def test_a_training_sources_own_folder_is_named_its_held_out_share_not_another_source(
    tmp_path, monkeypatch, tiny_weights, synthetic_dataset
):
    from train.evaluate import evaluate_folder

    root = serve(monkeypatch, tmp_path / "weights", {"default": tiny_weights})
    evaluate_folder(root / "default", synthetic_dataset, "mri-again", workers=1, device="cpu")
    at = start("pages/evaluation.py")
    assert not at.exception
    table = at.dataframe[0].value
    rows = table[table["set"].str.startswith("mri-again")]
    assert list(rows["kind"]) == ["held-out share of a training source"]  # no "every image" row of training data
    assert "held-out share" in rows["set"].iloc[0]
    sidebar = texts(start())  # AppTest keeps the sidebar of the entry page only
    assert "Sources never trained on" not in sidebar and "Not yet measured on any source it was not" in sidebar


def test_the_shipped_gate_is_shown_refusing_real_scans_per_source(tmp_path, monkeypatch):
    """The shipped run has two sources: the gate's cost to each is a row of its own."""
    from core.run.paths import DEFAULT_WEIGHTS

    serve(monkeypatch, tmp_path / "weights", {"default": DEFAULT_WEIGHTS})
    at = start("pages/evaluation.py")
    open_tab(at, "Calibration & abstention")
    gate = next(frame.value for frame in at.dataframe if "real MRI" in frame.value.columns)
    refused = dict(zip(gate["real MRI"], gate["refused as not MRI"], strict=True))
    metrics = json.loads((DEFAULT_WEIGHTS / "metrics.json").read_text())
    for source, part in metrics["ood"]["test_full_false_rejection"]["by_source"].items():
        assert refused[f"Full test: {source}"].startswith(percent(part["rate"]))
        assert f"({part['rejected']} of {part['n']:,};" in refused[f"Full test: {source}"]
