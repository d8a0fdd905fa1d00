"""Batch prediction: `python -m core.predict PATH [PATH ...] [--weights DIR] [--csv FILE]`.

Files and folders (recursive). One CSV row per file; a file that cannot be read is a row with status
`error` and the reason, never a crash. The CSV goes to stdout unless --csv names a file; progress to stderr.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from core.checkpoint import CheckpointError
from core.image_io import UnreadableScanError, read_image
from core.inference import DEFAULT_WEIGHTS, Classifier

BATCH_SIZE = 32


@dataclass
class Result:
    path: str
    status: str  # "ok" or "error"
    message: str = ""
    probabilities: dict[str, float] = field(default_factory=dict)

    @property
    def prediction(self) -> str:
        return max(self.probabilities, key=self.probabilities.get) if self.probabilities else ""

    @property
    def confidence(self) -> float | None:
        return max(self.probabilities.values()) if self.probabilities else None


def classify_files(classifier: Classifier, paths: Iterable[Path]) -> Iterator[Result]:
    """Decode and classify files in batches, yielding one Result per file in input order."""
    pending: list[tuple[str, np.ndarray | None, str]] = []
    for path in paths:
        try:
            pending.append((str(path), classifier.prepare(read_image(path)), ""))
        except (UnreadableScanError, OSError, ValueError) as error:
            pending.append((str(path), None, str(error) or type(error).__name__))
        if len(pending) == BATCH_SIZE:
            yield from _classify_batch(classifier, pending)
            pending = []
    yield from _classify_batch(classifier, pending)


def _classify_batch(classifier: Classifier, pending: list[tuple[str, np.ndarray | None, str]]) -> list[Result]:
    readable = [image for _, image, _ in pending if image is not None]
    probabilities = iter(classifier.probabilities(np.stack(readable)) if readable else [])
    results = []
    for path, image, message in pending:
        if image is None:
            results.append(Result(path, "error", message))
        else:
            p = next(probabilities)
            results.append(Result(path, "ok", "", dict(zip(classifier.classes, map(float, p), strict=True))))
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
        probabilities = [f"{result.probabilities[name]:.6f}" if result.probabilities else "" for name in classes]
        confidence = "" if result.confidence is None else f"{result.confidence:.6f}"
        writer.writerow([result.path, result.prediction, confidence, *probabilities, result.status, result.message])
        rows += 1
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.predict", description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="+", help="image files or folders (searched recursively)")
    parser.add_argument("--weights", default=str(DEFAULT_WEIGHTS), help="weights folder (default: weights/default)")
    parser.add_argument("--csv", help="write the CSV here instead of stdout")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: CUDA when available)")
    args = parser.parse_args(argv)

    try:
        classifier = Classifier(args.weights, device=args.device)
    except CheckpointError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    files = expand_paths(args.paths)
    results = tqdm(classify_files(classifier, files), total=len(files), unit="scan", file=sys.stderr, disable=None)
    if args.csv:
        Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
        with open(args.csv, "w", newline="") as handle:
            write_csv(results, classifier.classes, handle)
    else:
        write_csv(results, classifier.classes, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
