"""Batch prediction: `python -m core.predict PATH [PATH ...] [--weights DIR] [--csv FILE]`.

Files and folders (recursive), read by content like the app reads uploads: images, DICOM (its middle frame)
and NIfTI (its middle axial slice). One CSV row per file; a file that cannot be read is a row with status
`error` and the reason, never a crash. The CSV goes to stdout unless --csv names a file; progress to stderr.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from core.assessment import Assessment, assess
from core.checkpoint import CheckpointError
from core.image_io import UnreadableScanError
from core.inference import DEFAULT_WEIGHTS, Classifier
from core.scan_io import UNEXPECTED_FAILURE_MESSAGE, load_scan

BATCH_SIZE = 32
# Exit statuses, for scripts that run the CLI: whether to trust the CSV as complete.
EXIT_ALL_READ = 0  # every file was read and assessed (assessed: ok, uncertain or not_mri)
EXIT_SOME_FAILED = 1  # some files could not be read; their rows say why
EXIT_NONE_READ = 2  # no file could be read (or none was found), or the command itself was wrong
EXIT_STATUS_HELP = f"""exit status:
  {EXIT_ALL_READ}  every file was read (each row's status is ok, uncertain or not_mri)
  {EXIT_SOME_FAILED}  some files could not be read (their rows have status error and say why)
  {EXIT_NONE_READ}  no file could be read or none was found, or the command line or weights are wrong
"""


@dataclass(frozen=True)
class Result:
    path: str
    status: str  # an Assessment's status, or "error" when the file could not be read
    message: str = ""
    assessment: Assessment | None = None


def classify_files(classifier: Classifier, paths: Iterable[Path]) -> Iterator[Result]:
    """Decode and assess files in batches, yielding one Result per file in input order."""
    pending: list[tuple[str, np.ndarray | None, str]] = []
    for path in paths:
        try:
            pending.append((str(path), read_picture(Path(path)), ""))
        except Exception as error:  # the per-file error boundary: one file's failure never ends the batch
            pending.append((str(path), None, error_message(error)))
        if len(pending) == BATCH_SIZE:
            yield from _assess_batch(classifier, pending)
            pending = []
    yield from _assess_batch(classifier, pending)


def read_picture(path: Path) -> np.ndarray:
    """The picture of a file that gets classified: the one the app shows first (`Scan.default_view`)."""
    return load_scan(path.read_bytes(), path.name).render()


def error_message(error: Exception) -> str:
    """Why a file has no answer, for the CSV's message column (the path is in its own column)."""
    if isinstance(error, MemoryError):
        return "The file is too large to decode on this machine."
    if isinstance(error, OSError):
        return error.strerror or "The file could not be opened."  # "No such file or directory", ...
    if isinstance(error, UnreadableScanError):
        return str(error)
    return UNEXPECTED_FAILURE_MESSAGE  # an exception's own text is for developers, not for a clinician


def _assess_batch(classifier: Classifier, pending: list[tuple[str, np.ndarray | None, str]]) -> list[Result]:
    """Assess a batch at once; if that fails, file by file, so a failure is one file's error row."""
    try:
        return _assess_together(classifier, pending)
    except MemoryError:
        raise
    except Exception:
        if len(pending) == 1:
            path, _, _ = pending[0]
            return [Result(path, "error", UNEXPECTED_FAILURE_MESSAGE)]
        return [result for one in pending for result in _assess_batch(classifier, [one])]


def _assess_together(classifier: Classifier, pending: list[tuple[str, np.ndarray | None, str]]) -> list[Result]:
    assessments = iter(assess(classifier, [gray for _, gray, _ in pending if gray is not None]))
    results = []
    for path, gray, message in pending:
        if gray is None:
            results.append(Result(path, "error", message))
        else:
            assessment = next(assessments)
            results.append(Result(path, assessment.status, assessment.message, assessment))
    return results


def expand_paths(inputs: Iterable[str | Path]) -> list[Path]:
    """Files as given, folders walked recursively (hidden files skipped), each folder's files sorted."""
    files: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            files.extend(sorted(p for p in item.rglob("*") if p.is_file() and not p.name.startswith(".")))
        else:
            files.append(item)  # a missing file becomes an error row, not an exception
    return files


def csv_columns(classes: list[str]) -> list[str]:
    return ["path", "prediction", "confidence", *[f"p_{name}" for name in classes], "status", "message"]


def write_csv(results: Iterable[Result], classes: list[str], handle) -> int:
    """Write rows as results arrive; returns the number of rows."""
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(csv_columns(classes))
    rows = 0
    for result in results:
        assessment = result.assessment
        if assessment is None:
            values = ["", "", *[""] * len(classes)]
        else:
            values = [
                assessment.prediction,
                f"{assessment.confidence:.6f}",
                *[f"{assessment.probabilities[name]:.6f}" for name in classes],
            ]
        writer.writerow([result.path, *values, result.status, result.message])
        rows += 1
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m core.predict",
        description=__doc__.split("\n")[0],
        epilog=EXIT_STATUS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("paths", nargs="+", help="image files or folders (searched recursively)")
    parser.add_argument("--weights", default=str(DEFAULT_WEIGHTS), help="weights folder (default: weights/default)")
    parser.add_argument("--csv", help="write the CSV here instead of stdout")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: CUDA when available)")
    args = parser.parse_args(argv)

    try:
        classifier = Classifier(args.weights, device=args.device)
    except CheckpointError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_NONE_READ
    files = expand_paths(args.paths)
    results = tqdm(classify_files(classifier, files), total=len(files), unit="scan", file=sys.stderr, disable=None)
    tally = Tally(results)
    if args.csv:
        Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
        with open(args.csv, "w", newline="") as handle:
            write_csv(tally, classifier.classes, handle)
    else:
        write_csv(tally, classifier.classes, sys.stdout)
    return tally.exit_code()


class Tally:
    """Counts results as they pass on to the writer, for the exit status."""

    def __init__(self, results: Iterable[Result]):
        self._results = results
        self.read = self.failed = 0

    def __iter__(self) -> Iterator[Result]:
        for result in self._results:
            if result.status == "error":
                self.failed += 1
            else:
                self.read += 1
            yield result

    def exit_code(self) -> int:
        """EXIT_ALL_READ, EXIT_SOME_FAILED, or EXIT_NONE_READ (also when there was no file at all)."""
        if not self.read:
            return EXIT_NONE_READ
        return EXIT_SOME_FAILED if self.failed else EXIT_ALL_READ


if __name__ == "__main__":
    sys.exit(main())
