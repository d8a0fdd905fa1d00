"""A printable report of a batch of scans: one self-contained HTML file (images inline as base64 PNG,
styles inline, no scripts, no links to fetch), so it opens, prints and archives anywhere offline. The same
HTML becomes the PDF (core/report/report_pdf.py), so its styles stay within what both a browser and xhtml2pdf draw:
no flex layout, sizes in px.

Every piece of text from outside (file names, messages, the reader's fields) is escaped. Nothing about the
patient is in it from the scans (the app never reads patient fields); the reader's own fields (accession
number, name, comment) are typed for this report and go nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape

from core.io.png import data_uri
from core.labels import display_name, status_text, tumour_probability
from core.report.intervals import percent, plural, rate_of
from core.report.results import ScanResult
from core.run.model_info import ModelInfo

DISCLAIMER = (
    "Assistive use only. This report shows a machine-learning model's output for each image. It is not a "
    "diagnosis; the final diagnosis is the clinician's."
)

_STYLE = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #1d2a33;
       margin: 2em auto; max-width: 60em; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.15em; margin: 0 0 0.4em; }
.meta, .note { color: #4a5a66; font-size: 0.9em; }
.disclaimer { border-left: 4px solid #2f6f8f; background: #eef2f5; padding: 0.6em 0.9em; margin: 1em 0; }
table { border-collapse: collapse; margin: 0.5em 0; } td, th { padding: 0.25em 0.6em; text-align: left; }
table.summary td, table.summary th { border-bottom: 1px solid #d5dde3; }
section.scan { border-top: 2px solid #d5dde3; padding-top: 1em; margin-top: 1.5em; page-break-inside: avoid; }
.verdict { font-size: 1.1em; font-weight: 600; }
.status-uncertain, .status-not_mri, .status-too_small, .status-error { color: #8a4b00; }
figure { display: inline-block; margin: 0 12px 0 0; vertical-align: top; } figure img { width: 280px; }
td.thumb img { width: 48px; height: 48px; }
figcaption { font-size: 0.85em; color: #4a5a66; }
.bar { display: inline-block; height: 0.8em; background: #2f6f8f; vertical-align: middle; }
@page { size: A4; margin: 15mm; }
@media print { body { margin: 0; max-width: none; } section.scan { page-break-inside: avoid; } }
"""


@dataclass(frozen=True)
class ReportEntry:
    result: ScanResult
    image_png: bytes | None = None  # the picture that was classified (with the model's outline, when it draws one)
    overlay_png: bytes | None = None  # Grad-CAM overlay on it
    overlay_caption: str = ""  # e.g. "Grad-CAM, evidence for glioma"
    thumbnail_png: bytes | None = None  # for the summary table, whatever the file's format
    overlay_caveat: str = ""  # said under the map when it is not measured to beat the head-centre baseline
    scope: str = ""  # whether the scan is inside the model's validated scope, in words (core/decide/scope.py)
    image_caption: str = ""  # e.g. the outlined region's area; "Image as classified" when empty


@dataclass(frozen=True)
class ReaderFields:
    """Typed by the reader for this report only: never stored, logged or sent."""

    accession: str = ""
    reader: str = ""
    comment: str = ""

    def __bool__(self) -> bool:
        return any((self.accession.strip(), self.reader.strip(), self.comment.strip()))


def build_report(
    entries: list[ReportEntry],
    classes: list[str],
    model: ModelInfo,
    generated: datetime,
    reader: ReaderFields | None = None,
) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>Brain MRI classifier report</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Brain MRI classifier: report</h1>",
        f'<p class="meta">Generated {escape(generated.strftime("%Y-%m-%d %H:%M %Z").strip())} · '
        f"{plural(len(entries), 'scan')}</p>",
        _reader_block(reader) if reader else "",
        _model_block(model),
        f'<p class="disclaimer">{escape(DISCLAIMER)}</p>',
        _summary_table(entries),
        *(_scan_section(i, entry, classes) for i, entry in enumerate(entries, start=1)),
        "</body></html>",
    ]
    return "\n".join(parts)


