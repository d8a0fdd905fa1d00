"""Score a trained model on any labelled folder, with the test report's own metrics.

  python -m train.evaluate --weights weights/default --data ../shared/data/radiopaedia-mri --name radiopaedia
  python -m train.evaluate --weights weights/default --data scans/ --labels labels.csv --map "Tumour A=glioma"

With --labels, a CSV (file,label and optionally sequence, plane, site) labels the files under --data, which
are scored exactly as the Validate page scores them (core.report.validation).

The folder has class subfolders (or Training/ and Testing/ with class subfolders); spellings such as
`no_tumor`, `Normal` or `glioma_tumor` map to the model's classes, and a folder that maps to none is listed,
not scored. Before scoring, every image is checked against the run's training and validation images
(sha256 and near hash, from `split_manifest.csv`): public datasets copy each other, and a score on copies
of training images says nothing about new scans. Results are given for all images and for the clean
subset, overall and per source, sequence and plane where file names state them, and written to
`WEIGHTS/external/NAME/` (metrics.json, predictions.csv, misclassified.npz), which the Evaluation page shows.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import re
import sys
from pathlib import Path

import numpy as np

from core.labels import canonical_label
from core.model.checkpoint import write_json_atomic
from core.model.inference import Classifier
from core.report.labelled_set import LabelsError, from_csv, read_labels_csv
from core.report.scoring import score_images
from core.report.validation import THUMBNAIL_SIDE, ValidationRun, metrics_document, run_metrics, score_set
from core.run.run_folder import RunFolder
from core.run.training_copies import TrainingCopies
from train.dataset import IndexedFile, Source, decode_files, index_folder
from train.report import EXTERNAL_THUMBNAIL_SIZE, image_attributes, write_misclassified, write_predictions

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def parse_external(value: str) -> tuple[str, Path]:
    """'NAME=DIR' (or 'DIR', named after the folder) -> (name, folder), refusing names unsafe as a folder."""
    name, separator, folder = value.partition("=")
    if not separator:
        name, folder = Path(value).resolve().name, value
    if not _NAME.match(name):
        raise SystemExit(f"--external: {name!r} is not a usable name (letters, digits, '.', '_' and '-')")
    return name, Path(folder)


def evaluate_folder(
    weights_dir: str | Path, folder: str | Path, name: str, workers: int | None = None, device: str | None = None
) -> dict:
    """Score `folder`, write WEIGHTS/external/NAME/, and return its metrics."""
    weights_dir, folder = Path(weights_dir), Path(folder)
    classifier = Classifier(weights_dir, device=device)
    folder_classes, files = index_folder(folder)
    mapping = {label: canonical_label(label, classifier.classes) for label in folder_classes}
    unmapped = sorted(label for label, mapped in mapping.items() if mapped is None)
    source = Source(name, folder)
    files = [dataclasses.replace(f, source=name) for f in files if mapping[f.label]]
    data = decode_files([source], folder_classes, files, classifier.preprocessing, workers=workers)
    labels = np.array([classifier.classes.index(mapping[f.label]) for f in data.files], dtype=np.int64)

    manifest = RunFolder(weights_dir).manifest
    copies = (
        TrainingCopies(manifest).matches(data.sha256, data.dhash, data.dhash_mirrored)
        if manifest.is_file()
        else [""] * len(data.files)
    )
    clean = np.array([not match for match in copies], dtype=bool)
    scored = score_images(classifier, data.images, data.statistics, data.picture_status)
    attributes = image_attributes(data.files)
    metrics = metrics_document(
        classifier,
        name,
        labels,
        scored,
        attributes,
        copies if manifest.is_file() else None,
        {
            "folder": folder.name,
            "label_mapping": {label: mapped for label, mapped in mapping.items() if mapped},
            "unmapped_labels": unmapped,
            "unreadable": data.unreadable,
            "copies_checked": manifest.is_file(),
        },
    )
    out = RunFolder(weights_dir).external(name)
    out.path.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out.metrics, metrics)
    write_predictions(
        out.predictions,
        data.files,
        labels,
        scored,
        classifier.classes,
        {"clean": clean.astype(int)},
    )
    write_misclassified(
        out.misclassified,
        data.files,
        data.images,
        labels,
        scored,
        classifier.classes,
        EXTERNAL_THUMBNAIL_SIZE,
    )
    _write_copies(out.training_copies, data.files, copies)
    return metrics


def evaluate_labelled(
    weights_dir: str | Path,
    folder: str | Path,
    labels_csv: str | Path,
    name: str,
    device: str | None = None,
    extra_mapping: dict[str, str] | None = None,
) -> dict:
    """The CSV form: files under `folder` labelled by `labels_csv` (file,label[,sequence,plane,site]; file is
    a path relative to `folder`, a file name, or a DICOM SOPInstanceUID), scored exactly as the Validate page
    scores them (core.report.validation), written to WEIGHTS/external/NAME/ like a folder. `extra_mapping` maps labels
    no known spelling covers ({"Tumour A": "glioma"}), as the page's choices do; other such labels are listed."""
    weights_dir, folder, labels_csv = Path(weights_dir), Path(folder), Path(labels_csv)
    classifier = Classifier(weights_dir, device=device)
    rows = read_labels_csv(labels_csv.read_bytes())
    files = [
        (path.relative_to(folder).as_posix(), path.read_bytes())
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.resolve() != labels_csv.resolve() and not path.name.startswith(".")
    ]
    labelled = from_csv(files, rows)
    mapping = {f.label: canonical_label(f.label, classifier.classes) for f in labelled.files}
    for label, target in (extra_mapping or {}).items():
        if target not in classifier.classes:
            raise ValueError(f"--map {label}={target}: the model's classes are {', '.join(classifier.classes)}")
        if label in mapping:
            mapping[label] = target
    manifest = RunFolder(weights_dir).manifest
    copies = TrainingCopies(manifest) if manifest.is_file() else None
    run = score_set(classifier, labelled.files, mapping, copies)
    metrics = run_metrics(
        classifier,
        run,
        name,
        {
            "folder": folder.name,
            "labels_file": labels_csv.name,
            "label_mapping": {label: mapped for label, mapped in mapping.items() if mapped},
            "unmapped_labels": sorted(label for label, mapped in mapping.items() if mapped is None),
            "unlabelled_files": labelled.unlabelled,
            "rows_naming_no_file": labelled.unmatched_rows,
        },
    )
    _write_run(RunFolder(weights_dir).external(name), metrics, run, name)
    return metrics


