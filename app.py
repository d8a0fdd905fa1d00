"""Entry point: `streamlit run app.py`.

Serves `streamlit_app.py` (navigation, sidebar and the pages in pages/) through Streamlit's `st.App`, for
one reason: its start-up hook runs when the server starts, before any browser connects. It begins importing
PyTorch, torchvision and the app's modules in a background thread (about 4.5 s on 2 cores), so that the
first user of a fresh server does not wait for them after uploading a scan; the server answers at once all
the same, and a page that needs a module still being imported waits for that import to finish.
"""

import threading
from contextlib import asynccontextmanager

import streamlit as st


def _import_the_model_side() -> None:
    # The modules the Classify page imports once its upload box is drawn (pages/classify.py), and the sidebar.
    import ui.batch
    import ui.pacs_source
    import ui.scan_panel
    import ui.series_panel
    import ui.sidebar  # noqa: F401


@asynccontextmanager
async def _start_importing(_app):
    threading.Thread(target=_import_the_model_side, name="import-model-side", daemon=True).start()
    yield


app = st.App("streamlit_app.py", lifespan=_start_importing)
