"""The Classify page's "From PACS" source and the DICOM export, driven through AppTest against a real Orthanc:
search, pick a study and series, fetch, get answers, store the result back; and the plain messages."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest

from core.pacs import Pacs, StudyQuery, file_bytes
from core.run.runs import ROOT_VARIABLE
from tests.apptest import by_label, start, texts, upload
from tests.orthanc import USER, free_port
from tests.pacs_studies import ACCESSION, PATIENT_SECRETS, ct_study, mr_study
from tests.phantoms import phantom
from tests.scan_files import dicom_bytes

SHIPPED_ROOT = Path(__file__).resolve().parents[1] / "weights"


def point_at(monkeypatch, server, password: str | None = None) -> None:
    """The app served on the shipped model, with the PACS configured through the environment."""
    settings = server.settings()
    monkeypatch.setenv(ROOT_VARIABLE, str(SHIPPED_ROOT))
    monkeypatch.setenv("MRI_PACS_URL", settings.url)
    monkeypatch.setenv("MRI_PACS_USERNAME", USER)
    monkeypatch.setenv("MRI_PACS_PASSWORD", password or settings.password)


def search(at, **fields):
    for label, value in fields.items():
        by_label(at.text_input, label).set_value(value)
    return by_label(at.button, "Search the PACS").click().run()


def test_the_pacs_is_configured_by_the_secrets_file_or_the_page_says_how(monkeypatch):
    monkeypatch.setenv(ROOT_VARIABLE, str(SHIPPED_ROOT))
    for name in ("MRI_PACS_URL", "MRI_PACS_USERNAME", "MRI_PACS_PASSWORD", "MRI_PACS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    at = start()
    assert not at.exception
    assert "No PACS is configured" in texts(at) and "MRI_PACS_URL" in texts(at)
    at.secrets["pacs"] = {"url": f"http://127.0.0.1:{free_port()}/dicom-web"}  # as .streamlit/secrets.toml says
    at = search(at.run(), **{"Patient ID": "P1"})
    assert not at.exception
    assert "The PACS cannot be reached" in texts(at) and "No PACS is configured" not in texts(at)


def test_a_series_is_fetched_classified_and_its_result_stored_back(empty_orthanc, monkeypatch):
    study = mr_study(slices=4)
    Pacs(empty_orthanc.settings()).store(study.datasets)
    point_at(monkeypatch, empty_orthanc)
    at = search(start(), **{"Accession number": ACCESSION})
    assert not at.exception
    study_pick = by_label(at.selectbox, "Study")
    assert study_pick.value.study_uid == study.study_uid
    assert "MRI BRAIN WITH CONTRAST" in texts(at) and "AX T1 POST" in texts(at)
    at = by_label(at.button, "Fetch this series").click().run()
    assert not at.exception
    page = texts(at)
    assert "Fetched 4 images of Series 3" in page
    assert all(f"PACS series 3 image {number}" in page for number in range(1, 5))
    assert len(by_label(at.selectbox, "Show in detail").options) == 4  # one entry a slice, answered in a batch
    assert {"Download result (DICOM SR)", "Download Grad-CAM (DICOM SC)"} <= {
        b.label for b in at.get("download_button")
    }

    at = at.run()  # a rerun keeps the fetched series (session memory)
    assert "Fetched 4 images of Series 3" in texts(at)
    at = by_label(at.button, "Store result in PACS").click().run()
    assert not at.exception
    assert "Stored in the PACS" in texts(at)
    found = Pacs(empty_orthanc.settings()).series(study.study_uid)
    assert sorted(hit.modality for hit in found) == ["MR", "OT", "SR"]
    visible = texts(at).replace(ACCESSION, "")  # the user typed the accession number into the search form
    assert not any(secret in visible for secret in PATIENT_SECRETS)

    at = by_label(at.button, "Remove the fetched series").click().run()
    assert "Upload one or more scans" in texts(at)


@pytest.mark.parametrize("case", ["wrong password", "no MR", "nothing found"])
def test_pacs_problems_are_said_in_plain_words(empty_orthanc, monkeypatch, case):
    Pacs(empty_orthanc.settings()).store(ct_study().datasets)
    point_at(monkeypatch, empty_orthanc, password="wrong" if case == "wrong password" else None)
    at = start()
    if case == "no MR":  # a study listed without the MR filter is not possible from the form: ask the core
        at.session_state["pacs:studies"] = Pacs(empty_orthanc.settings()).search_studies(StudyQuery(mr_only=False))
        at = at.run()
        expected = "This study holds no MR series (only CT)"
    else:
        at = search(at, **{"Accession number": ACCESSION})
        expected = "refused the credentials" if case == "wrong password" else "No MR study matches this search"
    assert not at.exception
    assert expected in texts(at)


def test_an_uploaded_dicom_gets_its_result_as_dicom_or_the_reason_why_not(monkeypatch):
    monkeypatch.setenv(ROOT_VARIABLE, str(SHIPPED_ROOT))
    monkeypatch.delenv("MRI_PACS_URL", raising=False)
    with_identifiers = file_bytes(mr_study(slices=1).datasets[0])
    without = dicom_bytes(phantom(3, "glioma", 128).astype(np.uint16) * 16)  # no study or series UIDs
    at = upload(start(), ("IM0001", with_identifiers))
    assert not at.exception
    assert {b.label for b in at.get("download_button")} >= {
        "Download result (DICOM SR)",
        "Download Grad-CAM (DICOM SC)",
    }
    assert "Store result in PACS" not in [b.label for b in at.button]  # no PACS configured
    at = upload(start(), ("IM0002", without))
    assert not at.exception
    assert "lacks SeriesInstanceUID, StudyInstanceUID, so a DICOM result cannot be filed" in texts(at)
    assert "Download result (DICOM SR)" not in [b.label for b in at.get("download_button")]


def _series_export(run: str, files: list, finding) -> None:
    """A script for AppTest.from_function: what a series view does with a fetched series and its answer."""
    from pathlib import Path

    import streamlit as st

    from ui import dicom_export, scan_analysis
    from ui.pacs_source import FETCHED_KEY

    st.session_state[FETCHED_KEY] = files
    entries = scan_analysis.collect(files, use_samples=False)
    shown = entries[1]
    dicom_export.render_series(Path(run), entries, finding, (shown, scan_analysis.current_view(shown)))


def test_a_series_answer_is_stored_as_one_sr_over_every_slice(empty_orthanc, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from core.decide.assessment import OK
    from core.report.dicom_results import probabilities_in, report_lines
    from core.report.finding import Finding

    study = mr_study(slices=4)
    pacs = Pacs(empty_orthanc.settings())
    pacs.store(study.datasets)
    files = pacs.fetch_series(pacs.mr_series(study.study_uid)[0])
    scores = (("glioma", 0.9), ("meningioma", 0.05), ("notumor", 0.03), ("pituitary", 0.02))
    finding = Finding(OK, scores, "glioma", slice_count=4, rule="glioma: 3 consecutive slices over 0.8")
    point_at(monkeypatch, empty_orthanc)
    at = AppTest.from_function(
        _series_export, args=(str(SHIPPED_ROOT / "default"), files, finding), default_timeout=120
    ).run()
    assert not at.exception
    at = by_label(at.button, "Store result in PACS").click().run()  # fetched from the PACS: no consent box
    assert not at.exception and "Stored in the PACS" in texts(at)
    by_modality = {hit.modality: hit for hit in pacs.series(study.study_uid)}
    [report] = pacs.fetch_series(by_modality["SR"])
    [capture] = pacs.fetch_series(by_modality["OT"])
    report, capture = pydicom.dcmread(io.BytesIO(report.data)), pydicom.dcmread(io.BytesIO(capture.data))
    dump = "\n".join(report_lines(report))
    assert "Series rule: glioma: 3 consecutive slices over 0.8" in dump and "Series of 4 slices" in dump
    assert probabilities_in(report) == pytest.approx(dict(scores))
    [evidence] = report.CurrentRequestedProcedureEvidenceSequence
    referenced = {item.ReferencedSOPInstanceUID for item in evidence.ReferencedSeriesSequence[0].ReferencedSOPSequence}
    assert referenced == {file.sop_instance_uid for file in files}
    assert capture.SourceImageSequence[0].ReferencedSOPInstanceUID == files[1].sop_instance_uid
