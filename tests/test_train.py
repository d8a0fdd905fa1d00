import csv
import json

import numpy as np
import pytest
from safetensors.torch import load_file

from core.model.checkpoint import load_checkpoint
from core.run.run_folder import METADATA_FILE, REPORT_FILES, WEIGHTS_FILE
from tests.phantoms import write_dataset
from train import cli
from train.cli import main

FAST = ["--img-size", "32", "--batch-size", "16", "--workers", "1", "--arch", "custom_cnn", "--device", "cpu"]


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_smoke_run_writes_the_full_report(tiny_weights, synthetic_dataset):
    for name in (*REPORT_FILES, WEIGHTS_FILE, METADATA_FILE):
        assert (tiny_weights / name).is_file(), name
    assert not (tiny_weights / "resume").exists()

    _, metadata = load_checkpoint(tiny_weights)
    assert metadata["complete"] and metadata["architecture"] == "custom_cnn"
    assert metadata["preprocessing"]["img_size"] == 32 and metadata["calibration"]["temperature"] > 0
    assert len(metadata["data"]["manifest_sha256"]) == 64 and "torch" in metadata["versions"]
    assert metadata["training"]["command"].startswith("python -m train")

    metrics = json.loads((tiny_weights / "metrics.json").read_text())
    for subset in ("full", "leak_free"):
        report = metrics["test"][subset]
        for key in ("accuracy", "balanced_accuracy", "macro", "per_class", "confusion_matrix", "ece"):
            assert key in report, (subset, key)
    assert metrics["test"]["full"]["n"] == 12
    data = metrics["data"]
    reason = data["unreadable"][0]["reason"]
    assert data["unreadable"] == [{"source": "mri", "path": "Training/glioma/broken.jpg", "reason": reason}]
    assert data["duplicates"]["exact_duplicate_groups"] == 1
    assert data["leak_free_test_images"] == 11  # one test image has an exact and a near copy in Training

    predictions = read_csv(tiny_weights / "predictions.csv")
    assert len(predictions) == 12
    assert list(predictions[0]) == [
        "source",
        "path",
        "true",
        "p_glioma",
        "p_meningioma",
        "p_notumor",
        "p_pituitary",
        "prediction",
        "confidence",
        "status",
        "leak_free",
        "sequence",
        "plane",
    ]
    assert {row["status"] for row in predictions} <= {"ok", "uncertain", "not_mri"}
    leaky = [row["path"] for row in predictions if row["leak_free"] == "0"]
    assert leaky == [
        sorted(p.name for p in (synthetic_dataset / "Testing" / "pituitary").iterdir())[0].join(
            ["Testing/pituitary/", ""]
        )
    ]
    for row in predictions:
        assert abs(sum(float(row[f"p_{c}"]) for c in ("glioma", "meningioma", "notumor", "pituitary")) - 1) < 1e-4

    manifest = read_csv(tiny_weights / "split_manifest.csv")
    assert len(manifest) == sum(1 for p in synthetic_dataset.rglob("*") if p.is_file())
    by_split = {}
    for row in manifest:
        by_split.setdefault(row["split"], set()).add(row["group"])
    assert not by_split["train"] & by_split["val"] and not by_split["val"] & by_split["test"]

    history = read_csv(tiny_weights / "history.csv")
    assert [int(row["epoch"]) for row in history] == [1, 2, 3]
    with np.load(tiny_weights / "misclassified.npz", allow_pickle=False) as wrong:
        assert len(wrong["images"]) == metrics["test"]["full"]["errors"] == len(wrong["paths"])


def test_interrupted_run_resumes_to_the_same_result(tmp_path, synthetic_dataset, monkeypatch):
    arguments = ["--data", str(synthetic_dataset), "--epochs", "3", "--deterministic", *FAST]
    main([*arguments, "--out", str(tmp_path / "straight")])

    assert_resumes_to_the_same_result(monkeypatch, arguments, tmp_path)


