"""The network with a mask head: its loss, copy-paste, the mask's geometry, the outline and how it is scored."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.decide.outline import (
    MIN_REGION_FRACTION,
    draw_outline,
    heads_disagree,
    outline_on_picture,
    presence_level,
    region_evidence,
    region_pixels,
)
from core.model.models import build_model, outlines_tumour
from core.model.preprocessing import Preprocessing
from core.report.localisation_scores import overlap, score
from tests.phantoms import phantom_with_mask
from train.augment import Augmentation
from train.mask_loss import ClassAndMaskLoss
from train.tumour_paste import Donors, PasteBatch, paste_tumours


def disc(size: int, centre: tuple[int, int], radius: int) -> np.ndarray:
    rows, columns = np.ogrid[:size, :size]
    return (rows - centre[0]) ** 2 + (columns - centre[1]) ** 2 <= radius**2


def test_the_mask_network_classifies_like_a_classifier_and_outlines_at_a_quarter_of_the_input():
    model = build_model("mobilenet_v3_small_mask", 4).eval()
    batch = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        logits, masks = model(batch, with_mask=True)
        assert torch.allclose(model(batch), logits, atol=1e-6)  # the plain call is the class head alone
    assert logits.shape == (2, 4) and masks.shape == (2, 1, 16, 16)
    assert outlines_tumour(model) and not outlines_tumour(build_model("mobilenet_v3_small", 4))
    # The classifier's modules keep their names, so Grad-CAM and the gate find their layers as before.
    assert {"features.0.0.weight", "classifier.3.weight"} <= set(model.state_dict())


def test_the_mask_loss_ignores_rows_whose_outline_is_unknown_and_uses_only_bce_for_empty_masks():
    torch.manual_seed(0)
    loss = ClassAndMaskLoss(torch.nn.CrossEntropyLoss())
    logits = torch.randn(3, 4, requires_grad=True)
    mask_logits = torch.randn(3, 1, 8, 8, requires_grad=True)
    labels = torch.tensor([0, 2, 1])
    masks = torch.zeros(3, 1, 32, 32)
    masks[0, :, 8:24, 8:24] = 1.0  # row 0: outlined tumour; row 1: no tumour (empty, known); row 2: unknown
    known = torch.tensor([True, True, False])
    parts = loss(logits, mask_logits, labels, masks, known)
    parts.total.backward()
    assert mask_logits.grad[2].abs().sum() == 0  # unknown outline: the mask head learns nothing from it
    assert mask_logits.grad[0].abs().sum() > 0 and mask_logits.grad[1].abs().sum() > 0
    assert logits.grad[2].abs().sum() > 0  # but its class still trains
    assert parts.outlined_rows == 1  # Dice only where a tumour is outlined
    # Nothing known at all: the class loss alone, with a graph that still reaches the mask head.
    none = loss(logits.detach(), mask_logits.detach().requires_grad_(True), labels, masks, torch.zeros(3, dtype=bool))
    assert none.mask_bce == 0 and none.mask_dice == 0
    assert none.total.item() == pytest.approx(torch.nn.CrossEntropyLoss()(logits.detach(), labels).item())


def test_copy_paste_moves_the_tumour_with_its_mask_and_class_and_repeats_under_a_seed():
    size = 32
    background = torch.full((4, 1, size, size), 0.3)
    tumour_mask = torch.from_numpy(disc(size, (10, 20), 5)).float().view(1, 1, size, size)
    donor = 0.4 + 0.5 * tumour_mask  # a bright tumour in a darker head
    donors = Donors(images=donor, masks=tumour_mask, labels=torch.tensor([1]))
    batch = PasteBatch(
        images=background,
        labels=torch.tensor([2, 2, 0, 2]),
        masks=torch.zeros(4, 1, size, size),
        mask_known=torch.tensor([True, True, True, False]),
    )
    pasted = paste_tumours(batch, donors, recipient_class=2, share=1.0, generator=torch.Generator().manual_seed(0))
    # Rows 0 and 1 (no tumour, known empty mask) receive the tumour; row 2 is a tumour, row 3's mask is unknown.
    assert pasted.labels.tolist() == [1, 1, 0, 2]
    for row in (0, 1):
        changed = (pasted.images[row] - background[row]).abs() > 1e-6
        assert torch.equal(changed, tumour_mask[0] > 0)  # the picture changes exactly where the mask is
        assert torch.equal(pasted.masks[row], tumour_mask[0])
    assert torch.equal(pasted.images[2:], background[2:]) and not pasted.masks[2:].any()
    again = paste_tumours(batch, donors, recipient_class=2, share=0.5, generator=torch.Generator().manual_seed(7))
    twice = paste_tumours(batch, donors, recipient_class=2, share=0.5, generator=torch.Generator().manual_seed(7))
    assert torch.equal(again.images, twice.images) and torch.equal(again.labels, twice.labels)


def test_geometry_moves_the_mask_exactly_as_the_picture():
    size = 48
    shape = torch.from_numpy(disc(size, (14, 30), 6)).float().view(1, 1, size, size).repeat(8, 1, 1, 1)
    flat = Augmentation(families=("geometry",), brightness=0.0, contrast=0.0, rotation_degrees=30, shift=0.15)
    torch.manual_seed(0)
    images, masks = flat(shape.clone(), torch.Generator().manual_seed(3), masks=shape.clone())
    assert not torch.equal(masks, shape)  # it did move
    assert torch.allclose(images, masks, atol=1e-5)


def test_the_mask_is_cropped_padded_and_resized_as_its_picture():
    gray, mask = (array / 255.0 for array in phantom_with_mask(5, "glioma", 200))
    preprocessing = Preprocessing(img_size=64)
    image, moved = preprocessing.to_uint8(gray.astype(np.float32)), preprocessing.mask_to_uint8(mask > 0.5, gray)
    assert moved.shape == (64, 64) and moved.max() == 255
    # The marker is the brightest thing on the slice: where the moved mask is, the prepared picture is bright.
    assert image[moved > 200].mean() > 200 > image[moved == 0].mean()
    with pytest.raises(ValueError, match="differ"):
        preprocessing.mask_to_uint8(mask[:10] > 0.5, gray)


def test_the_outline_is_the_mask_on_the_pictures_pixels_with_its_area():
    gray, mask = (array / 255.0 for array in phantom_with_mask(11, "meningioma", 256))
    preprocessing = Preprocessing(img_size=128)
    on_input = preprocessing.mask_to_uint8(mask > 0.5, gray).astype(np.float32) / 255
    outline = outline_on_picture(on_input, gray, preprocessing, pixel_spacing_mm=(0.5, 0.25))
    truth = mask > 0.5
    assert overlap(outline.mask, truth).dice > 0.9  # a model that outputs the true mask outlines the tumour
    assert outline.square_mm == pytest.approx(outline.pixels * 0.125)
    assert "mm²" in outline.area_text() and len(outline.contours) == 1
    assert "no mm²" in outline_on_picture(on_input, gray, preprocessing, None).area_text()
    nothing = outline_on_picture(np.zeros((128, 128), np.float32), gray, preprocessing, (1.0, 1.0))
    assert nothing.pixels == 0 and nothing.area_text() == "no region outlined"


def test_a_speck_under_the_minimum_is_no_region_and_the_heads_disagree_by_the_same_rule():
    masks = np.zeros((2, 100, 100), np.float32)
    minimum = int(np.ceil(MIN_REGION_FRACTION * 100 * 100))
    masks[0, :1, : minimum - 1] = 0.9  # one pixel short of the minimum
    masks[1, :1, :minimum] = 0.9
    assert region_pixels(masks).tolist() == [0, minimum]
    assert heads_disagree("glioma", 0) and heads_disagree("notumor", minimum)
    assert not heads_disagree("glioma", minimum) and not heads_disagree("notumor", 0)


def test_localisation_of_the_true_mask_is_perfect_and_a_flat_map_scores_as_the_baseline():
    size = 120
    head = disc(size, (60, 60), 50)
    tumour = disc(size, (40, 70), 8)
    assert overlap(tumour, tumour).dice == 1.0 and overlap(tumour, tumour).iou == 1.0
    assert overlap(np.zeros_like(tumour), tumour).dice == 0.0  # nothing outlined shows nothing of the tumour
    perfect = score(tumour.astype(np.float32), tumour, head)
    assert perfect.hit and perfect.heat_share == 1.0
    for centre in ((60, 60), (40, 70)):  # the head's centre off the tumour, then a tumour on the head's centre
        on_tumour = disc(size, centre, 8)
        flat = score(head.astype(np.float32), on_tumour, head)
        assert flat.hit == flat.baseline_hit
        assert flat.heat_share == pytest.approx(flat.baseline_share)


def test_the_drawn_outline_lies_on_the_regions_edge_and_leaves_the_rest_of_the_picture_alone():
    size = 128
    gray = np.zeros((size, size), np.float32)
    gray[8:120, 8:120] = 0.5
    region = disc(size, (64, 64), 20)
    outline = outline_on_picture(
        region.astype(np.float32), gray, Preprocessing(img_size=size, crop_to_head=False), None
    )
    drawn = draw_outline(gray, outline)
    yellow = (drawn[..., 0] == 255) & (drawn[..., 1] == 255) & (drawn[..., 2] == 0)
    assert yellow.any()
    rows, columns = np.nonzero(yellow)
    distance = np.sqrt((rows - 64) ** 2 + (columns - 64) ** 2)
    assert np.all(np.abs(distance - 20) <= 2)  # on the disc's edge
    untouched = ~yellow
    assert np.array_equal(drawn[untouched][:, 0], np.rint(gray * 255).astype(np.uint8)[untouched])


def test_a_region_is_there_only_when_its_evidence_reaches_the_runs_presence_level():
    size = 64
    faint, sure = np.zeros((size, size), np.float32), np.zeros((size, size), np.float32)
    faint[10:30, 10:30] = 0.7  # a large region the head is not sure of
    sure[40:46, 40:46] = 0.99  # a small one it is sure of
    masks = np.stack([faint, sure])
    level = presence_level(np.stack([faint] * 49 + [np.zeros_like(faint)]))  # no-tumour slices that look faint
    assert level == pytest.approx(0.7)
    assert region_pixels(masks, 0.8).tolist() == [0, 36]  # the faint region is no region at that level
    assert region_pixels(masks).tolist() == [400, 36]  # at the mask threshold alone, both are
    assert region_evidence(masks) == pytest.approx([0.7, 0.99])
    gray = np.full((size, size), 0.5, np.float32)
    preprocessing = Preprocessing(img_size=size, crop_to_head=False)
    assert outline_on_picture(faint, gray, preprocessing, None, presence=0.8).pixels == 0
    assert presence_level(np.zeros((0, size, size), np.float32)) == 0.5