def _model_block(model: ModelInfo) -> str:
    accuracy = []  # leak-free first: the full test set shares slices with training
    if model.accuracy_leak_free is not None:
        accuracy.append(
            f"{rate_of(model.accuracy_leak_free, model.leak_free_images)} on held-out test images with no copy in "
            "training"
        )
    if model.accuracy_full is not None:
        accuracy.append(f"{rate_of(model.accuracy_full, model.test_images)} on all held-out test images")
    return (
        f'<p class="meta">Model <b>{escape(model.name)}</b> ({escape(model.architecture)}, '
        f"{model.img_size or '?'} px), version {escape(model.version)}. Classes: "
        f"{escape(', '.join(display_name(c) for c in model.classes))}. Held-out accuracy: "
        f"{escape('; '.join(accuracy) or 'not recorded')}. Weights sha256 "
        f"<code>{escape(model.weights_sha256 or 'not recorded')}</code>.</p>"
    )


def _reader_block(reader: ReaderFields) -> str:
    rows = [
        (label, value.strip())
        for label, value in (("Accession", reader.accession), ("Reader", reader.reader), ("Comment", reader.comment))
        if value.strip()
    ]
    cells = "".join(f"<tr><th>{label}</th><td>{escape(value)}</td></tr>" for label, value in rows)
    return f'<table class="reader">{cells}</table>'


def _summary_table(entries: list[ReportEntry]) -> str:
    rows = "".join(
        f'<tr><td>{i}</td><td class="thumb">{_thumbnail(e)}</td><td>{escape(e.result.name)}'
        + (f" <small>({escape(e.result.view)})</small>" if e.result.view else "")
        + f"</td><td>{escape(_verdict(e.result))}</td><td>{_percent(e.result.confidence)}</td></tr>"
        for i, e in enumerate(entries, start=1)
    )
    return (
        '<table class="summary"><tr><th>#</th><th>Image</th><th>File</th><th>Result</th>'
        f"<th>Confidence</th></tr>{rows}</table>"
    )


def _thumbnail(entry: ReportEntry) -> str:
    return f'<img alt="" src="{data_uri(entry.thumbnail_png)}">' if entry.thumbnail_png else ""


def _scan_section(number: int, entry: ReportEntry, classes: list[str]) -> str:
    result = entry.result
    heading = escape(result.name) + (f" <small>({escape(result.view)})</small>" if result.view else "")
    lines = [
        f'<section class="scan"><h2>{number}. {heading}</h2>',
        f'<p class="verdict status-{escape(result.status)}">{escape(_verdict(result))}</p>',
    ]
    if result.message:
        lines.append(f'<p class="note">{escape(result.message)}</p>')
    if entry.scope:
        lines.append(f'<p class="note">Validated scope: {escape(entry.scope)}</p>')
    pictures = []
    if entry.image_png:
        pictures.append(_figure(entry.image_png, entry.image_caption or "Image as classified"))
    if entry.overlay_png:
        pictures.append(_figure(entry.overlay_png, entry.overlay_caption or "Grad-CAM overlay"))
    if pictures:
        lines.append(f"<div>{''.join(pictures)}</div>")
    if entry.overlay_png and entry.overlay_caveat:
        lines.append(f'<p class="note">{escape(entry.overlay_caveat)}</p>')
    if result.assessment is not None:
        lines.append(_probability_table(result, classes))
    lines.append("</section>")
    return "\n".join(lines)


def _verdict(result: ScanResult) -> str:
    if result.prediction:
        return f"{display_name(result.prediction)} (calibrated confidence {percent(result.confidence)})"
    if result.status == "ok":
        return "classified"
    return f"No class given: {status_text(result.status)}"


def _probability_table(result: ScanResult, classes: list[str]) -> str:
    probabilities = result.assessment.probabilities
    caption = "Per-class probabilities (calibrated)"
    if not result.prediction:
        caption += " — shown for completeness; the model gives no class for this image"
    rows = "".join(
        f"<tr><td>{escape(display_name(name))}</td><td>{percent(probabilities[name])}</td>"
        f'<td><span class="bar" style="width:{probabilities[name] * 160:.0f}px"></span></td></tr>'
        for name in classes
    )
    tumour = tumour_probability(probabilities) if result.prediction else None  # no summary when no answer
    summary = ""
    if tumour is not None:
        summary = f'<p class="note">Any tumour: {percent(tumour)} · no tumour: {percent(1 - tumour)}</p>'
    return f'<p class="note">{escape(caption)}</p><table>{rows}</table>{summary}'


def _figure(png: bytes, caption: str) -> str:
    text = escape(caption)
    return f'<figure><img alt="{text}" src="{data_uri(png)}"><figcaption>{text}</figcaption></figure>'


def _percent(value: float | None) -> str:
    return "" if value is None else percent(value)
