"""The held-out evaluation of a run, from the report the training module wrote next to its weights.

`load_report` reads what is there (metadata.json, metrics.json, predictions.csv, history.csv,
misclassified.npz) and notes what is missing, so a dashboard can show every section it has data for.
Curves (ROC, precision-recall, risk-coverage) are computed here from predictions.csv, whose probabilities
are the calibrated ones the app shows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from core.model.checkpoint import CheckpointError, read_metadata
from core.report.intervals import Interval, bootstrap_auc, interval_of
from core.run.model_info import is_training_source
from core.run.run_folder import RunFolder

SUBSETS = {"full": "Full test set", "leak_free": "Leak-free test subset"}


@dataclass(frozen=True)
class Misclassified:
    """The misclassified test images as the model saw them (uint8 thumbnails), with labels."""

    images: np.ndarray
    paths: list[str]
    true: list[str]
    predicted: list[str]
    confidence: np.ndarray

    def __len__(self) -> int:
        return len(self.paths)


@dataclass(frozen=True)
class Curve:
    x: np.ndarray
    y: np.ndarray
    area: float | None  # AUC for ROC, average precision for precision-recall; None without positives
    interval: Interval | None = None  # ROC: the AUC's 95 % bootstrap interval


@dataclass(frozen=True)
class External:
    """One labelled folder scored after training (`python -m train.evaluate`), from WEIGHTS/external/NAME/."""

    name: str
    metrics: dict
    predictions: pd.DataFrame | None = None
    misclassified: Misclassified | None = None


@dataclass(frozen=True)
class RunReport:
    path: Path
    metadata: dict
    metrics: dict | None = None
    predictions: pd.DataFrame | None = None
    history: pd.DataFrame | None = None
    misclassified: Misclassified | None = None
    problems: list[str] = field(default_factory=list)  # artifacts missing or unreadable, in words
    externals: list[External] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def classes(self) -> list[str]:
        return list(self.metadata.get("classes") or (self.metrics or {}).get("model", {}).get("classes", []))

    def test(self, subset: str) -> dict | None:
        """metrics.json's test metrics for a subset ("full" or "leak_free"); None when absent or empty."""
        values = ((self.metrics or {}).get("test") or {}).get(subset)
        return values if values and values.get("n") else None


def load_report(path: str | Path) -> RunReport:
    """Read a run's report. Only metadata.json is required; anything else missing becomes a problem note."""
    path = Path(path)
    try:
        metadata = read_metadata(path)
    except CheckpointError as error:
        raise CheckpointError(f"{path.name}: {error}") from error
    problems: list[str] = []
    folder = RunFolder(path)
    metrics = _read(folder.metrics, lambda p: json.loads(p.read_text()), problems)
    predictions = _read(folder.predictions, pd.read_csv, problems)
    history = _read(folder.history, pd.read_csv, problems)
    misclassified = _read(folder.misclassified, _read_misclassified, problems)
    return RunReport(
        path, metadata, metrics, predictions, history, misclassified, problems, _read_externals(path, problems)
    )


def _read_externals(path: Path, problems: list[str]) -> list[External]:
    externals = []
    for folder in RunFolder(path).externals():
        metrics = _read(folder.metrics, lambda p: json.loads(p.read_text()), problems)
        if metrics is None:
            continue
        predictions = _read(folder.predictions, pd.read_csv, problems)
        misclassified = _read(folder.misclassified, _read_misclassified, problems)
        externals.append(External(folder.path.name, metrics, predictions, misclassified))
    return externals


def _read(path: Path, reader, problems: list[str]):
    if not path.is_file():
        problems.append(f"{path.name} is missing")
        return None
    try:
        return reader(path)
    except Exception as error:  # a damaged artifact hides its section, never the page
        problems.append(f"{path.name} could not be read ({type(error).__name__}: {error})")
        return None


def _read_misclassified(path: Path) -> Misclassified:
    with np.load(path, allow_pickle=False) as archive:
        return Misclassified(
            images=archive["images"],
            paths=[str(p) for p in archive["paths"]],
            true=[str(t) for t in archive["true"]],
            predicted=[str(p) for p in archive["predicted"]],
            confidence=archive["confidence"].astype(np.float32),
        )


