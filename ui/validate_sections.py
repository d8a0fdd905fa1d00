"""Sections of the Validate page: gather the labelled scans, map their labels, score them, show the results.

Everything stays in this session's memory: uploads and ZIP members are bytes, never files. The page scores
through `core.report.validation` (and so `core.report.scoring`), the path `python -m train.evaluate --labels` takes too.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from core.io.file_kinds import describe_kind, is_picture_kind
from core.io.zip_input import RefusedArchive, is_zip, read_zip
from core.labels import canonical_label, display_name
from core.report import run_report
from core.report.intervals import percent, plural, rate_of, small_set_warning
from core.report.labelled_set import LabelledSet, LabelsError, from_csv, from_folders, read_labels_csv
from core.report.validation import ValidationRun, predictions_frame, run_metrics, score_set
from core.run.run_folder import RunFolder
from core.run.training_copies import TrainingCopies
from ui import dashboard, resources
from ui.validation_figures import MIN_FOR_CURVES, figures
from ui.validation_report import PARTS, headline_frame, public_name, report_html, report_json

RESULT_KEY = "validate:result"
REPORT_KEY = "validate:report"
LEAVE_OUT = "(leave out: not scored)"
GALLERY_LIMIT = 48


@dataclass
class Gathered:
    labelled: LabelledSet
    unreadable: list[dict] = field(default_factory=list)  # ZIP members that could not be unpacked
    refused: list[str] = field(default_factory=list)  # whole uploads refused, with why
    not_images: list[str] = field(default_factory=list)  # unlabelled files that are no picture at all, with why
    fingerprint: str = ""  # changes when the uploads change


def gather(uploads, labels_upload) -> Gathered:
    """The labelled scans from the uploads: ZIPs are unpacked in memory; a CSV (uploaded, or the only CSV in
    the uploads) labels the files, otherwise each file's folder does."""
    files, unreadable, refused, digest = [], [], [], hashlib.sha256()
    for upload in uploads or []:
        data = upload.getvalue()
        digest.update(upload.name.encode() + hashlib.sha256(data).digest())
        if not is_zip(data):
            files.append((upload.name, data))
            continue
        try:
            contents = read_zip(data)
        except RefusedArchive as error:
            refused.append(f"{upload.name}: {error}")
            continue
        files += contents.members
        unreadable += contents.unreadable
    csv_data = labels_upload.getvalue() if labels_upload is not None else None
    inner = [item for item in files if item[0].lower().endswith(".csv")]
    if csv_data is None and len(inner) == 1:
        csv_data = inner[0][1]
    files = [item for item in files if not item[0].lower().endswith(".csv")]
    if csv_data is not None:
        digest.update(hashlib.sha256(csv_data).digest())
        try:
            labelled = from_csv(files, read_labels_csv(csv_data))
        except LabelsError as error:
            refused.append(str(error))
            labelled = LabelledSet(unlabelled=[name for name, _ in files])
    else:
        labelled = from_folders(files)
    not_images = _not_images(labelled, dict(files))
    return Gathered(labelled, unreadable, refused, not_images=not_images, fingerprint=digest.hexdigest())


def _not_images(labelled: LabelledSet, data: dict[str, bytes]) -> list[str]:
    """Unlabelled files whose content is no picture (an HTML page named .dcm, say): "no label" would send the
    user looking for a label that would not help. They leave the unlabelled list."""
    found = []
    for name in list(labelled.unlabelled):
        kind = describe_kind(data.get(name, b""))
        if kind is not None and not is_picture_kind(kind[0]):
            labelled.unlabelled.remove(name)
            found.append(f"{name}: this is {kind[0]}, not an image.")
    return found


def label_mapping(labelled: LabelledSet, classes: list[str]) -> dict[str, str | None]:
    """Known spellings map by themselves; every other label gets a choice, which starts at "leave out"."""
    counts = pd.Series([f.label for f in labelled.files], dtype=object).value_counts(sort=False)
    mapping, unknown = {}, []
    for label in counts.index:
        mapping[label] = canonical_label(label, classes)
        if mapping[label] is None:
            unknown.append(label)
    if unknown:
        st.markdown("**Labels this page does not recognise**: choose the model's class each one means.")
        options = [LEAVE_OUT, *classes]
        for label in unknown:
            chosen = st.selectbox(
                f"“{label}” ({counts[label]} files) means",
                options,
                index=0,
                format_func=lambda name: name if name == LEAVE_OUT else display_name(name),
                key=f"validate:map:{label}",
            )
            mapping[label] = None if chosen == LEAVE_OUT else chosen
    table = pd.DataFrame(
        {
            "label as given": list(counts.index),
            "files": counts.to_numpy(),
            "model's class": [display_name(mapping[k]) if mapping[k] else "not scored" for k in counts.index],
        }
    )
    st.dataframe(table, hide_index=True, width="content")
    return mapping


