"""The About page: a model card. Facts about the model and its data come from the run's metadata.json and
metrics.json; the text around them says what they mean for someone reading the app's answers."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.decide.assessment import OK
from core.io.samples import list_samples
from core.labels import display_name, status_text
from core.report import run_report
from core.report.intervals import interval_of, percent, plural
from core.report.run_report import SUBSETS, RunReport
from core.run.model_info import ModelInfo
from ui import dashboard


def render(report: RunReport, info: ModelInfo) -> None:
    st.title("About the model")
    st.caption(f"Model card for run `{info.name}`, version {info.version}.")
    _intended_use(info)
    _model(report, info)
    _data(report)
    _metrics(report)
    _limitations(report)
    _samples(report)
    _privacy()


def _intended_use(info: ModelInfo) -> None:
    st.header("Intended use")
    st.markdown(
        f"""
A **second opinion on a single 2-D brain MRI slice**: the model sorts it into one of
{len(info.classes)} classes ({", ".join(display_name(c) for c in info.classes)}), says how confident it is
(calibrated probabilities), and shows where in the image its evidence lies: the tumour region it outlines,
for a model with a mask head{" (this one has one)" if info.architecture.endswith("_mask") else ""}, and Grad-CAM.

- **For**: clinicians reviewing brain MRI, as one input among others. The final diagnosis is the clinician's.
- **Not for**: screening without a clinician, triage decisions on its own, other organs or modalities (CT,
  X-ray), children or post-operative brains unless they were represented in the training data (the dataset
  does not record age or history), or classes it does not know (metastases, lymphoma, other lesions).
- **Not** a medical device and not clinically validated: the numbers on the Evaluation page come from a
  public research dataset, not from a prospective study.
"""
    )


def _model(report: RunReport, info: ModelInfo) -> None:
    st.header("Model and training recipe")
    metadata = report.metadata
    preprocessing = metadata.get("preprocessing") or {}
    st.markdown(
        f"`{info.architecture}` on {info.img_size or '?'}×{info.img_size or '?'} px grayscale input. Every image, "
        f"in training and in this app alike, is {'cropped to the head, ' if preprocessing.get('crop_to_head') else ''}"
        "padded to a square, resized and contrast-stretched by the same code (`core/model/preprocessing.py`); the "
        "answer averages the image and its mirror image. Probabilities are temperature-scaled on the validation "
        "split so that a stated 90 % means about 90 % correct."
    )
    recipe = {k: v for k, v in run_report.recipe(metadata).items() if v is not None}
    st.dataframe(
        pd.DataFrame(
            [{"setting": k, "value": f"{v:.4g}" if isinstance(v, float) else str(v)} for k, v in recipe.items()]
        ),
        hide_index=True,
        width="stretch",
        height="content",
    )
    versions = metadata.get("versions") or {}
    details = [
        f"weights sha256 `{info.weights_sha256}` (checked on every load)" if info.weights_sha256 else "",
        f"trained {info.created}" if info.created else "",
        commit_text(str(metadata["git_commit"])) if metadata.get("git_commit") else "",
        ", ".join(f"{k} {v}" for k, v in versions.items() if v),
    ]
    st.caption(" · ".join(d for d in details if d))


def _data(report: RunReport) -> None:
    st.header("Data and its known issues")
    data = (report.metrics or {}).get("data") or {}
    counts = data.get("counts") or {}
    totals = {split: sum((counts.get(split) or {}).values()) for split in ("train", "val", "test", "excluded")}
    duplicates = data.get("duplicates") or {}
    st.markdown(
        f"""
Trained on {_sources_text(data)}:
{totals["train"]} training, {totals["val"]} validation and {totals["test"]} test images
({totals["excluded"]} byte-identical copies set aside). Known issues, and what was done about them:

