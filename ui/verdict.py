"""The answer for one scan, as the clinician reads it first: a class with its calibrated confidence, or a
clearly different banner when the product gives no class (uncertain, unlike the training scans, too small);
and beside it, how far the model has been validated for a scan like this one (core/decide/scope.py)."""

from __future__ import annotations

import streamlit as st

from core.decide.assessment import NOT_MRI, OK, TOO_SMALL, UNCERTAIN, Assessment
from core.decide.scope import ScopeCheck, ScopeReport
from core.labels import display_name, tumour_probability
from core.report.intervals import percent

SCOPE_ICONS = {True: ":material/verified:", False: ":material/explore_off:", None: ":material/help:"}


def show(assessment: Assessment) -> None:
    if assessment.status == OK:
        _classified(assessment)
    elif assessment.status == UNCERTAIN:
        st.warning(
            "**Uncertain: no class given.** Read the scan without a model suggestion."
            + (_reason(assessment) or "\n\nThe model is not confident enough here to state a class."),
            icon=":material/help:",
        )
    elif assessment.status == NOT_MRI:
        st.error(
            "**Outside what this model was trained on.** This picture is unlike the brain MRI slices the model "
            "learned from, so its output would mean nothing and no class is given." + _reason(assessment),
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


def scope(check: ScopeCheck, report: ScopeReport) -> None:
    """Whether this scan is like the validated ones, and the model's held-out figure for scans like it."""
    lines = []
    if check.inside is not False:  # outside: the banner above the answer says so, with its reasons
        lines += [f"{SCOPE_ICONS[check.inside]} **{check.headline}.**", *check.reasons]
    if check.like_this is not None:
        lines.append(check.like_this.sentence())
    if report.sources:
        lines.append(
            f"Validated on public collections only ({', '.join(report.sources)}), not on your hospital's scans: "
            "the Validate page measures it on yours."
        )
    st.markdown("  \n".join(lines))


def _classified(assessment: Assessment) -> None:
    with st.container(border=True):
        st.markdown(
            f"### {display_name(assessment.prediction)}\nCalibrated confidence **{percent(assessment.confidence)}**"
        )
        tumour = tumour_probability(assessment.probabilities)
        if tumour is not None:
            st.caption(f"Tumour vs no tumour: any tumour **{percent(tumour)}** · no tumour **{percent(1 - tumour)}**")


def _reason(assessment: Assessment) -> str:
    return f"\n\n{assessment.message}" if assessment.message else ""