def not_scored(gathered: Gathered, mapping: dict[str, str | None]) -> None:
    """Every file that will not be scored, and why: nothing is dropped without saying so."""
    labelled = gathered.labelled
    outside = [f.name for f in labelled.files if mapping.get(f.label) is None]
    for items, singular, plural_form in (
        (gathered.not_images, "file that is not an image", "files that are not images"),
        (labelled.unlabelled, "file with no label", "files with no label"),
        (
            outside,
            "file whose label is not one of the model's classes",
            "files whose label is not one of the model's classes",
        ),
        (
            [u["path"] + ": " + u["reason"] for u in gathered.unreadable],
            "file that could not be unpacked",
            "files that could not be unpacked",
        ),
        (
            labelled.unmatched_rows,
            "row of the labels file that names no uploaded file",
            "rows of the labels file that name no uploaded file",
        ),
    ):
        if items:
            with st.expander(f"Not scored: {plural(len(items), singular, plural_form)}"):
                st.text("\n".join(items[:500]) + ("\n…" if len(items) > 500 else ""))


@st.cache_resource(show_spinner="Reading the model's training image hashes…", max_entries=4)
def _training_copies(path: str, stamp: int) -> TrainingCopies:
    return TrainingCopies(Path(path))


def training_copies(run: Path) -> TrainingCopies | None:
    """The run's training and validation images by hash; None when the run has no split manifest."""
    manifest = RunFolder(run).manifest
    return _training_copies(str(manifest), manifest.stat().st_mtime_ns) if manifest.is_file() else None


def validate(run: Path, gathered: Gathered, mapping: dict[str, str | None], name: str) -> tuple[ValidationRun, dict]:
    classifier = resources.classifier(run)
    bar = st.progress(0.0, text="Starting…")
    started = time.perf_counter()

    def progress(done: int, total: int) -> None:
        elapsed = time.perf_counter() - started
        left = elapsed / done * (total - done) if done else 0
        bar.progress(done / max(total, 1), text=f"{done} of {total} scored · about {_duration(left)} left")

    result = score_set(classifier, gathered.labelled.files, mapping, training_copies(run), progress)
    bar.empty()
    outside = [f.name for f in gathered.labelled.files if mapping.get(f.label) is None]
    metrics = run_metrics(
        classifier,
        result,
        name,
        {
            "label_mapping": {label: mapped for label, mapped in mapping.items() if mapped},
            "unmapped_labels": sorted(label for label, mapped in mapping.items() if mapped is None),
            "unlabelled_files": gathered.labelled.unlabelled,
            "not_image_files": gathered.not_images,
            "labels_not_scored_files": outside,
            "rows_naming_no_file": gathered.labelled.unmatched_rows,
        },
    )
    metrics["data"]["unreadable"] = gathered.unreadable + metrics["data"]["unreadable"]
    result.unreadable = metrics["data"]["unreadable"]
    return result, metrics


def results(result: ValidationRun, metrics: dict, hide_names: bool) -> None:
    data, contamination = metrics["data"], metrics["contamination"]
    read, unreadable = data["images"], data["unreadable"]
    said = f"{read} of {plural(read + len(unreadable), 'image')} could be read"
    if not read:
        # Nothing to score: say so and list each file with its reason (no metric of an empty set exists).
        st.error(f"{said}, so nothing was scored. Each file and why:", icon=":material/broken_image:")
        st.dataframe(_unreadable_frame(unreadable), hide_index=True)
        return
    st.caption(
        f"{said} and were scored in {_duration(result.seconds)}. "
        f"{contamination['exact_copies']} exact and {contamination['near_copies']} near copies of the model's "
        f"training or validation images ({contamination['checked_against']})."
    )
    headline_cards(metrics)
    st.dataframe(
        headline_frame(metrics),
        hide_index=True,
        column_config={
            name: st.column_config.NumberColumn(name, format="percent")
            for name in ("accuracy", "balanced accuracy", "macro F1", "tumour found")
        },
    )
    part = st.radio("Images", list(PARTS), format_func=PARTS.get, horizontal=True, key="validate:part")
    section = metrics[part]
    frame = predictions_frame(result)
    rows = frame if part == "all" else frame[frame["clean"] == 1]
    if not section.get("n"):
        st.caption("No images in this part.")
        return
    shown = figures(section, rows, result.classes, metrics["model"]["abstention_threshold"])
    st.subheader("Confusion matrix")
    left, right = st.columns(2)
    for column, key in ((left, "confusion"), (right, "confusion_normalised")):
        if key in shown:
            column.plotly_chart(shown[key], key=f"validate:{key}:{part}")
    st.subheader("Per class")
    dashboard.per_class_metrics(section)
    if "roc" in shown:
        st.subheader("ROC and precision-recall")
        left, right = st.columns(2)
        left.plotly_chart(shown["roc"], key=f"validate:roc:{part}")
        right.plotly_chart(shown["pr"], key=f"validate:pr:{part}")
        st.subheader("Reliability")
        if "reliability" in shown:
            st.plotly_chart(shown["reliability"], key=f"validate:reliability:{part}")
        st.subheader("Risk–coverage")
        st.plotly_chart(shown["risk_coverage"], key=f"validate:risk:{part}")
    else:
        st.caption(
            f"No ROC, precision-recall, reliability or risk–coverage curves: they are drawn from {MIN_FOR_CURVES} "
            f"images on, and this part has {plural(section['n'], 'image')}."
        )
    outcomes = section["outcomes"]
    st.caption(
        f"The product answered {outcomes['answered']} of {outcomes['n']}; it was wrong on "
        f"{outcomes['answered_wrong']} of those, called {outcomes['uncertain']} uncertain and refused "
        f"{outcomes['not_mri']} as not a brain MRI slice."
    )
    for attribute, title in (("sequence", "By MRI sequence"), ("plane", "By plane"), ("site", "By site or scanner")):
        table = run_report.breakdown_table(section, attribute)
        if not table.empty:
            st.subheader(title)
            st.dataframe(table, hide_index=True)
    gallery(result, part, hide_names)
    copies = [(n, c) for n, c in zip(result.names, result.copies or [], strict=False) if c]
    if copies:
        with st.expander(f"{len(copies)} copies of training or validation images"):
            st.dataframe(pd.DataFrame(copies, columns=["file", "copy of"]), hide_index=True)
    if unreadable:
        with st.expander(f"{plural(len(unreadable), 'file')} could not be read"):
            st.dataframe(_unreadable_frame(unreadable), hide_index=True)


