"""Plotly figures for the pages. Pure functions from numbers to figures, so they are tested without a browser."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.labels import display_name
from core.report.intervals import percent
from core.report.run_report import Curve

# One colour per class everywhere (colour-blind-safe Okabe-Ito hues), gray for anything else.
_PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442"]
_LAYOUT = {"margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "template": "plotly_white", "font": {"size": 13}}
NEUTRAL = "#9aa6af"  # bars of an image for which no class is stated


def class_colours(classes: list[str]) -> dict[str, str]:
    return {name: _PALETTE[i % len(_PALETTE)] for i, name in enumerate(classes)}


def probability_bars(
    probabilities: dict[str, float], classes: list[str], stated: str | None = "", title: str = ""
) -> go.Figure:
    """Horizontal bars, one per class, in the model's class order; the stated class is drawn solid. With
    `stated=None` (no class is given for the image) every bar is the same grey: no class is highlighted."""
    colours = {name: NEUTRAL for name in classes} if stated is None else class_colours(classes)
    values = [probabilities[name] for name in classes]
    figure = go.Figure(
        go.Bar(
            x=values,
            y=[display_name(name) for name in classes],
            orientation="h",
            marker={
                "color": [colours[name] for name in classes],
                "opacity": [1.0 if not stated or name == stated else 0.45 for name in classes],
            },
            text=[percent(value) for value in values],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y}: %{x:.2%}<extra></extra>",
        )
    )
    figure.update_layout(
        **_LAYOUT,
        title=title or ("Per-class probability (calibrated)" if stated is not None else "Scores (no class is stated)"),
        height=90 + 42 * len(classes),
        xaxis={"range": [0, 1.12], "tickformat": ".0%", "title": None},
        yaxis={"autorange": "reversed", "title": None},
        showlegend=False,
    )
    return figure


# How each slice of a sweep was answered, in the status strip under the probability lines. Colours are
# kept apart from the class colours: a strip cell must never read as a class.
SLICE_STATUS_STYLE = {
    "ok": ("answered (its probabilities are drawn above)", "#c9d3da"),
    "uncertain": ("uncertain: below the confidence threshold, no class stated", "#F0E442"),
    "not_mri": ("refused: not like a brain MRI slice", "#7f1d1d"),
    "too_small": ("refused: too small to classify", "#56B4E9"),
    "no_tissue": ("no tissue: not classified", "#ffffff"),
}


def slice_profile(
    probabilities: np.ndarray,
    classes: list[str],
    current: int | None,
    plane: str,
    statuses: list[str] | None = None,
    supporting: tuple[int, ...] = (),
) -> go.Figure:
    """Per-slice class probabilities along a volume or a series, drawn only for slices answered "ok" (a
    refused or abstained slice's scores are no answer), over a strip that marks each slice's status;
    `supporting` slices (0-based) are marked on the strip. Without `statuses`, a NaN row is a slice
    without tissue and every other slice counts as answered."""
    count = len(probabilities)
    if statuses is None:
        statuses = ["no_tissue" if np.isnan(row).all() else "ok" for row in probabilities]
    drawn = np.array(probabilities, dtype=np.float64)
    drawn[[status != "ok" for status in statuses]] = np.nan
    colours = class_colours(classes)
    slices = np.arange(1, count + 1)
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.8, 0.2], vertical_spacing=0.06)
    for i, name in enumerate(classes):
        figure.add_trace(
            go.Scatter(
                x=slices,
                y=drawn[:, i],
                mode="lines+markers",
                marker={"size": 4},
                name=display_name(name),
                legendgroup="classes",
                line={"color": colours[name], "width": 2},
                hovertemplate=f"{display_name(name)}, slice %{{x}}: %{{y:.1%}}<extra></extra>",
            ),
            row=1,
            col=1,
        )
    for status, (words, colour) in SLICE_STATUS_STYLE.items():
        where = [i + 1 for i, s in enumerate(statuses) if s == status]
        if not where:
            continue
        figure.add_trace(
            go.Bar(
                x=where,
                y=[1] * len(where),
                width=1,
                name=words,
                legendgroup="status",
                marker={"color": colour, "line": {"color": "#8a98a3", "width": 0.5}},
                hovertemplate=f"slice %{{x}}: {words}<extra></extra>",
            ),
            row=2,
            col=1,
        )
    if supporting:
        figure.add_trace(
            go.Scatter(
                x=[i + 1 for i in supporting],
                y=[0.5] * len(supporting),
                mode="markers",
                name="supports the series answer",
                legendgroup="status",
                marker={"symbol": "diamond", "size": 9, "color": "#1d2a33"},
                hovertemplate="slice %{x} supports the series answer<extra></extra>",
            ),
            row=2,
            col=1,
        )
    if current is not None:
        figure.add_vline(x=current + 1, line={"color": "#1d2a33", "dash": "dot"}, row=1, col=1)
    figure.update_layout(
        **_LAYOUT,
        title=f"Class probability per {plane} slice (drawn for answered slices only)",
        height=400,
        bargap=0,
        legend={"orientation": "h", "y": -0.18},
    )
    figure.update_xaxes(range=[0.5, max(2, count) + 0.5], row=1, col=1)
    figure.update_xaxes(title_text=f"{plane} slice", row=2, col=1)
    figure.update_yaxes(title_text="probability", range=[0, 1], tickformat=".0%", row=1, col=1)
    figure.update_yaxes(range=[0, 1], showticklabels=False, showgrid=False, title_text="status", row=2, col=1)
    return figure


def confusion_heatmap(matrix: np.ndarray, classes: list[str], normalised: bool) -> go.Figure:
    names = [display_name(name) for name in classes]
    matrix = np.asarray(matrix, dtype=float)
    text = [[percent(v) if normalised else f"{int(v)}" for v in row] for row in matrix]
    figure = go.Figure(
        go.Heatmap(
            z=matrix,
            x=names,
            y=names,
            text=text,
            texttemplate="%{text}",
            colorscale="Blues",
            zmin=0,
            zmax=1 if normalised else max(1.0, float(matrix.max())),
            showscale=False,
            hovertemplate="true %{y}, predicted %{x}: %{text}<extra></extra>",
        )
    )
    figure.update_layout(
        **_LAYOUT,
        title="Row-normalised (recall on the diagonal)" if normalised else "Counts",
        height=380,
        xaxis={"title": "predicted", "side": "bottom"},
        yaxis={"title": "true", "autorange": "reversed"},
    )
    return figure


def curves_figure(curves: dict[str, Curve], kind: str) -> go.Figure:
    """One-vs-rest ROC ("roc") or precision-recall ("pr") curves, one line per class, area in the legend."""
    colours = class_colours(list(curves))
    figure = go.Figure()
    area_name = "AUC" if kind == "roc" else "AP"
    for name, curve in curves.items():
        area = "n/a" if curve.area is None else f"{curve.area:.3f}"
        if curve.interval is not None:
            area += f"; {curve.interval.score_text()}"
        figure.add_trace(
            go.Scatter(
                x=curve.x,
                y=curve.y,
                mode="lines",
                name=f"{display_name(name)} ({area_name} {area})",
                line={"color": colours[name], "width": 2, "shape": "hv" if kind == "pr" else "linear"},
            )
        )
    if kind == "roc":
        figure.add_trace(
            go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance", line={"color": "#999", "dash": "dash"})
        )
    figure.update_layout(
        **_LAYOUT,
        title="ROC, one class vs the rest" if kind == "roc" else "Precision-recall, one class vs the rest",
        height=400,
        xaxis={"title": "false positive rate" if kind == "roc" else "recall", "range": [0, 1]},
        yaxis={"title": "true positive rate" if kind == "roc" else "precision", "range": [0, 1.02]},
        legend={"x": 0.98, "xanchor": "right", "y": 0.02 if kind == "roc" else 0.98, "yanchor": "auto"},
    )
    return figure


def reliability_figure(before: pd.DataFrame, after: pd.DataFrame, ece_before, ece_after) -> go.Figure:
    """Accuracy against mean confidence per bin, before and after temperature scaling; the diagonal is
    perfect calibration. Marker size follows the number of test images in the bin."""
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect calibration", line={"color": "#999", "dash": "dash"})
    )
    for table, label, colour, ece in (
        (before, "before temperature scaling", "#D55E00", ece_before),
        (after, "after temperature scaling", "#0072B2", ece_after),
    ):
        if table is None or table.empty:
            continue
        sizes = 6 + 18 * np.sqrt(table["count"] / max(1, table["count"].max()))
        figure.add_trace(
            go.Scatter(
                x=table["confidence"],
                y=table["accuracy"],
                mode="lines+markers",
                name=f"{label} (ECE {ece:.3f})" if ece is not None else label,
                marker={"size": sizes, "color": colour},
                # thin dotted joins: bins with a handful of images swing widely and must not dominate
                line={"color": colour, "width": 1, "dash": "dot"},
                customdata=table["count"],
                hovertemplate="confidence %{x:.2f}, accuracy %{y:.2f}, %{customdata} images<extra></extra>",
            )
        )
    figure.update_layout(
        **_LAYOUT,
        title="Reliability diagram",
        height=420,
        xaxis={"title": "mean confidence in bin", "range": [0, 1.02]},
        yaxis={"title": "accuracy in bin", "range": [0, 1.02]},
        legend={"x": 0.02, "y": 0.98},
    )
    return figure


def training_curves(history: pd.DataFrame) -> go.Figure:
    """Loss, accuracy and learning rate per epoch, side by side."""
    figure = make_subplots(rows=1, cols=3, subplot_titles=("Loss", "Accuracy", "Learning rate"))
    series = [
        (1, "train_loss", "train", "#0072B2"),
        (1, "val_loss", "validation", "#E69F00"),
        (2, "train_accuracy", "train", "#0072B2"),
        (2, "val_accuracy", "validation", "#E69F00"),
        (3, "lr", "learning rate", "#009E73"),
    ]
    shown = set()
    for column, key, label, colour in series:
        if key not in history:
            continue
        figure.add_trace(
            go.Scatter(
                x=history["epoch"],
                y=history[key],
                mode="lines+markers",
                name=label,
                legendgroup=label,
                showlegend=label not in shown,
                line={"color": colour},
                marker={"size": 4},
            ),
            row=1,
            col=column,
        )
        shown.add(label)
    figure.update_xaxes(title_text="epoch")
    figure.update_yaxes(tickformat=".0%", row=1, col=2)
    figure.update_yaxes(exponentformat="e", row=1, col=3)
    figure.update_layout(**_LAYOUT, height=330, legend={"orientation": "h", "y": -0.25})
    return figure


def risk_coverage_figure(curves: dict[str, Curve]) -> go.Figure:
    """Error rate among the answered images when only the most confident fraction is answered."""
    figure = go.Figure()
    for (label, curve), colour in zip(curves.items(), ["#0072B2", "#D55E00"], strict=False):
        aurc = "" if curve.area is None else f" (AURC {curve.area:.4f})"
        figure.add_trace(go.Scatter(x=curve.x, y=curve.y, mode="lines", name=label + aurc, line={"color": colour}))
    figure.update_layout(
        **_LAYOUT,
        title="Risk–coverage (answer only the most confident images)",
        height=380,
        xaxis={"title": "coverage (fraction answered)", "range": [0, 1], "tickformat": ".0%"},
        yaxis={"title": "risk (error rate among answered)", "rangemode": "tozero", "tickformat": ".1%"},
        legend={"x": 0.02, "y": 0.98},
    )
    return figure
