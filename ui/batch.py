"""Many scans at once: the results table (filter, sort, CSV) and the printable HTML report."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import streamlit as st

from core.gradcam import METHODS
from core.labels import STATUS_TEXT, display_name, status_text
from core.png import png_bytes
from core.report_html import ReportEntry, build_report
from core.results import SORT_KEYS, Provenance, ScanResult, filter_results, results_csv, sort_results
from core.scan_io import View
from ui import resources, scans
from ui.scan_panel import CAM_METHOD_KEY, CAM_OPACITY_KEY
from ui.scans import Entry

REPORT_KEY = "report:html"


def results_table(run: Path, results: list[ScanResult], thumbnails: list[str | None], classes: list[str]) -> None:
    st.markdown(f"**Results** ({len(results)} file(s))")
    controls = st.columns([3, 3, 2, 2, 1])
    statuses = sorted({r.status for r in results}, key=lambda s: list(STATUS_TEXT).index(s) if s in STATUS_TEXT else 99)
    shown_statuses = controls[0].multiselect(
        "Status", statuses, default=statuses, format_func=status_text, key="table:status"
    )
    shown_classes = controls[1].multiselect(
        "Predicted class", classes, default=classes, format_func=display_name, key="table:classes"
    )
    floor = controls[2].slider("Min. confidence", 0.0, 1.0, 0.0, 0.05, key="table:floor")
    sort_key = controls[3].selectbox("Sort by", SORT_KEYS, key="table:sort")
    descending = controls[4].toggle("Desc.", value=False, key="table:desc")

    thumbnail_of = {id(result): thumb for result, thumb in zip(results, thumbnails, strict=True)}
    kept = filter_results(results, set(shown_statuses), set(shown_classes), floor)
    kept = sort_results(kept, sort_key, descending)
    table = pd.DataFrame(
        {
            "image": [thumbnail_of[id(r)] or "" for r in kept],
            "file": [r.name for r in kept],
            "view": [r.view for r in kept],
            "prediction": [display_name(r.prediction) if r.prediction else "—" for r in kept],
            "confidence": [r.confidence for r in kept],
            "status": [status_text(r.status) for r in kept],
            "note": [r.message for r in kept],
        }
    )
    table = table.drop(columns=[c for c in ("view", "note") if not table[c].astype(bool).any()])
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        row_height=76,
        column_config={
            "image": st.column_config.ImageColumn("image", width="small"),
            "confidence": st.column_config.ProgressColumn("confidence", format="percent", min_value=0, max_value=1),
            "note": st.column_config.TextColumn("note", width="large"),
        },
    )
    st.caption(f"{len(kept)} of {len(results)} shown. Confidence is calibrated; no class is given when uncertain.")
    st.download_button(
        "Download table (CSV)",
        results_csv(kept, classes, Provenance.of(resources.model_info(run))),
        file_name="mri_results.csv",
        mime="text/csv",
        on_click="ignore",
        icon=":material/table:",
        key="table:csv",
    )


def printable_report(run: Path, items: list[tuple[Entry, View | None]], results: list[ScanResult]) -> None:
    """Build on request (Grad-CAM for every classified scan takes a moment), then offer the download."""
    method = st.session_state.get(CAM_METHOD_KEY, next(iter(METHODS)))
    opacity = float(st.session_state.get(CAM_OPACITY_KEY, 0.5))
    signature = (resources.stamp(run), tuple((e.key, v) for e, v in items), method, opacity)
    stored = st.session_state.get(REPORT_KEY)
    if st.button("Prepare printable report", icon=":material/print:", key="report:build"):
        stored = (signature, _build(run, items, results, method, opacity))
        st.session_state[REPORT_KEY] = stored
    if stored and stored[0] == signature:
        st.download_button(
            "Download report (HTML, printable)",
            stored[1],
            file_name=f"mri_report_{datetime.now(UTC):%Y%m%d_%H%M}.html",
            mime="text/html",
            on_click="ignore",
            icon=":material/download:",
            key="report:download",
        )
    elif stored:
        st.caption("The results changed since the report was prepared; prepare it again.")


def _build(run: Path, items, results: list[ScanResult], method: str, opacity: float) -> str:
    classes = resources.classifier(run).classes
    entries = []
    bar = st.progress(0.0, text="Preparing the report…")
    for done, ((entry, view), result) in enumerate(zip(items, results, strict=True), start=1):
        image = overlay = None
        caption = ""
        if entry.scan is not None:
            image = png_bytes(entry.scan.render(view))
            if result.prediction:  # an overlay only where a class is stated
                target = classes.index(result.prediction)
                overlay = scans.overlay_png(run, entry, view, method, target, opacity)
                caption = f"{method}: evidence for {display_name(result.prediction)}"
        entries.append(ReportEntry(result, image, overlay, caption))
        bar.progress(done / len(items), text=f"Preparing the report… {done}/{len(items)}")
    bar.empty()
    return build_report(entries, classes, resources.model_info(run), datetime.now(UTC))
