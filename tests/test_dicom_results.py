"""core.report.dicom_results without a PACS: what the SR says for each status and for a series answer, what is and
is not copied from the source, and the Secondary Capture (the Orthanc round trip is in tests/test_pacs.py)."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest

from core.decide.assessment import NOT_MRI, OK, UNCERTAIN, Assessment
from core.decide.outline import outline_on_picture
from core.model.preprocessing import Preprocessing
from core.pacs import file_bytes
from core.report.dicom_results import (
    NOT_A_DIAGNOSIS,
    SCHEME,
    UnfileableSourceError,
    device_uid,
    patient_orientation,
    probabilities_in,
    report_lines,
    secondary_capture,
    structured_report,
)
from core.report.finding import Finding
from core.run.model_info import ModelInfo
from tests.pacs_studies import NOT_TO_COPY, PATIENT, PATIENT_SECRETS, mr_study

MODEL = ModelInfo.from_artifacts(
    {"name": "default", "architecture": "mobilenet_v3_small", "created": "2026-12-01T20:49:33+00:00",
     "weights_sha256": "ab" * 32, "classes": ["glioma", "meningioma", "notumor", "pituitary"]},
    None,
)  # fmt: skip
SCORES = {"glioma": 0.7, "meningioma": 0.2, "notumor": 0.05, "pituitary": 0.05}


def parsed(dataset) -> pydicom.Dataset:
    return pydicom.dcmread(io.BytesIO(file_bytes(dataset)))


@pytest.mark.parametrize("status", [OK, UNCERTAIN, NOT_MRI])
def test_the_report_states_a_class_only_when_the_status_is_ok(status):
    study = mr_study(slices=3, size=32)
    finding = Finding.of_slice(Assessment(status, SCORES), 2, 3)
    report = parsed(structured_report(study.datasets[1:2], finding, MODEL))
    dump = "\n".join(report_lines(report))
    assert ("Finding: Glioma" in dump) == (status == OK)
    assert "Result status: " in dump and f"({SCHEME} {status})" in dump
    assert probabilities_in(report) == pytest.approx(SCORES)
    assert "Image classified: Slice 2 of 3" in dump and NOT_A_DIAGNOSIS in dump
    assert f"Algorithm Version: 2026-12-01 {'ab' * 6}" in dump and f"weights sha256 {'ab' * 32}" in dump
    assert report.VerificationFlag == "UNVERIFIED" and report.SeriesDescription.startswith(NOT_A_DIAGNOSIS)
    assert not any(secret in dump for secret in PATIENT_SECRETS)


def test_a_series_answer_names_its_rule_and_references_every_slice():
    study = mr_study(slices=4, size=32)
    finding = Finding(OK, tuple(SCORES.items()), "glioma", slice_count=4, rule="glioma: 3 consecutive slices")
    report = parsed(structured_report(study.datasets, finding, MODEL))
    dump = "\n".join(report_lines(report))
    assert "Image classified: Series of 4 slices, answered as a whole" in dump
    assert "Series rule: glioma: 3 consecutive slices" in dump
    [evidence] = report.CurrentRequestedProcedureEvidenceSequence
    referenced = [item.ReferencedSOPInstanceUID for item in evidence.ReferencedSeriesSequence[0].ReferencedSOPSequence]
    assert sorted(referenced) == sorted(dataset.SOPInstanceUID for dataset in study.datasets)


def test_only_patient_and_study_attributes_are_copied():
    study = mr_study(slices=1, size=32)
    source = study.datasets[0]
    finding = Finding.of_slice(Assessment(OK, SCORES))
    for made in (structured_report([source], finding, MODEL), secondary_capture(source, _rgb(), finding, MODEL)):
        made = parsed(made)
        assert made.StudyInstanceUID == source.StudyInstanceUID and made.PatientID == PATIENT["PatientID"]
        assert made.SeriesInstanceUID != source.SeriesInstanceUID and made.SOPInstanceUID != source.SOPInstanceUID
        for keyword in [*NOT_TO_COPY, "SeriesDescription", "ImagePositionPatient", "RepetitionTime", "WindowCenter"]:
            assert made.get(keyword) != source.get(keyword), keyword


def test_the_capture_holds_the_overlay_and_points_at_its_source():
    source = mr_study(slices=1, size=32).datasets[0]
    picture = _rgb()
    capture = parsed(secondary_capture(source, picture, Finding.of_slice(Assessment(UNCERTAIN, SCORES)), MODEL))
    np.testing.assert_array_equal(capture.pixel_array, picture)
    assert capture.SourceImageSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
    assert "Uncertain" in capture.ImageComments and NOT_A_DIAGNOSIS in capture.ImageComments
    assert capture.PatientOrientation == ["L", "P"]  # rows along +x, columns along +y (axial)
    with pytest.raises(ValueError, match="RGB"):
        secondary_capture(source, picture[..., 0], Finding.of_slice(Assessment(OK, SCORES)), MODEL)


def test_a_finding_cannot_state_a_class_it_does_not_have():
    with pytest.raises(ValueError, match="exactly when the status is ok"):
        Finding(UNCERTAIN, tuple(SCORES.items()), "glioma")
    with pytest.raises(ValueError, match="exactly when the status is ok"):
        Finding(OK, tuple(SCORES.items()))
    with pytest.raises(ValueError, match="no probability"):
        Finding(OK, tuple(SCORES.items()), "astrocytoma")
    with pytest.raises(ValueError, match="unknown status"):
        Finding("maybe", tuple(SCORES.items()))


def test_orientation_and_device_identity():
    sagittal = pydicom.Dataset()
    sagittal.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]
    assert patient_orientation(sagittal) == ("P", "F")
    assert patient_orientation(pydicom.Dataset()) == ("L", "P")
    assert device_uid(MODEL) == device_uid(MODEL)
    other = ModelInfo.from_artifacts({"name": "default", "weights_sha256": "cd" * 32}, None)
    assert device_uid(other) != device_uid(MODEL)


def _rgb() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)


def test_a_source_without_identifiers_gets_a_reason_not_a_result():
    source = mr_study(slices=1, size=32).datasets[0]
    del source.StudyInstanceUID
    finding = Finding.of_slice(Assessment(OK, SCORES))
    with pytest.raises(UnfileableSourceError, match="lacks StudyInstanceUID, so a DICOM result cannot be filed"):
        structured_report([source], finding, MODEL)
    with pytest.raises(UnfileableSourceError, match="different studies"):
        structured_report([mr_study(1, size=32).datasets[0], mr_study(1, size=32).datasets[0]], finding, MODEL)


def test_the_report_carries_the_outlined_area_in_mm2_or_else_in_pixels():
    study = mr_study(slices=1, size=32)
    gray = np.zeros((32, 32), np.float32)
    gray[4:28, 4:28] = 0.8  # a head
    on_input = np.zeros((32, 32), np.float32)
    on_input[10:20, 10:20] = 0.9  # the region the mask head outlines, on the model's input
    preprocessing = Preprocessing(img_size=32, crop_to_head=False)
    for spacing, expected in (((0.5, 0.5), "25 [mm2]"), (None, "100 [{pixels}]")):
        outline = outline_on_picture(on_input, gray, preprocessing, spacing)
        finding = Finding.of_slice(Assessment(OK, SCORES), outline=outline)
        dump = "\n".join(report_lines(parsed(structured_report(study.datasets, finding, MODEL))))
        assert f"Area: {expected}" in dump, dump
        assert probabilities_in(parsed(structured_report(study.datasets, finding, MODEL))) == pytest.approx(SCORES)
    plain = "\n".join(
        report_lines(parsed(structured_report(study.datasets, Finding.of_slice(Assessment(OK, SCORES)), MODEL)))
    )
    assert "Area:" not in plain  # a classifier without a mask head measures no area
