"""Classify: upload scans (or try the bundled examples), get an answer per scan, see where the model looked."""

import streamlit as st

from core.io.file_kinds import FORMATS
from ui.answering import answering
from ui.notice import NOTICE

SAMPLES_KEY = "samples:on"


def toggle_samples() -> None:
    st.session_state[SAMPLES_KEY] = not st.session_state.get(SAMPLES_KEY, False)


st.title("Classify brain MRI")
st.caption(NOTICE)
uploads = st.file_uploader(
    "Brain MRI slices or volumes",
    accept_multiple_files=True,
    help=f"{FORMATS}. Files are read by their content, whatever their name. They stay in this session's "
    "memory: never written to disk, never sent anywhere.",
    key="uploads",
)
st.button(
    "Remove the example scans" if st.session_state.get(SAMPLES_KEY) else "Try the example scans",
    on_click=toggle_samples,
    icon=":material/science:",
    help="Slices from the public dataset's test set, two per class, none with a copy in the training data "
    "(how they were chosen: About the model).",
    key="samples:button",
)

# Imported once the upload box is on screen: these import PyTorch, which takes seconds on a cold start. From
# here to the end of the scan's panel, app.py's start-up thread holds back what only a heatmap needs
# (ui/answering.py).
with answering(bool(uploads) or st.session_state.get(SAMPLES_KEY, False)):
    from ui import batch, pacs_source, resources, scan_analysis, scan_panel, series_panel
    from ui.flow import end_page

    from_pacs = pacs_source.source()  # a series fetched from the PACS enters as uploads do
    run = resources.require_run(need_model=True)
    classes = resources.report(run).classes

    entries = scan_analysis.collect([*(uploads or []), *from_pacs], st.session_state.get(SAMPLES_KEY, False))
    if not entries:
        st.info(f"Upload one or more scans ({FORMATS}), or try the example scans.", icon=":material/upload_file:")
        batch.measured_per_class(run, classes)
        resources.warm_up(run)  # once per process, while the first user picks a file
        end_page()

    readable = [entry for entry in entries if entry.scan is not None]
    views = {entry.key: scan_analysis.current_view(entry) for entry in readable}
    answers = scan_analysis.assessments(run, [(entry, views[entry.key]) for entry in readable])
    results = batch.flag_duplicates(
        entries, [scan_analysis.result(run, entry, views.get(entry.key), answers.get(entry.key)) for entry in entries]
    )
    series_panel.show_all(run, entries, answers, classes)  # several DICOM files of one series: one series answer

    if len(entries) > 1:
        thumbnails = [scan_analysis.thumbnail_uri(entry, views.get(entry.key)) for entry in entries]
        clicked = batch.results_table(run, results, thumbnails, classes)
        st.divider()
        series_panel.open_requested(entries)  # a series view's "open this slice" moves the detail picker to it
        number = batch.chosen_number(entries, clicked)
    else:
        number = 1
    entry = entries[number - 1]
    scan_panel.render(run, entry, answers.get(entry.key), classes, number=number if len(entries) > 1 else None)
st.divider()
batch.printable_report(run, [(entry, views.get(entry.key)) for entry in entries], results)
# A first upload that came before the warm-up did not wait for it: the verdict is already on screen.
resources.warm_up(run)
