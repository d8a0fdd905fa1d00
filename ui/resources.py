"""What the pages share per process: the served run, its model (loaded once), its explainer, its report.

Models and reports are cached per process with `st.cache_resource`, keyed by the run's folder and its
files' modification times, so replacing a run's weights on disk is picked up without a restart. The
run a session looks at is per-user state (`st.session_state`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from core.decide.scope import ScopeReport
from core.model.checkpoint import CheckpointError
from core.model.gradcam import Explainer
from core.model.inference import Classifier
from core.model.threads import limit_threads
from core.report.run_report import RunReport, load_report
from core.run.model_info import ModelInfo
from core.run.run_folder import METADATA_FILE, METRICS_FILE, WEIGHTS_FILE
from core.run.runs import find_runs, weights_root
from ui.flow import end_page

# Threads per request, for PyTorch's intra-op pool and numpy's BLAS alike: 1. Each session runs its requests
# in its own script thread; a second thread per kernel costs more to wake than it saves on a 128-px network
# (hundreds of small kernels), and under load the sessions' pools fight over the cores. Measured on 2 idle
# CPU cores (bench/results/concurrency-cpu.json, mobilenet_v3_small), 1 thread against the default 2: one
# client, predict 15 against 40 ms and predict + Grad-CAM 32 against 71 ms (median; p95 45 against 100 ms);
# 20 clients, predict + Grad-CAM 31.4 against 19.9 requests/s (p95 1.1 against 1.7 s).
THREADS_PER_REQUEST = 1
# Network copies Grad-CAM may use at once (core/model/gradcam.py): 1, so explanations take turns; predictions never
# wait for them. Same measurements, 20 clients, 1 thread: 1, 2 and 4 copies gave 31.4, 30.6 and 21.2
# requests/s (p95 1.1, 1.3 and 1.5 s). Much of an explanation holds the GIL (by hand: two explanations on two
# copies ran 1.15 to 1.4 times as fast as one, not twice), and the second core is already busy with the
# predictions. Worth measuring again (bench/concurrency.py --copies) for a larger network on many cores.
EXPLAINER_COPIES = 1

# session_state: the run this session looks at. Kept apart from the sidebar widget's own key, because
# Streamlit forgets a widget's state on any page run that does not draw it.
RUN_KEY = "run"


def available_runs() -> list[Path]:
    return find_runs(weights_root())


def current_run() -> Path | None:
    """The run chosen in the sidebar, else the default one; None when there is no trained run at all."""
    runs = available_runs()
    if not runs:
        return None
    chosen = st.session_state.get(RUN_KEY)
    return next((run for run in runs if run.name == chosen), runs[0])


def stamp(run: Path) -> str:
    """Changes whenever the run's weights or report change on disk."""
    parts = []
    for name in (WEIGHTS_FILE, METADATA_FILE, METRICS_FILE):
        path = run / name
        parts.append(str(path.stat().st_mtime_ns) if path.exists() else "-")
    return ":".join(parts)


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def _classifier(path: str, stamp: str) -> Classifier:
    limit_threads(THREADS_PER_REQUEST)  # for the whole process: it serves the app and nothing else
    return Classifier(path)  # CUDA when there is a GPU, the CPU otherwise


@st.cache_resource(show_spinner="Preparing Grad-CAM…", max_entries=4)
def _explainer(path: str, stamp: str) -> Explainer:
    classifier = _classifier(path, stamp)
    # pytorch-grad-cam loads scipy's BLAS library, which the limit set with the classifier did not reach when
    # it was loaded later (app.py imports it after the model side): limit it too.
    import pytorch_grad_cam  # noqa: F401

    limit_threads(THREADS_PER_REQUEST)
    return Explainer(classifier, copies=EXPLAINER_COPIES)


@st.cache_resource(show_spinner="Reading the evaluation report…", max_entries=8)
def _report(path: str, stamp: str) -> RunReport:
    return load_report(path)


@st.cache_resource(max_entries=8)
def _scope_report(path: str, stamp: str) -> ScopeReport:
    loaded = _report(path, stamp)
    return ScopeReport.from_run(loaded.metadata, loaded.metrics, Path(path))


@st.cache_resource(show_spinner=False, max_entries=4)
def _warmed_up(path: str, stamp: str) -> bool:
    """Pay once per process, in the first page run, what the first answer would otherwise wait for (measured
    in the browser: 3.4 s from the answer to its heatmap on a cold server): plotly imports its figure classes
    on first use, and the first Grad-CAM builds the network copy and its autograd machinery. pytorch-grad-cam
    itself is usually imported by then: app.py's start-up thread imports it once the model side is in and no
    verdict is being computed; otherwise this waits for that import or makes it."""
    from ui import charts  # plotly, on first use

    charts.probability_bars({"glioma": 1.0}, ["glioma"]).to_plotly_json()
    _explainer(path, stamp).explain(np.zeros((64, 64), np.float32), target=0)
    return True


def warm_up(run: Path) -> None:
    _warmed_up(str(run), stamp(run))


def classifier(run: Path) -> Classifier:
    return _classifier(str(run), stamp(run))


def explainer(run: Path) -> Explainer:
    return _explainer(str(run), stamp(run))


def report(run: Path) -> RunReport:
    return _report(str(run), stamp(run))


def scope_report(run: Path) -> ScopeReport:
    return _scope_report(str(run), stamp(run))


def model_info(run: Path) -> ModelInfo:
    loaded = report(run)
    externals = {external.name: external.metrics for external in loaded.externals}
    return ModelInfo.from_artifacts(loaded.metadata, loaded.metrics, externals)


def require_run(need_model: bool = False) -> Path:
    """The current run, or a message and the end of the page when there is none or it cannot be loaded
    (its report, and with `need_model` its weights, which are checked against their recorded hash)."""
    run = current_run()
    if run is None:
        st.error(
            f"No trained model found under `{weights_root()}`. Train one with "
            "`python -m train --data ... --out weights/default`, or point MRI_WEIGHTS_ROOT at a folder of runs."
        )
        end_page()
    try:
        report(run)
        if need_model:
            classifier(run)
    except CheckpointError as error:
        st.error(f"The model in `{run}` cannot be used: {error}")
        end_page()
    return run
