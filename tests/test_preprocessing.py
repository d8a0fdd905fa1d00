import cv2
import numpy as np
import torch

from core.io.image_io import read_image
from core.model.inference import Classifier
from core.model.preprocessing import Preprocessing, head_bounding_box, head_mask, normalize, standardize, to_unit_range
from tests.phantoms import phantom
from train.dataset import prepare


def test_output_is_square_uint8_of_the_input_size():
    for shape in [(300, 168), (64, 512), (512, 512), (7, 9)]:
        gray = np.random.default_rng(0).random(shape, dtype=np.float32)
        out = Preprocessing(img_size=48).to_uint8(gray)
        assert out.shape == (48, 48) and out.dtype == np.uint8


def test_crop_to_head_ignores_black_border_and_stray_labels():
    head = phantom(3, "glioma", 128).astype(np.float32) / 255
    framed = np.zeros((400, 300), np.float32)
    framed[150:278, 60:188] = head
    framed[380:390, 250:290] = 1.0  # a burnt-in text label far from the head
    top, bottom, left, right = head_bounding_box(framed)
    rows, cols = np.nonzero(framed[:300] > 0.1)  # the head itself
    assert top <= rows.min() and bottom > rows.max() and left <= cols.min() and right > cols.max()
    assert bottom < 380 and right < 250  # the label is left out
    assert (bottom - top) * (right - left) < 0.4 * framed.size
    preprocessing = Preprocessing(img_size=64)
    difference = np.abs(preprocessing.to_uint8(framed).astype(int) - preprocessing.to_uint8(head).astype(int))
    assert difference.mean() < 8


def test_blank_image_passes_through_without_error():
    out = Preprocessing(img_size=32).to_uint8(np.zeros((50, 50), np.float32))
    assert out.shape == (32, 32) and out.max() == 0


def test_settings_round_trip_through_metadata():
    settings = Preprocessing(img_size=96, crop_to_head=False, mean=0.21, std=0.3)
    assert Preprocessing.from_dict(settings.to_dict()) == settings


def test_normalize_is_the_training_path_without_augmentation():
    batch = torch.randint(0, 256, (3, 16, 16), dtype=torch.uint8)
    settings = Preprocessing(img_size=16, mean=0.3, std=0.2)
    assert torch.equal(normalize(batch, settings), standardize(to_unit_range(batch), settings))


def test_training_and_serving_see_identical_pixels(synthetic_dataset, tiny_weights):
    classifier = Classifier(tiny_weights, device="cpu")
    data = prepare(synthetic_dataset, Preprocessing.from_dict(classifier.metadata["preprocessing"]), workers=1)
    for indexed, trained_on in list(zip(data.files, data.images, strict=True))[::7]:
        served = classifier.prepare(read_image(indexed.path))
        assert np.array_equal(served, trained_on), indexed.relative


def test_project_to_original_inverts_the_geometry():
    head = phantom(5, "meningioma", 120).astype(np.float32) / 255
    gray = np.zeros((200, 150), np.float32)
    gray[30:150, 10:130] = head
    preprocessing = Preprocessing(img_size=64)
    seen = preprocessing.to_uint8(gray).astype(np.float32) / 255
    back = preprocessing.project_to_original(seen, gray)
    assert back.shape == gray.shape
    inside = back > 0.05
    assert np.corrcoef(back[inside], gray[inside])[0, 1] > 0.9
    assert back[:25].max() == 0 and back[160:].max() == 0  # outside the head box stays empty


def test_the_head_mask_is_the_cropped_region_with_its_dark_holes_filled():
    gray = np.zeros((200, 160), np.float32)
    cv2.ellipse(gray, (80, 100), (60, 80), 0, 0, 360, 0.8, thickness=-1)
    cv2.circle(gray, (80, 100), 20, 0.0, thickness=-1)  # a dark cyst inside the head
    gray[5:9, 5:40] = 1.0  # a text label in the corner: not the head
    mask = head_mask(gray)
    assert mask[100, 80]  # the cyst belongs to the head
    assert not mask[7, 20] and not mask[2, 150]  # neither the label nor the background
    top, bottom, left, right = head_bounding_box(gray)
    rows, columns = np.nonzero(mask)
    assert top <= rows.min() and rows.max() < bottom and left <= columns.min() and columns.max() < right
    assert head_mask(np.zeros((50, 50), np.float32)).all()  # no head found: the whole picture, as the crop
