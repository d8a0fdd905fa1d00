"""A DICOM series on the Classify page: what it is (from its tags), one answer for the series with the rule that
gives it, the sweep of every slice's status, and the slices the answer rests on, each openable in detail.

Slices reach this panel like any upload (files uploaded together, the members of a ZIP, or a PACS retrieval
handed over as in-memory files); the page has already assessed each one exactly as a single slice, and the
series answer is built from those very answers (core/decide/series_rule.py).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from core.decide.assessment import NOT_MRI, OK, Assessment
from core.decide.scope import check_scope
from core.decide.series_rule import DEFAULT_RULE, SeriesAnswer, series_answer
from core.decide.slice_sweep import Sweep, has_tissue
from core.io.acquisition import scope_facts
from core.io.dicom_series import Series, group_series
from core.io.png import png_bytes, thumbnail
from core.io.scan_io import DICOM
from core.labels import display_name
from core.report.finding import Finding
from ui import dicom_export, resources, scan_analysis, sweep_view
from ui.batch import DETAIL_KEY
from ui.scan_analysis import Entry
from ui.session import memo

OPEN_KEY = "series:open"  # the entry key of the slice a series view asked to open in the page's detail view
MIN_SLICES = 2  # a "series" of one file is a single scan, shown as one
SHOWN_SUPPORTING = 8  # thumbnails of supporting slices; the rest are in the slice picker


def find(entries: list[Entry]) -> list[Series]:
    """The series of two or more single-picture DICOM files among the page's entries."""
    items = [(e.key, e.scan.dicom) for e in entries if e.scan is not None and e.scan.kind == DICOM]
    return [series for series in group_series(items) if len(series) >= MIN_SLICES]


def show_all(run: Path, entries: list[Entry], answers: dict[str, Assessment | None], classes: list[str]) -> None:
    for number, series in enumerate(find(entries)):
        render(run, series, {e.key: e for e in entries}, answers, classes, number)


def series_sweep(series: Series, entries: dict[str, Entry], answers: dict[str, Assessment | None]) -> Sweep:
    """The slices' answers in series order; a slice without tissue (the ends of a stack) is not classified, as
    in a volume's sweep."""
    assessments = []
    for key in series.keys:
        entry = entries[key]
        picture = entry.scan.render(scan_analysis.current_view(entry))
        assessments.append(answers.get(key) if has_tissue(picture) else None)
    plane = series.acquisition.plane if series.acquisition and series.acquisition.plane else "series"
    return Sweep(plane, list(range(len(series))), assessments)


def render(
    run: Path,
    series: Series,
    entries: dict[str, Entry],
    answers: dict[str, Assessment | None],
    classes: list[str],
    number: int = 0,
) -> None:
    sweep = series_sweep(series, entries, answers)
    answer = series_answer(sweep.assessments, DEFAULT_RULE)
    with st.container(border=True):
        st.subheader(series.title())
        st.caption(_facts(series))
        _scope_notice(run, series)
        _verdict(answer)
        st.caption(
            f"Series rule: {DEFAULT_RULE.sentence()} Measured on pseudo-series of held-out slices, not on real volumes."
        )
        notes = (*(series.acquisition.notes if series.acquisition else ()), *series.notes)
        if notes:
            with st.expander("How the plane, the sequence and the slice order are known"):
                st.markdown("\n".join(f"- {note}" for note in notes))
        sweep_view.show(sweep, classes, None, key=f"series:{number}:sweep", supporting=answer.supporting)
        _outlined_areas(run, series, entries, sweep)
        _supporting(series, entries, answer, number)
        _as_dicom(run, series, entries, sweep, answer)


def _outlined_areas(run: Path, series: Series, entries: dict[str, Entry], sweep: Sweep) -> None:
    """The area the mask head outlines on each slice (mm² where every file gives a pixel spacing), as a chart."""
    areas, in_mm = [], True
    for key, answer in zip(series.keys, sweep.assessments, strict=True):
        entry = entries[key]
        drawn = None if answer is None else scan_analysis.outline(run, entry, scan_analysis.current_view(entry), answer)
        if drawn is None:
            areas.append(None)
            continue
        in_mm = in_mm and drawn.square_mm is not None
        areas.append(drawn)
    if all(drawn is None for drawn in areas):
        return
    unit = "mm²" if in_mm else "pixels"
    values = [None if d is None else (d.square_mm if in_mm else d.pixels) for d in areas]
    st.markdown(f"**Outlined tumour area per slice ({unit})**")
    st.bar_chart(
        pd.DataFrame({"slice": range(1, len(values) + 1), f"outlined area ({unit})": values}).set_index("slice"),
        height=160,
    )
    outlined = sum(1 for value in values if value)
    st.caption(
        f"{outlined} of {len(values)} slices have an outlined region. Drawn by the model's outline head on each "
        "slice alone; not a volume measurement."
    )


