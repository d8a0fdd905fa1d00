"""The answer for a DICOM scan as DICOM objects: download them (SR, Secondary Capture of the Grad-CAM
overlay), or store them in the configured PACS with STOW-RS.

The objects carry the source's patient and study attributes (that is how a PACS files them with the scan),
so they are built only here, on the scan's own bytes, and go only where the user sends them: a download, or
the PACS. Nothing of them is shown on the page. They are built once per scan, view and model, so storing
twice sends the same UIDs (the PACS keeps one copy).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from pydicom.dataset import Dataset

from core.assessment import Assessment
from core.dicom_results import (
    Finding,
    UnfileableSourceError,
    check_sources,
    secondary_capture,
    structured_report,
)
from core.gradcam import overlay
from core.pacs import Pacs, PacsError, file_bytes, read_dataset
from core.scan_io import DICOM, View
from ui import pacs, resources, scans
from ui.scans import Entry, widget_key
from ui.session import memo

CAM_METHOD = "Grad-CAM"  # the capture shows Grad-CAM for the stated class (the top class when none is stated)
CAM_OPACITY = 0.5


def render(run: Path, entry: Entry, view: View, assessment: Assessment | None) -> None:
    """An expander with the downloads and, where a PACS is configured, the store button. Nothing for a scan
    that is not a DICOM file or has no answer."""
    if entry.scan is None or entry.scan.kind != DICOM or assessment is None:
        return
    data = _source_bytes(entry)
    if data is None:
        return
    with st.expander("Result as DICOM (structured report and Grad-CAM capture)", icon=":material/output:"):
        st.caption(
            "A DICOM structured report (the answer, every class's calibrated probability, the model and its "
            "weights' hash; marked unverified and not a diagnosis) and a secondary capture of the Grad-CAM "
            "overlay. Both carry this scan's patient and study details so that a PACS files them with it."
        )
        datasets = _built(run, entry, view, assessment, data)
        if isinstance(datasets, str):
            st.info(datasets, icon=":material/info:")
            return
        report, capture = (file_bytes(dataset) for dataset in datasets)
        columns = st.columns(3)
        stem = Path(entry.name).stem or "scan"
        columns[0].download_button(
            "Download result (DICOM SR)",
            report,
            file_name=f"{stem}-result-sr.dcm",
            mime="application/dicom",
            on_click="ignore",
            icon=":material/download:",
            key=widget_key(entry.key, "dicom:sr"),
        )
        columns[1].download_button(
            "Download Grad-CAM (DICOM SC)",
            capture,
            file_name=f"{stem}-gradcam-sc.dcm",
            mime="application/dicom",
            on_click="ignore",
            icon=":material/download:",
            key=widget_key(entry.key, "dicom:sc"),
        )
        _store(entry, datasets, columns[2])


def _store(entry: Entry, datasets: tuple[Dataset, Dataset], column) -> None:
    configured = pacs.settings()
    if configured is None:
        return
    if not pacs.came_from_pacs(entry.key) and not column.checkbox(
        "Also store this upload's result in the PACS",
        key=widget_key(entry.key, "dicom:store:ok"),
        help="The result carries the uploaded file's patient and study details to the configured PACS.",
    ):
        return
    if column.button("Store result in PACS", icon=":material/cloud_upload:", key=widget_key(entry.key, "dicom:store")):
        with st.spinner("Storing in the PACS…"):
            try:
                Pacs(configured).store(list(datasets))
            except PacsError as error:
                st.error(str(error), icon=":material/cloud_off:")
                return
        st.success(
            "Stored in the PACS: the structured report and the Grad-CAM capture, each in a new series of this "
            "scan's study.",
            icon=":material/cloud_done:",
        )


def _built(run: Path, entry: Entry, view: View, assessment: Assessment, data: bytes) -> tuple[Dataset, Dataset] | str:
    """The SR and SC for the scan's current view, memoised per scan, view and run (whose answer they hold); or
    why there can be none for this file."""

    def build() -> tuple[Dataset, Dataset] | str:
        try:
            source = read_dataset(data)
            check_sources([source])  # before the Grad-CAM it would cost
            frames = entry.scan.dicom.frame_count
            finding = (
                Finding.of_slice(assessment, view.frame + 1, frames) if frames > 1 else Finding.of_slice(assessment)
            )
            model, classes = resources.model_info(run), resources.classifier(run).classes
            target = classes.index(assessment.prediction or assessment.top_class)
            picture = overlay(entry.scan.render(view), scans.heatmap(run, entry, view, CAM_METHOD, target), CAM_OPACITY)
            return structured_report([source], finding, model), secondary_capture(source, picture, finding, model)
        except UnfileableSourceError as error:
            return str(error)
        except Exception:  # the file's tags are the user's: one odd tag never takes the page down
            return "A DICOM result cannot be built from this file's tags. The answer above stands."

    return memo("dicom_results", capacity=32).get((entry.key, view, resources.stamp(run)), build)


def _source_bytes(entry: Entry) -> bytes | None:
    """The scan's file as it came: from the PACS, or the upload (Streamlit keeps it in session state)."""
    for file in [*pacs.fetched(), *(st.session_state.get("uploads") or [])]:
        if entry.key == f"upload:{file.file_id}":
            return file.getvalue()
    return None
