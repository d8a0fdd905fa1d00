"""The answer the product gives for one scan: a class, or a reason not to give one.

Every surface (app, batch CLI, printable report) asks this module, so a scan gets the same answer
everywhere. Probabilities are always the temperature-calibrated ones. In order:
  too_small  the picture is too small for the model's input size to support an answer
  not_mri    the picture holds several slices side by side (a montage; core/decide/layout.py)
  not_mri    the out-of-distribution gate finds the picture unlike the training scans (core/model/ood.py)
  uncertain  the calibrated confidence is below the threshold chosen on validation (train/safety.py), or the
             class head and the mask head disagree and validation chose to withhold the class then
  ok         a class is stated
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from core.decide.layout import count_slices
from core.decide.outline import Outline, disagreement_text, heads_disagree, outline_on_picture, region_pixels
from core.labels import display_name
from core.model.inference import Classifier, softmax
from core.model.ood import signatures
from core.report.intervals import percent

OK, UNCERTAIN, NOT_MRI, TOO_SMALL = "ok", "uncertain", "not_mri", "too_small"
# The model sees every picture resized to its input size (128 px a side for the shipped model). A picture
# less than half that a side is enlarged more than twice over, and the model classifies interpolation blur:
# in the red-team run, 24-32 px thumbnails were answered confidently and half of them wrongly.
MIN_SIDE_FRACTION = 0.5
NOT_MRI_MESSAGE = (
    "Not a brain MRI slice: the picture's layout, contrast and texture are unlike the training scans "
    "(photographs, documents, screenshots, X-rays, CT, ultrasound, other body parts and blank pictures are "
    "refused), so no class is given."
)


@dataclass(frozen=True)
class Assessment:
    status: str  # OK, UNCERTAIN or NOT_MRI
    probabilities: dict[str, float]  # calibrated, every class (shown on demand, never as the answer)
    message: str = ""
    # A network with a mask head: tumour probabilities over the model's input (S, S), and the outlined pixels
    # there (core/decide/outline.py); None for a classifier only.
    tumour_mask: np.ndarray | None = field(default=None, compare=False, repr=False)
    outlined_pixels: int | None = None

    @property
    def heads_disagree(self) -> bool:
        return self.outlined_pixels is not None and heads_disagree(self.top_class, self.outlined_pixels)

    @property
    def top_class(self) -> str:
        return max(self.probabilities, key=self.probabilities.get)

    @property
    def confidence(self) -> float:
        return max(self.probabilities.values())

    @property
    def prediction(self) -> str:
        """The class the product states: only when the status is ok."""
        return self.top_class if self.status == OK else ""


def assess(classifier: Classifier, grays: list[np.ndarray]) -> list[Assessment]:
    """Decoded grayscale scans (float, [0, 1]) -> one Assessment each."""
    if not grays:
        return []
    images = np.stack([classifier.prepare(gray) for gray in grays])
    logits, masks = classifier.logits_and_masks(images)
    probabilities = softmax(logits / classifier.temperature)
    outlined = None if masks is None else region_pixels(masks, classifier.outline_presence)
    if classifier.gate is None:
        outside = np.zeros(len(grays), dtype=bool)
    else:
        outside = classifier.gate.rejects(signatures(classifier, grays, images))
    answers = []
    for position, (gray, row, is_outside) in enumerate(zip(grays, probabilities, outside, strict=True)):
        scores = dict(zip(classifier.classes, map(float, row), strict=True))
        pixels = None if outlined is None else int(outlined[position])
        answer = (
            too_small(classifier, gray, scores)
            or several_slices(gray, scores)
            or _decide(classifier, scores, bool(is_outside), pixels)
        )
        if masks is not None:
            answer = dataclasses.replace(answer, tumour_mask=masks[position], outlined_pixels=pixels)
        answers.append(answer)
    return answers


# Pictures assessed at once, by every caller (the batch CLI, the app, Validate's decoding): large enough for
# the network's batch speed-up on 2 cores, small enough that one batch of 512-px pictures stays a few MB.
BATCH_SIZE = 32


def assess_or_none(classifier: Classifier, grays: list[np.ndarray]) -> list[Assessment | None]:
    """`assess`, with None for a picture that cannot be assessed: a batch that fails is tried picture by
    picture, so one bad picture never costs the others their answers. The caller says why a None has none."""
    try:
        return assess(classifier, grays)
    except MemoryError:
        raise
    except Exception:
        if len(grays) <= 1:
            return [None] * len(grays)
        return [answer for gray in grays for answer in assess_or_none(classifier, [gray])]


def shows_outline(answer: Assessment) -> bool:
    """Whether an answer has an outline to show: not for a classifier without a mask head, nor for a picture
    the model refused (its outline would be read as a finding the model is not fit to make). Callers that must
    first render the picture ask this before rendering it."""
    return answer.tumour_mask is not None and answer.status not in (NOT_MRI, TOO_SMALL)


def shown_outline(
    classifier: Classifier, answer: Assessment, picture: np.ndarray, pixel_spacing_mm: tuple[float, float] | None
) -> Outline | None:
    """The mask head's outline on the picture as every surface shows it; None where `shows_outline` says no."""
    if not shows_outline(answer):
        return None
    return outline_on_picture(
        answer.tumour_mask, picture, classifier.preprocessing, pixel_spacing_mm, classifier.outline_presence
    )


