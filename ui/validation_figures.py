"""The Validate page's charts, for the page and for the downloadable report alike: the evaluation page's
own figures (ui/charts.py), drawn from a validation's predictions and `core.report.scoring.summarise` numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.report import run_report
from core.report.intervals import percent
from ui import charts

MIN_FOR_CURVES = 20  # fewer images than this: no ROC, precision-recall, reliability or risk–coverage curve


def figures(section: dict, predictions: pd.DataFrame, classes: list[str], threshold: float) -> dict[str, go.Figure]:
    """{"confusion", "confusion_normalised", "roc", "pr", "reliability", "risk_coverage"}; the curves only
    when there are images. `section` is one part ("all" or "clean") of the metrics document."""
    shown: dict[str, go.Figure] = {}
    if section.get("confusion_matrix"):
        counts = np.array(section["confusion_matrix"])
        shown["confusion"] = charts.confusion_heatmap(counts, classes, normalised=False)
        shown["confusion_normalised"] = charts.confusion_heatmap(
            run_report.row_normalised(counts), classes, normalised=True
        )
    if len(predictions) < MIN_FOR_CURVES:
        return shown  # a curve through one or two images would look like a finding
    shown["roc"] = charts.curves_figure(run_report.roc_curves(predictions, classes), "roc")
    shown["pr"] = charts.curves_figure(run_report.precision_recall_curves(predictions, classes), "pr")
    bins = section.get("reliability") or {}
    if bins:
        shown["reliability"] = charts.reliability_figure(
            run_report.reliability_table(bins.get("uncalibrated")),
            run_report.reliability_table(bins.get("calibrated")),
            section.get("ece_uncalibrated"),
            section.get("ece"),
        )
    shown["risk_coverage"] = risk_coverage_with_threshold(predictions, threshold)
    return shown


def risk_coverage_with_threshold(predictions: pd.DataFrame, threshold: float) -> go.Figure:
    """The risk–coverage curve with the point the product works at: it answers only at or above `threshold`."""
    figure = charts.risk_coverage_figure({"these images": run_report.risk_coverage(predictions)})
    if threshold > 0:
        coverage = float((predictions["confidence"] >= threshold).mean())
        figure.add_vline(
            x=coverage,
            line={"color": "#555", "dash": "dash"},
            annotation_text=f"abstention threshold {percent(threshold)}: {percent(coverage)} answered",
            annotation_position="top left",
        )
    return figure
