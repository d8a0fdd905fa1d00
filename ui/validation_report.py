"""The validation report to keep: one self-contained HTML file and a JSON of the metrics.

The HTML carries everything inline (styles, thumbnails as base64 PNG, the charts with one embedded copy of
plotly.js), so it opens and prints offline and asks nothing of any server. Both state the model (name,
weights sha256), the date and the data summary. No patient field exists to leak: the app never reads one;
the only names are file names, and `hide_names` replaces them with a short hash of the name.
"""

from __future__ import annotations

import hashlib
import json
from html import escape

import numpy as np
import pandas as pd

from core.io.png import data_uri, png_bytes
from core.labels import display_name
from core.report.intervals import percent
from core.report.validation import ValidationRun, predictions_frame
from ui.validation_figures import figures

PARTS = {"clean": "Not copies of training images", "all": "Every image"}  # the honest part first
_STYLE = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #1d2a33;
       margin: 2em auto; max-width: 64em; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; border-top: 2px solid #d5dde3; padding-top: 0.8em; }
.meta, .note { color: #4a5a66; font-size: 0.9em; }
.disclaimer { border-left: 4px solid #2f6f8f; background: #eef2f5; padding: 0.6em 0.9em; }
table { border-collapse: collapse; margin: 0.5em 0; } td, th { padding: 0.25em 0.6em; text-align: left;
       border-bottom: 1px solid #d5dde3; }
.gallery { display: flex; flex-wrap: wrap; gap: 0.6em; } figure { margin: 0; width: 9em; }
figure img { width: 8em; } figcaption { font-size: 0.75em; color: #4a5a66; }
.chart { page-break-inside: avoid; }
@media print { body { margin: 0; max-width: none; } }
"""


def public_name(name: str, hide: bool) -> str:
    """The file's name, or with `hide` a stable stand-in that identifies it to whoever holds the files."""
    return "file-" + hashlib.sha256(name.encode()).hexdigest()[:12] if hide else name


def report_json(metrics: dict, run: ValidationRun, hide_names: bool) -> str:
    """The metrics document with the per-file lists (unreadable, unlabelled, copies) under the chosen names."""
    document = json.loads(json.dumps(metrics))  # a deep copy: the page keeps showing real names
    data = document.get("data", {})
    for item in data.get("unreadable", []):
        item["path"] = public_name(item["path"], hide_names)
    for key in ("unlabelled_files", "rows_naming_no_file", "labels_not_scored_files"):
        if key in data:
            data[key] = [public_name(name, hide_names) for name in data[key]]
    document["contamination"]["copies"] = [
        {"file": public_name(name, hide_names), "copy_of": match}
        for name, match in zip(run.names, run.copies or [""] * len(run.names), strict=True)
        if match
    ]
    document["file_names"] = "replaced by hashes" if hide_names else "as given"
    return json.dumps(document, indent=2)


def report_html(metrics: dict, run: ValidationRun, hide_names: bool) -> str:
    classes = run.classes
    model, data, contamination = metrics["model"], metrics["data"], metrics["contamination"]
    frame = predictions_frame(run)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>Local validation report</title>',
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Brain MRI classifier: validation on local scans</h1>",
        f'<p class="meta">Created {escape(metrics["created"])} · set <b>{escape(metrics["name"])}</b> · model '
        f"<b>{escape(str(model.get('name')))}</b>, weights sha256 <code>{escape(str(model.get('weights_sha256')))}"
        f"</code> · abstention below {percent(model.get('abstention_threshold', 0))} calibrated confidence · file "
        f"names {'replaced by hashes' if hide_names else 'as given'}</p>",
        '<p class="disclaimer">These numbers measure the model on the scans given here, with the labels given '
        "here. They say how far its answers can be trusted on similar scans; they are not a licence for "
        "unsupervised use. Assistive use only: the final diagnosis is the clinician's.</p>",
        "<h2>Data</h2>",
        _data_summary(data, contamination, classes),
        "<h2>Headline</h2>",
        _headline_table(metrics),
    ]
    first_chart = True
    for part, label in PARTS.items():
        section = metrics[part]
        if not section.get("n"):
            continue
        rows = frame if part == "all" else frame[frame["clean"] == 1]
        parts += [f"<h2>{escape(label)} ({section['n']})</h2>", "<h3>Confusion matrix</h3>"]
        parts += [_confusion_table(section, classes), "<h3>Per class</h3>", _per_class_table(section)]
        for name, figure in figures(section, rows, classes, model.get("abstention_threshold", 0)).items():
            if name.startswith("confusion"):
                continue  # the table above says the same and prints better
            html = figure.to_html(full_html=False, include_plotlyjs="inline" if first_chart else False)
            first_chart = False
            parts.append(f'<div class="chart">{html}</div>')
        parts.append(_breakdowns(section))
    parts += ["<h2>Misclassified images</h2>", _gallery(run, hide_names)]
    parts.append(_lists(data, run, hide_names))
    parts.append("</body></html>")
    return "\n".join(parts)


def _data_summary(data: dict, contamination: dict, classes: list[str]) -> str:
    counts = ", ".join(f"{display_name(c)} {data['counts'].get(c, 0)}" for c in classes)
    facts = [
        ("images scored", f"{data['images']} ({counts})"),
        ("could not be read", len(data.get("unreadable", []))),
        ("files with no label", len(data.get("unlabelled_files", []))),
        ("labels outside the model's classes (not scored)", ", ".join(data.get("unmapped_labels", [])) or "none"),
        ("label mapping", "; ".join(f"{k} → {display_name(v)}" for k, v in data.get("label_mapping", {}).items())),
        (
            "copies of the model's training or validation images",
            f"{contamination['exact_copies']} exact, {contamination['near_copies']} near "
            f"({contamination['checked_against']})",
        ),
    ]
    return _table(["", ""], [[escape(str(k)), escape(str(v))] for k, v in facts])


def headline_rows(metrics: dict) -> list[dict]:
    """One row per part: the numbers a reader looks at first, and what the product did with the images."""
    rows = []
    for part, label in PARTS.items():
        section = metrics[part]
        outcomes = section.get("outcomes") or {}
        rows.append(
            {
                "images": label,
                "n": section.get("n", 0),
                "accuracy": section.get("accuracy"),
                "balanced accuracy": section.get("balanced_accuracy"),
                "macro F1": (section.get("macro") or {}).get("f1"),
                "tumour found": outcomes.get("tumour_sensitivity"),
                "answered": outcomes.get("answered"),
                "answered but wrong": outcomes.get("answered_wrong"),
                "uncertain": outcomes.get("uncertain"),
                "refused as not MRI": outcomes.get("not_mri"),
            }
        )
    return rows


def _headline_table(metrics: dict) -> str:
    rows = headline_rows(metrics)
    return _table(list(rows[0]), [[escape(_cell(v)) for v in row.values()] for row in rows])


def _confusion_table(section: dict, classes: list[str]) -> str:
    matrix = section["confusion_matrix"]
    names = [escape(display_name(c)) for c in classes]
    rows = [[f"<b>{names[i]}</b>", *[str(v) for v in row]] for i, row in enumerate(matrix)]
    return _table(["true \\ predicted", *names], rows)


def _per_class_table(section: dict) -> str:
    rows = [
        [
            escape(display_name(name)),
            *[_cell(values.get(k)) for k in ("precision", "recall", "f1", "roc_auc")],
            str(values.get("support", "")),
        ]
        for name, values in (section.get("per_class") or {}).items()
    ]
    return _table(["class", "precision", "recall", "F1", "ROC AUC", "images"], rows)


def _breakdowns(section: dict) -> str:
    out = []
    for attribute, groups in (section.get("breakdown") or {}).items():
        rows = [
            [escape(value), str(values.get("n")), _cell(values.get("accuracy")), _cell(values.get("balanced_accuracy"))]
            for value, values in groups.items()
        ]
        out += [
            f"<h3>By {escape(attribute)}</h3>",
            _table([attribute, "images", "accuracy", "balanced accuracy"], rows),
        ]
    return "\n".join(out)


def _gallery(run: ValidationRun, hide_names: bool) -> str:
    wrong = run.misclassified
    if not wrong:
        return '<p class="note">None.</p>'
    p = run.scored.probabilities
    figures_html = [
        f'<figure><img alt="" src="{data_uri(png_bytes(run.thumbnails[i]))}"><figcaption>true '
        f"{escape(display_name(run.classes[run.labels[i]]))} → {escape(display_name(run.classes[int(p[i].argmax())]))} "
        f"({percent(p[i].max())}) · {escape(public_name(run.names[i], hide_names))}</figcaption></figure>"
        for i in wrong
    ]
    note = '<p class="note">As the model saw them (cropped, resized).</p>'
    return f'{note}<div class="gallery">{"".join(figures_html)}</div>'


def _lists(data: dict, run: ValidationRun, hide_names: bool) -> str:
    out = []
    if data.get("unreadable"):
        rows = [[escape(public_name(u["path"], hide_names)), escape(u["reason"])] for u in data["unreadable"]]
        out += ["<h2>Files that could not be read</h2>", _table(["file", "why"], rows)]
    if data.get("unlabelled_files"):
        rows = [[escape(public_name(name, hide_names))] for name in data["unlabelled_files"]]
        out += ["<h2>Files with no label (not scored)</h2>", _table(["file"], rows)]
    copies = [(n, c) for n, c in zip(run.names, run.copies or [], strict=False) if c]
    if copies:
        rows = [[escape(public_name(n, hide_names)), escape(c)] for n, c in copies]
        out += ["<h2>Copies of training or validation images</h2>", _table(["file", "copy of"], rows)]
    return "\n".join(out)


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "n/a"
    if isinstance(value, float):
        return percent(value)
    return str(value)


def headline_frame(metrics: dict) -> pd.DataFrame:
    return pd.DataFrame(headline_rows(metrics))
