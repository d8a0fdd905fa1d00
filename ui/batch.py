"""Many scans at once: the results table (filter, sort, CSV; a click opens a scan), one numbering (upload
order) everywhere, identical uploads flagged, and the printable report (HTML or PDF) with optional reader
fields that go only into the file the user downloads."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import streamlit as st

from core.io.png import png_bytes, thumbnail
from core.io.scan_io import View
from core.labels import STATUS_TEXT, display_name, status_text
from core.model.gradcam import METHODS
from core.report.intervals import plural
from core.report.report_html import ReaderFields, ReportEntry, build_report
from core.report.report_pdf import ReportPdfError, report_pdf
from core.report.results import SORT_KEYS, Provenance, ScanResult, filter_results, results_csv, sort_results
from ui import charts, explanation, localisation_view, resources, scan_analysis
from ui.scan_analysis import Entry
from ui.scan_panel import CAM_METHOD_KEY, CAM_OPACITY_KEY

REPORT_KEY = "report:html"
UPLOAD_ORDER = "#"  # the sort that keeps upload order
ROW_HEIGHT, HEADER_HEIGHT, VISIBLE_ROWS = 76, 38, 10
NOTE_CHARACTERS = 180  # three lines of the note column at its width on a 1400 px window (about 65 a line)
DETAIL_KEY, APPLIED_CLICK_KEY = "detail", "table:applied-click"


def measured_per_class(run: Path, classes: list[str]) -> None:
    """Before any upload: how often the model found each class on held-out slices. Worth knowing before the
    first answer, and drawing a chart here also loads the browser's charting code (seconds on a cold
    browser, measured) while the user picks a file, instead of after the first upload."""
    test = resources.report(run).test("leak_free")
    per_class = (test or {}).get("per_class") or {}
    recall = {name: per_class[name]["recall"] for name in classes if name in per_class}
    if len(recall) != len(classes):
        return
    support = ", ".join(f"{display_name(name)} {per_class[name]['support']}" for name in classes)
    st.plotly_chart(
        charts.probability_bars(
            recall, classes, title="Found on held-out slices with no copy in training (recall per class)"
        ),
        config={"displayModeBar": False},
        key="landing:recall",
    )
    st.caption(f"Leak-free test slices per class: {support}. The Evaluation page has the whole report.")


def flag_duplicates(entries: list[Entry], results: list[ScanResult]) -> list[ScanResult]:
    """Results with a note on every file that is byte for byte an earlier one: a scan counted twice would
    weigh twice in a reader's impression of the batch."""
    first_number: dict[str, int] = {}
    flagged = []
    for number, (entry, result) in enumerate(zip(entries, results, strict=True), start=1):
        original = first_number.setdefault(entry.digest, number) if entry.digest else number
        if original != number:
            note = f"Identical to #{original} (the same file uploaded twice)."
            result = replace(result, message=f"{result.message} {note}".strip())
        flagged.append(result)
    return flagged


