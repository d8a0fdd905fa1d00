"""The Validate page through AppTest: labelled sets in every form, labels mapped on the page, copies of
training images flagged, damaged and unsafe archives, the same numbers as the CLI, and nothing on disk."""

import csv
import io
import json
import shutil
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from plotly.offline import get_plotlyjs

import core.io.zip_input
import ui.validation_figures
from core.report.intervals import percent
from tests.apptest import serve, start, texts
from tests.disk_writes import recording_disk_writes
from tests.phantoms import phantom
from tests.scan_files import PATIENT_VALUES, dicom_bytes
from train import evaluate
from train.splits import TRAIN
from ui.validate_sections import RESULT_KEY, gather
from ui.validation_report import report_html, report_json

PAGE = "pages/validate.py"


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def folder_members(root: Path, prefix: str = "") -> dict[str, bytes]:
    return {prefix + path.relative_to(root).as_posix(): path.read_bytes() for path in sorted(root.rglob("*.*"))}


@pytest.fixture
def served(tmp_path, monkeypatch, tiny_weights) -> Path:
    return serve(monkeypatch, tmp_path / "weights", {"default": tiny_weights}) / "default"


@pytest.fixture
def test_folder(synthetic_dataset) -> Path:
    return synthetic_dataset / "Testing"  # 3 phantoms per class, none of them trained on


def open_page(*files: tuple[str, bytes], labels: bytes | None = None):
    at = start(PAGE)
    at.file_uploader(key="validate:uploads").set_value([(n, d, "application/octet-stream") for n, d in files])
    if labels is not None:
        at.file_uploader(key="validate:labels").set_value([("labels.csv", labels, "text/csv")])
    return at.run()


def validated(at):
    at.button(key="validate:go").click().run()
    assert not at.exception
    _, result, metrics = at.session_state[RESULT_KEY]
    return result, metrics


def test_a_zip_of_class_folders_is_validated_with_every_section(served, test_folder, monkeypatch):
    monkeypatch.setattr(ui.validation_figures, "MIN_FOR_CURVES", 1)  # 12 images: draw every curve here
    at = open_page(("set.zip", zip_of(folder_members(test_folder, "hospital/"))))
    assert not at.exception and at.title[0].value == "Validate on your scans"
    assert at.button(key="validate:go").label == "Validate 12 images"
    result, metrics = validated(at)
    assert metrics["all"]["n"] == 12 and metrics["data"]["counts"] == dict.fromkeys(result.classes, 3)
    assert at.metric[0].label == "Accuracy" and at.metric[0].value == percent(metrics["clean"]["accuracy"])
    headings = [s.value for s in at.subheader]
    for heading in ("Confusion matrix", "Per class", "ROC and precision-recall", "Reliability", "Risk–coverage"):
        assert heading in headings
    assert len(at.get("plotly_chart")) == 6  # confusion ×2, ROC, PR, reliability, risk–coverage
    clean_errors = [i for i in result.misclassified if result.clean[i]]
    assert len(at.get("image")) == len(clean_errors)  # the error gallery of the part shown first
    outcomes = metrics["all"]["outcomes"]
    assert outcomes["answered"] + outcomes["uncertain"] + outcomes["not_mri"] == 12
    shown_outcomes = metrics["clean"]["outcomes"]
    assert f"refused {shown_outcomes['not_mri']} as not a brain MRI slice" in texts(at)
    assert [b.label for b in at.get("download_button")] == [
        "Download the report (HTML)",
        "Download the metrics (JSON)",
    ]
    html = report_html(metrics, result, hide_names=False)
    # self-contained: plotly.js is inside the file, nothing is fetched (no script or style from elsewhere)
    assert "<script" in html and "<script src" not in html and "<link" not in html
    assert metrics["model"]["weights_sha256"] in html and "Misclassified images" in html
    copies = json.loads(report_json(metrics, result, False))["contamination"]["copies"]
    assert len(copies) == metrics["contamination"]["exact_copies"] + metrics["contamination"]["near_copies"]
    assert all(copy["file"].startswith("hospital/") for copy in copies)


def test_csv_labels_with_an_unknown_spelling_are_mapped_on_the_page(served, test_folder):
    files = folder_members(test_folder)
    rows = [("file", "label", "sequence", "site")]
    for name in files:
        label = name.split("/")[0]
        rows.append(
            (
                name.split("/")[-1],
                "Tumour A" if label == "glioma" else label,
                "T1C",
                "north" if "1" in name else "south",
            )
        )
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    flat = [(name.split("/")[-1], data) for name, data in files.items()]  # no folders: the CSV labels them
    at = open_page(*flat, ("notes.txt", b"not a scan, not in the CSV"), labels=text.getvalue().encode())
    choice = at.selectbox(key="validate:map:Tumour A")
    assert choice.value == "(leave out: not scored)"  # never guessed
    assert at.button(key="validate:go").label == "Validate 9 images"
    shown = texts(at)
    assert "Not scored: 1 file that is not an image" in shown and "Not scored: 3 files whose label is not" in shown
    choice.set_value("glioma").run()
    assert at.button(key="validate:go").label == "Validate 12 images"
    _, metrics = validated(at)
    assert metrics["data"]["label_mapping"]["Tumour A"] == "glioma" and metrics["all"]["n"] == 12
    assert metrics["data"]["not_image_files"] == ["notes.txt: this is a text file, not an image."]
    assert set(metrics["all"]["breakdown"]["site"]) == {"north", "south"}
    assert "By site or scanner" in [s.value for s in at.subheader]


