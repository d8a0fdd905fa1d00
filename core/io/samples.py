"""The bundled example scans (`samples/`), with where each came from (`samples/samples.csv`)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "samples"


@dataclass(frozen=True)
class Sample:
    path: Path
    label: str  # the class the dataset gives it
    source: str  # its path in the dataset, e.g. Testing/glioma/Te-glTr_0003.jpg
    sha256: str

    @property
    def name(self) -> str:
        return self.path.name


def list_samples(directory: Path = SAMPLES_DIR) -> list[Sample]:
    """The samples listed in the manifest whose files exist, in manifest order."""
    manifest = directory / "samples.csv"
    if not manifest.is_file():
        return []
    with open(manifest, newline="") as handle:
        rows = list(csv.DictReader(handle))
    samples = [Sample(directory / row["file"], row["class"], row["source"], row["sha256"]) for row in rows]
    return [sample for sample in samples if sample.path.is_file()]
