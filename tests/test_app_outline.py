"""The Classify page of a network with a mask head: the outline drawn on the scan is the model's mask."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
from PIL import Image

import core.decide.assessment
from core.decide.assessment import assess
from core.decide.outline import outline_on_picture
from core.io.image_io import read_image
from core.labels import display_name
from core.model.inference import Classifier
from core.report.intervals import percent
from tests.apptest import serve, start, upload
from tests.phantoms import phantom


def png(seed: int, label: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(phantom(seed, label, 96)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_the_outline_on_the_page_is_the_models_mask_with_its_area(tmp_path, monkeypatch, outlining_weights):
    serve(monkeypatch, tmp_path / "weights", {"default": outlining_weights})
    classifier = Classifier(outlining_weights, device="cpu")
    size = classifier.preprocessing.img_size
    known = np.zeros((size, size), np.float32)
    known[size // 4 : size // 2, size // 3 : size // 2 + 4] = 1.0  # the mask head's output for this slice
    real_assess = core.decide.assessment.assess

    def with_known_mask(model, grays):
        return [dataclasses.replace(answer, tumour_mask=known) for answer in real_assess(model, grays)]

    monkeypatch.setattr(core.decide.assessment, "assess", with_known_mask)
    app = start()
    data = png(5, "glioma")
    upload(app, ("slice.png", data))
    assert not app.exception
    gray = read_image(data)
    expected = outline_on_picture(known, gray, classifier.preprocessing, None, classifier.outline_presence)
    answer = assess(classifier, [gray])[0]
    caption = next(image.proto.imgs[0].caption for image in app.get("image"))
    assert expected.pixels > 0
    assert caption.startswith(f"Outlined tumour region (yellow): {expected.pixels:,} pixels (no pixel spacing")
    assert f"calibrated probability of {display_name(answer.top_class).lower()} {percent(answer.confidence)}" in caption
    # Grad-CAM stays one click away, as the second explanation.
    assert any(e.label.startswith("Grad-CAM") and not e.proto.expanded for e in app.expander)


def test_a_real_mask_head_answer_reaches_the_page_as_its_own_outline(tmp_path, monkeypatch, outlining_weights):
    serve(monkeypatch, tmp_path / "weights", {"default": outlining_weights})
    app = start()
    data = png(8, "meningioma")
    upload(app, ("slice.png", data))
    assert not app.exception
    classifier = Classifier(outlining_weights, device="cpu")
    gray = read_image(data)
    answer = assess(classifier, [gray])[0]
    assert answer.tumour_mask is not None and answer.tumour_mask.shape == (64, 64)
    drawn = outline_on_picture(answer.tumour_mask, gray, classifier.preprocessing, None, classifier.outline_presence)
    caption = next(image.proto.imgs[0].caption for image in app.get("image"))
    if drawn.pixels:
        assert f"{drawn.pixels:,} pixels" in caption
    else:
        assert caption.startswith("Image as classified: no tumour region outlined")
    assert f"{percent(answer.confidence)}" in caption and "calibrated probability of " in caption
