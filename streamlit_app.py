"""The app's script (served by app.py: `streamlit run app.py`). Page navigation, the sidebar (model, device,
accuracy) and the assistive-use notice; the pages themselves live in pages/."""

from pathlib import Path

import streamlit as st

from ui.flow import page_run

# The icon is a file shipped here: a Material icon name as page icon makes every page load fetch it from a
# font server, which fails offline.
ICON = Path(__file__).resolve().parent / "ui" / "assets" / "icon.png"
st.set_page_config(page_title="Brain MRI classifier", page_icon=str(ICON), layout="wide")

page = st.navigation(
    [
        st.Page("pages/classify.py", title="Classify", icon=":material/radiology:", default=True),
        st.Page("pages/evaluation.py", title="Evaluation", icon=":material/monitoring:"),
        st.Page("pages/validate.py", title="Validate", icon=":material/fact_check:"),
        st.Page("pages/about.py", title="About the model", icon=":material/info:"),
    ]
)
with page_run():  # a page may end early (ui/flow.py); the sidebar below is still drawn
    page.run()
# Drawn after the page, and imported here: the sidebar's model facts import PyTorch, which takes seconds on a
# cold start, and the Classify page shows its upload box before it imports PyTorch (ui/flow.py).
from ui import sidebar  # noqa: E402

sidebar.render()
