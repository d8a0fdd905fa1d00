"""The Evaluation page's "Where the model looks": how often each Grad-CAM method points at the tumour, from
the run's localisation_scores.json (python -m train.localisation), beside a baseline that knows only the head."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from core.labels import display_name
from core.model.gradcam import METHODS
from core.report import localisation_scores
from core.report.intervals import percent
from core.run.run_folder import RunFolder

# The Evaluation page's test subsets (core.report.run_report.SUBSETS) -> the report's.
PAGE_SUBSETS = {"full": "all", "leak_free": "leak_free"}
COMMAND = (
    "python -m train.localisation --weights weights/default --data ../shared/data/brain-tumor-mri "
    "--masks ../shared/data/brain-tumor-mri-masks"
)


@st.cache_data(max_entries=8, show_spinner=False)
def _report(path: str, modified_ns: int) -> dict | None:
    return localisation_scores.read_report(Path(path))


@st.cache_data(max_entries=8, show_spinner=False)
def _examples(path: str, modified_ns: int):
    return localisation_scores.read_examples(Path(path))


def report(run: Path) -> dict | None:
    """The run's localisation report, read once per version of the file."""
    path = RunFolder(run).localisation
    return _report(str(run), path.stat().st_mtime_ns) if path.is_file() else None


def headline(run: Path, method: str, target: str = "true_class", subset: str = "all") -> str:
    """One sentence for `method`, e.g. for the Classify page's caption; "" without a report."""
    found = report(run)
    rows = {row["method"]: row for row in localisation_scores.overall_rows(found, target, subset)} if found else {}
    row = rows.get(method)
    if row is None:
        return ""
    return (
        f"On {row['n']} held-out slices with a tumour outline, the {method} map's strongest point fell on the "
        f"tumour in {percent(row['pointing_game'])} of them; the centre of the head alone would be on it in "
        f"{percent(row['baseline_pointing_game'])}."
    )


def beats_baseline(run: Path, method: str, target: str = "stated_class") -> bool:
    """Whether `method`'s map was measured to point at the tumour more often than the head's centre does;
    False without a measurement (an unmeasured explanation is not offered as evidence)."""
    found = report(run)
    rows = {row["method"]: row for row in localisation_scores.overall_rows(found, target, "all")} if found else {}
    row = rows.get(method)
    return bool(row) and row["pointing_game"] > row["baseline_pointing_game"]


def caveat(run: Path, method: str) -> str:
    """The one line said where the map opens when it does not beat the head-centre baseline."""
    measured = headline(run, method, "stated_class")
    return (
        "Closed by default: this map does not point at the tumour more often than the centre of the head does, "
        "so it is no evidence of where a tumour is. " + (measured or "It has not been measured on tumour outlines.")
    )


def where_the_model_looks(run: Path, page_subset: str) -> None:
    found = report(run)
    if found is None:
        st.caption(f"This run has no localisation report. Make one with `{COMMAND}`.")
        return
    subset = PAGE_SUBSETS.get(page_subset, "all")
    st.markdown(
        "For each Grad-CAM method: how often the map's strongest point lies on the tumour (**pointing game**, "
        f"with a tolerance of {found.get('tolerance', '?')}), and what share of the map's heat lies on it "
        "(**heat share**). The **baseline** knows nothing but where the head is: it points at the head's centre "
        "and spreads its heat evenly over the head. A method that does not beat it does not show where the "
        "tumour is."
    )
    target = st.radio(
        "Map of",
        list(localisation_scores.TARGETS),
        format_func=localisation_scores.TARGETS.get,
        horizontal=True,
        key="eval:localisation-target",
    )
    rows = localisation_scores.overall_rows(found, target, subset)
    if not rows:
        st.caption("No slice of this subset has such a map.")
        return
    st.dataframe(_table(rows), hide_index=True)
    default = next(iter(found.get("methods") or METHODS))  # the outline first, for a network that draws one
    per_class = localisation_scores.per_class_rows(found, target, subset, default)
    if per_class:
        st.markdown(f"**Per class** ({default}, the explanation the app shows first)")
        table = _table(per_class, first="class")
        table["class"] = table["class"].map(display_name)
        st.dataframe(table, hide_index=True)
    _segmentation(found, subset)
    _show_examples(run)
    images = found.get("images", {})
    counted = sum(counts.get(subset, 0) for counts in images.values())
    stated = found.get("stated", {})
    st.caption(
        f"{counted} slices ({', '.join(f'{display_name(k)} {v.get(subset, 0)}' for k, v in images.items())}). "
        f"The app stated a class for {stated.get('stated', '?')} of all {sum(stated.values()) or '?'} and gave no "
        "answer for the rest, which have no map of the stated class. Limits: only the figshare tumour slices "
        "(Cheng et al., 2015: one collection, T1-weighted with contrast) have outlines, so no-tumour slices, other "
        "sequences and other sources are not measured; the outline is the enhancing tumour, without oedema. A map "
        "that misses the tumour can go with a right answer: these figures say where the evidence was, not whether "
        f"the class was right. Made by `{found.get('command', COMMAND)}` on {str(found.get('created', ''))[:10]}."
    )


def _segmentation(found: dict, subset: str) -> None:
    """Dice and IoU of the outlined region against the expert's outline, for a network with a mask head."""
    section = found.get("segmentation", {}).get(subset)
    if not section or not section.get("overall"):
        return
    st.markdown(
        "**The outline against the expert's** (Dice: twice the overlap over the two areas' sum; 1 is a perfect "
        "match, 0 no overlap or no outline drawn)"
    )
    rows = [{"class": "all tumour classes", **section["overall"]}] + [
        {"class": display_name(name), **summary} for name, summary in section.get("per_class", {}).items() if summary
    ]
    st.dataframe(
        pd.DataFrame(
            {
                "class": [row["class"] for row in rows],
                "slices": [row["n"] for row in rows],
                "mean Dice": [f"{row['dice']:.2f}" for row in rows],
                "95 % interval": [" – ".join(f"{x:.2f}" for x in row["dice_ci95"]) for row in rows],
                "mean IoU": [f"{row['iou']:.2f}" for row in rows],
                "Dice ≥ 0.5": [_percent(row["dice_at_least_0_5"]) for row in rows],
            }
        ),
        hide_index=True,
    )


def _show_examples(run: Path) -> None:
    path = RunFolder(run).localisation_examples
    examples = _examples(str(run), path.stat().st_mtime_ns) if path.is_file() else None
    if examples is None:
        return
    pictures, captions = examples
    outlined = any("yellow: model" in caption for caption in captions)
    key = "expert's outline green, the model's yellow" if outlined else "tumour outline green, map's peak ringed"
    st.markdown(f"**Examples** (the first slices of each class by file name; {key})")
    columns = st.columns(min(6, len(pictures)) or 1)
    for slot, (picture, caption) in enumerate(zip(pictures, captions, strict=True)):
        columns[slot % len(columns)].image(picture, caption=caption, width="stretch")


def _table(rows: list[dict], first: str = "method") -> pd.DataFrame:
    return pd.DataFrame(
        {
            first: [row[first] for row in rows],
            "slices": [row["n"] for row in rows],
            "pointing game": [_percent(row["pointing_game"]) for row in rows],
            "95 % interval": [" – ".join(_percent(x) for x in row["pointing_game_ci95"]) for row in rows],
            "baseline pointing": [_percent(row["baseline_pointing_game"]) for row in rows],
            "heat share": [_percent(row["heat_share"]) for row in rows],
            "baseline heat share": [_percent(row["baseline_heat_share"]) for row in rows],
        }
    )


def _percent(value: float) -> str:
    return percent(value)
