"""core.labels, core.io.png, core.run.runs, core.run.model_info: small modules, one test file."""

import base64
import io
import shutil

import numpy as np
import pytest
from PIL import Image

from core.io.png import data_uri, png_bytes, thumbnail
from core.labels import display_name, status_text, tumour_probability
from core.report.run_report import load_report
from core.run.model_info import ModelInfo
from core.run.runs import ROOT_VARIABLE, find_runs, weights_root


def test_display_names_and_status_text():
    assert display_name("notumor") == "No tumour" and display_name("pituitary") == "Pituitary tumour"
    assert display_name("schwannoma") == "Schwannoma"
    assert status_text("uncertain") == "uncertain" and status_text("brand_new") == "brand new"


def test_tumour_probability_sums_the_tumour_classes():
    p = {"glioma": 0.2, "meningioma": 0.1, "notumor": 0.6, "pituitary": 0.1}
    assert tumour_probability(p) == pytest.approx(0.4)
    assert tumour_probability({"cat": 0.5, "dog": 0.5}) is None


def test_png_round_trip_and_thumbnail_keeps_aspect():
    picture = np.linspace(0, 1, 200 * 100, dtype=np.float32).reshape(200, 100)
    decoded = np.asarray(Image.open(io.BytesIO(png_bytes(picture))))
    assert decoded.shape == (200, 100) and decoded[0, 0] == 0 and decoded[-1, -1] == 255
    assert thumbnail(picture, 50).shape == (50, 25)
    assert thumbnail(picture[:10, :10], 50).shape == (10, 10)  # never enlarged
    uri = data_uri(b"\x89PNG")
    assert uri.startswith("data:image/png;base64,") and base64.b64decode(uri.split(",")[1]) == b"\x89PNG"


def test_runs_are_found_default_first(tmp_path, tiny_weights, monkeypatch):
    for name in ("zeta", "default", "alpha"):
        shutil.copytree(tiny_weights, tmp_path / name)
    (tmp_path / "empty").mkdir()
    (tmp_path / "alpha" / "model.safetensors").unlink()  # not a run without weights
    assert [p.name for p in find_runs(tmp_path)] == ["default", "zeta"]
    monkeypatch.setenv(ROOT_VARIABLE, str(tmp_path))
    assert weights_root() == tmp_path
    assert find_runs(tmp_path / "nope") == []


def test_model_info_from_a_trained_run(tiny_weights):
    run = load_report(tiny_weights)
    info = ModelInfo.from_artifacts(run.metadata, run.metrics)
    assert info.accuracy_full == run.metrics["test"]["full"]["accuracy"]
    assert info.leak_free_images == run.metrics["test"]["leak_free"]["n"]
    assert info.version == f"{run.metadata['created'][:10]} · {run.metadata['weights_sha256'][:12]}"
    # without metrics.json the accuracy recorded in metadata.json is used
    assert ModelInfo.from_artifacts(run.metadata, None).accuracy_full == run.metadata["test_accuracy"]["full"]


def test_model_info_names_other_sets_by_their_clean_figure(tiny_weights):
    run = load_report(tiny_weights)
    scored = {"hospital-b": {"all": {"n": 30, "accuracy": 0.9}, "clean": {"n": 20, "accuracy": 0.85}}}
    empty = {"hospital-c": {"all": {"n": 3, "accuracy": 1.0}, "clean": {"n": 0}}}
    info = ModelInfo.from_artifacts(run.metadata, run.metrics, {**scored, **empty})
    assert info.external == {"hospital-b": (0.85, 20)}  # never the figure that includes training copies


def test_the_about_page_gives_the_apps_own_words_for_an_example_and_spells_out_a_dirty_commit():
    import pandas as pd

    from ui.model_card import _app_says, commit_text

    uncertain = pd.Series({"prediction": "meningioma", "confidence": 0.554, "status": "uncertain"})
    said = _app_says(uncertain, "pituitary")
    assert said.startswith("Uncertain: no class stated") and "Meningioma 55.4 %, not the true class" in said
    answered = pd.Series({"prediction": "notumor", "confidence": 0.973, "status": "ok"})
    assert _app_says(answered, "notumor") == "No tumour 97.3 %"
    assert commit_text("f6609c0df530e2185d298f033da5a2fc08482b95-dirty") == (
        "code commit `f6609c0df530` plus uncommitted changes"
    )


def test_the_uncertain_sentence_names_the_class_and_writes_numbers_one_way():
    from types import SimpleNamespace

    from core.decide.assessment import UNCERTAIN, _decide

    classifier = SimpleNamespace(abstain_below=0.963090181350708)
    said = _decide(classifier, {"glioma": 0.03, "meningioma": 0.941, "notumor": 0.02, "pituitary": 0.009}, False)
    assert said.status == UNCERTAIN
    assert "94.1 % for meningioma" in said.message and "from 96.3 %" in said.message
    assert "%;" not in said.message.replace(" %;", "")  # every percentage as "12.3 %"


def test_a_click_on_any_cell_opens_its_row_and_the_csv_carries_the_upload_number():
    import pandas as pd

    from core.report.results import Provenance, ScanResult, results_csv
    from ui.batch import clicked_number

    table = pd.DataFrame({"#": [3, 1, 2], "file": ["c.png", "a.png", "b.png"]})
    assert clicked_number(table, {"rows": [], "cells": [(2, "file")]}) == 2  # the file-name cell
    assert clicked_number(table, {"rows": [0], "cells": []}) == 3  # the checkbox
    assert clicked_number(table, {"rows": [], "cells": []}) is None
    results = [ScanResult(name, "", "error", "unreadable") for name in ("a.png", "b.png")]
    text = results_csv(results, ["glioma"], Provenance("m", "0" * 64, "now"), [1, 2])
    lines = text.splitlines()
    assert lines[0].startswith("#,path,") and lines[1].startswith("1,a.png") and lines[2].startswith("2,b.png")


def test_the_tables_note_is_whole_or_cut_at_a_word_with_an_ellipsis():
    from ui.batch import NOTE_CHARACTERS, brief

    assert brief("Identical to #3.") == "Identical to #3."
    long = "Its calibrated confidence here is 92.6 % for glioma; it states a class only from 96.3 %, " * 3
    shown = brief(long)
    assert len(shown) <= NOTE_CHARACTERS + 2 and shown.endswith(" …")
    assert long.startswith(shown.removesuffix(" …"))  # cut between words, never inside one
    assert long[len(shown.removesuffix(" …"))] in " ;,"


def test_the_step_time_split_is_the_mean_share_of_each_part_and_absent_for_older_runs():
    import pandas as pd

    from core.report.run_report import step_time_split

    history = pd.DataFrame(
        {"epoch": [1, 2], "share_batch": [0.2, 0.1], "share_forward": [0.3, 0.3], "share_backward": [0.4, 0.5],
         "share_optimizer": [0.1, 0.1]}
    )  # fmt: skip
    split = step_time_split(history)
    assert split == pytest.approx({"drawing the batch": 0.15, "forward": 0.3, "backward": 0.45, "optimiser": 0.1})
    assert step_time_split(history.drop(columns=["share_batch"])) == {} and step_time_split(None) == {}