def results_table(run: Path, results: list[ScanResult], thumbnails: list[str | None], classes: list[str]) -> int | None:
    """The table; returns the number (#, upload order) of the row the user clicked, or None."""
    st.markdown(f"**Results** ({plural(len(results), 'file')})")
    duplicates = sum("the same file uploaded twice" in r.message for r in results)
    if duplicates:
        st.warning(
            f"{plural(duplicates, 'file is', 'files are')} identical to an earlier upload (see the note column); "
            "each copy is a row of its own, so count them once.",
            icon=":material/content_copy:",
        )
    controls = st.columns([3, 3, 2, 2, 1])
    statuses = sorted({r.status for r in results}, key=lambda s: list(STATUS_TEXT).index(s) if s in STATUS_TEXT else 99)
    shown_statuses = controls[0].multiselect(
        "Status", statuses, default=statuses, format_func=status_text, key="table:status"
    )
    shown_classes = controls[1].multiselect(
        "Predicted class", classes, default=classes, format_func=display_name, key="table:classes"
    )
    floor = controls[2].slider("Min. confidence", 0.0, 1.0, 0.0, 0.05, key="table:floor")
    sort_key = controls[3].selectbox("Sort by", [UPLOAD_ORDER, *SORT_KEYS], key="table:sort")
    descending = controls[4].toggle("Desc.", value=False, key="table:desc")

    number_of = {id(result): number for number, result in enumerate(results, start=1)}
    thumbnail_of = {id(result): thumb for result, thumb in zip(results, thumbnails, strict=True)}
    kept = filter_results(results, set(shown_statuses), set(shown_classes), floor)
    if sort_key == UPLOAD_ORDER:  # the numbers read 1, 2, 3 as the files were given
        kept = sorted(kept, key=lambda r: number_of[id(r)], reverse=descending)
    else:
        kept = sort_results(kept, sort_key, descending)
    table = pd.DataFrame(
        {
            "#": [number_of[id(r)] for r in kept],
            "image": [thumbnail_of[id(r)] or "" for r in kept],
            "file": [r.name for r in kept],
            "view": [r.view for r in kept],
            "prediction": [display_name(r.prediction) if r.prediction else "—" for r in kept],
            "confidence": [r.confidence for r in kept],
            "status": [status_text(r.status) for r in kept],
            "note": [brief(r.message) for r in kept],
        }
    )
    table = table.drop(columns=[c for c in ("view", "note") if not table[c].astype(bool).any()])
    event = st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        row_height=ROW_HEIGHT,
        # Up to ten rows without scrolling inside the table (the default height showed five).
        height=ROW_HEIGHT * min(len(table), VISIBLE_ROWS) + HEADER_HEIGHT,
        on_select="rerun",
        # A click on any cell opens its row, as the caption says; the checkbox still works too.
        selection_mode=["single-row", "single-cell"],
        key="table:grid",
        column_config={
            "#": st.column_config.NumberColumn("#", width=40),
            "image": st.column_config.ImageColumn("image", width="small"),
            "confidence": st.column_config.ProgressColumn(
                "confidence", format="percent", min_value=0, max_value=1, width=120
            ),
            "note": st.column_config.TextColumn("note", width="large"),
        },
    )
    st.caption(
        f"{len(kept)} of {len(results)} shown. Click a row to open that scan below, with its note in full (the "
        "CSV has it too). Confidence is calibrated; no class is given when uncertain."
    )
    st.download_button(
        "Download table (CSV)",
        results_csv(kept, classes, Provenance.of(resources.model_info(run)), [number_of[id(r)] for r in kept]),
        file_name="mri_results.csv",
        mime="text/csv",
        on_click="ignore",
        icon=":material/table:",
        key="table:csv",
    )
    return clicked_number(table, event.selection if event is not None else None)


def brief(note: str, limit: int = NOTE_CHARACTERS) -> str:
    """The note as the table shows it: whole, or cut at a word before `limit` characters with an ellipsis
    (a longer one would be cut mid-word by the cell)."""
    if len(note) <= limit:
        return note
    return note[: note.rfind(" ", 0, limit)].rstrip(" ;,:") + " …"


def clicked_number(table: pd.DataFrame, selection) -> int | None:
    """The # of the row whose checkbox or any of whose cells was clicked, or None."""
    if selection is None:
        return None
    rows = list(selection.get("rows") or []) or [cell[0] for cell in selection.get("cells") or []]
    return int(table["#"].iloc[rows[0]]) if rows and rows[0] < len(table) else None


def chosen_number(entries: list[Entry], clicked: int | None) -> int:
    """The scan shown in detail, by its number: the row just clicked in the table, else the one chosen here."""
    labels = [f"{number}. {entry.name}" for number, entry in enumerate(entries, start=1)]
    # A click opens its row once; afterwards the selectbox is the user's again (the row stays selected).
    if clicked != st.session_state.get(APPLIED_CLICK_KEY):
        st.session_state[APPLIED_CLICK_KEY] = clicked
        if clicked is not None:
            st.session_state[DETAIL_KEY] = labels[clicked - 1]
    if st.session_state.get(DETAIL_KEY) not in labels:
        st.session_state.pop(DETAIL_KEY, None)
    return labels.index(st.selectbox("Show in detail", labels, key=DETAIL_KEY)) + 1