def minimum_side(img_size: int) -> int:
    return math.ceil(img_size * MIN_SIDE_FRACTION)


def picture_status(gray: np.ndarray, img_size: int) -> str:
    """The refusals that look at the decoded picture itself, in `assess`'s order: TOO_SMALL, NOT_MRI for a
    montage, or "" when the picture can be classified. Evaluation computes it while decoding (core.report.scoring)."""
    if min(gray.shape[:2]) < minimum_side(img_size):
        return TOO_SMALL
    if count_slices(gray) >= 2:
        return NOT_MRI
    return ""


def too_small(classifier: Classifier, gray: np.ndarray, probabilities: dict[str, float]) -> Assessment | None:
    """A TOO_SMALL assessment when the picture's shorter side is under the model's minimum, else None."""
    height, width = gray.shape[:2]
    size = classifier.preprocessing.img_size
    needed = minimum_side(size)
    if min(height, width) >= needed:
        return None
    return Assessment(
        TOO_SMALL,
        probabilities,
        f"The picture is {width}×{height} pixels, smaller than the {needed}×{needed} this model needs for an "
        f"answer (it reads pictures at {size}×{size}): a thumbnail is enlarged into blur. Classify the "
        "full-size image.",
    )


def several_slices(gray: np.ndarray, probabilities: dict[str, float]) -> Assessment | None:
    """A NOT_MRI assessment for a picture of several slices side by side (core/decide/layout.py), else None: the
    model answers for one slice, and gave one confident class for a sheet of four."""
    slices = count_slices(gray)
    if slices < 2:
        return None
    return Assessment(
        NOT_MRI,
        probabilities,
        f"This picture holds {slices} slices side by side (a montage, or a screenshot of a viewer's grid), and "
        "the model answers for one slice: no class is given. Export or crop the slices one at a time.",
    )


def _decide(
    classifier: Classifier, probabilities: dict[str, float], outside: bool, outlined_pixels: int | None = None
) -> Assessment:
    top = max(probabilities, key=probabilities.get)
    disagree = outlined_pixels is not None and heads_disagree(top, outlined_pixels)
    status = decide_status(classifier, max(probabilities.values()), outside, disagree)
    if status == NOT_MRI:
        return Assessment(NOT_MRI, probabilities, NOT_MRI_MESSAGE)
    if status == UNCERTAIN and disagree and probabilities[top] >= classifier.abstain_below:
        return Assessment(
            UNCERTAIN,
            probabilities,
            f"{disagreement_text(top)} Its calibrated confidence is {percent(probabilities[top])} for "
            f"{display_name(top).lower()}, but on held-out validation slices answers like this were wrong too "
            "often, so no class is stated.",
        )
    if status == UNCERTAIN:
        return Assessment(
            UNCERTAIN,
            probabilities,
            f"Its calibrated confidence here is {percent(probabilities[top])} for {display_name(top).lower()}; it "
            f"states a class only from {percent(classifier.abstain_below)}, the level set on held-out validation "
            "slices so that its answers there were right 99.0 % of the time.",
        )
    return Assessment(OK, probabilities)


def decide_status(classifier: Classifier, confidence: float, outside: bool, heads_disagree: bool = False) -> str:
    """The rule, in the order the product applies it; core.report.scoring uses it for whole evaluation sets."""
    if outside:
        return NOT_MRI
    if confidence < classifier.abstain_below:
        return UNCERTAIN
    if heads_disagree and classifier.disagreement_abstains:
        return UNCERTAIN
    return OK
