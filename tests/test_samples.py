import hashlib
from pathlib import Path

import pandas as pd
import pytest

from core.io.samples import list_samples
from core.io.scan_io import IMAGE, load_scan
from tests.phantoms import CLASSES

SHIPPED_REPORT = Path(__file__).resolve().parents[1] / "weights" / "default" / "predictions.csv"


def test_two_small_samples_per_class_matching_their_manifest():
    samples = list_samples()
    assert sorted(s.label for s in samples) == sorted(CLASSES * 2)
    sizes = [s.path.stat().st_size for s in samples]
    assert max(sizes) <= 100_000 and sum(sizes) <= 400_000
    for sample in samples:
        data = sample.path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == sample.sha256
        assert sample.source.startswith(f"Testing/{sample.label}/")
        assert load_scan(data, sample.name).kind == IMAGE


@pytest.mark.skipif(not SHIPPED_REPORT.is_file(), reason="no shipped weights report in this checkout")
def test_samples_are_leak_free_test_images_of_the_shipped_run():
    report = pd.read_csv(SHIPPED_REPORT).set_index("path")
    for sample in list_samples():
        assert sample.source in report.index, f"{sample.source} is not a test image of the shipped run"
        row = report.loc[sample.source]
        assert row["true"] == sample.label and int(row["leak_free"]) == 1
