"""The answer for one scan, as the clinician reads it first: a class with its calibrated confidence, or a
clearly different banner when the product gives no class (uncertain, not an MRI, unreadable)."""

from __future__ import annotations

import streamlit as st

from core.assessment import NOT_MRI, OK, TOO_SMALL, UNCERTAIN, Assessment
from core.labels import display_name, tumour_probability


def show(assessment: Assessment) -> None:
    if assessment.status == OK:
        _classified(assessment)
    elif assessment.status == UNCERTAIN:
        st.warning(
            "**Uncertain — refer.** The model does not give a class for this image: its evidence does not "
            "single one out reliably enough. Please review it without a model suggestion." + _reason(assessment),
            icon=":material/help:",
        )
    elif assessment.status == NOT_MRI:
        st.error(
            "**This does not look like a brain MRI slice.** No class is given: the model only knows brain "
            "MRI, and its output on anything else means nothing." + _reason(assessment),
            icon=":material/block:",
        )
    elif assessment.status == TOO_SMALL:
        st.warning(
            "**Too small to classify.** No class is given: the picture has too few pixels for the model to "
            "see what it needs." + _reason(assessment),
            icon=":material/photo_size_select_small:",
        )
    else:  # a status this page does not know yet: still never state a class
        st.warning(f"**No class given** (status: {assessment.status})." + _reason(assessment), icon=":material/help:")


def _classified(assessment: Assessment) -> None:
    with st.container(border=True):
        st.markdown(f"### {display_name(assessment.prediction)}\nCalibrated confidence **{assessment.confidence:.1%}**")
        tumour = tumour_probability(assessment.probabilities)
        if tumour is not None:
            st.caption(f"Tumour vs no tumour: any tumour **{tumour:.1%}** · no tumour **{1 - tumour:.1%}**")


def _reason(assessment: Assessment) -> str:
    return f"\n\n{assessment.message}" if assessment.message else ""
