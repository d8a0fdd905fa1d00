"""The sidebar on every page: which model answers, on what device, how accurate it was held out."""

from __future__ import annotations

import streamlit as st

from core.labels import display_name
from core.model.checkpoint import CheckpointError
from core.report.intervals import percent, rate_of
from ui import resources
from ui.notice import IN_MEMORY, NOTICE


def render() -> None:
    with st.sidebar:
        runs = resources.available_runs()
        if len(runs) > 1:
            names = [run.name for run in runs]
            current = resources.current_run()
            st.selectbox(
                "Model",
                names,
                index=names.index(current.name),
                key="run:widget",
                on_change=lambda: st.session_state.update({resources.RUN_KEY: st.session_state["run:widget"]}),
                help="Trained runs found in the weights folder; the chosen one classifies and is evaluated.",
            )
        run = resources.current_run()
        if run is not None:
            _model_facts(run)
        st.divider()
        st.caption(NOTICE)
        st.caption(IN_MEMORY)


def _model_facts(run) -> None:
    try:
        info = resources.model_info(run)
    except CheckpointError as error:
        st.error(f"Model unavailable: {error}")
        return
    st.markdown(f"**Model** `{info.name}`  \n{info.architecture}, {info.img_size or '?'} px input")
    st.caption(f"Version {info.version}")
    st.markdown("**Classes** " + ", ".join(display_name(c) for c in info.classes))
    try:
        st.markdown(f"**Device** {resources.classifier(run).device_name}")
    except CheckpointError as error:
        st.error(f"The model cannot be loaded: {error}")
    if info.accuracy_full is not None:
        st.markdown("**Held-out accuracy**")
        columns = st.columns(2)
        # The honest number first: the full test folder shares slices with the training data.
        if info.accuracy_leak_free is not None:
            columns[0].metric(
                "leak-free",
                percent(info.accuracy_leak_free),
                help=f"{rate_of(info.accuracy_leak_free, info.leak_free_images)}: test images with no copy in the "
                "training data",
            )
        columns[1].metric(
            "full test",
            percent(info.accuracy_full),
            help=f"{rate_of(info.accuracy_full, info.test_images)}: every test image, copies of training images "
            "included",
        )
        st.caption(f"Leak-free: {rate_of(info.accuracy_leak_free, info.leak_free_images)}.")
        if len(info.leak_free_by_source) > 1:
            st.caption(
                "Leak-free, per training source (its held-out share): "
                + "; ".join(
                    f"{name} {rate_of(accuracy, n)}" for name, (accuracy, n) in info.leak_free_by_source.items()
                )
            )
        if info.external:
            st.caption(
                "Sources never trained on (images with no copy in training): "
                + "; ".join(f"{name} {rate_of(accuracy, n)}" for name, (accuracy, n) in info.external.items())
            )
        else:
            st.caption("Not yet measured on any source it was not trained on.")
    else:
        st.caption("No held-out evaluation recorded for this model.")
