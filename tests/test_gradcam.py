from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from core.io.image_io import read_image
from core.model.gradcam import METHODS, Explainer, colour_scale, overlay, with_colour_key
from core.model.inference import DEFAULT_WEIGHTS, Classifier
from core.model.preprocessing import head_mask
from tests.phantoms import phantom

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


@pytest.fixture(scope="module")
def explainer(tiny_weights):
    return Explainer(Classifier(tiny_weights, device="cpu"))


@pytest.fixture(scope="module")
def prepared(synthetic_dataset, explainer):
    path = next((synthetic_dataset / "Testing" / "glioma").iterdir())
    return explainer.classifier.prepare(read_image(path))


def hooks(model) -> int:
    return sum(len(m._forward_hooks) + len(m._backward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_gives_a_unit_range_map_and_leaves_no_hooks(explainer, prepared, method):
    heat = explainer.heatmap(prepared, target=0, method=method)
    assert heat.shape == prepared.shape and heat.dtype == np.float32
    assert heat.min() >= 0.0 and heat.max() <= 1.0
    assert hooks(explainer.classifier.model) == 0
    assert all(hooks(network.model) == 0 for network in explainer._copies)


@pytest.mark.skipif(not (DEFAULT_WEIGHTS / "model.safetensors").is_file(), reason="no shipped model")
def test_every_method_draws_a_map_of_the_class_asked_for():
    explainer = Explainer(Classifier(DEFAULT_WEIGHTS, device="cpu"))
    prepared = explainer.classifier.prepare(read_image(SAMPLES / "Te-meTr_0000.jpg"))
    for method in METHODS:
        maps = [explainer.heatmap(prepared, target, method) for target in range(len(explainer.classifier.classes))]
        same = all(np.allclose(maps[0], other, atol=1e-5) for other in maps[1:])
        assert not same, method


def test_explaining_does_not_change_predictions(explainer, prepared):
    before = explainer.classifier.probabilities(prepared[None])
    explainer.heatmap(prepared, target=1)
    assert np.array_equal(before, explainer.classifier.probabilities(prepared[None]))


def test_unknown_method_is_refused(explainer, prepared):
    with pytest.raises(ValueError, match="Grad-CAM"):
        explainer.heatmap(prepared, target=0, method="Magic-CAM")


def test_overlay_is_rgb_and_opacity_zero_shows_the_scan():
    gray = np.linspace(0, 1, 64 * 48, dtype=np.float32).reshape(64, 48)
    heat = np.zeros_like(gray)
    heat[10:20, 10:20] = 1.0
    picture = overlay(gray, heat, opacity=0.0)
    assert picture.shape == (64, 48, 3) and picture.dtype == np.uint8
    assert np.abs(picture[..., 0].astype(int) - np.uint8(255 * gray)).max() <= 1
    coloured = overlay(gray, heat, opacity=0.8)
    assert np.array_equal(coloured[30:], picture[30:])  # no heat, no colour
    assert not np.array_equal(coloured[10:20, 10:20], picture[10:20, 10:20])


def test_the_map_is_at_the_pictures_resolution_smooth_and_zero_outside_the_head(explainer):
    head = phantom(3, "glioma", 120).astype(np.float32) / 255
    gray = np.zeros((300, 220), np.float32)  # a head off-centre on a larger, non-square black canvas
    gray[40:160, 30:150] = head
    heat = explainer.explain(gray, target=0, method="Grad-CAM++")
    assert heat.shape == gray.shape and heat.dtype == np.float32
    assert heat.max() == pytest.approx(1.0) and heat.min() >= 0.0
    inside = head_mask(gray)
    assert not inside[:30].any() and inside[100, 90]  # the mask is the head, not the canvas
    assert heat[~inside].max() == 0.0  # nothing outside the head, not merely outside the crop's rectangle
    # Smooth: neighbouring pixels differ little (a 4 x 4 grid enlarged by nearest or linear steps would not).
    both_inside = inside[:, 1:] & inside[:, :-1]
    assert np.abs(np.diff(heat, axis=1))[both_inside].max() < 0.1


def test_the_colour_key_blends_as_the_overlay_does():
    strip = colour_scale(0.6, width=100, height=5)
    assert strip.shape == (5, 100, 3)
    assert np.array_equal(strip[:, 0], np.full((5, 3), np.uint8(255 * 0.5)))  # no heat: plain mid-gray
    red, green, blue = strip[0, -1].astype(int)
    assert red > green + 50 and red > blue + 50  # the peak: red
    assert np.array_equal(
        strip,
        overlay(np.full((5, 100), 0.5, np.float32), np.tile(np.linspace(0, 1, 100, dtype=np.float32), (5, 1)), 0.6),
    )


def test_the_overlay_carries_its_colour_key_along_the_bottom():
    picture = overlay(np.full((100, 80), 0.5, np.float32), np.zeros((100, 80), np.float32), 0.5)
    keyed = with_colour_key(picture, 0.5)
    assert keyed.shape[1] == 80 and keyed.shape[0] > 100
    assert np.array_equal(keyed[:100], picture)
    strip = colour_scale(0.5, width=80, height=1)[0]
    rows = [i for i in range(100, len(keyed)) if np.array_equal(keyed[i], strip)]
    assert rows, "the colour strip is under the picture"
    labels = keyed[rows[-1] + 1 :]  # the band naming the key's ends: white text on black
    assert len(labels) and labels.max() > 200 and np.median(labels) == 0


def randomised(classifier: Classifier) -> Classifier:
    """The same classifier with every layer's weights drawn afresh (Adebayo et al., 2018, full randomisation)."""
    torch.manual_seed(0)
    for module in classifier.model.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    return classifier


@pytest.mark.skipif(not (DEFAULT_WEIGHTS / "model.safetensors").is_file(), reason="no shipped model")
def test_maps_of_the_shipped_model_change_when_its_weights_are_randomised():
    """Sanity check (Adebayo et al., "Sanity checks for saliency maps", 2018): a map that survives the loss of
    everything the model learned explains the input's edges, not the model. The shipped model's maps must
    lose most of their rank order (|Spearman| < 0.5) once its weights are random."""
    prepared = Classifier(DEFAULT_WEIGHTS, device="cpu").prepare(read_image(SAMPLES / "Te-glTr_0003.jpg"))
    trained = Explainer(Classifier(DEFAULT_WEIGHTS, device="cpu"))
    random = Explainer(randomised(Classifier(DEFAULT_WEIGHTS, device="cpu")))
    target = trained.classifier.classes.index("glioma")
    for method in METHODS:
        before, after = trained.heatmap(prepared, target, method), random.heatmap(prepared, target, method)
        assert before.std() > 0.05 and after.std() > 0.05, method  # both real maps, not blank ones
        rho = spearmanr(before.ravel(), after.ravel()).statistic
        assert abs(rho) < 0.5, f"{method}: rank correlation {rho:.2f} after randomising the weights"
