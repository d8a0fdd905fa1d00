"""The slice-sweep chart with its legend in words, for a NIfTI volume's plane and for a DICOM series alike."""

from __future__ import annotations

from collections import Counter

import streamlit as st

from core.decide.slice_sweep import NO_TISSUE, Sweep
from core.labels import status_text
from ui import charts

LEGEND = (
    "Lines: the calibrated class probabilities, drawn only for slices the model answers, since a slice it "
    "abstains on or refuses has no answer to draw. The strip under them marks every slice: grey answered, "
    "yellow uncertain (no class stated), dark red refused as not a brain MRI slice, white no tissue (not "
    "classified)."
)


def show(sweep: Sweep, classes: list[str], current: int | None, key: str, supporting: tuple[int, ...] = ()) -> None:
    st.plotly_chart(
        charts.slice_profile(
            sweep.probabilities(classes), classes, current, sweep.plane, sweep.statuses(), supporting=supporting
        ),
        key=key,
        config={"displayModeBar": False},
    )
    counts = Counter(sweep.statuses())
    said = ", ".join(
        f"{counts[status]} {'without tissue' if status == NO_TISSUE else status_text(status)}"
        for status in ("ok", "uncertain", "not_mri", "too_small", NO_TISSUE)
        if counts[status]
    )
    st.caption(f"{LEGEND} Here: {said}.")