def _unreadable_frame(unreadable: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(unreadable, columns=["path", "reason"]).rename(columns={"path": "file", "reason": "why"})


def headline_cards(metrics: dict) -> None:
    columns = st.columns(2, gap="large")
    for column, (part, label) in zip(columns, PARTS.items(), strict=True):
        section = metrics[part]
        with column, st.container(border=True):
            n = section.get("n", 0)
            st.markdown(f"**{label}** · {plural(n, 'image')}")
            cards = st.columns(3)
            for card, (value, title) in zip(
                cards,
                (
                    (section.get("accuracy"), "Accuracy"),
                    (section.get("balanced_accuracy"), "Balanced accuracy"),
                    ((section.get("macro") or {}).get("f1"), "Macro F1"),
                ),
                strict=True,
            ):
                card.metric(title, "n/a" if value is None else percent(value))
            if section.get("accuracy") is not None:
                st.caption(f"Accuracy {rate_of(section['accuracy'], n)}.")
            support = {name: values.get("support", 0) for name, values in (section.get("per_class") or {}).items()}
            warning = small_set_warning(support, display_name)
            if warning:
                st.warning(warning, icon=":material/warning:")


def gallery(result: ValidationRun, part: str, hide_names: bool) -> None:
    clean = result.clean
    wrong = [i for i in result.misclassified if part == "all" or clean[i]]
    st.subheader(f"Misclassified ({len(wrong)})")
    if not wrong:
        return
    p = result.scored.probabilities
    columns = st.columns(8)
    for slot, i in enumerate(wrong[:GALLERY_LIMIT]):
        columns[slot % 8].image(
            result.thumbnails[i],
            caption=f"true {display_name(result.classes[result.labels[i]])} → "
            f"{display_name(result.classes[int(p[i].argmax())])} ({percent(p[i].max())}) · "
            f"{public_name(result.names[i], hide_names).rsplit('/', 1)[-1][:32]}",
            width="stretch",
        )
    if len(wrong) > GALLERY_LIMIT:
        st.caption(f"The first {GALLERY_LIMIT} are shown; the report holds all {len(wrong)}.")


def downloads(result: ValidationRun, metrics: dict, hide_names: bool) -> None:
    stem = f"validation-{metrics['name']}-{metrics['created'][:10]}"
    # Built once per result and name setting: the HTML carries plotly.js (megabytes), and every click on the
    # page reruns it.
    key = (id(result), metrics["created"], hide_names)
    cached = st.session_state.get(REPORT_KEY)
    if cached is None or cached[0] != key:
        cached = (key, report_html(metrics, result, hide_names), report_json(metrics, result, hide_names))
        st.session_state[REPORT_KEY] = cached
    left, right = st.columns(2)
    left.download_button(
        "Download the report (HTML)",
        cached[1],
        file_name=f"{stem}.html",
        mime="text/html",
        icon=":material/download:",
        on_click="ignore",  # downloading changes nothing on the page
        key="validate:html",
    )
    right.download_button(
        "Download the metrics (JSON)",
        cached[2],
        file_name=f"{stem}.json",
        mime="application/json",
        icon=":material/data_object:",
        on_click="ignore",
        key="validate:json",
    )


def _duration(seconds: float) -> str:
    seconds = max(0, int(np.ceil(seconds)))
    return f"{seconds} s" if seconds < 90 else f"{seconds // 60} min {seconds % 60:02d} s"
