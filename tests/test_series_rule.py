"""The series rule on fabricated per-slice answers: each letter is one slice's answer."""

import pytest

from core.decide.assessment import NOT_MRI, OK, UNCERTAIN, Assessment
from core.decide.series_rule import SeriesRule, series_answer

CLASSES = ["glioma", "meningioma", "notumor", "pituitary"]
CODES = {"g": "glioma", "m": "meningioma", "n": "notumor", "p": "pituitary"}


def slices(pattern: str, confidence: float = 0.9) -> list[Assessment | None]:
    """g/m/n/p: answered that class; u: uncertain; x: not a brain MRI; _: no tissue (not classified)."""
    answers = []
    for code in pattern:
        if code == "_":
            answers.append(None)
            continue
        top = CODES.get(code, "glioma")
        rest = (1 - confidence) / (len(CLASSES) - 1)
        probabilities = {name: confidence if name == top else rest for name in CLASSES}
        status = {"u": UNCERTAIN, "x": NOT_MRI}.get(code, OK)
        answers.append(Assessment(status, probabilities))
    return answers


@pytest.mark.parametrize(
    ("pattern", "run_length", "status", "prediction", "supporting"),
    [
        ("__nnnngggnnnn__", 3, OK, "glioma", (6, 7, 8)),
        ("__nnnnggnnnnn__", 3, OK, "notumor", (2, 3, 4, 5, 8, 9, 10, 11, 12)),  # a run of 2 is not enough
        ("__nnnnggnnnnn__", 2, OK, "glioma", (6, 7)),
        ("nnnngnngnnnngnn", 2, OK, "notumor", (0, 1, 2, 3, 5, 6, 8, 9, 10, 11, 13, 14)),  # scattered: noise
        ("nnnggugggnnn", 3, OK, "glioma", (6, 7, 8)),  # an uncertain slice breaks a run: only the run of 3 counts
        ("nnggmnnn", 3, OK, "glioma", (2, 3)),  # tumour classes mixed within a run still form a run
        ("uuuuuunnnn", 3, UNCERTAIN, "", ()),  # 4 of 10 below the healthy share
        ("uuuuunnnnn", 3, OK, "notumor", (5, 6, 7, 8, 9)),  # exactly half
        ("xxxx__", 3, NOT_MRI, "", ()),
        ("______", 3, UNCERTAIN, "", ()),
    ],
)
def test_the_strict_rule(pattern, run_length, status, prediction, supporting):
    answer = series_answer(slices(pattern), SeriesRule(run_length=run_length, bridge_unanswered=False))
    assert (answer.status, answer.prediction, answer.supporting) == (status, prediction, supporting)


@pytest.mark.parametrize(
    ("pattern", "status", "prediction", "supporting"),
    [
        ("nnnggugggnnn", OK, "glioma", (3, 4, 6, 7, 8)),  # the uncertain slice is passed over: one run of 5
        ("nngu_xgnnn", OK, "glioma", (2, 6)),  # unanswered slices, of every kind, are passed over...
        ("nngngnnn", OK, "notumor", (0, 1, 3, 5, 6, 7)),  # ...but a "no tumour" answer ends a run
    ],
)
def test_the_rule_that_passes_over_unanswered_slices(pattern, status, prediction, supporting):
    answer = series_answer(slices(pattern), SeriesRule(run_length=2, bridge_unanswered=True))
    assert (answer.status, answer.prediction, answer.supporting) == (status, prediction, supporting)


def test_the_class_is_the_one_most_run_slices_state_and_a_tie_goes_to_the_more_confident():
    answer = series_answer(slices("nnpppmmnn"), SeriesRule(run_length=3))
    assert answer.prediction == "pituitary" and answer.supporting == (2, 3, 4)
    tied = slices("nnppmmnn")
    tied[4:6] = slices("mm", confidence=0.95)
    answer = series_answer(tied, SeriesRule(run_length=3))
    assert answer.prediction == "meningioma" and answer.supporting == (4, 5)


def test_the_answer_says_why_in_words_and_counts_every_outcome():
    answer = series_answer(slices("__nnggg_ux"), SeriesRule(run_length=3))
    assert answer.message.startswith("3 slices are answered Glioma, the longest run of consecutive tumour slices")
    assert answer.counts == {"no_tissue": 3, "notumor": 2, "glioma": 3, "uncertain": 1, "not_mri": 1}
    sentence = SeriesRule(run_length=4, healthy_share=0.5).sentence()
    assert "at least 4 consecutive slices" in sentence and "at least 50.0 % of the slices with tissue" in sentence
    assert SeriesRule(run_length=1).sentence().startswith("Tumour when any slice is answered with a tumour class")
    doubtful = series_answer(slices("uuuunn"), SeriesRule(run_length=3))
    assert "2 of 6 slices with tissue have an answer" in doubtful.message
