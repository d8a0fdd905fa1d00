"""The number format a model runs in: chosen by the hardware, never hard-coded, and consistent with the report."""

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from core.io.image_io import read_image
from core.model import precision
from core.model.inference import Classifier
from core.model.models import build_model
from core.model.precision import BFLOAT16, FLOAT32, fastest_training_precision, serving_precision


def test_cpu_without_amx_serves_and_trains_in_float32(tmp_path, monkeypatch):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse sse2 avx2 avx512f\n")
    assert not precision.cpu_has_amx_bf16(cpuinfo)
    cpuinfo.write_text("flags\t\t: fpu avx512f amx_bf16 amx_tile\n")
    assert precision.cpu_has_amx_bf16(cpuinfo)
    assert not precision.cpu_has_amx_bf16(tmp_path / "absent")

    monkeypatch.setattr(precision, "cpu_has_amx_bf16", lambda: False)
    assert serving_precision(torch.device("cpu")) == FLOAT32
    model = build_model("custom_cnn", 4)
    chosen, speeds = fastest_training_precision(model, torch.randn(4, 1, 32, 32))
    assert chosen == FLOAT32 and set(speeds) == {FLOAT32}  # bf16 not even tried without native support


def test_bf16_is_timed_where_native_and_chosen_only_when_faster(monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_amx_bf16", lambda: True)
    assert serving_precision(torch.device("cpu")) == BFLOAT16
    model = build_model("custom_cnn", 4)
    chosen, speeds = fastest_training_precision(model, torch.randn(4, 1, 32, 32), steps=1)
    assert set(speeds) == {FLOAT32, BFLOAT16} and all(v and v > 0 for v in speeds.values())
    assert chosen == (BFLOAT16 if speeds[BFLOAT16] > 1.1 * speeds[FLOAT32] else FLOAT32)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # timed on a copy


def test_served_probabilities_match_the_report_in_each_precision(tiny_weights, synthetic_dataset):
    with open(tiny_weights / "predictions.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    served = Classifier(tiny_weights, device="cpu", precision=FLOAT32)
    images = np.stack([served.prepare(read_image((synthetic_dataset / row["path"]).read_bytes())) for row in rows])
    reported = np.array([[float(row[f"p_{name}"]) for name in served.classes] for row in rows])
    # float32 is what the report was made with here: the same numbers, to the CSV's six decimals
    assert np.abs(served.probabilities(images) - reported).max() < 2e-6
    # bf16, where a machine serves it, stays within 0.05 of the report (its mantissa has 8 bits)
    bf16 = Classifier(tiny_weights, device="cpu", precision=BFLOAT16)
    assert np.abs(bf16.probabilities(images) - reported).max() < 0.05


SHIPPED = Path(__file__).resolve().parents[1] / "weights" / "default"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.mark.skipif(
    not (SHIPPED / "predictions.csv").is_file() or not SHARED.is_dir(), reason="needs the shipped report and data"
)
def test_the_shipped_model_served_here_reproduces_its_report():
    """The app's precision on this machine gives the report's probabilities (every source, 48 test images)."""
    served = Classifier(SHIPPED, device="cpu")
    report = pd.read_csv(SHIPPED / "predictions.csv")
    folders = {source: SHARED / source for source in report["source"].unique()}
    parts = [report[report["source"] == source] for source in folders]
    rows = pd.concat([part.iloc[:: max(1, len(part) // 24)][:24] for part in parts])
    images = np.stack(
        [served.prepare(read_image((folders[r.source] / r.path).read_bytes())) for r in rows.itertuples()]
    )
    reported = rows[[f"p_{name}" for name in served.classes]].to_numpy()
    tolerance = 2e-6 if served.precision == served.metadata["training"].get("precision", FLOAT32) else 0.05
    assert np.abs(served.probabilities(images) - reported).max() < tolerance
