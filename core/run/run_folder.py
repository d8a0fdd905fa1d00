"""The layout of a run folder: every file `python -m train` writes beside the weights, and that the app, the
scoring commands and the benchmarks read, named in this one place.

  weights/default/
    model.safetensors, metadata.json      the weights and what they are (core/model/checkpoint.py)
    ood.safetensors                       the "not a brain MRI" gate (core/model/ood.py)
    metrics.json, predictions.csv,        the held-out report (train/report.py)
    history.csv, misclassified.npz
    split_manifest.csv                    every image, its split and hashes (train/split_data.py)
    localisation.json, localisation_examples.npz   where the explanations point (train/localisation.py)
    external/NAME/                        another source scored after training (train/evaluate.py): its own
                                          metrics.json, predictions.csv, misclassified.npz, training_copies.csv

This module imports nothing heavy: the command line's `--help` and the app's first screen read it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

WEIGHTS_FILE = "model.safetensors"
METADATA_FILE = "metadata.json"
GATE_FILE = "ood.safetensors"
METRICS_FILE = "metrics.json"
PREDICTIONS_FILE = "predictions.csv"
HISTORY_FILE = "history.csv"
MANIFEST_FILE = "split_manifest.csv"
MISCLASSIFIED_FILE = "misclassified.npz"
LOCALISATION_FILE = "localisation.json"
LOCALISATION_EXAMPLES_FILE = "localisation_examples.npz"
TRAINING_COPIES_FILE = "training_copies.csv"
EXTERNAL_FOLDER = "external"
# What `python -m train --out` checks before it overwrites a folder: the files of a held-out report.
REPORT_FILES = (METRICS_FILE, PREDICTIONS_FILE, HISTORY_FILE, MANIFEST_FILE, MISCLASSIFIED_FILE)

# The split column of split_manifest.csv.
TRAIN, VAL, TEST, EXCLUDED = "train", "val", "test", "excluded"


@dataclass(frozen=True)
class RunFolder:
    """One run folder (or one external/NAME folder inside it, which has the report files of a scored source)."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @property
    def weights(self) -> Path:
        return self.path / WEIGHTS_FILE

    @property
    def metadata(self) -> Path:
        return self.path / METADATA_FILE

    @property
    def gate(self) -> Path:
        return self.path / GATE_FILE

    @property
    def metrics(self) -> Path:
        return self.path / METRICS_FILE

    @property
    def predictions(self) -> Path:
        return self.path / PREDICTIONS_FILE

    @property
    def history(self) -> Path:
        return self.path / HISTORY_FILE

    @property
    def manifest(self) -> Path:
        return self.path / MANIFEST_FILE

    @property
    def misclassified(self) -> Path:
        return self.path / MISCLASSIFIED_FILE

    @property
    def localisation(self) -> Path:
        return self.path / LOCALISATION_FILE

    @property
    def localisation_examples(self) -> Path:
        return self.path / LOCALISATION_EXAMPLES_FILE

    @property
    def training_copies(self) -> Path:
        return self.path / TRAINING_COPIES_FILE

    def external(self, name: str) -> RunFolder:
        """The folder of another source scored against this run."""
        return RunFolder(self.path / EXTERNAL_FOLDER / name)

    def externals(self) -> list[RunFolder]:
        """Every scored source, by name."""
        folder = self.path / EXTERNAL_FOLDER
        return [RunFolder(p) for p in sorted(folder.iterdir()) if p.is_dir()] if folder.is_dir() else []

    def manifest_rows(self) -> list[dict[str, str]]:
        """split_manifest.csv, one dict per image (columns: train/split_data.MANIFEST_COLUMNS)."""
        with open(self.manifest, newline="") as handle:
            return list(csv.DictReader(handle))