def test_dicom_files_labelled_by_sop_instance_uid(served):
    uids = [f"1.2.826.0.1.3680043.8.498.{700 + i}" for i in range(3)]
    files = [
        (f"IM{i:04d}", dicom_bytes(phantom(500 + i, label, 96).astype(np.uint16) * 8, extra={"SOPInstanceUID": uid}))
        for i, (uid, label) in enumerate(zip(uids, ["glioma", "notumor", "pituitary"], strict=True))
    ]
    labels = "SOPInstanceUID,label\n" + f"{uids[0]},glioma_tumor\n{uids[1]},no_tumor\n{uids[2]},Pituitary\n"
    at = open_page(*files, labels=labels.encode())
    assert not at.exception and at.button(key="validate:go").label == "Validate 3 images"
    result, metrics = validated(at)
    assert metrics["data"]["counts"] == {"glioma": 1, "meningioma": 0, "notumor": 1, "pituitary": 1}
    # the files carry patient fields (tests/scan_files.py): none reaches the page or the report
    html = report_html(metrics, result, False).replace(get_plotlyjs(), "")  # the library's code holds "7731"
    said = texts(at) + html + report_json(metrics, result, False)
    assert [value for value in PATIENT_VALUES if value in said] == []


def test_a_copy_of_a_training_image_is_flagged_and_scored_apart(served, test_folder, synthetic_dataset):
    with open(served / "split_manifest.csv", newline="") as handle:
        trained = next(r for r in csv.DictReader(handle) if r["split"] == TRAIN and r["class"] == "meningioma")
    members = folder_members(test_folder)
    members["meningioma/from_training.jpg"] = (synthetic_dataset / trained["path"]).read_bytes()
    result, metrics = validated(open_page(("set.zip", zip_of(members))))
    flagged = dict(zip(result.names, result.copies, strict=True))
    assert flagged["meningioma/from_training.jpg"] == f"exact: mri/{trained['path']}"  # source/path
    contamination = metrics["contamination"]
    assert contamination["exact_copies"] >= 1
    assert metrics["clean"]["n"] == metrics["all"]["n"] - contamination["exact_copies"] - contamination["near_copies"]
    assert "meningioma/from_training.jpg" not in [
        n for n, clean in zip(result.names, result.clean, strict=True) if clean
    ]


def test_a_corrupt_member_is_listed_and_the_rest_scored(served, test_folder):
    members = folder_members(test_folder)
    members["glioma/broken.png"] = b"\x89PNG\r\n\x1a\n this is not the rest of a picture"
    at = open_page(("set.zip", zip_of(members)))
    assert at.button(key="validate:go").label == "Validate 13 images"
    _, metrics = validated(at)
    assert metrics["all"]["n"] == 12
    assert [u["path"] for u in metrics["data"]["unreadable"]] == ["glioma/broken.png"]
    assert "1 file could not be read" in texts(at) and "12 of 13 images could be read" in texts(at)
    assert "Error" not in metrics["data"]["unreadable"][0]["reason"]  # words, not an exception's name


def test_a_zip_bomb_and_a_zip_with_parent_paths_are_refused_and_nothing_is_written(served, test_folder, monkeypatch):
    monkeypatch.setattr(core.io.zip_input, "MAX_TOTAL_BYTES", 16 << 20)
    bomb = zip_of({f"glioma/{i}.png": bytes(8 << 20) for i in range(3)})  # 24 MB of zeros in ~25 kB
    climbing = zip_of({"glioma/a.png": b"x", "../../outside.png": b"y"})
    with recording_disk_writes() as written:
        at = open_page(("bomb.zip", bomb), ("climbing.zip", climbing))
    assert not at.exception and written == []
    errors = [e.value for e in at.error]
    assert len(errors) == 2
    assert "bomb.zip" in errors[0] and "would unpack to 24 MB" in errors[0]
    assert "climbing.zip" in errors[1] and "outside its own folder" in errors[1]
    assert not at.button  # nothing to validate
    assert not (served.parent.parent / "outside.png").exists() and not Path("outside.png").exists()


