"""One answer for a whole series, from the answers its slices get one by one.

Each slice is assessed exactly as a single uploaded slice would be (core.decide.assessment: calibrated
probabilities, the "not a brain MRI" gate, the abstention threshold), so a slice's status is the one the
app would show for it alone. The series answer then follows a rule that is stated, not learned:

  tumour     at least `run_length` consecutive slices are answered "ok" with a tumour class (slices without
             an answer between them passed over, with `bridge_unanswered`); the class is the one most of
             those slices state (ties: the larger summed confidence).
  no tumour  no such run, and at least `healthy_share` of the slices with tissue are answered "no tumour".
  not_mri    every slice with tissue is refused as not a brain MRI slice.
  uncertain  otherwise: the slices do not agree enough for an answer.

The operating point (DEFAULT_RULE) was measured on pseudo-series of held-out slices (bench/series_rule.py,
bench/results/series_rule-cpu.json): run_length 1 had the best balanced accuracy. Each longer run cost tumour
series (a run of 2 answered 6 percentage points fewer 8-slice tumours rightly, 15 fewer 4-slice ones: the
shipped model abstains on a third of the slices) and bought nothing in return: no healthy test slice of
either source was ever answered with a tumour class. On healthy series from scanners unlike the training
collections that can change, and `run_length` is the one setting to raise then.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from core.decide.assessment import NOT_MRI, OK, UNCERTAIN, Assessment
from core.labels import NO_TUMOUR, display_name
from core.report.intervals import percent, plural


@dataclass(frozen=True)
class SeriesRule:
    run_length: int = 1  # consecutive tumour slices needed for a tumour answer
    healthy_share: float = 0.5  # share of slices with tissue answered "no tumour" needed for a no-tumour answer
    # Whether a slice without an answer (uncertain, not MRI, no tissue) between tumour slices is passed over
    # rather than ending the run: only a "no tumour" answer ends it. The shipped model abstains on a third of
    # the test slices, so runs of strictly consecutive answers are rare even inside a tumour.
    bridge_unanswered: bool = True

    def sentence(self) -> str:
        if self.run_length == 1:
            return (
                "Tumour when any slice is answered with a tumour class (the class most such slices state); no "
                f"tumour when none is and at least {percent(self.healthy_share)} of the slices with tissue are "
                "answered “no tumour”; otherwise uncertain."
            )
        between = " (slices without an answer between them are passed over)" if self.bridge_unanswered else ""
        return (
            f"Tumour when at least {self.run_length} consecutive slices are each answered with a tumour class"
            f"{between}, and the class is the one most of them state; no tumour when there is no such run and at "
            f"least {percent(self.healthy_share)} of the slices with tissue are answered “no tumour”; otherwise "
            "uncertain."
        )


DEFAULT_RULE = SeriesRule()


@dataclass(frozen=True)
class SeriesAnswer:
    status: str  # OK, UNCERTAIN or NOT_MRI
    prediction: str  # the class stated; "" unless status is OK
    supporting: tuple[int, ...]  # slice indices (in series order) the answer rests on
    message: str  # the answer's reason, in words
    counts: dict[str, int]  # slices per outcome: each class answered, "uncertain", "not_mri", "no_tissue", ...


def series_answer(assessments: list[Assessment | None], rule: SeriesRule = DEFAULT_RULE) -> SeriesAnswer:
    """Per-slice assessments in slice order (None for a slice without tissue) -> the series' answer."""
    counts = Counter(_outcome(a) for a in assessments)
    with_tissue = [a for a in assessments if a is not None]
    runs = [run for run in _tumour_runs(assessments, rule.bridge_unanswered) if len(run) >= rule.run_length]
    if runs:
        in_runs = [i for run in runs for i in run]
        votes = Counter(assessments[i].prediction for i in in_runs)
        weight = {
            name: sum(assessments[i].confidence for i in in_runs if assessments[i].prediction == name) for name in votes
        }
        stated = max(votes, key=lambda name: (votes[name], weight[name]))
        supporting = tuple(i for i in in_runs if assessments[i].prediction == stated)
        longest = max(len(run) for run in runs)
        return SeriesAnswer(
            OK,
            stated,
            supporting,
            f"{plural(len(supporting), 'slice is', 'slices are')} answered {display_name(stated)}, the longest run "
            f"of consecutive tumour slices is {longest} (the rule needs {rule.run_length}).",
            dict(counts),
        )
    healthy = tuple(i for i, a in enumerate(assessments) if a is not None and a.prediction == NO_TUMOUR)
    if with_tissue and len(healthy) >= rule.healthy_share * len(with_tissue):
        return SeriesAnswer(
            OK,
            NO_TUMOUR,
            healthy,
            f"{len(healthy)} of {len(with_tissue)} slices with tissue are answered No tumour, and no "
            f"{rule.run_length} consecutive slices are answered with a tumour class.",
            dict(counts),
        )
    if with_tissue and all(a.status == NOT_MRI for a in with_tissue):
        return SeriesAnswer(
            NOT_MRI,
            "",
            (),
            "No slice of this series looks like the brain MRI slices the model was trained on, so no class is given.",
            dict(counts),
        )
    answered = sum(a.status == OK for a in with_tissue)
    return SeriesAnswer(
        UNCERTAIN,
        "",
        (),
        f"The slices do not agree enough for a series answer: {answered} of {len(with_tissue)} slices with tissue "
        f"have an answer, no {rule.run_length} consecutive ones state a tumour, and fewer than "
        f"{percent(rule.healthy_share)} state no tumour. Read the series without a model suggestion.",
        dict(counts),
    )


def _outcome(assessment: Assessment | None) -> str:
    if assessment is None:
        return "no_tissue"
    return assessment.prediction or assessment.status


def _tumour_runs(assessments: list[Assessment | None], bridge_unanswered: bool) -> list[list[int]]:
    """Maximal runs of consecutive slices each answered with a tumour class (any tumour class); with
    `bridge_unanswered`, slices without an answer neither end a run nor count in it."""
    runs, current = [], []
    for index, assessment in enumerate(assessments):
        stated = assessment.prediction if assessment is not None else ""
        if stated and stated != NO_TUMOUR:
            current.append(index)
        elif bridge_unanswered and not stated:
            continue
        elif current:
            runs.append(current)
            current = []
    return runs + ([current] if current else [])
