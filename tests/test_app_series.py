"""The Classify page with a DICOM series: 24 slices uploaded in shuffled order, or in a ZIP, get one series
answer: the rule applied to the slices' own answers in anatomical order."""

import base64
import io
import json
import random
import zipfile

import numpy as np
import pytest

from core.decide.assessment import assess
from core.decide.series_rule import series_answer
from core.decide.slice_sweep import has_tissue
from core.io.scan_io import load_scan
from core.labels import display_name
from core.model.inference import Classifier
from tests.apptest import by_label, serve, start, texts, upload
from tests.phantoms import phantom
from tests.scan_files import PATIENT_VALUES, dicom_series

SLICES = 24
TIMINGS = {"RepetitionTime": "520", "EchoTime": "12", "ContrastBolusAgent": "Gadovist"}


@pytest.fixture(scope="module")
def series_files() -> list[bytes]:
    """24 axial T1C slices in anatomical order: healthy, then a glioma-marked stretch, then healthy."""
    labels = ["notumor"] * 8 + ["glioma"] * 8 + ["notumor"] * 8
    pictures = [phantom(100 + i, label, 96).astype(np.uint16) * 4 for i, label in enumerate(labels)]
    return dicom_series(pictures, extra=TIMINGS)


@pytest.fixture
def app(tmp_path, monkeypatch, answering_weights):
    serve(monkeypatch, tmp_path / "weights", {"default": answering_weights})
    return start()


def expected_answer(weights, files: list[bytes]):
    """The rule on the core's own answers for the slices in their true order."""
    pictures = [load_scan(data).render() for data in files]
    answers = assess(Classifier(weights, device="cpu"), pictures)
    return series_answer([a if has_tissue(p) else None for a, p in zip(answers, pictures, strict=True)])


def series_headline(at) -> str:
    said = [m.value for m in at.markdown if "(series answer)" in m.value]
    said += [w.value for w in at.warning if "no series answer" in w.value]
    said += [e.value for e in at.error if "No series answer" in e.value]
    assert len(said) == 1, said
    return said[0]


def test_a_shuffled_series_gets_one_series_answer_from_its_slices_in_order(app, answering_weights, series_files):
    order = list(range(SLICES))
    random.Random(7).shuffle(order)
    upload(app, *[(f"IM{i:04d}.dcm", series_files[i]) for i in order])
    assert not app.exception
    assert [s.value for s in app.subheader if s.value.startswith("Series")] == ["Series 4: axial T1C, 24 slices"]
    expected = expected_answer(answering_weights, series_files)
    headline = series_headline(app)
    if expected.prediction:
        assert headline.startswith(f"### {display_name(expected.prediction)} (series answer)\n{expected.message}")
    else:
        assert expected.message in headline
    page = texts(app)
    assert "slices ordered by slice position" in page and "sequence T1C" in page
    assert "Series rule: Tumour when" in page  # the rule, in one sentence
    assert not any(value in page for value in PATIENT_VALUES)
    place = load_scan(series_files[0]).dicom.place
    assert place.study_uid not in page and place.series_uid not in page  # identifiers group files, never shown
    as_dicom = [e for e in app.expander if e.label.startswith("Result as DICOM")]
    assert len(as_dicom) == 2  # the series answer's, and the slice's in the detail view
    picker = by_label(app.selectbox, "Open a slice in detail (with its Grad-CAM)")
    assert picker.options[1 : 1 + len(expected.supporting)] == [
        f"slice {i + 1} of {SLICES} (supports the answer)" for i in expected.supporting
    ]
    picker.select_index(SLICES).run()  # the last option
    assert not app.exception
    opened = [*expected.supporting, *(i for i in range(SLICES) if i not in expected.supporting)][-1]
    assert app.subheader[-1].value.endswith(f". IM{opened:04d}.dcm")  # the page's detail view, with its Grad-CAM


def test_a_series_answer_can_be_had_as_one_dicom_result_over_every_slice(app):
    from core.pacs import file_bytes
    from tests.pacs_studies import mr_study

    study = mr_study(slices=4)  # with every attribute a DICOM result copies from its source
    upload(app, *[(f"IM{i}", file_bytes(dataset)) for i, dataset in reversed(list(enumerate(study.datasets)))])
    assert not app.exception
    labels = [b.label for b in app.get("download_button")]
    assert labels.count("Download result (DICOM SR)") == 2 and labels.count("Download Grad-CAM (DICOM SC)") == 2
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i, dataset in enumerate(study.datasets):
            archive.writestr(f"IM{i}", file_bytes(dataset))
    upload(app, ("study.zip", buffer.getvalue()))  # the same, from a ZIP's members
    labels = [b.label for b in app.get("download_button")]
    assert labels.count("Download result (DICOM SR)") == 2 and labels.count("Download Grad-CAM (DICOM SC)") == 2


def test_a_zip_of_the_series_is_read_in_memory_and_answered_the_same(app, answering_weights, series_files):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in reversed(range(SLICES)):
            archive.writestr(f"export/IM{i:04d}", series_files[i])
        archive.writestr("export/DICOMDIR", b"an index, not a scan")
    upload(app, ("series.zip", buffer.getvalue()))
    assert not app.exception
    assert len(app.dataframe[0].value) == SLICES  # every member, and no row for the DICOMDIR
    expected = expected_answer(answering_weights, series_files)
    assert expected.message in series_headline(app)


def test_a_refused_zip_says_why_and_the_page_goes_on(app):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../outside.dcm", b"x")
    upload(app, ("bad.zip", buffer.getvalue()))
    assert not app.exception
    assert "stored outside its own folder" in app.error[0].value


def test_a_volume_sweep_draws_no_scores_for_slices_the_model_gives_no_answer(tmp_path, monkeypatch, tiny_weights):
    """The tiny model's own settings refuse or abstain on every slice: the sweep marks them, and draws nothing."""
    from tests.scan_files import marked_volume, nifti_bytes

    serve(monkeypatch, tmp_path / "weights", {"default": tiny_weights})
    at = start()
    volume, _ = marked_volume()
    upload(at, ("brain.nii.gz", nifti_bytes(volume, compress=True)))
    by_label(at.button, "Scan all axial slices").click().run()
    assert not at.exception
    figure = json.loads(at.get("plotly_chart")[-1].proto.spec)
    class_lines = [trace for trace in figure["data"] if trace.get("legendgroup") == "classes"]
    assert len(class_lines) == 4 and all(np.isnan(values(trace["y"])).all() for trace in class_lines)
    strip = {trace["name"] for trace in figure["data"] if trace["type"] == "bar"}
    assert strip and "answered (its probabilities are drawn above)" not in strip
    legend = next(c.value for c in at.caption if c.value.startswith("Lines: the calibrated class probabilities"))
    assert "Here: " in legend and "classified" not in legend.split("Here: ")[1]


def values(array) -> np.ndarray:
    """A plotly JSON array: a list, or a typed array ({"dtype": "f8", "bdata": base64})."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"])).astype(float)
    return np.array([np.nan if v is None else v for v in array], dtype=float)