def printable_report(run: Path, items: list[tuple[Entry, View | None]], results: list[ScanResult]) -> None:
    """Build on request (Grad-CAM for every classified scan takes a moment), then offer HTML and PDF."""
    st.markdown("**Printable report**")
    with st.expander("Reader's details for the report (optional)"):
        st.caption("Typed here for the downloaded report only: never stored, logged or sent anywhere.")
        columns = st.columns(2)
        reader = ReaderFields(
            accession=columns[0].text_input("Accession number", key="report:accession", max_chars=64),
            reader=columns[1].text_input("Reader", key="report:reader", max_chars=120),
            comment=st.text_area("Comment", key="report:comment", max_chars=2000),
        )
    method = st.session_state.get(CAM_METHOD_KEY, next(iter(METHODS)))
    opacity = float(st.session_state.get(CAM_OPACITY_KEY, 0.5))
    signature = (resources.stamp(run), tuple((e.key, v) for e, v in items), method, opacity, reader)
    stored = st.session_state.get(REPORT_KEY)
    if st.button("Prepare printable report", icon=":material/print:", key="report:build"):
        html = _build(run, items, results, method, opacity, reader)
        stored = (signature, html, _pdf(html))
        st.session_state[REPORT_KEY] = stored
    if stored and stored[0] == signature:
        stamp = f"{datetime.now(UTC):%Y%m%d_%H%M}"
        columns = st.columns(2)
        columns[0].download_button(
            "Download report (HTML, printable)",
            stored[1],
            file_name=f"mri_report_{stamp}.html",
            mime="text/html",
            on_click="ignore",
            icon=":material/download:",
            key="report:download",
        )
        if stored[2]:
            columns[1].download_button(
                "Download report (PDF)",
                stored[2],
                file_name=f"mri_report_{stamp}.pdf",
                mime="application/pdf",
                on_click="ignore",
                icon=":material/picture_as_pdf:",
                key="report:pdf",
            )
        else:
            columns[1].caption("The PDF could not be made; open the HTML report and print it to PDF.")
    elif stored:
        st.caption("The results or the reader's details changed since the report was prepared; prepare it again.")


def _pdf(html: str) -> bytes | None:
    try:
        return report_pdf(html)
    except ReportPdfError:
        return None


def _build(run: Path, items, results: list[ScanResult], method: str, opacity: float, reader: ReaderFields) -> str:
    classes = resources.classifier(run).classes
    # One caveat for every map of the report: it depends on the method, not on the scan.
    map_caveat = ""
    if not localisation_view.beats_baseline(run, method):
        map_caveat = localisation_view.caveat(run, method).removeprefix("Closed by default: ")
        map_caveat = map_caveat[:1].upper() + map_caveat[1:]
    entries = []
    bar = st.progress(0.0, text="Preparing the report…")
    for done, ((entry, view), result) in enumerate(zip(items, results, strict=True), start=1):
        image = overlay = small = None
        caption = caveat = scope = image_caption = ""
        if entry.scan is not None:
            check = scan_analysis.scope_check(run, entry, view)
            scope = " ".join([f"{check.headline}.", *check.reasons])
            picture = entry.scan.render(view)
            image, small = png_bytes(picture), png_bytes(thumbnail(picture, 72))
            drawn = scan_analysis.outline(run, entry, view, result.assessment) if result.assessment else None
            if drawn is not None:  # the mask head's outline, as on the scan's page
                image = scan_analysis.outlined_png(entry, view, drawn)
                image_caption = explanation.outline_caption(result.assessment, drawn)
            if result.prediction:  # an overlay only where a class is stated
                target = classes.index(result.prediction)
                overlay = scan_analysis.overlay_png(run, entry, view, method, target, opacity)
                caption = f"{method}: evidence for {display_name(result.prediction)}"
                caveat = map_caveat
        entries.append(
            ReportEntry(
                result, image, overlay, caption, small, overlay_caveat=caveat, scope=scope, image_caption=image_caption
            )
        )
        bar.progress(done / len(items), text=f"Preparing the report… {done}/{len(items)}")
    bar.empty()
    return build_report(entries, classes, resources.model_info(run), datetime.now(UTC), reader)
