"""Training on several sources: indexing, duplicates across sources, per-source splits and metrics, and the
external evaluation's contamination check (`python -m train.evaluate`)."""

import argparse
import csv
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from tests.phantoms import CLASSES, phantom, write_dataset
from train import evaluate
from train.cli import main as train_main
from train.dataset import Source, index_sources
from train.oversample import parse_repeat, repeated_positions
from train.splits import TEST, TRAIN, VAL, assign_splits

FAST = ["--img-size", "32", "--batch-size", "16", "--workers", "1", "--arch", "custom_cnn", "--device", "cpu"]


@pytest.fixture(scope="module")
def two_sources(tmp_path_factory, synthetic_dataset):
    """The session's Training/Testing phantoms plus a flat second source without pituitary, spelling its
    normal class "Normal", and holding a near copy (resized) of one of the first source's training images."""
    second = tmp_path_factory.mktemp("second") / "other"
    for label in ("glioma", "meningioma", "Normal"):
        folder = second / label
        folder.mkdir(parents=True)
        for k in range(8):
            Image.fromarray(phantom(50_000 + 100 * len(label) + k, label.lower(), 96)).save(folder / f"x_T2_{k}.png")
    original = sorted((synthetic_dataset / "Training" / "glioma").glob("*.png"))[0]
    Image.open(original).resize((120, 120)).save(second / "glioma" / "copied_T1C_from_main.png")
    return synthetic_dataset, second


def test_sources_are_indexed_with_their_names_and_a_union_of_classes(two_sources):
    main, second = two_sources
    classes, files = index_sources([Source.parse(str(main)), Source.parse(f"rp={second}")])
    assert classes == CLASSES  # "Normal" joins notumor
    assert {f.source for f in files} == {"mri", "rp"}
    assert all(not f.relative.startswith("rp") for f in files if f.source == "rp")
    with pytest.raises(ValueError, match="share a name"):
        index_sources([Source.parse(str(main)), Source.parse(f"mri={second}")])


def test_a_source_without_a_testing_folder_gets_its_own_test_share():
    rng = np.random.default_rng(0)
    count = 400
    labels = rng.integers(0, 3, count)
    groups = np.arange(count) // 2  # pairs of near copies
    sources = np.array(["main"] * 200 + ["second"] * 200, dtype=object)
    given_test = np.zeros(count, bool)
    given_test[150:200] = True  # the first source has a Testing folder
    sha = [f"h{i}" for i in range(count)]
    splits, leak_free, _ = assign_splits(labels, groups, given_test, sha, 0.15, 0.2, 0, sources=sources)
    main, second = splits[:200], splits[200:]
    assert (main[150:] == TEST).all() and (main[:150] != TEST).all()
    assert 30 <= (second == TEST).sum() <= 50  # about 20 % of the second source
    assert (main == VAL).any() and (second == VAL).any()  # validation drawn from both
    for split_a, split_b in ((TRAIN, VAL), (TRAIN, TEST), (VAL, TEST)):
        assert not set(groups[splits == split_a]) & set(groups[splits == split_b])
    assert leak_free[splits == TEST].all()


def test_a_group_spanning_two_sources_is_never_divided():
    labels = np.zeros(6, int)
    groups = np.array([0, 1, 2, 0, 3, 4])  # image 0 (main) and image 3 (second) are copies
    sources = np.array(["a", "a", "a", "b", "b", "b"], dtype=object)
    for seed in range(20):
        splits, _, _ = assign_splits(labels, groups, np.zeros(6, bool), list("abcdef"), 0.3, 0.3, seed, sources)
        assert splits[0] == splits[3] or TEST not in (splits[0], splits[3]), (seed, splits)
        assert not (VAL in (splits[0], splits[3]) and TRAIN in (splits[0], splits[3])), (seed, splits)


@pytest.fixture(scope="module")
def two_source_run(tmp_path_factory, two_sources):
    main, second = two_sources
    out = tmp_path_factory.mktemp("runs") / "both"
    sources = ["--data", str(main), "--data", f"rp={second}", "--repeat", "rp=2", "--external", f"again={second}"]
    train_main(
        [*sources, "--out", str(out), "--epochs", "3", "--augment", "geometry", "--test-fraction", "0.25", *FAST]
    )
    return out


