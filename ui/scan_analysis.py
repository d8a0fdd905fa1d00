"""The UI's link to the model for the scans of a session (uploads and bundled samples): decoded once,
assessed per view, checked against the validated scope, explained and swept on demand.

Results are memoised per session (see ui.session) under keys that include the run's stamp, so switching
models or replacing weights never shows a stale answer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import streamlit as st

from core.decide import assessment as assessment_module  # called through the module so tests can substitute it
from core.decide import scope
from core.decide.assessment import Assessment
from core.decide.outline import Outline, draw_outline
from core.decide.scope import ScanFacts, ScopeCheck, check_scope
from core.decide.slice_sweep import Sweep, sweep
from core.decide.view_alternatives import answer_in_words, changed_answers
from core.io.acquisition import scope_facts
from core.io.dicom_io import Window, auto_window
from core.io.image_io import UnreadableScanError
from core.io.png import data_uri, png_bytes, thumbnail
from core.io.samples import list_samples
from core.io.scan_io import DICOM, NIFTI, UNEXPECTED_FAILURE_MESSAGE, Scan, View, load_scan
from core.io.zip_input import RefusedArchive, ZipContents, is_zip, read_zip
from core.labels import ERROR
from core.model.gradcam import overlay, with_colour_key
from core.report.intervals import percent
from core.report.results import ScanResult, scan_result
from ui import resources
from ui.session import memo

MAX_ZIP_MEMBERS = 2_000  # a ZIP on the Classify page is a study or a series, each file decoded and classified
MEGABYTE = 1024 * 1024  # as Streamlit counts server.maxUploadSize


@dataclass(frozen=True)
class Entry:
    key: str  # unique per upload (Streamlit's file id) or per sample
    name: str
    scan: Scan | None
    error: str = ""
    digest: str = ""  # sha256 of the file's bytes: the same file uploaded twice is flagged, not read as a second scan


def collect(uploads, use_samples: bool) -> list[Entry]:
    """Decode what the user gave (in memory; each file once per session), bundled samples first."""
    sources: list[tuple[str, str, Callable[[], bytes]]] = []
    if use_samples:
        for sample in list_samples():
            sources.append((f"sample:{sample.name}", sample.name, sample.path.read_bytes))
    for upload in uploads or []:
        sources += _upload_sources(upload)
    memo("archives", capacity=64).keep_only(lambda key: key in {f"upload:{u.file_id}" for u in uploads or []})
    decoded = memo("decoded", capacity=10_000)
    decoded.keep_only(lambda key: key in {source[0] for source in sources})  # forget removed files
    missing = [source for source in sources if source[0] not in decoded]
    progress = st.progress(0.0, text="Reading files…") if len(missing) > 2 else None
    with st.spinner("Reading files…") if missing and progress is None else nullcontext():  # volumes take a while
        for done, (key, name, read) in enumerate(missing, start=1):
            decoded.put(key, _decode(key, name, read))
            if progress:
                progress.progress(done / len(missing), text=f"Reading files… {done}/{len(missing)}")
    if progress:
        progress.empty()
    return [decoded.get(key, lambda: None) for key, _, _ in sources]


def _upload_sources(upload) -> list[tuple[str, str, Callable[[], bytes]]]:
    """One source per uploaded file; a ZIP (a series exported from a viewer, say) gives one per member, read in
    memory by core.io.zip_input with its safety checks, once per session."""
    key = f"upload:{upload.file_id}"
    if not is_zip(upload.getvalue()[:4]):  # uploads and PACS files alike hold their bytes in memory
        return [(key, upload.name, upload.getvalue)]
    archive = memo("archives", capacity=64).get(key, lambda: _unzip(upload.getvalue()))
    if isinstance(archive, str):  # refused as a whole: one entry that says why
        return [(key, upload.name, partial(_refuse, archive))]
    members = [(f"{key}|{path}", f"{upload.name}/{path}", partial(_member, data)) for path, data in archive.members]
    members += [
        (f"{key}|{item['path']}", f"{upload.name}/{item['path']}", partial(_refuse, item["reason"]))
        for item in archive.unreadable
    ]
    return members or [(key, upload.name, partial(_refuse, "The ZIP file holds no files."))]


def zip_member_bytes(entry_key: str) -> bytes | None:
    """The bytes of a ZIP member an entry was decoded from (kept in this session's memory), else None."""
    upload_key, _, path = entry_key.partition("|")
    archives = memo("archives", capacity=64)
    archive = archives.get(upload_key, lambda: None) if upload_key in archives else None
    if not isinstance(archive, ZipContents):
        return None
    return next((data for member, data in archive.members if member == path), None)


def _unzip(data: bytes) -> ZipContents | str:
    try:
        contents = read_zip(data, max_members=MAX_ZIP_MEMBERS)
    except RefusedArchive as refused:
        return str(refused)
    # A DICOMDIR is the export's index of its files, not a scan.
    contents.members = [(path, data) for path, data in contents.members if path.rsplit("/", 1)[-1] != "DICOMDIR"]
    return contents


def _member(data: bytes) -> bytes:
    return data


def _refuse(message: str) -> bytes:
    raise UnreadableScanError(message)


def _decode(key: str, name: str, read) -> Entry:
    try:
        data = read()
        # The browser refuses files over the limit, but a client can post to the upload endpoint directly:
        # the server does not decode what the limit is there to keep out.
        if len(data) > upload_limit_bytes():
            return Entry(key, name, None, too_large_message(len(data)))
        return Entry(key, name, load_scan(data, name), digest=hashlib.sha256(data).hexdigest())
    except UnreadableScanError as error:
        return Entry(key, name, None, str(error))
    except MemoryError:
        return Entry(key, name, None, "The file is too large to decode on this server.")
    except Exception:  # the per-file error boundary: one upload's failure never takes the page down
        return Entry(key, name, None, UNEXPECTED_FAILURE_MESSAGE)


def upload_limit_bytes() -> int:
    """The per-file upload limit (`server.maxUploadSize` in .streamlit/config.toml), in bytes."""
    return int(st.get_option("server.maxUploadSize")) * MEGABYTE


def too_large_message(size: int) -> str:
    limit = st.get_option("server.maxUploadSize")
    return (
        f"The file is {size / MEGABYTE:.1f} MB, over this server's limit of {limit} MB per file, so it was not "
        "read. Upload the series in parts, or the slices you need."
    )


# ---- views: which picture of each scan is shown and classified -------------------------------------------


def widget_key(entry_key: str, control: str) -> str:
    return f"{entry_key}|{control}"


def current_view(entry: Entry) -> View:
    """The view the user set for a scan, read from its controls' state (so a table drawn above the controls
    already reflects the latest change), else the one remembered for it, else the scan's default."""
    scan, state = entry.scan, st.session_state
    views = state.setdefault("views", {})
    remembered: View = views.get(entry.key) or scan.default_view()
    view = remembered
    if scan.kind == DICOM:
        frame = int(state.get(widget_key(entry.key, "frame"), remembered.frame + 1)) - 1
        mode = state.get(widget_key(entry.key, "window"))
        window = remembered.window
        if mode == "automatic":
            window = auto_window(scan.dicom.frames)
        elif mode == "from file":
            window = None
        elif mode == "custom" and widget_key(entry.key, "range") in state:
            lower, upper = state[widget_key(entry.key, "range")]
            window = _custom_window(lower, upper)
        view = View(frame=min(max(frame, 0), scan.dicom.frame_count - 1), window=window)
    elif scan.kind == NIFTI:
        plane = state.get(widget_key(entry.key, "plane"), remembered.plane)
        default_index = remembered.index if plane == remembered.plane else scan.volume.middle(plane)
        index = int(state.get(widget_key(entry.key, f"slice:{plane}"), (default_index or 0) + 1)) - 1
        view = View(plane=plane, index=min(max(index, 0), scan.volume.slice_count(plane) - 1))
    views[entry.key] = view
    return view


def _custom_window(lower: float, upper: float) -> Window:
    width = max(float(upper) - float(lower), 1e-6)
    return Window(centre=float(lower) + width / 2, width=width, source="user")


# ---- answers ---------------------------------------------------------------------------------------------


def assessments(run: Path, items: list[tuple[Entry, View]]) -> dict[str, Assessment]:
    """Assess every (entry, view) not yet assessed for this run, in batches, with progress for long jobs."""
    answers = _assess(run, items)
    return {entry.key: answer for (entry, _), answer in zip(items, answers, strict=True)}


def assess_views(run: Path, entry: Entry, views: list[View]) -> list[Assessment | None]:
    """The answers for several pictures of one scan (other windows, neighbouring slices), memoised alike."""
    return _assess(run, [(entry, view) for view in views])


def _assess(run: Path, items: list[tuple[Entry, View]]) -> list[Assessment | None]:
    stamp = resources.stamp(run)
    done = memo("assessments", capacity=5_000)
    pending = [(entry, view) for entry, view in items if (entry.key, view, stamp) not in done]
    if pending:
        classifier = resources.classifier(run)
        bar = st.progress(0.0, text="Classifying…") if len(pending) > assessment_module.BATCH_SIZE else None
        with st.spinner("Classifying…") if bar is None else nullcontext():
            for start in range(0, len(pending), assessment_module.BATCH_SIZE):
                chunk = pending[start : start + assessment_module.BATCH_SIZE]
                for (entry, view), answer in _assess_chunk(classifier, chunk):
                    done.put((entry.key, view, stamp), answer)
                if bar:
                    finished = min(len(pending), start + assessment_module.BATCH_SIZE)
                    bar.progress(finished / len(pending), text=f"Classifying… {finished}/{len(pending)}")
        if bar:
            bar.empty()
    return [done.get((entry.key, view, stamp), lambda: None) for entry, view in items]


def answer_depends_on(run: Path, entry: Entry, view: View, alternatives: list[tuple[str, View]]) -> str:
    """A sentence when other pictures of the scan that a reader could as well have chosen get another answer
    ("" when they agree): told next to the control that chooses the picture."""
    if not alternatives:
        return ""
    current, *others = assess_views(run, entry, [view] + [v for _, v in alternatives])
    if current is None:
        return ""
    answered = [(label, a) for (label, _), a in zip(alternatives, others, strict=True) if a is not None]
    changed = changed_answers(current, answered)
    if not changed:
        return ""
    return "; ".join(f"with {label}: **{answer_in_words(answer)}**" for label, answer in changed)


def scope_check(run: Path, entry: Entry, view: View) -> ScopeCheck:
    """Is this scan like the ones the model was validated on (core.decide.scope), from what its file says."""
    scan = entry.scan
    if scan.kind == DICOM:
        facts = scope_facts(scan.dicom.acquisition, entry.name)  # the tags' plane and sequence (core.io.acquisition)
    elif scan.kind == NIFTI:
        facts = ScanFacts.from_name(scope.NIFTI, entry.name, plane=view.plane, plane_from="the file's orientation")
    else:
        facts = ScanFacts.from_name(scope.PICTURE, entry.name)
    return check_scope(resources.scope_report(run), facts)


def _assess_chunk(classifier, chunk: list[tuple[Entry, View]]) -> list[tuple[tuple[Entry, View], Assessment]]:
    """The chunk's answers, leaving out (unanswered) the pictures that cannot be drawn or assessed."""
    pictures = [_rendered(entry, view) for entry, view in chunk]
    drawn = [item for item, picture in zip(chunk, pictures, strict=True) if picture is not None]
    answers = assessment_module.assess_or_none(classifier, [picture for picture in pictures if picture is not None])
    return [(item, answer) for item, answer in zip(drawn, answers, strict=True) if answer is not None]


def _rendered(entry: Entry, view: View) -> np.ndarray | None:
    try:
        return entry.scan.render(view)
    except MemoryError:
        raise
    except Exception:  # this picture alone goes unanswered; the table says it could not be classified
        return None


def result(run: Path, entry: Entry, view: View | None, answer: Assessment | None) -> ScanResult:
    """One row of the results table: the answer for the scan's current view with its outline's area, or why
    there is none. Kept per view and run for the session: the outline is projected once, not on every rerun."""
    if entry.scan is None:
        return ScanResult(entry.name, "", ERROR, entry.error)
    if answer is None:  # decoded, but this picture of it could not be classified
        return ScanResult(entry.name, "", ERROR, UNEXPECTED_FAILURE_MESSAGE)
    return memo("result_rows", capacity=5_000).get(
        (entry.key, view, resources.stamp(run)),
        lambda: scan_result(
            entry.name, entry.scan, view, answer, outline(run, entry, view or entry.scan.default_view(), answer)
        ),
    )


def heatmap(run: Path, entry: Entry, view: View, method: str, target: int) -> np.ndarray:
    """Grad-CAM evidence for class `target` on the shown picture's pixels, inside the head.

    Computed once per scan, view, run, method and target, and kept for the session: changing the opacity
    only blends again. Per session (not st.cache_data, which every session shares) so one user's scans are
    never kept where another's requests could reach them."""
    stamp = resources.stamp(run)

    def compute() -> np.ndarray:
        return resources.explainer(run).explain(entry.scan.render(view), target, method)

    return memo("heatmaps", capacity=64).get((entry.key, view, stamp, method, target), compute)


def overlay_png(run: Path, entry: Entry, view: View, method: str, target: int, opacity: float) -> bytes:
    """The overlay with its colour key, as a PNG, kept for the session like the map: a rerun for another
    control re-encodes nothing."""

    def compute() -> bytes:
        picture = overlay(entry.scan.render(view), heatmap(run, entry, view, method, target), opacity)
        return png_bytes(with_colour_key(picture, opacity))

    key = (entry.key, view, resources.stamp(run), method, target, opacity)
    return memo("overlays", capacity=16).get(key, compute)


def outline(run: Path, entry: Entry, view: View, answer: Assessment) -> Outline | None:
    """The mask head's outline on the shown picture (core.decide.assessment.shown_outline)."""
    if not assessment_module.shows_outline(answer):  # no picture rendered for nothing (a series redraws every slice)
        return None
    picture, spacing = entry.scan.render(view), entry.scan.pixel_spacing_mm(view)
    return assessment_module.shown_outline(resources.classifier(run), answer, picture, spacing)


def outlined_png(entry: Entry, view: View, drawn: Outline) -> bytes:
    """The picture with the outline drawn on it, as a PNG, encoded once per view and outline for the session."""
    key = (entry.key, view, drawn.pixels, len(drawn.contours))
    return memo("outlines", capacity=16).get(key, lambda: png_bytes(draw_outline(entry.scan.render(view), drawn)))


def picture_png(entry: Entry, view: View) -> bytes:
    """The picture as classified, as a PNG, encoded once per view for the session."""
    return memo("pictures", capacity=16).get((entry.key, view), lambda: png_bytes(entry.scan.render(view)))


def thumbnail_uri(entry: Entry, view: View) -> str | None:
    if entry.scan is None:
        return None
    return memo("thumbnails", capacity=2_000).get(
        (entry.key, view), lambda: data_uri(png_bytes(thumbnail(entry.scan.render(view), 72)))
    )


def stored_sweep(run: Path, entry: Entry, plane: str) -> Sweep | None:
    key = (entry.key, plane, resources.stamp(run))
    sweeps = memo("sweeps", capacity=16)
    return sweeps.get(key, lambda: None) if key in sweeps else None


def run_sweep(run: Path, entry: Entry, plane: str) -> Sweep:
    bar = st.progress(0.0, text=f"Classifying every {plane} slice…")
    result = sweep(
        resources.classifier(run),
        entry.scan.volume,
        plane,
        progress=lambda fraction: bar.progress(fraction, text=f"Classifying every {plane} slice… {percent(fraction)}"),
    )
    bar.empty()
    memo("sweeps", capacity=16).put((entry.key, plane, resources.stamp(run)), result)
    return result
