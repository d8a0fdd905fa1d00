"""Entry point: `streamlit run app.py`.

Serves `streamlit_app.py` (navigation, sidebar and the pages in pages/) through Streamlit's `st.App`, for
one reason: its start-up hook runs when the server starts, before any browser connects. It begins importing
PyTorch, torchvision and the app's modules in a background thread (about 5 s on 2 idle cores), then what
the first heatmap needs (2 s more), so that the first user of a fresh server does not wait for them after
uploading a scan; the server answers at once all the same, and a page that needs a module still being
imported waits for that import to finish. bench/page_speed.py measures the first scan of a fresh server.
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


def _import_the_heatmap_side() -> None:
    # pytorch-grad-cam (it imports scikit-learn and matplotlib: 2 s on 2 cores), which core.model.gradcam loads
    # on first use. Left to the Classify page's warm-up (ui/resources.py), it ran just as the upload box
    # appeared, and a scan uploaded then waited behind it (2.3 s to the verdict with the page opened 5 s after
    # the server answered). Imported here at once, it shared the cores with a verdict that had waited for the
    # model side (5.1 s with the page opened at once). Waiting while a verdict is computed: 1.2 s and 3.0 s
    # (one comparison, medians of 6 fresh servers each, 2 idle cores; the benchmark's figures are in the README).
    from ui.answering import wait_until_nobody_waits

    wait_until_nobody_waits(timeout=60)  # past that, a busy server still gets it now rather than on first use
    import pytorch_grad_cam  # noqa: F401


def _import_at_start() -> None:
    _import_the_model_side()  # first: a verdict needs it, and a verdict does not need the heatmap side
    _import_the_heatmap_side()


@asynccontextmanager
async def _start_importing(_app):
    threading.Thread(target=_import_at_start, name="import-at-start", daemon=True).start()
    yield


app = st.App("streamlit_app.py", lifespan=_start_importing)
