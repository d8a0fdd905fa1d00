"""The work behind `python -m cli.predict`: find the files, read each one as the app reads an upload, assess
them in batches, and write the CSV only when it is complete. cli/predict.py is the command line around it.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from core.decide.assessment import BATCH_SIZE, assess_or_none, shown_outline
from core.io.image_io import UnreadableScanError
from core.io.nifti_io import MAX_DECOMPRESSED_BYTES
from core.io.scan_io import UNEXPECTED_FAILURE_MESSAGE, Scan, load_scan
from core.labels import ERROR
from core.model.inference import Classifier
from core.report.results import ScanResult, is_results_csv, legible_text, scan_result

MEGABYTE = 1024 * 1024
# No reader accepts more than this (a float64 NIfTI at the voxel limit); a larger file is refused before a
# byte of it is read, so a huge file (or a device that never ends) cannot exhaust memory.
MAX_FILE_BYTES = MAX_DECOMPRESSED_BYTES


@dataclass(frozen=True)
class _Pending:
    """A file read and waiting for its batch to be assessed (scan None: it could not be read, see error)."""

    path: str
    scan: Scan | None = None
    picture: np.ndarray | None = None
    error: str = ""


def classify_files(classifier: Classifier, paths: Iterable[Path]) -> Iterator[ScanResult]:
    """Decode and assess files in batches, yielding one ScanResult per file in input order."""
    pending: list[_Pending] = []
    for path in paths:
        pending.append(_read(Path(path)))
        if len(pending) == BATCH_SIZE:
            yield from _assess_batch(classifier, pending)
            pending = []
    yield from _assess_batch(classifier, pending)


def _read(path: Path) -> _Pending:
    try:
        scan = read_scan(path)
        return _Pending(str(path), scan, scan.render())
    except Exception as error:  # the per-file error boundary: one file's failure never ends the batch
        return _Pending(str(path), error=error_message(error))


def read_scan(path: Path) -> Scan:
    """A file, decoded; `render()` gives the picture that gets classified (the one the app shows first)."""
    return load_scan(read_regular_file(path), path.name)


def read_regular_file(path: Path, limit: int | None = None) -> bytes:
    """The bytes of a regular file no larger than `limit` (default MAX_FILE_BYTES). A FIFO would block the
    read until something writes to it, /dev/zero never ends: neither is read, nor a file larger than any
    scan. The checks are on the opened descriptor, so the name cannot be swapped between check and read."""
    limit = MAX_FILE_BYTES if limit is None else limit
    try:
        # O_NONBLOCK: opening a FIFO waits for a writer without it; it changes nothing for a regular file.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        if os.path.islink(path):
            raise UnreadableScanError(
                "This is a link to a file that does not exist (a broken link), so nothing was read."
            ) from None
        raise
    try:
        info = os.fstat(descriptor)
        _check_is_a_file(path, info.st_mode)  # before fdopen, which refuses a folder in its own words
    except BaseException:
        os.close(descriptor)
        raise
    with os.fdopen(descriptor, "rb") as handle:
        if info.st_size > limit:
            raise UnreadableScanError(too_large_file_message(info.st_size, limit))
        data = handle.read(limit + 1)
    if len(data) > limit:  # it grew while being read
        raise UnreadableScanError(too_large_file_message(len(data), limit))
    return data


def _check_is_a_file(path: Path, mode: int) -> None:
    if stat.S_ISDIR(mode):
        if os.path.islink(path):  # expand_paths does not follow links to folders: a loop would never end
            raise UnreadableScanError(
                "This is a link to a folder; links to folders are not followed inside a folder. Name the folder itself."
            )
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    if not stat.S_ISREG(mode):
        what = "a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
        raise UnreadableScanError(f"This is {what}, not a file, so it was not read.")


def too_large_file_message(size: int, limit: int) -> str:
    return (
        f"The file is {size / MEGABYTE:.1f} MB, larger than any scan this tool reads (at most "
        f"{limit / MEGABYTE:.1f} MB), so it was not read."
    )


def error_message(error: Exception) -> str:
    """Why a file has no answer, for the CSV's message column (the path is in its own column)."""
    if isinstance(error, MemoryError):
        return "The file is too large to decode on this machine."
    if isinstance(error, OSError):
        return error.strerror or "The file could not be opened."  # "No such file or directory", ...
    if isinstance(error, UnreadableScanError):
        return str(error)
    return UNEXPECTED_FAILURE_MESSAGE  # an exception's own text is for developers, not for a clinician


