"""Sections of the evaluation page. Each draws what its artifact holds and skips itself when it is absent,
so a run from an older (or newer) training module still gets a page."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core.labels import display_name
from core.report import run_report
from core.report.intervals import percent, plural, rate_text
from core.report.run_report import SUBSETS, RunReport
from ui import charts

GALLERY_PAGE = 24


def headline_cards(report: RunReport) -> None:
    columns = st.columns(2, gap="large")
    for column, (subset, label) in zip(columns, SUBSETS.items(), strict=True):
        with column, st.container(border=True):
            test = report.test(subset)
            if test is None:
                st.markdown(f"**{label}**")
                st.caption("Not in this run's report.")
                continue
            st.markdown(f"**{label}** · {test['n']} images")
            numbers = run_report.headline(test)
            cards = st.columns(3)
            for card, (name, title) in zip(
                cards,
                (("accuracy", "Accuracy"), ("balanced_accuracy", "Balanced accuracy"), ("macro_f1", "Macro F1")),
                strict=True,
            ):
                value = numbers[name]
                card.metric(title, "n/a" if value is None else percent(value))


def confusion_matrices(report: RunReport, subset: str) -> None:
    test = report.test(subset)
    if test is None or not test.get("confusion_matrix"):
        st.caption("No confusion matrix in this run's report.")
        return
    counts = np.array(test["confusion_matrix"])
    left, right = st.columns(2)
    left.plotly_chart(charts.confusion_heatmap(counts, report.classes, normalised=False), key=f"cm-counts-{subset}")
    right.plotly_chart(
        charts.confusion_heatmap(run_report.row_normalised(counts), report.classes, normalised=True),
        key=f"cm-norm-{subset}",
    )


def per_class(report: RunReport, subset: str) -> None:
    test = report.test(subset)
    if test is not None:
        per_class_metrics(test)


def per_class_metrics(metrics: dict) -> None:
    """The per-class table of one metrics section (a test subset, or a validation set)."""
    table = run_report.per_class_table(metrics)
    if table.empty:
        return
    table["class"] = table["class"].map(display_name)
    st.dataframe(
        table,
        hide_index=True,
        column_config={
            name: st.column_config.NumberColumn(name.replace("_", " "), format="%.3f")
            for name in ("precision", "recall", "f1", "roc_auc")
        },
    )


def curves(report: RunReport, subset: str) -> None:
    if report.predictions is None:
        st.caption("predictions.csv is missing: no ROC or precision-recall curves.")
        return
    rows = run_report.subset(report.predictions, subset)
    if rows.empty:
        st.caption("No test images in this subset.")
        return
    left, right = st.columns(2)
    left.plotly_chart(charts.curves_figure(run_report.roc_curves(rows, report.classes), "roc"), key=f"roc-{subset}")
    right.plotly_chart(
        charts.curves_figure(run_report.precision_recall_curves(rows, report.classes), "pr"), key=f"pr-{subset}"
    )


def reliability(report: RunReport, subset: str) -> None:
    test = report.test(subset)
    bins = (test or {}).get("reliability") or {}
    if not bins:
        st.caption("No reliability bins in this run's report.")
        return
    before = run_report.reliability_table(bins.get("uncalibrated"))
    after = run_report.reliability_table(bins.get("calibrated"))
    st.plotly_chart(
        charts.reliability_figure(before, after, test.get("ece_uncalibrated"), test.get("ece")),
        key=f"reliability-{subset}",
    )
    calibration = (report.metrics or {}).get("calibration") or {}
    if "temperature" in calibration:
        st.caption(
            f"Temperature {calibration['temperature']:.3f}, fitted on the validation split "
            f"(validation ECE {calibration.get('validation_ece_before', float('nan')):.3f} → "
            f"{calibration.get('validation_ece_after', float('nan')):.3f}). Expected calibration error on this "
            f"subset: {test.get('ece_uncalibrated', float('nan')):.3f} before, {test.get('ece', float('nan')):.3f} "
            "after."
        )


def risk_coverage(report: RunReport) -> None:
    """From predictions.csv: what abstaining on the least confident images would buy. The abstention
    policy the product applies, when the report records one (metrics["abstention"]), is listed below."""
    if report.predictions is None:
        st.caption("predictions.csv is missing: no risk–coverage curve.")
        return
    curves_by_subset = {
        label: run_report.risk_coverage(run_report.subset(report.predictions, subset))
        for subset, label in SUBSETS.items()
        if not run_report.subset(report.predictions, subset).empty
    }
    st.plotly_chart(charts.risk_coverage_figure(curves_by_subset), key="risk-coverage")
    summary = []
    for label, curve in curves_by_subset.items():
        at_90 = curve.y[max(0, int(np.ceil(0.9 * len(curve.y))) - 1)]
        summary.append(
            f"{label.lower()}: {percent(curve.y[-1])} answering all, {percent(at_90)} answering the 90 % most confident"
        )
    st.caption("Error rate among answered images — " + "; ".join(summary) + ".")
    abstention = (report.metrics or {}).get("abstention")
    if abstention:
        st.markdown(
            f"**The product's abstention: no class below {percent(abstention['threshold'])} calibrated confidence** "
            f"({abstention.get('rule', 'rule not recorded')})"
        )
        st.dataframe(_abstention_table(abstention), hide_index=True)
    gate = (report.metrics or {}).get("ood")
    if gate:
        non_mri = gate["non_mri"]
        st.markdown(
            f'**"Not a brain MRI" gate** ({gate.get("rule", "rule not recorded")}): non-MRI pictures refused '
            f"{non_mri['rejected']} of {non_mri['n']} ({percent(non_mri['rate'])})"
            + (f"; accepted: {', '.join(non_mri['accepted'])}" if non_mri["accepted"] else "")
        )
        kinds = non_mri.get("by_kind") or {}
        if kinds:
            st.caption(
                "Drawings of other body parts and modalities refused (new drawings of kinds the gate's second "
                "stage was taught with): "
                + "; ".join(f"{kind} {part['rejected']} of {part['n']}" for kind, part in kinds.items())
                + ". The photographs, documents and other pictures above were never taught."
            )
        st.dataframe(_gate_table(gate), hide_index=True)


def training(report: RunReport) -> None:
    if report.history is None or report.history.empty:
        st.caption("history.csv is missing: no training curves.")
        return
    st.plotly_chart(charts.training_curves(report.history), key="training-curves")
    outcome = (report.metrics or {}).get("training") or {}
    if outcome:
        st.caption(
            f"{outcome.get('epochs_run', '?')} epochs run; the epoch kept is {outcome.get('best_epoch', '?')} "
            f"(best validation accuracy {outcome.get('best_val_accuracy', float('nan')):.3f})."
        )
    split = run_report.step_time_split(report.history)
    if split:
        st.caption(
            "Where a training step's time went (mean over epochs): "
            + ", ".join(f"{part} {percent(share)}" for part, share in split.items())
            + "."
        )


def misclassified_gallery(report: RunReport, subset: str) -> None:
    indices = run_report.misclassified_in(report, subset)
    if report.misclassified is None:
        st.caption("misclassified.npz is missing: no gallery.")
        return
    if not indices:
        st.caption("No misclassified test images in this subset.")
        return
    wrong = report.misclassified
    true_classes = sorted({wrong.true[i] for i in indices})
    chosen = st.multiselect(
        "True class", true_classes, default=true_classes, format_func=display_name, key=f"gallery-true-{subset}"
    )
    indices = [i for i in indices if wrong.true[i] in chosen]
    pages = max(1, -(-len(indices) // GALLERY_PAGE))
    page = st.number_input("Page", 1, pages, 1, key=f"gallery-page-{subset}") if pages > 1 else 1
    shown = indices[(page - 1) * GALLERY_PAGE : page * GALLERY_PAGE]
    st.caption(f"{plural(len(indices), 'misclassified image')}, as the model saw them (after cropping and resizing).")
    columns = st.columns(6)
    for slot, i in enumerate(shown):
        columns[slot % 6].image(
            wrong.images[i],
            caption=f"true {display_name(wrong.true[i])} → {display_name(wrong.predicted[i])} "
            f"({percent(float(wrong.confidence[i]))}) · {wrong.paths[i].rsplit('/', 1)[-1]}",
            width="stretch",
        )


def data_summary(report: RunReport) -> None:
    data = (report.metrics or {}).get("data")
    if not data:
        st.caption("No data summary in this run's report.")
        return
    counts = pd.DataFrame(data.get("counts") or {})
    if not counts.empty:
        counts.index = [display_name(name) for name in counts.index]
        counts.loc["total"] = counts.sum()
        st.markdown("**Images per class and split**")
        st.dataframe(counts, width="content")
    for source, source_counts in (data.get("counts_by_source") or {}).items():
        table = pd.DataFrame(source_counts)
        if len(data.get("counts_by_source")) > 1 and not table.empty:
            table.index = [display_name(name) for name in table.index]
            st.markdown(f"**{source}**: images per class and split")
            st.dataframe(table, width="content")
    duplicates = data.get("duplicates") or {}
    test_source = data.get("test_source")
    if isinstance(test_source, dict):
        test_source = "; ".join(f"{source}: {how}" for source, how in test_source.items())
    facts = {
        "training sources": ", ".join(data.get("sources") or []) or None,
        "test set source": test_source,
        "test images": data.get("test_images"),
        "leak-free test images": data.get("leak_free_test_images"),
        "exact-duplicate groups": duplicates.get("exact_duplicate_groups"),
        "files in exact-duplicate groups": duplicates.get("exact_duplicate_files"),
        "exact-or-near duplicate groups": duplicates.get("duplicate_groups"),
        "files in duplicate groups": duplicates.get("files_in_duplicate_groups"),
        "largest duplicate group": duplicates.get("largest_group"),
        "groups spanning Training and Testing": duplicates.get("groups_spanning_training_and_test"),
        "groups with conflicting labels": duplicates.get("groups_with_conflicting_labels"),
        "groups spanning sources": duplicates.get("groups_spanning_sources"),
        "near-duplicate threshold (bits of 256)": duplicates.get("near_duplicate_max_bits"),
        "unreadable files": len(data.get("unreadable") or []),
    }
    st.markdown("**Duplicates and leakage**")
    st.dataframe(
        pd.DataFrame([{"fact": k, "value": str(v)} for k, v in facts.items() if v is not None]),
        hide_index=True,
        height="content",
    )
    st.caption(
        "The given Testing folder shares many slices (exact or near copies) with Training. The leak-free subset "
        "holds only test images with no copy in Training: its numbers are the honest estimate."
    )


def comparison(reports: list[RunReport]) -> None:
    if not run_report.same_test_data(reports):
        st.warning(
            "These runs were scored on different data or splits (their data manifests differ): compare with care.",
            icon=":material/compare_arrows:",
        )
    table = run_report.comparison(reports)
    st.dataframe(
        table,
        hide_index=True,
        column_config={report.name: st.column_config.NumberColumn(report.name, format="%.4f") for report in reports},
    )
    recipes = pd.DataFrame({report.name: run_report.recipe(report.metadata) for report in reports}).astype(str)
    differing = recipes[recipes.nunique(axis=1) > 1]
    st.markdown("**Recipe differences**")
    if differing.empty:
        st.caption("Same recipe.")
    else:
        st.dataframe(differing)


_SAFETY_SUBSETS = {"validation": "Validation", "test_full": "Full test", "test_leak_free": "Leak-free test"}


def _abstention_table(abstention: dict) -> pd.DataFrame:
    rows = []
    for key, label in _SAFETY_SUBSETS.items():
        if key in abstention:
            result = abstention[key]
            rows.append(
                {
                    "images": label,
                    "answered": f"{result['answered']} of {result['n']} ({percent(result['coverage'])})",
                    "accuracy when answered": "n/a" if result["accuracy"] is None else percent(result["accuracy"]),
                    "errors answered": result["errors_answered"],
                    "errors referred": result["errors_referred"],
                }
            )
    return pd.DataFrame(rows)


def _gate_table(gate: dict) -> pd.DataFrame:
    rows = []
    for key, label in _SAFETY_SUBSETS.items():
        result = gate.get(f"{key}_false_rejection")
        if result and result["n"]:
            rows.append({"real MRI": label, "refused as not MRI": rate_text(result["rejected"], result["n"])})
            # each source's part (when there are several): a gate that refuses one hospital's scans hides the
            # model from it
            parts = result.get("by_source") or {}
            for source, part in parts.items() if len(parts) > 1 else ():
                if part["n"]:
                    rows.append(
                        {"real MRI": f"{label}: {source}", "refused as not MRI": rate_text(part["rejected"], part["n"])}
                    )
    return pd.DataFrame(rows)


SHARE_COLUMNS = (
    "accuracy",
    "balanced accuracy",
    "tumour found",
    "answered",
    "answered but wrong",
    "refused as not MRI",
    "no tumour, region outlined",
)


def _share_config() -> dict:
    return {name: st.column_config.NumberColumn(name, format="percent") for name in SHARE_COLUMNS}


def measured_on(report: RunReport) -> None:
    """Held-out test results beside every other source the run was scored on."""
    table = run_report.measured_on(report)
    if table.empty:
        st.caption("No test or external results in this run's report.")
        return
    # Full width with wrapping-friendly widths: at 1440 px the table was cut at the right.
    config = {**_share_config(), "set": st.column_config.TextColumn("set", width="large")}
    st.dataframe(table, hide_index=True, width="stretch", column_config=config)
    if not report.externals:
        st.caption(
            "No other source has been scored for this run. `python -m train.evaluate --weights DIR --data FOLDER "
            "--name NAME` scores a labelled folder; its results then appear here."
        )
    st.caption(
        "'Answered but wrong' is the share of all scans for which the product stated a class and it was wrong "
        "(abstentions and refusals are not answers). Numbers on the training dataset's own test folder say "
        "little about scans from another hospital; the other sources are the better guide."
    )


def external_set(report: RunReport) -> None:
    """One external set in detail: per sequence and plane, confusion matrix, errors."""
    if not report.externals:
        return
    names = [external.name for external in report.externals]
    name = st.selectbox("Set", names, key="eval:external")
    external = report.externals[names.index(name)]
    kind = run_report.external_kind(external, run_report.training_sources(report))
    if kind == run_report.HELD_OUT_SHARE:
        st.caption(
            f"`{name}` is a **{kind}**: its images not used in training are the same as that source's share of "
            "the test set, so these are not independent numbers. Only a source never trained on is."
        )
    else:
        st.caption(f"`{name}` is a **{kind}**: an independent check.")
    part = st.radio(
        "Images",
        ["clean", "all"],
        format_func={"clean": "Not copies of training images", "all": "Every image"}.get,
        horizontal=True,
        key="eval:external-part",
    )
    metrics = external.metrics.get(part) or {}
    data = external.metrics.get("data") or {}
    contamination = external.metrics.get("contamination") or {}
    st.caption(
        f"{data.get('images', '?')} images from folder `{data.get('folder', '?')}`; "
        f"{contamination.get('exact_copies', 0)} exact and {contamination.get('near_copies', 0)} near copies of the "
        f"run's training or validation images ({contamination.get('checked_against', 'not checked')})."
        + (f" Labels not scored: {', '.join(data['unmapped_labels'])}." if data.get("unmapped_labels") else "")
    )
    for attribute, title in (("sequence", "By MRI sequence"), ("plane", "By plane"), ("source", "By source")):
        table = run_report.breakdown_table(metrics, attribute)
        if not table.empty and attribute != "source":
            st.markdown(f"**{title}** (as the file names state it)")
            st.dataframe(table, hide_index=True, column_config=_share_config())
    if metrics.get("confusion_matrix"):
        counts = np.array(metrics["confusion_matrix"])
        st.plotly_chart(charts.confusion_heatmap(counts, report.classes, normalised=False), key=f"cm-ext-{name}-{part}")
    wrong = external.misclassified
    if wrong is not None and len(wrong):
        st.markdown(f"**Misclassified** ({len(wrong)}, every image, as the model saw them)")
        columns = st.columns(6)
        for slot in range(min(len(wrong), GALLERY_PAGE)):
            columns[slot % 6].image(
                wrong.images[slot],
                caption=f"true {display_name(wrong.true[slot])} → {display_name(wrong.predicted[slot])} "
                f"({percent(float(wrong.confidence[slot]))}) · {wrong.paths[slot].rsplit('/', 1)[-1][:40]}",
                width="stretch",
            )
