"""Classify: upload scans (or try the bundled examples), get an answer per scan, see where the model looked."""

import streamlit as st

from core.scan_io import FORMATS
from ui import batch, resources, scan_panel, scans, series_panel
from ui.sidebar import NOTICE

SAMPLES_KEY = "samples:on"

st.title("Classify brain MRI")
st.caption(NOTICE)

run = resources.require_run(need_model=True)
classes = resources.report(run).classes

uploads = st.file_uploader(
    "Brain MRI slices or volumes",
    accept_multiple_files=True,
    help=f"{FORMATS}. Files are read by their content, whatever their name. They stay in this session's "
    "memory: never written to disk, never sent anywhere.",
    key="uploads",
)


def toggle_samples() -> None:
    st.session_state[SAMPLES_KEY] = not st.session_state.get(SAMPLES_KEY, False)


st.button(
    "Remove the example scans" if st.session_state.get(SAMPLES_KEY) else "Try the example scans",
    on_click=toggle_samples,
    icon=":material/science:",
    help="Slices from the public dataset's test set, one per class, none with a copy in the training data.",
    key="samples:button",
)

entries = scans.collect(uploads, st.session_state.get(SAMPLES_KEY, False))
if not entries:
    st.info(f"Upload one or more scans ({FORMATS}), or try the example scans.", icon=":material/upload_file:")
    st.stop()

readable = [entry for entry in entries if entry.scan is not None]
views = {entry.key: scans.current_view(entry) for entry in readable}
answers = scans.assessments(run, [(entry, views[entry.key]) for entry in readable])
results = [scans.result(entry, views.get(entry.key), answers.get(entry.key)) for entry in entries]
series_panel.show_all(run, entries, answers, classes)  # several DICOM files of one series: one series answer

if len(entries) > 1:
    thumbnails = [scans.thumbnail_uri(entry, views.get(entry.key)) for entry in entries]
    batch.results_table(run, results, thumbnails, classes)
    batch.printable_report(run, [(entry, views.get(entry.key)) for entry in entries], results)
    st.divider()
    labels = [f"{i}. {entry.name}" for i, entry in enumerate(entries, start=1)]
    series_panel.open_requested(labels, entries)  # a series view's "open this slice" moves the picker to it
    entry = entries[labels.index(st.selectbox("Show in detail", labels, key="detail"))]
else:
    entry = entries[0]

scan_panel.render(run, entry, answers.get(entry.key), classes)
if len(entries) == 1:
    st.divider()
    batch.printable_report(run, [(entry, views.get(entry.key))], results)
