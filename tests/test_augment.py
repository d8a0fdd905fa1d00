"""Augmentation families: deterministic under a seed, each switchable, and shaped as the loop expects."""

import pytest
import torch

from train.augment import Augmentation, bias_field, random_curves


@pytest.fixture
def batch():
    torch.manual_seed(0)
    images = torch.zeros(16, 1, 48, 48)
    images[:, :, 8:40, 8:40] = torch.rand(16, 1, 32, 32)  # a "head" on a black background
    return images


def run(policy, images, seed):
    torch.manual_seed(seed)  # kornia draws from torch's global generator; the loop seeds it per epoch
    return policy(images, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("families", ["geometry", "intensity", "degradation", "geometry,intensity,degradation"])
def test_each_family_is_deterministic_under_a_seed_and_stays_in_range(batch, families):
    policy = Augmentation.from_families(families)
    first, again, other = run(policy, batch, 3), run(policy, batch, 3), run(policy, batch, 4)
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert first.shape == batch.shape and first.min() >= 0 and first.max() <= 1


def test_no_augmentation_leaves_the_images_alone(batch):
    assert torch.equal(run(Augmentation.from_families("none"), batch, 0), batch)
    with pytest.raises(ValueError, match="unknown augmentation families"):
        Augmentation.from_families("geometry,colour")


def test_curves_keep_black_black_and_some_invert_contrast(batch):
    curved = random_curves(batch, Augmentation(non_monotone_share=1.0), torch.Generator().manual_seed(1))
    assert (curved[batch == 0] == 0).all()
    dark, bright = batch < 0.2, batch > 0.8
    inverted = [(curved[i][bright[i]].mean() < curved[i][dark[i] & (batch[i] > 0)].mean()).item() for i in range(16)]
    assert any(inverted)


def test_bias_field_is_smooth_and_multiplicative(batch):
    field = bias_field(torch.ones_like(batch), 0.3, torch.Generator().manual_seed(2))
    bound = torch.exp(torch.tensor(0.3 * 1.3))  # bicubic interpolation overshoots its grid a little
    assert field.min() >= 1 / bound and field.max() <= bound and field.std() > 0.02
    assert (field[..., 1:] - field[..., :-1]).abs().max() < 0.1  # no edges: a coil's smooth shading
    assert (bias_field(batch, 0.3, torch.Generator().manual_seed(2))[batch == 0] == 0).all()