def _write_run(out: RunFolder, metrics: dict, run: ValidationRun, name: str) -> None:
    out.path.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out.metrics, metrics)
    files = [IndexedFile(Path(path), path, "", "", name) for path in run.names]
    write_predictions(out.predictions, files, run.labels, run.scored, run.classes, {"clean": run.clean})
    wrong = run.misclassified
    thumbnails = (
        np.stack([run.thumbnails[i] for i in wrong]) if wrong else np.zeros((0, THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    )
    write_misclassified(
        out.misclassified,
        [files[i] for i in wrong],
        thumbnails.astype(np.uint8),
        run.labels[wrong],
        run.scored[wrong],
        run.classes,
    )
    _write_copies(out.training_copies, files, run.copies or [""] * len(files))


def _write_copies(path: Path, files, copies: list[str]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["path", "copy_of"])
        writer.writerows([f.relative, match] for f, match in zip(files, copies, strict=True) if match)


def summary_line(metrics: dict) -> str:
    every, clean, contamination = metrics["all"], metrics["clean"], metrics["contamination"]
    parts = [
        f"{metrics['name']}: {every['n']} images, accuracy {_percent(every['accuracy'])}; "
        f"{contamination['exact_copies']} exact and {contamination['near_copies']} near copies of training images; "
        f"clean {clean['n']}: accuracy {_percent(clean['accuracy'])}, answered but wrong "
        f"{_percent(clean['outcomes']['answered_wrong_share'])}, refused as not MRI "
        f"{_percent(clean['outcomes']['not_mri_share'])}"
    ]
    for sequence, values in clean.get("breakdown", {}).get("sequence", {}).items():
        parts.append(f"  {sequence}: accuracy {_percent(values['accuracy'])} on {values['n']}")
    return "\n".join(parts)


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("--weights", required=True, help="a weights folder written by python -m train")
    parser.add_argument("--data", required=True, help="a labelled folder: class subfolders (or files, with --labels)")
    parser.add_argument(
        "--labels",
        help="a CSV of labels (columns file,label; optional sequence, plane, site): files relative to --data",
    )
    parser.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="LABEL=CLASS",
        help="with --labels: a label no known spelling covers, and the model's class it means (repeatable)",
    )
    parser.add_argument("--name", help="what to call it (default: the folder's name)")
    parser.add_argument("--workers", type=int, help="decoding processes (default: all cores)")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: CUDA when available)")
    args = parser.parse_args(argv)
    name, folder = parse_external(f"{args.name}={args.data}" if args.name else args.data)
    try:
        if args.labels:
            extra = dict(item.rsplit("=", 1) for item in args.map if "=" in item)
            metrics = evaluate_labelled(args.weights, folder, args.labels, name, args.device, extra)
        else:
            metrics = evaluate_folder(args.weights, folder, name, args.workers, args.device)
    except (FileNotFoundError, ValueError, LabelsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(summary_line(metrics))
    print(f"written to {RunFolder(args.weights).external(name).path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