def test_the_page_and_the_cli_give_the_same_numbers(served, test_folder, tmp_path, tiny_weights):
    _, page = validated(open_page(("set.zip", zip_of(folder_members(test_folder)))))
    weights = tmp_path / "cli-weights"
    shutil.copytree(tiny_weights, weights)
    folder = evaluate.evaluate_folder(weights, test_folder, "same", workers=1, device="cpu")
    labels_csv = tmp_path / "labels.csv"
    spelled = {"glioma": "Tumour A"}  # a label only --map can place, as the page's choice does
    labels_csv.write_text(
        "file,label\n"
        + "".join(f"{n},{spelled.get(n.split('/')[0], n.split('/')[0])}\n" for n in folder_members(test_folder))
    )
    command = ["--weights", str(weights), "--data", str(test_folder), "--labels", str(labels_csv), "--name", "csv"]
    assert evaluate.main([*command, "--map", "Tumour A=glioma", "--device", "cpu"]) == 0
    from_csv = json.loads((weights / "external" / "csv" / "metrics.json").read_text())
    for cli in (folder, from_csv):
        for part in ("all", "clean"):
            for key in ("n", "accuracy", "balanced_accuracy", "confusion_matrix", "per_class", "outcomes", "ece"):
                assert_close(page[part][key], cli[part][key], f"{part}.{key}")
        assert page["contamination"]["exact_copies"] == cli["contamination"]["exact_copies"]
    unmapped = evaluate.evaluate_labelled(weights, test_folder, labels_csv, "unmapped", device="cpu")
    assert unmapped["data"]["unmapped_labels"] == ["Tumour A"] and unmapped["all"]["n"] == 9  # listed, not guessed


def assert_close(ours, theirs, where: str) -> None:
    """Equal, floats to 1e-9 (the two paths batch the same images the same way, so they agree exactly)."""
    if isinstance(ours, dict):
        assert ours.keys() == theirs.keys(), where
        for key in ours:
            assert_close(ours[key], theirs[key], f"{where}.{key}")
    elif isinstance(ours, list):
        assert len(ours) == len(theirs), where
        for k, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert_close(a, b, f"{where}[{k}]")
    elif isinstance(ours, float):
        assert ours == pytest.approx(theirs, abs=1e-9), where
    else:
        assert ours == theirs, where


def test_validating_writes_nothing_and_hidden_names_leave_the_report(served, test_folder):
    names = folder_members(test_folder)
    with recording_disk_writes() as written:
        at = open_page(("set.zip", zip_of(names)))
        result, metrics = validated(at)
        html, document = report_html(metrics, result, True), report_json(metrics, result, True)
    assert written == []
    for name in names:
        stem = name.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        assert stem not in html and stem not in document
    assert stem in report_html(metrics, result, False)  # the check above can fail


@pytest.mark.parametrize(
    "members",
    [
        {"glioma/empty.jpg": b"", "notumor/text.jpg": b"just some words, not a picture"},
        {"glioma/inner.zip": zip_of({"a.png": b"x"}), "notumor/text.jpg": b"just some words"},
    ],
    ids=["empty-and-text", "zip-in-a-class-folder"],
)
def test_a_set_with_no_readable_file_says_so_instead_of_crashing(served, members):
    at = open_page(("set.zip", zip_of(members)))
    at.button(key="validate:go").click().run()
    assert not at.exception
    shown = texts(at)
    assert "0 of 2 images could be read" in shown
    _, _, metrics = at.session_state[RESULT_KEY]
    listed = {item["path"]: item["reason"] for item in metrics["data"]["unreadable"]}
    assert set(listed) == set(members)
    for name, reason in listed.items():
        assert name in shown and reason in shown
        assert "Error" not in reason


def test_an_html_page_named_dcm_is_called_not_an_image_and_counts_read_in_words(served, test_folder):
    page = b"<!DOCTYPE html><html><body>login</body></html>"
    one = next(iter(folder_members(test_folder).items()))
    at = open_page(("scan.dcm", page), one)
    shown = texts(at)
    assert "Not scored: 1 file that is not an image" in shown and "no label" not in shown
    upload = SimpleNamespace(name="scan.dcm", getvalue=lambda: page)
    assert gather([upload], None).not_images == ["scan.dcm: this is a web page (HTML), not an image."]
    assert at.button(key="validate:go").label == "Validate 1 image"


def test_a_small_set_shows_counts_intervals_and_a_warning_and_draws_no_curves(served, test_folder):
    _, metrics = validated(at := open_page(("set.zip", zip_of(folder_members(test_folder)))))
    shown = texts(at)
    n, accuracy = metrics["clean"]["n"], metrics["clean"]["accuracy"]
    assert f"of {n}; 95 % CI" in shown  # the headline rate with its count and interval
    assert "under 50 per class" in shown  # 3 images a class
    assert "ROC and precision-recall" not in [s.value for s in at.subheader]
    assert len(at.get("plotly_chart")) == 2 and "they are drawn from 20 images on" in shown
    assert accuracy is not None
