"""The pictures of one scan: the outline the mask head draws (for a network that has one), and the Grad-CAM
view: method, target and opacity, the overlay beside the original, its colour key.

The map explains the class the app states. When it states none (the scan is uncertain, or outside what the
model was trained on), no map is drawn unless the user picks a class: a default "evidence for glioma" on a
scan given no answer would read as a finding.
"""

from __future__ import annotations

import re
from pathlib import Path

import streamlit as st

from core.decide.assessment import Assessment
from core.decide.outline import Outline, disagreement_text
from core.io.scan_io import View
from core.labels import display_name
from core.model.gradcam import METHODS
from core.report.intervals import percent
from ui import localisation_view, scan_analysis
from ui.scan_analysis import Entry, widget_key

METHOD_KEY, OPACITY_KEY = "cam:method", "cam:opacity"  # shared by all scans of the session
STATED, NONE = "<stated>", "<none>"  # target options besides the classes themselves
ORIGINAL_CAPTION = "Image as classified"
METHOD_HELP = (
    "Ways of weighing the network's last feature maps. The Evaluation page (Where the model looks) measures how "
    "often each one points at the tumour."
)


def show(run: Path, entry: Entry, view: View, assessment: Assessment, classes: list[str]) -> None:
    """The pictures column of the scan panel. The map opens by itself only for a stated class and a method
    measured to point at tumours better than the head's centre; otherwise it waits, closed, with why."""
    method = st.session_state.get(METHOD_KEY, next(iter(METHODS)))
    trusted = localisation_view.beats_baseline(run, method)
    drawn = scan_analysis.outline(run, entry, view, assessment)
    if drawn is not None:
        _outlined(entry, view, assessment, drawn)
    elif assessment.prediction and trusted:
        _explained(run, entry, view, assessment.prediction, classes)
        return
    else:
        st.image(scan_analysis.picture_png(entry, view), caption=ORIGINAL_CAPTION, width="stretch")
    with st.expander("Grad-CAM (where the model looked; not a diagnosis)", expanded=False):
        if not trusted:
            st.caption(localisation_view.caveat(run, method))
        _explained(run, entry, view, assessment.prediction or "", classes, beside_original=False)


def _outlined(entry: Entry, view: View, assessment: Assessment, drawn: Outline) -> None:
    """The slice with the outlined tumour region, its area and the slice's calibrated class confidence."""
    st.image(
        scan_analysis.outlined_png(entry, view, drawn), caption=outline_caption(assessment, drawn), width="stretch"
    )
    if assessment.heads_disagree and assessment.prediction:  # when withheld, the verdict says why
        st.caption(disagreement_text(assessment.top_class))


def outline_caption(assessment: Assessment, drawn: Outline) -> str:
    # "calibrated probability", not "confidence": the verdict above already says "Calibrated confidence".
    probability = (
        f"calibrated probability of {display_name(assessment.top_class).lower()} {percent(assessment.confidence)}"
    )
    if drawn.pixels == 0:
        return f"Image as classified: no tumour region outlined · {probability}"
    stated = "" if assessment.prediction else " (no class stated: uncertain)"
    return (
        f"Outlined tumour region (yellow): {drawn.area_text()} · {probability}{stated}. "
        "Drawn by the model's outline head, not a measurement by a reader."
    )


def _explained(
    run: Path, entry: Entry, view: View, stated: str, classes: list[str], beside_original: bool = True
) -> None:
    """The settings and the map; `beside_original` draws the classified picture next to it (inside the closed
    expander the picture is already shown above it)."""
    settings = st.columns([2, 2, 2])
    method = settings[0].selectbox("Method", list(METHODS), key=METHOD_KEY, help=METHOD_HELP)
    # Separate keys for the two cases, so a choice made while no class was stated never outlives it.
    target = settings[1].selectbox(
        "Evidence for",
        [STATED if stated else NONE, *classes],
        format_func=lambda option: _target_label(option, stated),
        key=widget_key(entry.key, "target" if stated else "target:unstated"),
    )
    opacity = settings[2].slider("Overlay opacity", 0.0, 1.0, 0.5, 0.05, key=OPACITY_KEY)
    target_name = stated if target == STATED else "" if target == NONE else target
    if not target_name:
        st.caption("No class is stated for this image, so no map is drawn. Pick a class to see what raised its score.")
        return

    with st.spinner(f"Computing {method}…"):
        overlay = scan_analysis.overlay_png(run, entry, view, method, classes.index(target_name), opacity)
    if beside_original:
        original, explained = st.columns(2)
        original.image(scan_analysis.picture_png(entry, view), caption=ORIGINAL_CAPTION, width="stretch")
    else:
        explained = st.container()
    explained.image(overlay, caption=f"{method}: evidence for {display_name(target_name)}", width="stretch")
    explained.caption(
        f"Colour key under the picture. Red: the regions that raised the score of {display_name(target_name)} "
        "most; blue, fading into the plain image: little effect. The colours are relative to this image (its "
        "strongest region is red), not a probability, and the map is blank outside the head. "
        + localisation_view.headline(run, method, "stated_class" if target == STATED else "true_class")
    )
    explained.download_button(
        "Download overlay (PNG)",
        overlay,
        file_name=file_name(entry.name, entry.scan.describe(view), method, target_name),
        mime="image/png",
        on_click="ignore",
        icon=":material/download:",
        key=widget_key(entry.key, "download"),
    )


def _target_label(option: str, stated: str) -> str:
    if option == STATED:
        return f"{display_name(stated)} (the stated class)"
    if option == NONE:
        return "No map (no class stated)"
    return display_name(option)


def file_name(name: str, picture: str, method: str, target: str) -> str:
    """e.g. brain_axial_slice_90_of_181_Grad-CAM_glioma.png: which file, which picture, which explanation."""
    stem = re.sub(r"(\.nii)?\.[A-Za-z0-9]+$", "", name) or "scan"
    parts = (stem, picture, method.replace("+", "plus"), target)
    return re.sub(r"[^A-Za-z0-9.-]+", "_", "_".join(p for p in parts if p)) + ".png"
