"""Placeholder entry page until the clinician-facing app lands: shows the bundled model is loadable."""

import streamlit as st

from core.checkpoint import read_metadata
from core.inference import DEFAULT_WEIGHTS

st.set_page_config(page_title="Brain MRI classifier", layout="wide")
st.title("Brain MRI classifier")
metadata = read_metadata(DEFAULT_WEIGHTS)
st.write(f"Bundled model: {metadata['architecture']} at {metadata['preprocessing']['img_size']} px.")
