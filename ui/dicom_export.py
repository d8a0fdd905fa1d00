"""The answer for DICOM scans as DICOM objects: download them (SR, Secondary Capture of the Grad-CAM
overlay), or store them in the configured PACS with STOW-RS. For one slice (`render`, from the scan panel)
or a series answer (`render_series`).

The objects carry the source's patient and study attributes (that is how a PACS files them with the scan),
so they are built only here, on the scans' own bytes, and go only where the user sends them: a download,
or the PACS. Nothing of them is shown on the page. They are built once per answer and model, so storing
twice sends the same UIDs (the PACS keeps one copy).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from pydicom.dataset import Dataset

from core.decide.assessment import Assessment
from core.decide.outline import Outline, draw_outline
from core.io.scan_io import DICOM, View
from core.model.gradcam import overlay
from core.pacs import Pacs, PacsError, file_bytes, read_dataset
from core.report.finding import Finding
from ui import pacs_source, resources, scan_analysis
from ui.scan_analysis import Entry, widget_key
from ui.session import memo

CAM_METHOD = "Grad-CAM"  # the capture shows Grad-CAM for the stated class (the top class when none is stated)
CAM_OPACITY = 0.5
UNBUILDABLE = "A DICOM result cannot be built from this file's tags. The answer above stands."


def render(run: Path, entry: Entry, view: View, assessment: Assessment | None) -> None:
    """The answer for one scan's current view. Nothing for a scan that is not DICOM or has no answer."""
    if entry.scan is None or entry.scan.kind != DICOM or assessment is None:
        return
    frames = entry.scan.dicom.frame_count
    drawn = scan_analysis.outline(run, entry, view, assessment)
    place = (view.frame + 1, frames) if frames > 1 else (None, None)
    finding = Finding.of_slice(assessment, *place, outline=drawn)
    _offer(run, entry.key, [entry], finding, (entry, view), drawn)


def render_series(run: Path, entries: list[Entry], finding: Finding, shown: tuple[Entry, View]) -> None:
    """A series answer: the SR references every slice in `entries`; the capture is the Grad-CAM of `shown`
    (the slice that best supports the answer)."""
    if not entries or any(entry.scan is None or entry.scan.kind != DICOM for entry in entries):
        return
    _offer(run, f"series:{entries[0].key}:{len(entries)}", entries, finding, shown)


def _offer(
    run: Path, key: str, entries: list[Entry], finding: Finding, shown: tuple[Entry, View], drawn: Outline | None = None
) -> None:
    """An expander with the downloads and, where a PACS is configured, the store button."""
    data = [_source_bytes(entry) for entry in entries]
    keys = [entry.key for entry in entries]
    if any(item is None for item in data) or shown[0].key not in keys:
        return
    with st.expander("Result as DICOM (structured report and Grad-CAM capture)", icon=":material/output:"):
        st.caption(
            "A DICOM structured report (the answer, every class's calibrated probability, the model and its "
            "weights' hash; marked unverified and not a diagnosis) and a secondary capture of the Grad-CAM "
            "overlay. Both carry this scan's patient and study details so that a PACS files them with it."
        )
        datasets = _built(run, key, data, finding, shown, keys.index(shown[0].key), drawn)
        if isinstance(datasets, str):
            st.info(datasets, icon=":material/info:")
            return
        report, capture = (file_bytes(dataset) for dataset in datasets)
        columns = st.columns(3)
        stem = Path(shown[0].name).stem or "scan"
        for column, label, content, suffix, control in (
            (columns[0], "Download result (DICOM SR)", report, "result-sr", "dicom:sr"),
            (columns[1], "Download Grad-CAM (DICOM SC)", capture, "gradcam-sc", "dicom:sc"),
        ):
            column.download_button(
                label,
                content,
                file_name=f"{stem}-{suffix}.dcm",
                mime="application/dicom",
                on_click="ignore",
                icon=":material/download:",
                key=widget_key(key, control),
            )
        _store(key, all(pacs_source.came_from_pacs(entry.key) for entry in entries), datasets, columns[2])


def _store(key: str, from_pacs: bool, datasets: tuple[Dataset, Dataset], column) -> None:
    configured = pacs_source.settings()
    if configured is None:
        return
    if not from_pacs and not column.checkbox(
        "Also store this upload's result in the PACS",
        key=widget_key(key, "dicom:store:ok"),
        help="The result carries the uploaded file's patient and study details to the configured PACS.",
    ):
        return
    if column.button("Store result in PACS", icon=":material/cloud_upload:", key=widget_key(key, "dicom:store")):
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


def _built(
    run: Path,
    key: str,
    data: list[bytes],
    finding: Finding,
    shown: tuple[Entry, View],
    shown_index: int,
    drawn: Outline | None = None,
) -> tuple[Dataset, Dataset] | str:
    """The SR and SC, memoised per answer, shown view and run; or why there can be none for these files."""
    entry, view = shown

    def build() -> tuple[Dataset, Dataset] | str:
        # Imported on first use: highdicom takes 0.4 s to import, and a fresh server's first verdict, on the
        # page this module is part of, must not wait for it.
        from core.report.dicom_results import UnfileableSourceError, check_sources, secondary_capture, structured_report

        try:
            sources = [read_dataset(item) for item in data]
            check_sources(sources)  # before the Grad-CAM it would cost
            model, classes = resources.model_info(run), resources.classifier(run).classes
            scores = dict(finding.probabilities)
            target = classes.index(finding.label or max(scores, key=scores.get))
            picture = overlay(
                entry.scan.render(view), scan_analysis.heatmap(run, entry, view, CAM_METHOD, target), CAM_OPACITY
            )
            if drawn is not None and drawn.pixels:  # the mask head's outline, drawn on the evidence map
                picture = draw_outline(picture, drawn)
            report = structured_report(sources, finding, model)
            return report, secondary_capture(sources[shown_index], picture, finding, model)
        except UnfileableSourceError as error:
            return str(error)
        except Exception:  # the files' tags are the user's: one odd tag never takes the page down
            return UNBUILDABLE

    return memo("dicom_results", capacity=32).get((key, view, entry.key, finding, resources.stamp(run)), build)


def _source_bytes(entry: Entry) -> bytes | None:
    """The scan's file as it came: from the PACS, or the upload (Streamlit keeps it in session state)."""
    for file in [*pacs_source.fetched(), *(st.session_state.get("uploads") or [])]:
        if entry.key == f"upload:{file.file_id}":
            return file.getvalue()
    return scan_analysis.zip_member_bytes(entry.key)  # a member of an uploaded ZIP
