"""One scan in detail: the picture controls (frame, window, plane, slice), the answer, the per-class
probabilities, and the Grad-CAM overlay next to the original."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.assessment import Assessment
from core.scan_io import DICOM, NIFTI, View
from ui import charts, explanation, scans, verdict
from ui.scans import Entry, widget_key

CAM_METHOD_KEY, CAM_OPACITY_KEY = explanation.METHOD_KEY, explanation.OPACITY_KEY  # ui.batch reads them here


def render(run: Path, entry: Entry, assessment: Assessment | None, classes: list[str]) -> None:
    st.subheader(entry.name)
    if entry.scan is None:
        said = (
            entry.error
            if entry.error.startswith("This file could not be read")
            else f"This file could not be read. {entry.error}"
        )
        st.error(said, icon=":material/broken_image:")
        return
    scan = entry.scan
    _view_controls(entry)
    view = scans.current_view(entry)
    facts = " · ".join(f"{name} {value}" for name, value in scan.facts().items())
    st.caption(" · ".join(part for part in (scan.describe(view), facts) if part))
    if assessment is None:
        st.info("No answer yet for this image.")
        return

    pictures, answer = st.columns([3, 2], gap="large")
    with answer:
        verdict.show(assessment)
        if assessment.prediction:
            _probability_chart(entry, assessment, classes, stated=assessment.prediction)
        else:
            with st.expander("Per-class scores (not a diagnosis)"):
                st.caption("The model's scores for each class, shown on request. No class is given for this image.")
                _probability_chart(entry, assessment, classes, stated="")
    with pictures:
        explanation.show(run, entry, view, assessment, classes)

    if scan.kind == NIFTI:
        _volume_sweep(run, entry, view, classes)


def _view_controls(entry: Entry) -> None:
    """Widgets that choose the picture; their values are read back by scans.current_view."""
    scan = entry.scan
    remembered = scans.current_view(entry)
    if scan.kind == DICOM:
        columns = st.columns([2, 2, 3])
        if scan.dicom.frame_count > 1:
            _init(widget_key(entry.key, "frame"), remembered.frame + 1)
            columns[0].slider("Frame", 1, scan.dicom.frame_count, key=widget_key(entry.key, "frame"))
        modes = (["from file"] if scan.dicom.window.source == "file" else []) + ["automatic", "custom"]
        _init(widget_key(entry.key, "window"), modes[0])
        mode = columns[1].radio(
            "Window",
            modes,
            key=widget_key(entry.key, "window"),
            horizontal=True,
            help="Which values map to black and white: the file's own window tags, the 0.5–99.5th "
            "percentile of the pixel values, or your own.",
        )
        if mode == "custom":
            low, high = scan.dicom.value_range
            window = remembered.window or scan.dicom.window
            _init(widget_key(entry.key, "range"), (max(low, window.lower), min(high, window.upper)))
            columns[2].slider(
                "Window (black, white)",
                float(low),
                float(high if high > low else low + 1),
                key=widget_key(entry.key, "range"),
            )
    elif scan.kind == NIFTI:
        planes = scan.volume.planes or ["axial"]
        columns = st.columns([2, 3])
        _init(widget_key(entry.key, "plane"), remembered.plane if remembered.plane in planes else planes[0])
        plane = columns[0].radio("Plane", planes, key=widget_key(entry.key, "plane"), horizontal=True)
        count = scan.volume.slice_count(plane)
        index = remembered.index if plane == remembered.plane and remembered.index is not None else count // 2
        _init(widget_key(entry.key, f"slice:{plane}"), index + 1)
        if count > 1:
            columns[1].slider("Slice", 1, count, key=widget_key(entry.key, f"slice:{plane}"))


def _init(key: str, value) -> None:
    """Give a widget its starting value once; afterwards the widget owns it."""
    if key not in st.session_state:
        st.session_state[key] = value


def _probability_chart(entry: Entry, assessment: Assessment, classes: list[str], stated: str) -> None:
    st.plotly_chart(
        charts.probability_bars(assessment.probabilities, classes, stated),
        config={"displayModeBar": False},
        key=widget_key(entry.key, "probabilities"),
    )


def _volume_sweep(run: Path, entry: Entry, view: View, classes: list[str]) -> None:
    st.markdown(f"**Through the volume** ({view.plane})")
    existing = scans.stored_sweep(run, entry, view.plane)
    if existing is None and st.button(
        f"Scan all {view.plane} slices",
        key=widget_key(entry.key, f"sweep:{view.plane}"),
        help="Classify every slice along this plane and draw the class probabilities along the volume.",
    ):
        existing = scans.run_sweep(run, entry, view.plane)
    if existing is not None:
        probabilities = existing.probabilities(classes)
        st.plotly_chart(charts.slice_profile(probabilities, classes, view.index, view.plane), key=f"sweep:{entry.key}")
        skipped = sum(a is None for a in existing.assessments)
        if skipped:
            st.caption(f"{skipped} slice(s) with almost no tissue were not classified (gaps in the lines).")
