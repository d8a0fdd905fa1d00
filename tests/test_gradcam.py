import numpy as np
import pytest

from core.gradcam import METHODS, Explainer, overlay
from core.image_io import read_image
from core.inference import Classifier


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