def subset(predictions: pd.DataFrame, name: str) -> pd.DataFrame:
    """The rows of predictions.csv in a test subset."""
    if name == "full":
        return predictions
    if name == "leak_free":
        return predictions[predictions["leak_free"].astype(int) == 1]
    raise ValueError(f"unknown subset {name!r}; choose from {', '.join(SUBSETS)}")


def probability_matrix(predictions: pd.DataFrame, classes: list[str]) -> np.ndarray:
    return predictions[[f"p_{name}" for name in classes]].to_numpy(dtype=np.float64)


def true_indices(predictions: pd.DataFrame, classes: list[str]) -> np.ndarray:
    lookup = {name: i for i, name in enumerate(classes)}
    return predictions["true"].map(lookup).to_numpy()


def roc_curves(predictions: pd.DataFrame, classes: list[str]) -> dict[str, Curve]:
    """One-vs-rest ROC curve per class (false positive rate, true positive rate) with its AUC."""
    # Imported here: scikit-learn takes about a second to import, and the Classify page, which reads this
    # module for the run's classes, must not make a fresh server's first verdict wait for it.
    from sklearn.metrics import auc, roc_curve

    probabilities, labels = probability_matrix(predictions, classes), true_indices(predictions, classes)
    curves = {}
    for i, name in enumerate(classes):
        positive = labels == i
        if positive.all() or not positive.any():
            curves[name] = Curve(np.array([0.0, 1.0]), np.array([0.0, 1.0]), None)
            continue
        fpr, tpr, _ = roc_curve(positive, probabilities[:, i])
        curves[name] = Curve(fpr, tpr, float(auc(fpr, tpr)), bootstrap_auc(positive, probabilities[:, i]))
    return curves


def precision_recall_curves(predictions: pd.DataFrame, classes: list[str]) -> dict[str, Curve]:
    """One-vs-rest precision-recall curve per class (x: recall, y: precision) with average precision."""
    from sklearn.metrics import average_precision_score, precision_recall_curve  # see roc_curves

    probabilities, labels = probability_matrix(predictions, classes), true_indices(predictions, classes)
    curves = {}
    for i, name in enumerate(classes):
        positive = labels == i
        if not positive.any():
            curves[name] = Curve(np.array([0.0, 1.0]), np.array([0.0, 0.0]), None)
            continue
        precision, recall, _ = precision_recall_curve(positive, probabilities[:, i])
        curves[name] = Curve(recall, precision, float(average_precision_score(positive, probabilities[:, i])))
    return curves


def risk_coverage(predictions: pd.DataFrame) -> Curve:
    """Selective classification by confidence: answer only the most confident fraction (coverage) of the
    test images and count the errors among those answered (risk). The area is the mean risk (AURC)."""
    confidence = predictions["confidence"].to_numpy(dtype=np.float64)
    wrong = (predictions["prediction"] != predictions["true"]).to_numpy()
    if not len(confidence):
        return Curve(np.zeros(0), np.zeros(0), None)
    order = np.argsort(-confidence, kind="stable")
    answered = np.arange(1, len(order) + 1)
    risk = np.cumsum(wrong[order]) / answered
    return Curve(answered / len(order), risk, float(risk.mean()))


def confusion_counts(predictions: pd.DataFrame, classes: list[str]) -> np.ndarray:
    """Rows: true class; columns: predicted class."""
    lookup = {name: i for i, name in enumerate(classes)}
    counts = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for true, predicted in zip(predictions["true"], predictions["prediction"], strict=True):
        counts[lookup[true], lookup[predicted]] += 1
    return counts


