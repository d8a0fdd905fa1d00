"""One scan in detail: the picture controls (frame, window, plane, slice), the answer, the per-class
probabilities, and the Grad-CAM overlay next to the original."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.decide.assessment import Assessment
from core.decide.view_alternatives import neighbour_alternatives, window_alternatives
from core.io.scan_io import DICOM, NIFTI, View
from ui import charts, dicom_export, explanation, resources, scan_analysis, sweep_view, verdict
from ui.scan_analysis import Entry, widget_key

CAM_METHOD_KEY, CAM_OPACITY_KEY = explanation.METHOD_KEY, explanation.OPACITY_KEY  # ui.batch reads them here


def render(
    run: Path, entry: Entry, assessment: Assessment | None, classes: list[str], number: int | None = None
) -> None:
    st.subheader(f"{number}. {entry.name}" if number else entry.name)
    if entry.scan is None:
        said = (
            entry.error
            if entry.error.startswith("This file could not be read")
            else f"This file could not be read. {entry.error}"
        )
        st.error(said, icon=":material/broken_image:")
        return
    scan = entry.scan
    view = scan_analysis.current_view(entry)
    if assessment is None:
        _view_controls(run, entry, view)
        st.info("No answer yet for this image.")
        return

    # The answer first, with how far it can be trusted for a scan like this one; the controls come after.
    scope = scan_analysis.scope_check(run, entry, view)
    if scope.inside is False:
        st.warning(f"**{scope.headline}.** " + " ".join(scope.reasons), icon=":material/explore_off:")
    answer_column, scope_column = st.columns([3, 2], gap="large")
    with answer_column:
        verdict.show(assessment)
    with scope_column:
        verdict.scope(scope, resources.scope_report(run))
    _view_controls(run, entry, view)
    facts = " · ".join(f"{name} {value}" for name, value in scan.facts().items())
    st.caption(" · ".join(part for part in (scan.describe(view), facts) if part))

    pictures, scores = st.columns([3, 2], gap="large")
    with scores:
        if assessment.prediction:
            _probability_chart(entry, assessment, classes, stated=assessment.prediction)
        else:
            with st.expander("Per-class scores (not a diagnosis)"):
                st.caption(
                    "The model's raw scores, shown on request. No class is given for this image, so none is "
                    "highlighted."
                )
                _probability_chart(entry, assessment, classes, stated=None)
    with pictures:
        explanation.show(run, entry, view, assessment, classes)

    dicom_export.render(run, entry, view, assessment)  # DICOM scans only: the answer as SR and SC
    if scan.kind == NIFTI:
        _volume_sweep(run, entry, view, classes)


def _view_controls(run: Path, entry: Entry, remembered: View) -> None:
    """Widgets that choose the picture (their values are read back by scan_analysis.current_view), and, next to
    them, whether another window or a neighbouring slice would have given another answer."""
    scan = entry.scan
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
        _depends_on(run, entry, remembered, window_alternatives(scan, remembered), "window")
        _depends_on(run, entry, remembered, neighbour_alternatives(scan, remembered), "frame")
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
        _depends_on(run, entry, remembered, neighbour_alternatives(scan, remembered), "slice")


def _depends_on(run: Path, entry: Entry, view: View, alternatives, control: str) -> None:
    said = scan_analysis.answer_depends_on(run, entry, view, alternatives)
    if said:
        where = {"window": "the display window", "slice": "a neighbouring slice", "frame": "a neighbouring frame"}
        st.caption(
            f":material/warning: **The answer changes with {where[control]}**: {said}. Read the scan rather than "
            "rely on the model's answer here.",
        )


def _init(key: str, value) -> None:
    """Give a widget its starting value once; afterwards the widget owns it."""
    if key not in st.session_state:
        st.session_state[key] = value


def _probability_chart(entry: Entry, assessment: Assessment, classes: list[str], stated: str | None) -> None:
    st.plotly_chart(
        charts.probability_bars(assessment.probabilities, classes, stated),
        config={"displayModeBar": False},
        key=widget_key(entry.key, "probabilities"),
    )


def _volume_sweep(run: Path, entry: Entry, view: View, classes: list[str]) -> None:
    st.markdown(f"**Through the volume** ({view.plane})")
    existing = scan_analysis.stored_sweep(run, entry, view.plane)
    if existing is None and st.button(
        f"Scan all {view.plane} slices",
        key=widget_key(entry.key, f"sweep:{view.plane}"),
        help="Classify every slice along this plane and draw the class probabilities along the volume.",
    ):
        existing = scan_analysis.run_sweep(run, entry, view.plane)
    if existing is not None:
        sweep_view.show(existing, classes, view.index, key=f"sweep:{entry.key}")
