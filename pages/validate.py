"""Validate: how good is this model on our scans? Labelled scans in, the evaluation report's numbers out."""

import hashlib
import json
import re

import streamlit as st

from core.io.file_kinds import FORMATS
from core.report.intervals import plural
from ui import resources, validate_sections
from ui.flow import end_page
from ui.notice import NOTICE

st.title("Validate on your scans")
st.caption(
    "Give the model scans whose diagnosis you know, and see how often it is right on them: the same measures "
    "as its held-out evaluation. Everything stays in this session's memory; nothing is written or sent. " + NOTICE
)
run = resources.require_run(need_model=True)
classes = resources.report(run).classes

uploads = st.file_uploader(
    "Labelled scans: a ZIP of class folders, or files",
    accept_multiple_files=True,
    help=f"A ZIP with one folder per class (glioma/, meningioma/, notumor/, pituitary/), or scans ({FORMATS}) "
    "or ZIPs of scans with a labels CSV.",
    key="validate:uploads",
)
labels_upload = st.file_uploader(
    "Labels (CSV, optional)",
    type=["csv", "txt"],
    help="Columns file,label, and optionally sequence, plane and site (or scanner). `file` is the file's path or "
    "name, or a DICOM file's SOPInstanceUID. Without a CSV, each file's folder is its label.",
    key="validate:labels",
)
if not uploads:
    st.info("Upload a ZIP of class folders, or scans and a labels CSV.", icon=":material/upload_file:")
    end_page()

gathered = validate_sections.gather(uploads, labels_upload)
for message in gathered.refused:
    st.error(message, icon=":material/block:")
if not gathered.labelled.files and not gathered.labelled.unlabelled and not gathered.not_images:
    end_page()

st.subheader("Labels")
mapping = validate_sections.label_mapping(gathered.labelled, classes)
validate_sections.not_scored(gathered, mapping)
scored = [f for f in gathered.labelled.files if mapping.get(f.label)]
name = st.text_input("Name of this set (for the report)", "local", max_chars=64, key="validate:name")
name = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "local"
hide_names = st.toggle(
    "Replace file names with hashes in the report", key="validate:hide", help="For reports shared outside the team."
)
fingerprint = hashlib.sha256(
    json.dumps([gathered.fingerprint, mapping, name, run.name], sort_keys=True).encode()
).hexdigest()

if st.button(f"Validate {plural(len(scored), 'image')}", type="primary", disabled=not scored, key="validate:go"):
    st.session_state[validate_sections.RESULT_KEY] = (
        fingerprint,
        *validate_sections.validate(run, gathered, mapping, name),
    )
stored = st.session_state.get(validate_sections.RESULT_KEY)
if stored is None or stored[0] != fingerprint:
    end_page()
_, result, metrics = stored
st.divider()
validate_sections.downloads(result, metrics, hide_names)
validate_sections.results(result, metrics, hide_names)
