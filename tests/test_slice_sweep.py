import numpy as np
import pytest

from core.decide.assessment import assess
from core.decide.slice_sweep import has_tissue, sweep
from core.io.nifti_io import read_nifti
from core.model.inference import Classifier
from tests.phantoms import phantom
from tests.scan_files import nifti_bytes


@pytest.fixture(scope="module")
def classifier(tiny_weights):
    return Classifier(tiny_weights, device="cpu")


@pytest.fixture(scope="module")
def volume():
    """Phantom slices stacked along z (axial), with empty slices above and below the head."""
    slices = [phantom(seed, label, 64) for seed, label in enumerate(["glioma", "notumor", "pituitary"] * 4)]
    stack = np.zeros((64, 64, 16), np.float32)
    for k, picture in enumerate(slices):
        # the volume's (x, y) slice is drawn transposed and flipped; store it so it displays upright
        stack[:, :, 2 + k] = picture.astype(np.float32)[::-1, ::-1].T
    return read_nifti(nifti_bytes(stack))


def test_every_slice_with_tissue_is_assessed_like_a_single_scan(classifier, volume):
    progress = []
    result = sweep(classifier, volume, "axial", progress=progress.append)
    assert result.indices == list(range(16)) and progress[-1] == 1.0
    assert [a is None for a in result.assessments] == [True, True] + [False] * 12 + [True, True]
    single = assess(classifier, [volume.slice("axial", 5)])[0]
    assert result.assessments[5].probabilities == pytest.approx(single.probabilities)
    assert (result.assessments[5].status, result.assessments[5].message) == (single.status, single.message)
    probabilities = result.probabilities(classifier.classes)
    assert probabilities.shape == (16, 4) and np.isnan(probabilities[0]).all()
    np.testing.assert_allclose(probabilities[2:14].sum(axis=1), 1.0, atol=1e-5)


def test_tissue_check():
    assert not has_tissue(np.zeros((32, 32), np.float32))
    assert has_tissue(phantom(1, "notumor", 32).astype(np.float32) / 255)


def test_a_sweep_says_each_slices_status_as_a_single_slice_answer_would():
    from core.decide.assessment import Assessment
    from core.decide.slice_sweep import Sweep

    scores = {"glioma": 0.7, "meningioma": 0.1, "notumor": 0.1, "pituitary": 0.1}
    made = Sweep(
        "axial",
        [0, 1, 2, 3],
        [Assessment("ok", scores), Assessment("uncertain", scores), None, Assessment("not_mri", scores)],
    )
    assert made.statuses() == ["ok", "uncertain", "no_tissue", "not_mri"]
    assert not np.isnan(made.probabilities(list(scores))[[0, 1, 3]]).any()  # the scores stay available