def test_a_repeated_source_is_listed_that_many_times_and_a_typo_is_refused():
    sources = np.array(["main", "rp", "main", "rp", "rp"], dtype=object)
    train = np.array([0, 1, 3, 4])
    assert repeated_positions(train, sources, {"rp": 3}).tolist() == [0, 1, 1, 1, 3, 3, 3, 4, 4, 4]
    assert repeated_positions(train, sources, {}).tolist() == [0, 1, 3, 4]
    with pytest.raises(ValueError, match="no data source has that name"):
        repeated_positions(train, sources, {"radiopaedia": 2})
    assert parse_repeat("rp=2") == ("rp", 2)
    for wrong in ("rp", "rp=0", "rp=1.5", "=2"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_repeat(wrong)


def test_training_on_two_sources_reports_each_source(two_source_run):
    metrics = json.loads((two_source_run / "metrics.json").read_text())
    assert json.loads((two_source_run / "metadata.json").read_text())["training"]["args"]["repeat"] == [["rp", 2]]
    assert metrics["data"]["sources"] == ["mri", "rp"]
    assert metrics["data"]["test_source"] == {"mri": "Testing folder", "rp": "stratified split by duplicate group"}
    by_source = metrics["test"]["full"]["breakdown"]["source"]
    assert set(by_source) == {"mri", "rp"} and by_source["rp"]["n"] > 0
    assert sum(values["n"] for values in by_source.values()) == metrics["test"]["full"]["n"]
    assert set(metrics["test"]["full"]["breakdown"]["sequence"]) >= {"T2"}
    # the second source's "Normal" folder trained as notumor, not as a fifth class
    assert metrics["model"]["classes"] == CLASSES
    with open(two_source_run / "split_manifest.csv", newline="") as handle:
        manifest = list(csv.DictReader(handle))
    assert {row["source"] for row in manifest} == {"mri", "rp"}
    copy = next(row for row in manifest if row["path"].endswith("copied_T1C_from_main.png"))
    original = [row for row in manifest if row["group"] == copy["group"] and row["source"] == "mri"]
    assert original, "the near copy in the second source was not grouped with its original"


def test_external_evaluation_flags_copies_of_training_images_and_scores_the_rest(two_source_run, two_sources):
    external = two_source_run / "external" / "again"
    metrics = json.loads((external / "metrics.json").read_text())
    with open(two_source_run / "split_manifest.csv", newline="") as handle:
        trained = [r for r in csv.DictReader(handle) if r["source"] == "rp" and r["split"] in (TRAIN, VAL)]
    contamination = metrics["contamination"]
    # every training and validation image of the second source is an exact copy of itself
    assert contamination["exact_copies"] >= len(trained) > 0
    assert (
        metrics["clean"]["n"]
        == contamination["clean_images"]
        == metrics["all"]["n"] - (contamination["exact_copies"] + contamination["near_copies"])
    )
    assert metrics["data"]["label_mapping"]["Normal"] == "notumor"
    with open(external / "predictions.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    flagged = {row["path"] for row in rows if row["clean"] == "0"}
    assert {r["path"] for r in trained} <= flagged
    assert metrics["all"]["per_class"]["pituitary"]["support"] == 0


def test_a_copy_of_a_training_image_in_an_unseen_folder_is_excluded_from_the_clean_subset(
    tmp_path, tiny_weights, synthetic_dataset
):
    folder = tmp_path / "hospital"
    write_dataset(folder, {"": 2}, seed=77)
    with open(tiny_weights / "split_manifest.csv", newline="") as handle:
        trained = next(r for r in csv.DictReader(handle) if r["split"] == TRAIN and r["class"] == "meningioma")
    shutil.copy(synthetic_dataset / trained["path"], folder / "meningioma" / "exact.png")
    Image.open(synthetic_dataset / trained["path"]).save(folder / "meningioma" / "near.jpg", quality=90)  # re-encoded
    weights = shutil.copytree(tiny_weights, tmp_path / "weights")  # the session's run stays unscored
    metrics = evaluate.evaluate_folder(weights, folder, "hospital", workers=1, device="cpu")
    assert metrics["contamination"]["exact_copies"] == 1 and metrics["contamination"]["near_copies"] == 1
    assert metrics["all"]["n"] == 10 and metrics["clean"]["n"] == 8
    copies = (weights / "external" / "hospital" / "training_copies.csv").read_text()
    assert "meningioma/exact.png,exact:" in copies and "meningioma/near.jpg,near:" in copies


def test_evaluate_refuses_an_unsafe_name_and_reports_a_missing_folder(tmp_path, tiny_weights, capsys):
    with pytest.raises(SystemExit, match="not a usable name"):
        evaluate.parse_external("../up=somewhere")
    code = evaluate.main(["--weights", str(tiny_weights), "--data", str(tmp_path / "absent"), "--name", "x"])
    assert code == 2 and "does not exist" in capsys.readouterr().err


def test_evaluation_applies_the_apps_picture_refusals(tmp_path, answering_weights):
    """A montage in a labelled folder is refused as the app refuses it, not scored as a slice."""
    folder = write_dataset(tmp_path / "sheet", {"": 2}, seed=78)
    montage = np.hstack([phantom(1, "glioma", 96), phantom(2, "glioma", 96)])
    Image.fromarray(montage).save(folder / "glioma" / "montage.png")
    weights = shutil.copytree(answering_weights, tmp_path / "weights")
    evaluate.evaluate_folder(weights, folder, "sheet", workers=1, device="cpu")
    with open(weights / "external" / "sheet" / "predictions.csv", newline="") as handle:
        status = {row["path"]: row["status"] for row in csv.DictReader(handle)}
    assert status.pop("glioma/montage.png") == "not_mri"
    assert set(status.values()) == {"ok"}  # no gate and no abstention in these weights
