"""The Classify page's "From PACS" source: search studies, pick a study and one of its MR series, fetch it.

The fetched images live in this session's memory (st.session_state) and enter the page as uploads do
(core.pacs.PacsFile looks like an UploadedFile), so they survive reruns and are never written to disk. What
is shown of a study or series is its date, description and counts: no patient field.
"""

from __future__ import annotations

import os

import streamlit as st

from core.pacs import Pacs, PacsError, PacsFile, PacsSettings, SeriesHit, StudyHit, StudyQuery

STUDIES_KEY = "pacs:studies"  # the last search's studies (list[StudyHit]), or a message
SERIES_KEY = "pacs:series"  # study UID -> its MR series (list[SeriesHit]), or a message
FETCHED_KEY = "pacs:fetched"  # the fetched series' files (list[PacsFile])
FETCHED_LABEL_KEY = "pacs:fetched:label"
NOT_CONFIGURED = (
    "No PACS is configured. Set `url` (and `username` and `password`, or `token`) in the `[pacs]` table of "
    "`.streamlit/secrets.toml`, or the MRI_PACS_URL environment variables; see the README."
)


def settings() -> PacsSettings | None:
    return PacsSettings.from_sources(_secrets(), os.environ)


def _secrets():
    try:
        return st.secrets.get("pacs")
    except Exception:  # no secrets.toml at all (Streamlit raises), or one that does not parse
        return None


def fetched() -> list[PacsFile]:
    return st.session_state.get(FETCHED_KEY, [])


def came_from_pacs(entry_key: str) -> bool:
    return any(entry_key == f"upload:{file.file_id}" for file in fetched())


def source() -> list[PacsFile]:
    """Draw the "From PACS" expander; return the fetched series' files, to be read like uploads."""
    configured = settings()
    with st.expander("From PACS", icon=":material/lan:", expanded=bool(fetched())):
        if configured is None:
            st.caption(NOT_CONFIGURED)
        else:
            _search(configured)
            _pick_and_fetch(configured)
        if fetched():
            st.success(f"Fetched {st.session_state.get(FETCHED_LABEL_KEY, '')}.", icon=":material/download_done:")
            st.button("Remove the fetched series", on_click=_forget, key="pacs:remove")
    return fetched()


def _search(configured: PacsSettings) -> None:
    with st.form("pacs:search", border=False):
        columns = st.columns(4)
        accession = columns[0].text_input("Accession number", key="pacs:accession")
        patient_id = columns[1].text_input("Patient ID", key="pacs:patient_id")
        date_from = columns[2].date_input("Study date from", value=None, key="pacs:date_from")
        date_to = columns[3].date_input("Study date to", value=None, key="pacs:date_to")
        submitted = st.form_submit_button("Search the PACS", icon=":material/search:", key="pacs:search:submit")
    if submitted:
        query = StudyQuery(accession, patient_id, date_from, date_to, mr_only=True)
        st.session_state[SERIES_KEY] = {}
        with st.spinner("Searching the PACS…"):
            try:
                st.session_state[STUDIES_KEY] = Pacs(configured).search_studies(query)
            except PacsError as error:
                st.session_state[STUDIES_KEY] = str(error)


def _pick_and_fetch(configured: PacsSettings) -> None:
    studies = st.session_state.get(STUDIES_KEY)
    if studies is None:
        return
    if isinstance(studies, str):
        st.error(studies, icon=":material/cloud_off:")
        return
    if not studies:
        st.info("No MR study matches this search.", icon=":material/search_off:")
        return
    study: StudyHit = st.selectbox("Study", studies, format_func=lambda hit: hit.label, key="pacs:study")
    series = _series_of(configured, study)
    if isinstance(series, str):
        st.error(series, icon=":material/cloud_off:")
        return
    chosen: SeriesHit = st.selectbox("MR series", series, format_func=lambda hit: hit.label, key="pacs:pick")
    if st.button("Fetch this series", icon=":material/download:", key="pacs:fetch"):
        with st.spinner("Fetching the series from the PACS…"):
            try:
                files = Pacs(configured).fetch_series(chosen)
            except PacsError as error:
                st.error(str(error), icon=":material/cloud_off:")
                return
        st.session_state[FETCHED_KEY] = files
        st.session_state[FETCHED_LABEL_KEY] = f"{len(files)} images of {chosen.name} ({study.date or 'undated'})"
        st.rerun()  # the page reads the new files from the top


def _series_of(configured: PacsSettings, study: StudyHit) -> list[SeriesHit] | str:
    known = st.session_state.setdefault(SERIES_KEY, {})
    if study.study_uid not in known:
        with st.spinner("Listing the study's series…"):
            try:
                known[study.study_uid] = Pacs(configured).mr_series(study.study_uid)
            except PacsError as error:
                known[study.study_uid] = str(error)
    return known[study.study_uid]


def _forget() -> None:
    st.session_state.pop(FETCHED_KEY, None)
    st.session_state.pop(FETCHED_LABEL_KEY, None)
