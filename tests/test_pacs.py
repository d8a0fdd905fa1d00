"""The PACS path against a real Orthanc (tests/orthanc.py): store a synthetic MR series, find it, fetch it,
classify it with the shipped model, put the result back as DICOM SR and Secondary Capture, find and parse
those; and every kind of failure gives its own plain message."""

from __future__ import annotations

import io
import socket
import time
from datetime import date
from pathlib import Path

import numpy as np
import pydicom
import pytest

from core.decide.assessment import OK, assess
from core.io.scan_io import load_scan
from core.model.checkpoint import read_metadata
from core.model.gradcam import Explainer, overlay
from core.model.inference import Classifier
from core.pacs import Pacs, PacsError, PacsSettings, SeriesHit, StudyQuery, read_dataset
from core.report.dicom_results import (
    NOT_A_DIAGNOSIS,
    SCHEME,
    probabilities_in,
    report_lines,
    secondary_capture,
    structured_report,
)
from core.report.finding import Finding
from core.run.model_info import ModelInfo
from tests.orthanc import start_orthanc, stop_orthanc
from tests.pacs_studies import ACCESSION, NOT_TO_COPY, PATIENT, PATIENT_SECRETS, ct_study, mr_study

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "weights" / "default"
OUTPUT = ROOT / "tests" / "output"
COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
PATIENT_AND_STUDY = [*PATIENT, "StudyInstanceUID", "AccessionNumber", "StudyDate", "StudyTime", "StudyID"]


@pytest.fixture(scope="module")
def shipped() -> tuple[Classifier, ModelInfo]:
    return Classifier(SHIPPED, device="cpu"), ModelInfo.from_artifacts(read_metadata(SHIPPED), None)