def _assess_batch(classifier: Classifier, pending: list[_Pending]) -> list[ScanResult]:
    """One row per file: its answer, or why it has none (unreadable, or it failed on its own)."""
    answers = iter(assess_or_none(classifier, [item.picture for item in pending if item.scan is not None]))
    rows = []
    for item in pending:
        answer = next(answers) if item.scan is not None else None
        if item.scan is None:
            rows.append(ScanResult(item.path, "", ERROR, item.error))
        elif answer is None:
            rows.append(ScanResult(item.path, "", ERROR, UNEXPECTED_FAILURE_MESSAGE))
        else:
            outline = shown_outline(classifier, answer, item.picture, item.scan.pixel_spacing_mm(None))
            rows.append(scan_result(item.path, item.scan, None, answer, outline))
    return rows


def expand_paths(inputs: Iterable[str | Path]) -> list[Path]:
    """Paths as given, folders walked recursively, each folder's entries sorted. Every entry a folder holds
    becomes a row (files, broken links, pipes, links to folders, subfolders that cannot be listed) except
    hidden files (.DS_Store and the like). A path that does not exist becomes an error row, not an exception."""
    paths: list[Path] = []
    for item in map(Path, inputs):
        paths.extend(_walk(item) if item.is_dir() else [item])
    return paths


def _walk(folder: Path) -> list[Path]:
    found: list[Path] = []
    # os.walk lists links to folders with the folders but does not follow them (a link loop would never
    # end); they are reported, like a subfolder it cannot list (onerror), instead of being skipped.
    for root, folders, files in os.walk(folder, onerror=lambda error: found.append(Path(error.filename))):
        found.extend(Path(root, name) for name in folders if os.path.islink(os.path.join(root, name)))
        found.extend(Path(root, name) for name in files if not name.startswith("."))
    return sorted(found)


# ---- the --csv file ------------------------------------------------------------------------------------


class OutputError(Exception):
    """The --csv destination cannot be used; the message says why, in words for the user."""


def check_destination(path: Path, force: bool) -> None:
    """Refuse a destination that is a folder or a special file, or a file this tool did not write (a shell
    glob easily puts a scan there) unless `force`. An empty file is fair game (mktemp makes those)."""
    shown = legible_text(str(path))
    if path.is_dir():
        raise OutputError(
            f"--csv {shown} is a folder; name a file in it, for example {legible_text(str(path / 'results.csv'))}."
        )
    if not path.exists():
        return
    if not path.is_file():
        raise OutputError(f"--csv {shown} is not a regular file (a device, pipe or socket), so nothing was written.")
    if not force and path.stat().st_size > 0 and not is_results_csv(path):
        raise OutputError(
            f"{shown} exists and is not a results CSV written by this tool, so it was left alone. "
            "Name another file, or add --force to replace it."
        )


@contextmanager
def csv_output(path: Path, force: bool = False) -> Iterator[TextIO]:
    """A handle on a temporary file in the destination's folder, renamed over the destination only once
    complete: an interrupted run leaves the earlier CSV intact, and two runs never interleave rows."""
    check_destination(path, force)
    handle = _temporary_beside(path)
    try:
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(handle.name, 0o666 & ~_umask())  # as a file opened for writing would be, not 0600
        os.replace(handle.name, path)
    except OSError as error:
        Path(handle.name).unlink(missing_ok=True)
        raise OutputError(f"cannot write the CSV to {legible_text(str(path))}: {error.strerror or 'failed'}.") from None
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def _temporary_beside(path: Path) -> TextIO:
    parent = path.parent
    if parent.exists() and not parent.is_dir():
        raise OutputError(
            f"cannot write the CSV to {legible_text(str(path))}: {legible_text(str(parent))} is a file, not a folder."
        )
    try:
        parent.mkdir(parents=True, exist_ok=True)
        return tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", newline="", dir=parent, prefix=f".{path.name}.", suffix=".partial", delete=False
        )
    except OSError as error:
        raise OutputError(f"cannot write the CSV to {legible_text(str(path))}: {error.strerror or 'failed'}.") from None


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