def assert_resumes_to_the_same_result(monkeypatch, arguments: list[str], tmp_path) -> dict:
    """Train `arguments` into tmp_path/resumed, interrupted in the second epoch and resumed: the history and
    weights equal those of tmp_path/straight (already trained with the same arguments). Returns the weights."""
    real_epoch = cli.train_one_epoch
    calls = {"n": 0}

    def interrupt_in_second_epoch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(cli, "train_one_epoch", interrupt_in_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        main([*arguments, "--out", str(tmp_path / "resumed")])
    assert (tmp_path / "resumed" / "resume" / "last.pt").is_file()
    assert (tmp_path / "resumed" / "model.safetensors").is_file()  # the best epoch so far is never lost
    monkeypatch.setattr(cli, "train_one_epoch", real_epoch)
    main([*arguments, "--out", str(tmp_path / "resumed"), "--resume"])

    straight, resumed = (read_csv(tmp_path / name / "history.csv") for name in ("straight", "resumed"))
    assert [row["train_loss"] for row in straight] == [row["train_loss"] for row in resumed]
    a, b = (load_file(tmp_path / name / "model.safetensors") for name in ("straight", "resumed"))
    assert all(np.array_equal(a[key].numpy(), b[key].numpy()) for key in a)
    return a


def test_flat_folder_gets_a_stratified_test_split(tmp_path):
    root = write_dataset(tmp_path / "flat", {"": 10}, seed=7)
    main(["--data", str(root), "--out", str(tmp_path / "w"), "--epochs", "1", "--test-fraction", "0.2", *FAST])
    metrics = json.loads((tmp_path / "w" / "metrics.json").read_text())
    counts = metrics["data"]["counts"]["test"]
    assert sum(counts.values()) == 8 and set(counts.values()) == {2}
    assert metrics["data"]["leak_free_test_images"] == 8


def test_resume_without_an_interrupted_run_says_so(tmp_path, synthetic_dataset):
    with pytest.raises(FileNotFoundError, match="no interrupted run"):
        main(["--data", str(synthetic_dataset), "--out", str(tmp_path / "none"), "--resume", *FAST])


def test_a_network_with_a_mask_head_trains_on_outlines_and_resumes_to_the_same_result(
    tmp_path, outlined_dataset, monkeypatch
):
    data, masks = outlined_dataset
    arguments = [
        *("--data", str(data), "--masks", f"{data.name}={masks}", "--epochs", "3", "--deterministic"),
        *("--img-size", "64", "--batch-size", "16", "--workers", "1", "--device", "cpu"),
        *("--arch", "mobilenet_v3_small_mask", "--precision", "float32"),
    ]
    main([*arguments, "--out", str(tmp_path / "straight")])
    history = read_csv(tmp_path / "straight" / "history.csv")
    # Where each step's time went, and the mask head's Dice loss, per epoch.
    shares = [
        sum(float(row[f"share_{part}"]) for part in ("batch", "forward", "backward", "optimizer")) for row in history
    ]
    assert shares == pytest.approx([1.0] * 3, abs=1e-3)
    assert all(0 < float(row["train_mask_dice_loss"]) <= 1 for row in history)
    metadata = json.loads((tmp_path / "straight" / METADATA_FILE).read_text())
    assert metadata["training"]["masks"] == [f"{data.name}={masks}"]

    weights = assert_resumes_to_the_same_result(monkeypatch, arguments, tmp_path)
    assert any(key.startswith("mask_head.") for key in weights)


def test_a_network_with_a_mask_head_asks_for_outlines(tmp_path, synthetic_dataset):
    with pytest.raises(SystemExit, match="--masks"):
        main([
            "--data", str(synthetic_dataset), "--out", str(tmp_path / "run"), "--epochs", "1", *FAST[:-4],
            "--arch", "mobilenet_v3_small_mask", "--device", "cpu",
        ])  # fmt: skip