def test_a_series_goes_to_the_pacs_and_its_results_come_back_as_dicom(empty_orthanc, shipped):
    classifier, model = shipped
    pacs = Pacs(empty_orthanc.settings())
    study = mr_study(slices=6)
    pacs.store([*study.datasets, *ct_study().datasets])  # another patient's CT study alongside
    timings = {}

    started = time.perf_counter()
    by_accession = pacs.search_studies(StudyQuery(accession_number=ACCESSION))
    by_patient = pacs.search_studies(StudyQuery(patient_id=PATIENT["PatientID"]))
    by_date = pacs.search_studies(StudyQuery(date_from=date(2024, 3, 1), date_to=date(2024, 3, 31)))
    assert [hit.study_uid for hit in by_accession] == [hit.study_uid for hit in by_patient] == [study.study_uid]
    assert [hit.study_uid for hit in by_date] == [study.study_uid]  # MR only: the CT study is not listed
    assert pacs.search_studies(StudyQuery(accession_number="NO-SUCH-ACCESSION")) == []
    hit = by_accession[0]
    assert (hit.date, hit.modalities, hit.series_count) == ("2024-03-17", ("MR",), 1)
    assert not any(secret in hit.label for secret in PATIENT_SECRETS)
    timings["search (QIDO-RS, 4 queries)"] = time.perf_counter() - started

    started = time.perf_counter()
    [series] = pacs.mr_series(study.study_uid)
    assert (series.series_uid, series.number, series.instance_count) == (study.series_uid, 3, 6)
    files = pacs.fetch_series(series)
    timings["list series + fetch 6 slices (WADO-RS)"] = time.perf_counter() - started
    assert [file.sop_instance_uid for file in files] == [dataset.SOPInstanceUID for dataset in study.datasets]
    assert not any(secret in file.name for file in files for secret in PATIENT_SECRETS)

    started = time.perf_counter()
    scans = [load_scan(file.getvalue(), file.name) for file in files]  # as an upload is read
    np.testing.assert_array_equal(scans[0].dicom.frames[0], study.datasets[0].pixel_array.astype(np.float32))
    answers = assess(classifier, [scan.render() for scan in scans])
    timings["decode + classify 6 slices (shipped model, CPU)"] = time.perf_counter() - started
    chosen = next((i for i, answer in enumerate(answers) if answer.status == OK), len(answers) // 2)
    answer, gray = answers[chosen], scans[chosen].render()
    finding = Finding.of_slice(answer, chosen + 1, len(files))
    source = read_dataset(files[chosen].getvalue())

    started = time.perf_counter()
    target = classifier.classes.index(answer.top_class)
    heat = Explainer(classifier).heatmap(classifier.prepare(gray), target, "Grad-CAM")
    picture = overlay(gray, classifier.preprocessing.project_to_original(heat, gray))
    report = structured_report([source], finding, model)
    capture = secondary_capture(source, picture, finding, model)
    timings["Grad-CAM + build SR and SC"] = time.perf_counter() - started

    started = time.perf_counter()
    pacs.store([report, capture])
    by_modality = {hit.modality: hit for hit in pacs.series(study.study_uid)}
    assert set(by_modality) == {"MR", "SR", "OT"}
    assert by_modality["SR"].description == report.SeriesDescription
    assert [hit.series_uid for hit in pacs.mr_series(study.study_uid)] == [study.series_uid]  # results are no MR
    [report_file] = pacs.fetch_series(by_modality["SR"])
    [capture_file] = pacs.fetch_series(by_modality["OT"])
    timings["store SR + SC (STOW-RS), find and fetch them back"] = time.perf_counter() - started
    report_back = pydicom.dcmread(io.BytesIO(report_file.getvalue()))  # parsed from bytes, as any reader would
    capture_back = pydicom.dcmread(io.BytesIO(capture_file.getvalue()))

    sources = {dataset.SOPInstanceUID for dataset in study.datasets}
    series_uids = {study.series_uid}
    for made, kind in ((report_back, COMPREHENSIVE_SR), (capture_back, SECONDARY_CAPTURE)):
        assert made.SOPClassUID == kind
        assert made.SOPInstanceUID not in sources and made.SeriesInstanceUID not in series_uids
        series_uids.add(made.SeriesInstanceUID)
        for keyword in PATIENT_AND_STUDY:
            assert str(made.get(keyword)) == str(source.get(keyword)), keyword
        for keyword in NOT_TO_COPY:
            assert keyword not in made, f"{keyword} was copied from the source"
        assert "not a diagnosis" in made.SeriesDescription
        assert "ImagePositionPatient" not in made and "RepetitionTime" not in made

    assert report_back.VerificationFlag == "UNVERIFIED" and report_back.CompletionFlag == "COMPLETE"
    [evidence] = report_back.CurrentRequestedProcedureEvidenceSequence
    referenced = evidence.ReferencedSeriesSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID
    assert referenced == source.SOPInstanceUID
    assert probabilities_in(report_back) == pytest.approx(answer.probabilities, abs=1e-6)
    lines = report_lines(report_back)
    dump = "\n".join(lines)
    assert "Result status: " in dump and f"({SCHEME} {answer.status})" in dump
    assert ("Finding: " in dump) == (answer.status == OK)
    if answer.status == OK:
        assert f"({SCHEME} {answer.prediction})" in dump
    assert f"Algorithm Name: {model.name}" in dump
    assert f"weights sha256 {model.weights_sha256}" in dump and len(model.weights_sha256) == 64
    assert f"Image classified: Slice {chosen + 1} of 6" in dump and NOT_A_DIAGNOSIS in dump
    assert not any(secret in dump for secret in PATIENT_SECRETS)
    np.testing.assert_array_equal(capture_back.pixel_array, picture)
    assert capture_back.SourceImageSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
    _write_dump(lines, timings, answer.status)


def _write_dump(lines: list[str], timings: dict[str, float], status: str) -> None:
    """The SR as parsed back from Orthanc, for a person to read; the content tree only (no patient field)."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    said = [
        "Comprehensive SR content, as stored to and parsed back from Orthanc (tests/test_pacs.py)",
        f"answer status of the slice reported: {status}",
        "round trip timings (s): " + "; ".join(f"{name} {seconds:.2f}" for name, seconds in timings.items()),
        "",
        *lines,
    ]
    (OUTPUT / "pacs_sr_content.txt").write_text("\n".join(said) + "\n")


# ---- failures ----------------------------------------------------------------------------------------------


def test_a_study_without_mr_is_named_as_such(empty_orthanc):
    pacs = Pacs(empty_orthanc.settings())
    study = ct_study()
    pacs.store(study.datasets)
    assert pacs.search_studies(StudyQuery(patient_id=PATIENT["PatientID"])) == []  # MR only, by default
    [hit] = pacs.search_studies(StudyQuery(patient_id=PATIENT["PatientID"], mr_only=False))
    assert hit.modalities == ("CT",)
    with pytest.raises(PacsError, match=r"holds no MR series \(only CT\)"):
        pacs.mr_series(study.study_uid)


def test_an_unknown_study_or_series(empty_orthanc):
    pacs = Pacs(empty_orthanc.settings())
    with pytest.raises(PacsError, match="no series in this study"):
        pacs.mr_series("1.2.3.4.5")
    with pytest.raises(PacsError, match=r"does not know this series \(HTTP 404\)"):
        pacs.fetch_series(SeriesHit("1.2.3.4.5", "1.2.3.4.6", "MR", 1, "", None))


def test_wrong_credentials(orthanc):
    for settings in (orthanc.settings(password="wrong"), orthanc.settings(username="", password="")):
        with pytest.raises(PacsError, match=r"refused the credentials \(HTTP 401\)") as raised:
            Pacs(settings).search_studies(StudyQuery(patient_id=PATIENT["PatientID"]))
        _assert_plain(raised.value)


def test_a_wrong_address_on_a_live_server(orthanc):
    with pytest.raises(PacsError, match=r"no DICOMweb search service at the configured address \(HTTP 404\)"):
        Pacs(orthanc.settings(url=f"{orthanc.root}/not-dicomweb")).search_studies(StudyQuery())


def test_a_stopped_server(tmp_path):
    server = start_orthanc(tmp_path)
    pacs = Pacs(server.settings())
    assert pacs.search_studies(StudyQuery()) == []
    stop_orthanc(server)
    with pytest.raises(PacsError, match="cannot be reached") as raised:
        pacs.search_studies(StudyQuery(patient_id=PATIENT["PatientID"]))
    _assert_plain(raised.value)


def test_a_server_that_never_answers_times_out():
    with socket.socket() as listener:  # accepts connections (the kernel does) and never says a word
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        pacs = Pacs(PacsSettings(url=f"http://127.0.0.1:{port}/dicom-web", timeout=0.5))
        started = time.perf_counter()
        with pytest.raises(PacsError, match="did not answer in time") as raised:
            pacs.search_studies(StudyQuery(patient_id=PATIENT["PatientID"]))
        assert time.perf_counter() - started < 5  # one timeout, no retries
        _assert_plain(raised.value)


def test_tls_failure(orthanc):
    """HTTPS to a port that speaks plain HTTP: the TLS handshake fails."""
    url = orthanc.dicomweb.replace("http://", "https://")
    with pytest.raises(PacsError, match=r"secure \(TLS\) connection to the PACS failed") as raised:
        Pacs(orthanc.settings(url=url)).search_studies(StudyQuery(patient_id=PATIENT["PatientID"]))
    _assert_plain(raised.value)


def _assert_plain(error: PacsError) -> None:
    """The message names neither the URL nor what was searched for, and hides the library's exception."""
    text = str(error)
    assert (
        "http:" not in text.lower()
        and "127.0.0.1" not in text
        and not any(secret in text for secret in PATIENT_SECRETS)
    )
    assert error.__cause__ is None and error.__suppress_context__


# ---- settings and queries (no server) ----------------------------------------------------------------------


def test_settings_come_from_the_secrets_table_else_the_environment():
    environment = {"MRI_PACS_URL": "http://env/dicom-web", "MRI_PACS_TOKEN": "t0k", "MRI_PACS_VERIFY_TLS": "false"}
    secrets = {"url": "https://pacs.example.org/dicom-web/", "username": "reader", "password": "pw", "timeout": 3}
    chosen = PacsSettings.from_sources(secrets, environment)
    assert (chosen.url, chosen.username, chosen.verify_tls, chosen.timeout) == (
        "https://pacs.example.org/dicom-web",
        "reader",
        True,  # verification is on unless switched off
        3.0,
    )
    assert "pw" not in repr(chosen)
    from_environment = PacsSettings.from_sources({}, environment)
    assert (from_environment.url, from_environment.token, from_environment.verify_tls) == (
        "http://env/dicom-web",
        "t0k",
        False,
    )
    assert "t0k" not in repr(from_environment)
    assert PacsSettings.from_sources(None, {}) is None


def test_a_query_asks_for_what_was_filled_in():
    assert StudyQuery().filters() == {"ModalitiesInStudy": "MR"}
    query = StudyQuery(" A1 ", "P2", date(2024, 3, 1), date(2024, 3, 31), mr_only=False)
    assert query.filters() == {"AccessionNumber": "A1", "PatientID": "P2", "StudyDate": "20240301-20240331"}
    assert StudyQuery(date_from=date(2024, 3, 17)).filters()["StudyDate"] == "20240317-"
    assert StudyQuery(date_from=date(2024, 3, 17), date_to=date(2024, 3, 17)).filters()["StudyDate"] == "20240317"
    assert StudyQuery(date_to=date(2024, 3, 17)).filters()["StudyDate"] == "-20240317"