def row_normalised(counts: np.ndarray) -> np.ndarray:
    """Each true class's row as fractions (its recall on the diagonal); empty rows stay zero."""
    counts = np.asarray(counts, dtype=np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def headline(test_metrics: dict | None) -> dict[str, float | None]:
    """The three numbers a reader looks at first."""
    test_metrics = test_metrics or {}
    return {
        "accuracy": test_metrics.get("accuracy"),
        "balanced_accuracy": test_metrics.get("balanced_accuracy"),
        "macro_f1": (test_metrics.get("macro") or {}).get("f1"),
    }


def per_class_table(test_metrics: dict) -> pd.DataFrame:
    rows = [
        {
            "class": name,
            "precision": values.get("precision"),
            "recall": values.get("recall"),
            "f1": values.get("f1"),
            "roc_auc": values.get("roc_auc"),
            "support": values.get("support"),
        }
        for name, values in (test_metrics.get("per_class") or {}).items()
    ]
    return pd.DataFrame(rows)


def reliability_table(bins: list[dict]) -> pd.DataFrame:
    """Reliability bins that hold test images: mean confidence vs accuracy, with the count."""
    table = pd.DataFrame(bins or [], columns=["lower", "upper", "count", "confidence", "accuracy"])
    return table[table["count"] > 0].reset_index(drop=True)


def misclassified_in(report: RunReport, subset_name: str) -> list[int]:
    """Indices into run.misclassified for a test subset (leak-free membership comes from predictions.csv)."""
    if report.misclassified is None:
        return []
    indices = list(range(len(report.misclassified)))
    if subset_name == "full" or report.predictions is None:
        return indices
    clean = set(image_keys(subset(report.predictions, subset_name)))
    return [i for i in indices if report.misclassified.paths[i] in clean]


def image_keys(predictions: pd.DataFrame) -> list[str]:
    """How misclassified.npz names an image: SOURCE/PATH (reports written before sources: PATH)."""
    if "source" not in predictions:
        return predictions["path"].astype(str).tolist()
    return (predictions["source"].astype(str) + "/" + predictions["path"].astype(str)).tolist()


HELD_OUT_SHARE = "held-out share of a training source"
NEVER_TRAINED_ON = "source never trained on"


def training_sources(report: RunReport) -> list[str]:
    """The folders the run trained on, as its report names them."""
    data = (report.metrics or {}).get("data") or {}
    return list(data.get("sources") or ([data["root"]] if data.get("root") else []))


def external_kind(external: External, sources: list[str]) -> str:
    """What an external set is: the images of a training source that training did not use (the same images
    as that source's test share), or a source the model never saw. Only the second is independent."""
    return HELD_OUT_SHARE if is_training_source(external.metrics, sources) else NEVER_TRAINED_ON


def measured_on(report: RunReport) -> pd.DataFrame:
    """Every set this run was scored on, one row each, leak-free first: its test subsets, each source's share
    of them, and every external folder on the images that are not copies of training images. An external
    folder of a training source is named as its held-out share; only a source never trained on also gets
    its "every image" row, since for a training source that row is mostly the training images themselves."""
    rows = []
    for subset_name in ("leak_free", "full"):
        test = report.test(subset_name)
        if not test:
            continue
        label = SUBSETS[subset_name]
        rows.append(_measured_row(label, "held-out test", test))
        for source, values in (test.get("breakdown") or {}).get("source", {}).items():
            rows.append(_measured_row(f"{label}: {source}", "held-out test", values))
    sources = training_sources(report)
    for external in report.externals:
        kind = external_kind(external, sources)
        contamination = external.metrics.get("contamination") or {}
        clean = external.metrics.get("clean")
        if clean and clean.get("n"):
            name = (
                f"{external.name} (held-out share: not used in training)"
                if kind == HELD_OUT_SHARE
                else (f"{external.name} (not copies of training images)")
            )
            rows.append(_measured_row(name, kind, clean))
        everything = external.metrics.get("all")
        copies = contamination.get("exact_copies", 0) + contamination.get("near_copies", 0)
        if kind == NEVER_TRAINED_ON and everything and everything.get("n") and copies:
            rows.append(_measured_row(f"{external.name} (every image, copies included)", kind, everything))
            rows[-1]["note"] = (
                f"{contamination['exact_copies']} exact and {contamination['near_copies']} near copies of "
                "training or validation images"
            )
    return _without_unmeasured(pd.DataFrame(rows))


def _without_unmeasured(table: pd.DataFrame) -> pd.DataFrame:
    """Drop the outline column for a network that draws none (it would be a column of blanks)."""
    column = "no tumour, region outlined"
    if column in table and table[column].isna().all():
        return table.drop(columns=[column])
    return table


def _measured_row(name: str, kind: str, metrics: dict) -> dict:
    outcomes = metrics.get("outcomes") or {}
    return {
        "set": name,
        "kind": kind,
        "images": metrics.get("n"),
        "accuracy": metrics.get("accuracy"),
        "accuracy interval": interval_of(metrics.get("accuracy"), metrics.get("n")),
        "balanced accuracy": metrics.get("balanced_accuracy"),
        "tumour found": outcomes.get("tumour_sensitivity"),
        "answered": outcomes["answered"] / outcomes["n"] if outcomes.get("n") and "answered" in outcomes else None,
        "answered but wrong": outcomes.get("answered_wrong_share"),
        "refused as not MRI": outcomes.get("not_mri_share"),
        # A network with a mask head: no-tumour slices on which it still outlines a region.
        "no tumour, region outlined": outcomes.get("no_tumour_with_region_share"),
        "note": "",
    }


STEP_PARTS = {"batch": "drawing the batch", "forward": "forward", "backward": "backward", "optimizer": "optimiser"}


def step_time_split(history: pd.DataFrame | None) -> dict[str, float]:
    """Each part's mean share of a training step over the run's epochs (history.csv's share_* columns); empty
    for runs trained before they were recorded."""
    columns = [f"share_{part}" for part in STEP_PARTS]
    if history is None or not set(columns) <= set(history.columns):
        return {}
    return {name: float(history[f"share_{part}"].mean()) for part, name in STEP_PARTS.items()}


def breakdown_table(metrics: dict, attribute: str) -> pd.DataFrame:
    """One row per value of `attribute` (sequence, plane, source) in a metrics section's breakdown."""
    table = pd.DataFrame(
        [
            _measured_row(value, attribute, values) | {"set": value}
            for value, values in ((metrics or {}).get("breakdown") or {}).get(attribute, {}).items()
        ]
    ).drop(columns=["kind", "note"], errors="ignore")
    return _without_unmeasured(table)


def recipe(metadata: dict) -> dict[str, object]:
    """How the run was trained, from its metadata (the training command's arguments and outcome)."""
    training = metadata.get("training") or {}
    args = training.get("args") or {}
    preprocessing = metadata.get("preprocessing") or {}
    return {
        "architecture": metadata.get("architecture"),
        "ImageNet initialisation": args.get("pretrained"),
        "input size (px)": preprocessing.get("img_size"),
        "crop to head": preprocessing.get("crop_to_head"),
        "epochs (max / run / best)": _join(args.get("epochs"), training.get("epochs_run"), training.get("best_epoch")),
        "batch size": args.get("batch_size"),
        "peak learning rate": args.get("lr"),
        "weight decay": args.get("weight_decay"),
        "label smoothing": args.get("label_smoothing"),
        "early-stopping patience": args.get("patience"),
        "sources repeated per epoch": ", ".join(f"{name} × {k}" for name, k in args.get("repeat") or []) or None,
        "validation fraction": args.get("val_fraction"),
        "seed": args.get("seed"),
        "calibration temperature": (metadata.get("calibration") or {}).get("temperature"),
        "trained on": training.get("device"),
        "training time (s)": training.get("total_seconds"),
        "command": training.get("command"),
    }


def comparison(reports: list[RunReport]) -> pd.DataFrame:
    """Headline metrics of several runs side by side: one row per metric and subset, one column per run."""
    rows = []
    for subset_name, label in SUBSETS.items():
        for metric, reader in (
            ("images", lambda m: m.get("n")),
            ("accuracy", lambda m: m.get("accuracy")),
            ("balanced accuracy", lambda m: m.get("balanced_accuracy")),
            ("macro F1", lambda m: (m.get("macro") or {}).get("f1")),
            ("macro ROC AUC", lambda m: (m.get("macro") or {}).get("roc_auc")),
            ("ECE (calibrated)", lambda m: m.get("ece")),
            ("ECE (uncalibrated)", lambda m: m.get("ece_uncalibrated")),
        ):
            row = {"subset": label, "metric": metric}
            for report in reports:
                values = report.test(subset_name)
                row[report.name] = reader(values) if values else None
            rows.append(row)
    return pd.DataFrame(rows)


def same_test_data(reports: list[RunReport]) -> bool:
    """Whether the runs were scored on the same data and splits (same manifest hash)."""
    hashes = {(report.metadata.get("data") or {}).get("manifest_sha256") for report in reports}
    return len(hashes) == 1 and None not in hashes


def _join(*values) -> str | None:
    if all(value is None for value in values):
        return None
    return " / ".join("–" if value is None else str(value) for value in values)
