import json
import shutil

import numpy as np
import pytest
from PIL import Image

from core.report.localisation_scores import PictureScore, peak, read_examples, score, summarise, tolerance_px
from core.run.run_folder import LOCALISATION_FILE
from train import localisation as bench_command


def square(shape, top, left, side) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[top : top + side, left : left + side] = True
    return mask


def test_a_peak_on_the_tumour_is_a_hit_and_the_heat_share_counts_heat_not_pixels():
    shape = (100, 100)
    tumour = square(shape, 20, 20, 10)
    heat = np.zeros(shape, np.float32)
    heat[25, 25] = 1.0  # the peak, on the tumour
    heat[80, 80] = 0.5  # off the tumour
    head = np.ones(shape, bool)
    result = score(heat, tumour, head)
    assert result.hit
    assert result.heat_share == pytest.approx(1.0 / 1.5)
    assert result.baseline_share == pytest.approx(100 / 10_000)  # even heat over the head: the tumour's area share


def test_the_tolerance_is_15_px_on_a_512_px_slice_and_scales_with_the_picture():
    assert tolerance_px((512, 512)) == pytest.approx(15.0)
    assert tolerance_px((256, 200)) == pytest.approx(7.5)
    shape = (512, 512)
    tumour = square(shape, 100, 100, 50)  # rows and columns 100..149
    head = np.ones(shape, bool)
    for column, expected in ((149 + 15, True), (149 + 16, False)):
        heat = np.zeros(shape, np.float32)
        heat[120, column] = 1.0
        assert score(heat, tumour, head).hit is expected, column


def test_the_baseline_points_at_the_heads_centroid():
    shape = (101, 101)
    head = np.zeros(shape, bool)
    head[10:91, 10:91] = True  # centroid (50, 50)
    on_centre, off_centre = square(shape, 45, 45, 11), square(shape, 10, 10, 10)
    empty = np.zeros(shape, np.float32)
    assert score(empty, on_centre, head).baseline_hit
    assert not score(empty, off_centre, head).baseline_hit
    assert score(empty, on_centre, head).baseline_share == pytest.approx(121 / 81**2)


def test_an_empty_map_points_nowhere():
    shape = (64, 64)
    result = score(np.zeros(shape, np.float32), square(shape, 0, 0, 64), np.ones(shape, bool))
    assert peak(np.zeros(shape)) is None
    assert not result.hit and result.heat_share == 0.0


def test_mismatched_shapes_and_empty_tumours_are_refused():
    with pytest.raises(ValueError, match="shape"):
        score(np.zeros((10, 10)), np.ones((10, 12), bool), np.ones((10, 10), bool))
    with pytest.raises(ValueError, match="empty"):
        score(np.zeros((10, 10)), np.zeros((10, 10), bool), np.ones((10, 10), bool))


def test_summaries_average_over_pictures_with_a_wilson_interval():
    scores = [PictureScore(True, 0.5, False, 0.1)] * 3 + [PictureScore(False, 0.1, True, 0.3)]
    summary = summarise(scores)
    assert summary.n == 4 and summary.pointing_game == 0.75
    assert summary.pointing_game_ci95[0] < 0.75 < summary.pointing_game_ci95[1]
    assert summary.heat_share == pytest.approx(0.4)
    assert summary.baseline_pointing_game == 0.25 and summary.baseline_heat_share == pytest.approx(0.15)
    assert summarise([]) is None


def test_the_command_scores_the_runs_test_images_that_have_masks(tmp_path, tiny_weights, synthetic_dataset):
    run = tmp_path / "run"
    shutil.copytree(tiny_weights, run)
    masks = tmp_path / "masks"
    tumour_images = sorted(
        path for path in (synthetic_dataset / "Testing").rglob("*.png") if path.parent.name != "notumor"
    )
    for path in tumour_images[:-1]:  # the last one has no mask, so is not scored
        relative = path.relative_to(synthetic_dataset)
        (masks / relative).parent.mkdir(parents=True, exist_ok=True)
        with Image.open(path) as image:
            mask = np.zeros((image.height, image.width), np.uint8)
        mask[20:60, 20:60] = 255
        Image.fromarray(mask).save(masks / relative.with_suffix(".png"))
    argv = ["--weights", str(run), "--data", str(synthetic_dataset), "--masks", str(masks), "--methods"]
    assert bench_command.main([*argv, "Grad-CAM", "Layer-CAM"]) == 0
    document = json.loads((run / LOCALISATION_FILE).read_text())
    scored = sum(counts["all"] for counts in document["images"].values())
    assert 0 < scored <= len(tumour_images) - 1  # only test images (per the manifest) with a mask
    overall = document["results"]["true_class"]["all"]["Layer-CAM"]["overall"]
    assert overall["n"] == scored
    assert 0 <= overall["pointing_game"] <= 1 and 0 <= overall["heat_share"] <= 1
    assert 1600 / 96**2 < overall["baseline_heat_share"] <= 1  # the square's share of the head, not the canvas
    assert set(document["ms_per_map"]) == {"Grad-CAM", "Layer-CAM"}
    pictures, captions = read_examples(run)
    assert pictures.dtype == np.uint8 and pictures.shape[1:] == (192, 192, 3) and len(captions) == len(pictures)
    assert all(" peak on the tumour " in c or " peak off the tumour " in c for c in captions)
    # Reproducible: the same command gives the same figures.
    bench_command.main([*argv, "Grad-CAM", "Layer-CAM"])
    again = json.loads((run / LOCALISATION_FILE).read_text())
    assert again["results"] == document["results"]