- **Duplicates and leakage.** The de-duplication found {duplicates.get("exact_duplicate_groups", "?")} groups of
  exact copies and {duplicates.get("duplicate_groups", "?")} groups of exact-or-near copies
  ({duplicates.get("files_in_duplicate_groups", "?")} files); {duplicates.get("groups_spanning_training_and_test", "?")}
  groups span the given Training and Testing folders, and {duplicates.get("groups_with_conflicting_labels", "?")}
  carry conflicting labels. Validation never shares a group with training. The test set is scored twice: all
  {data.get("test_images", "?")} test images, and the **{data.get("leak_free_test_images", "?")} leak-free** ones
  with no copy in training; the leak-free numbers are the honest ones.
- **Mixed sources and sequences.** The dataset merges several public collections (Figshare, SARTAJ,
  Br35H), with different scanners, sequences (T1, contrast-enhanced T1, T2, FLAIR) and planes (axial,
  coronal, sagittal), saved as JPEG/PNG exports of unknown windowing. Classes are not spread evenly over
  the collections (the no-tumour images come from other collections than most tumour images), so a model
  can learn a collection's look instead of the anatomy.
- **No patient identifiers.** Slices of one patient cannot be grouped, so a patient-level split is
  impossible; near-duplicate grouping is the closest substitute.