def _facts(series: Series) -> str:
    known = series.acquisition
    parts = [
        f"modality {known.modality or 'not stated'}" if known else "",
        f"plane {known.plane or 'not stated in the files'}" if known else "",
        f"sequence {known.sequence or 'not known from the tags'}" if known else "",
        f"slices ordered by {series.ordered_by}",
    ]
    return " · ".join(part for part in parts if part)


def _scope_notice(run: Path, series: Series) -> None:
    """Whether the series is like the scans the model was validated on (core.decide.scope), said above the answer."""
    check = check_scope(resources.scope_report(run), scope_facts(series.acquisition))
    if check.inside is False:
        st.warning(f"**{check.headline}.** " + " ".join(check.reasons), icon=":material/explore_off:")
    else:
        st.caption(" ".join((f"{check.headline}.", *check.reasons)))


def _verdict(answer: SeriesAnswer) -> None:
    if answer.status == OK:
        st.markdown(f"### {display_name(answer.prediction)} (series answer)\n{answer.message}")
    elif answer.status == NOT_MRI:
        st.error(f"**No series answer: not like brain MRI.** {answer.message}", icon=":material/block:")
    else:
        st.warning(f"**Uncertain: no series answer.** {answer.message}", icon=":material/help:")


def _supporting(series: Series, entries: dict[str, Entry], answer: SeriesAnswer, number: int) -> None:
    """Thumbnails of the slices the answer rests on, and a picker that opens any slice in the page's detail view."""
    count = len(series)
    if answer.supporting:
        st.markdown(f"**Slices that support the answer** ({len(answer.supporting)} of {count})")
        shown = answer.supporting[:SHOWN_SUPPORTING]
        for column, index in zip(st.columns(len(shown)), shown, strict=True):
            entry = entries[series.keys[index]]
            column.image(_thumbnail(entry), caption=f"slice {index + 1}")
    order = [*answer.supporting, *(i for i in range(count) if i not in answer.supporting)]
    labels = {i: f"slice {i + 1} of {count}{' (supports the answer)' if i in answer.supporting else ''}" for i in order}
    picker = f"series:{number}:slice"
    st.selectbox(
        "Open a slice in detail (with its Grad-CAM)",
        [None, *order],
        format_func=lambda i: "choose a slice" if i is None else labels[i],
        key=picker,
        on_change=_request_open,
        args=(picker, series.keys),
        help="The slice opens in the detail view below the results table, with its answer and Grad-CAM.",
    )


def _as_dicom(run: Path, series: Series, entries: dict[str, Entry], sweep: Sweep, answer: SeriesAnswer) -> None:
    """The series answer as one DICOM SR over every slice, with the Grad-CAM capture of the most confident
    slice the answer rests on (ui.dicom_export). A series has no probabilities of its own: the SR carries
    that slice's calibrated ones, and its rule text says so."""
    candidates = answer.supporting or tuple(i for i, a in enumerate(sweep.assessments) if a is not None)
    if not candidates:
        return
    best = max(candidates, key=lambda i: sweep.assessments[i].confidence)
    which = "the most confident slice the answer rests on" if answer.supporting else "the most confident slice"
    finding = Finding(
        answer.status,
        tuple(sweep.assessments[best].probabilities.items()),
        answer.prediction,
        slice_count=len(series),
        rule=f"{DEFAULT_RULE.sentence()} The probabilities are those of slice {best + 1} of {len(series)}, {which}.",
    )
    slices = [entries[key] for key in series.keys]
    dicom_export.render_series(run, slices, finding, (slices[best], scan_analysis.current_view(slices[best])))


def _thumbnail(entry: Entry) -> bytes:
    view = scan_analysis.current_view(entry)
    return memo("series-thumbnails", capacity=512).get(
        (entry.key, view), lambda: png_bytes(thumbnail(entry.scan.render(view), 96))
    )


def _request_open(picker: str, keys: tuple[str, ...]) -> None:
    index = st.session_state.get(picker)
    if index is not None:
        st.session_state[OPEN_KEY] = keys[index]


def open_requested(entries: list[Entry]) -> None:
    """Before the page draws its "Show in detail" picker (ui.batch.chosen_number): move it to the slice a
    series view asked to open. One detail view per page, because its Grad-CAM controls are shared."""
    wanted = st.session_state.pop(OPEN_KEY, None)
    for number, entry in enumerate(entries, start=1):
        if entry.key == wanted:
            st.session_state[DETAIL_KEY] = detail_label(number, entry)


def detail_label(number: int, entry: Entry) -> str:
    """The picker's label for an entry, as ui.batch.chosen_number writes it."""
    return f"{number}. {entry.name}"
