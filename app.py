"""Entry point: `streamlit run app.py`. Page navigation, the sidebar (model, device, accuracy) and the
assistive-use notice; the pages themselves live in pages/."""

import streamlit as st

from ui import sidebar

st.set_page_config(page_title="Brain MRI classifier", page_icon=":material/neurology:", layout="wide")

page = st.navigation(
    [
        st.Page("pages/classify.py", title="Classify", icon=":material/radiology:", default=True),
        st.Page("pages/evaluation.py", title="Evaluation", icon=":material/monitoring:"),
        st.Page("pages/validate.py", title="Validate", icon=":material/fact_check:"),
        st.Page("pages/about.py", title="About the model", icon=":material/info:"),
    ]
)
sidebar.render()
page.run()