- **Labels** come with the dataset and were not re-read by radiologists for this project.
"""
    )


def _sources_text(data: dict) -> str:
    """The training sources as the report names them (older reports name one root folder)."""
    sources = data.get("sources") or [data.get("root", "?")]
    described = {
        "brain-tumor-mri": "the public Kaggle **Brain Tumor MRI Dataset** (M. Nickparvar)",
        "radiopaedia-mri": "Radiopaedia case pictures in T1, T1 + contrast and T2 (no pituitary)",
    }
    return "; ".join(f"{described.get(name, 'a labelled folder')} (`{name}`)" for name in sources)


def _metrics(report: RunReport) -> None:
    st.header("Held-out performance")
    rows = []
    for subset, label in reversed(SUBSETS.items()):  # leak-free first: the full set shares slices with training
        test = report.test(subset)
        if test is None:
            continue
        rows.append(
            {
                "test set": label,
                "images": test.get("n"),
                "accuracy": test.get("accuracy"),
                "accuracy interval": interval_of(test.get("accuracy"), test.get("n")),
                "balanced accuracy": test.get("balanced_accuracy"),
                "macro F1": (test.get("macro") or {}).get("f1"),
                "macro ROC AUC": (test.get("macro") or {}).get("roc_auc"),
                "ECE": test.get("ece"),
            }
        )
    if not rows:
        st.caption("This run's report holds no test metrics.")
        return
    percent = st.column_config.NumberColumn(format="percent")
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        width="stretch",
        column_config={
            "accuracy": percent,
            "balanced accuracy": percent,
            "macro F1": percent,
            "macro ROC AUC": st.column_config.NumberColumn(format="%.3f"),
            "ECE": st.column_config.NumberColumn(format="%.3f"),
        },
    )
    measured = run_report.measured_on(report)
    others = measured[measured["kind"] != "held-out test"] if not measured.empty else measured
    if not others.empty:
        st.markdown(
            "**Scored after training** with `python -m train.evaluate`: a training source's held-out share, or a "
            "source never trained on (the kind column says which)"
        )
        st.dataframe(
            others,
            hide_index=True,
            column_config={name: percent for name in dashboard.SHARE_COLUMNS},
        )
    st.caption("Details, curves and the misclassified images are on the Evaluation page.")


def _limitations(report: RunReport) -> None:
    st.header("Limitations")
    points = []
    full, clean = report.test("full"), report.test("leak_free")
    if full and clean and full.get("accuracy") is not None and clean.get("accuracy") is not None:
        points.append(
            f"Accuracy drops from {percent(full['accuracy'])} on the whole test set to {percent(clean['accuracy'])} "
            "on its leak-free part: copies of training images flatter the full number, and new patients may fare worse "
            "still."
        )
    if clean:
        per_class = clean.get("per_class") or {}
        supported = {k: v for k, v in per_class.items() if v.get("support")}
        if supported:
            weakest = min(supported, key=lambda k: supported[k].get("recall", 1.0))
            points.append(
                f"Weakest class on leak-free images: {display_name(weakest)} (recall "
                f"{percent(supported[weakest]['recall'])} over {supported[weakest]['support']} images)."
            )
            smallest = min(supported, key=lambda k: supported[k]["support"])
            points.append(
                f"The leak-free subset holds only "
                f"{plural(supported[smallest]['support'], display_name(smallest).lower() + ' image')}, so that "
                "class's leak-free numbers are uncertain."
            )
    points += [
        "One slice at a time: no 3-D context, no comparison with earlier scans, no clinical information.",
        "Trained on JPEG/PNG exports. DICOM and NIfTI are windowed or rescaled before classification, so their "
        "contrast may differ from what the model was trained on; check the window.",
        "Grad-CAM shows which regions drove the score, coarsely. It is not a tumour segmentation and can "
        "highlight the skull or image edges when the model relies on them.",
        "The outline of a model with a mask head was learned from expert outlines of one collection's "
        "contrast-enhanced T1 slices (the enhancing tumour, without oedema): on other sequences and sources it "
        "has not been measured against outlines, and its area is not a volume.",
        "Calibration was fitted on validation data from the training sources; confidence on images from other "
        "hospitals or scanners may be too high (the Evaluation page shows how it fared on other sources).",
    ]
    st.markdown("\n".join(f"- {point}" for point in points))


def _samples(report: RunReport) -> None:
    samples = list_samples()
    if not samples:
        return
    st.header("Example scans")
    st.markdown(
        "The **Try the example scans** button loads these slices, copied unchanged from the dataset's Testing "
        "folder, all **leak-free** test images (no exact or near copy in Training). The first four are the "
        "first of each class by file name, not picked for being classified correctly; the last four are the "
        "first of each class that the model shipped on 2026-12-07 states a class for, so that the examples show "
        "an answer too (they say nothing about how often it answers: the Evaluation page does). What this run "
        "said about them during its evaluation:"
    )
    predictions = report.predictions.set_index("path") if report.predictions is not None else None
    rows = []
    for sample in samples:
        row = {"file": sample.name, "class": display_name(sample.label), "source": sample.source}
        if predictions is not None and sample.source in predictions.index:
            recorded = predictions.loc[sample.source]
            row["leak-free in this run"] = "yes" if int(recorded["leak_free"]) == 1 else "no"
            row["what the app says"] = _app_says(recorded, sample.label)
        else:
            row["leak-free in this run"] = "not in this run's test set"
        rows.append(row)
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def _app_says(recorded, label: str) -> str:
    """The answer the app gives for a recorded prediction: its status first (an uncertain scan gets no class),
    then the top class, marked when it is not the true one."""
    top = f"{display_name(recorded['prediction'])} {percent(float(recorded['confidence']))}"
    wrong = "" if recorded["prediction"] == label else ", not the true class"
    status = str(recorded.get("status", OK) or OK)
    if status == OK:
        return top + (" — wrong" if wrong else "")
    return f"{status_text(status).capitalize()}: no class stated (top score {top}{wrong})"


def commit_text(commit: str) -> str:
    """A recorded code commit in words: "-dirty" means the tree had changes that no commit holds."""
    if commit.endswith("-dirty"):
        return f"code commit `{commit.removesuffix('-dirty')[:12]}` plus uncommitted changes"
    return f"code commit `{commit[:12]}`"


def _privacy() -> None:
    st.header("Privacy")
    st.markdown(
        "Uploaded files are decoded in this server's memory for your session only: they are never written to "
        "disk and never sent anywhere. From DICOM files the app reads only the pixels and the display tags "
        "(rescale, window, photometric interpretation, modality); patient fields such as name, ID and birth "
        "date are never read out, shown, logged or put in reports. File names are shown as given, so name "
        "files without patient details."
    )
