"""Abstention and the "not a brain MRI" gate: the rules, their storage, and the answers they produce."""

import json
import shutil

import numpy as np
import pytest

from core.decide.assessment import NOT_MRI, OK, UNCERTAIN, assess
from core.io.scan_io import load_scan
from core.model.checkpoint import CheckpointError, read_metadata, write_json_atomic
from core.model.inference import Classifier
from core.model.ood import GATE_FILE, GateSettings, OodGate, fit_gate
from train import safety
from train.abstention import choose_threshold, selective_summary
from train.non_mri import non_mri_images


def test_threshold_is_the_lowest_meeting_the_target_risk():
    confidence = np.array([0.99, 0.95, 0.9, 0.8, 0.7, 0.6])
    correct = np.array([True, True, True, False, True, False])
    assert choose_threshold(confidence, correct, target_risk=0.0) == 0.9
    assert choose_threshold(confidence, correct, target_risk=0.25) == 0.7  # 1 error in 5
    assert choose_threshold(confidence, correct, target_risk=0.5) == 0.6
    assert choose_threshold(confidence, ~correct | True, target_risk=0.0) == 0.6  # all right: answer all
    assert choose_threshold(confidence, np.zeros(6, bool), target_risk=0.1) == 1.0  # never good enough


def test_ties_at_the_threshold_are_answered_together():
    confidence = np.array([0.9, 0.8, 0.8, 0.8])
    correct = np.array([True, True, False, True])
    # Cutting inside the tie would promise a risk the rule cannot deliver: all three 0.8s go together.
    assert choose_threshold(confidence, correct, target_risk=0.0) == 0.9


def test_selective_summary_counts():
    summary = selective_summary(np.array([0.9, 0.8, 0.4]), np.array([True, False, False]), threshold=0.5)
    assert summary == {
        "n": 3,
        "answered": 2,
        "coverage": pytest.approx(2 / 3),
        "accuracy": 0.5,
        "errors_answered": 1,
        "errors_referred": 1,
    }


def test_gate_rejects_far_signatures_and_survives_a_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    train, validation = rng.normal(size=(400, 12)), rng.normal(size=(200, 12))
    gate = fit_gate(train, validation)
    assert gate.direction is None  # no non-MRI pictures given: the mixture alone, as gates before it
    assert gate.rejects(validation).mean() <= 0.01
    assert gate.rejects(rng.normal(loc=6.0, size=(50, 12))).all()
    sha256 = gate.save(tmp_path)
    loaded = OodGate.load(tmp_path, sha256)
    assert np.array_equal(loaded.scores(validation), gate.scores(validation))
    assert loaded.scores(validation[:1]).shape == (1,)
    with pytest.raises(CheckpointError, match="does not match the sha256"):
        OodGate.load(tmp_path, "0" * 64)


def test_the_gate_scores_are_the_fitted_mixtures_own_negative_log_likelihood():
    """The score is written out with numpy (scipy.stats and PyTorch's distributions cost a fresh server's first
    verdict a second to import); it must be exactly what scikit-learn's fitted mixture and scipy say."""
    from scipy.special import logsumexp
    from scipy.stats import multivariate_normal
    from sklearn.mixture import GaussianMixture

    rng = np.random.default_rng(1)
    train = np.concatenate([rng.normal(size=(300, 6)), rng.normal(loc=3.0, scale=0.5, size=(300, 6))])
    gate = fit_gate(train, train)
    points = np.concatenate([train[:20], rng.normal(loc=8.0, size=(5, 6))])
    projected = ((points - gate.center) / gate.scale) @ gate.axes.T
    by_scipy = -logsumexp(
        [
            np.log(weight) + multivariate_normal.logpdf(projected, mean, covariance)
            for weight, mean, covariance in zip(gate.weights, gate.means, gate.covariances, strict=True)
        ],
        axis=0,
    )
    np.testing.assert_allclose(gate.scores(points), by_scipy, rtol=1e-9)
    refitted = GaussianMixture(len(gate.weights), covariance_type="full", reg_covar=1e-3, random_state=0)
    refitted.fit((train - gate.center) / gate.scale @ gate.axes.T)
    np.testing.assert_allclose(gate.scores(points), -refitted.score_samples(projected), rtol=1e-9)


def test_the_second_stage_refuses_what_lies_close_but_to_one_side_and_survives_a_round_trip(tmp_path):
    """Pictures 4 standard deviations off along one axis fall inside the broad MRI mixture (as an abdominal
    CT fell inside it); taught with such pictures, the second stage refuses new ones, at a validation cost set
    by its percentile."""
    rng = np.random.default_rng(0)
    train, validation = rng.normal(size=(1000, 12)), rng.normal(size=(500, 12))
    aside = np.zeros(12)
    aside[0] = 4.0

    def off_to_one_side(n):
        return rng.normal(size=(n, 12)) * 0.3 + aside

    settings = GateSettings(percentile=99.9, direction_percentile=99.0)
    mixture_only = fit_gate(train, validation, settings=settings)
    gate = fit_gate(train, validation, off_to_one_side(200), settings)
    new = off_to_one_side(200)
    assert mixture_only.rejects(new).mean() < 0.2
    assert gate.rejects(new).mean() > 0.95
    assert gate.rejects(validation).mean() <= 0.02  # 0.1 % for the mixture plus 1 % for the second stage
    loaded = OodGate.load(tmp_path, gate.save(tmp_path))
    assert (
        np.array_equal(loaded.rejects(new), gate.rejects(new))
        and loaded.direction_threshold == gate.direction_threshold
    )


def test_training_writes_the_safety_settings_and_their_measurements(tiny_weights):
    metadata = read_metadata(tiny_weights)
    assert 0.0 <= metadata["abstention"]["threshold"] <= 1.0 and "validation" in metadata["abstention"]["rule"]
    assert (tiny_weights / GATE_FILE).is_file() and len(metadata["ood"]["sha256"]) == 64
    metrics = json.loads((tiny_weights / "metrics.json").read_text())
    non_mri = metrics["ood"]["non_mri"]
    assert non_mri["n"] == len(non_mri_images()) and non_mri["rejected"] + len(non_mri["accepted"]) == non_mri["n"]
    assert metrics["ood"]["test_full_false_rejection"]["n"] == metrics["test"]["full"]["n"]
    by_source = metrics["ood"]["test_full_false_rejection"]["by_source"]
    assert sum(part["n"] for part in by_source.values()) == metrics["test"]["full"]["n"]
    assert set(non_mri["by_kind"]) == {
        "chest radiograph",
        "limb radiograph",
        "abdominal CT",
        "ultrasound",
        "spine MRI",
        "knee MRI",
    }
    assert metadata["ood"]["direction_threshold"] < float("inf")  # the second stage was taught
    for subset in ("validation", "test_full", "test_leak_free"):
        assert metrics["abstention"][subset]["n"] > 0
        assert len(metrics["abstention"][f"{subset}_tradeoff"]) > 1


def test_blank_and_noise_are_not_mri_and_get_no_class(tiny_weights):
    classifier = Classifier(tiny_weights, device="cpu")
    blank, noise = np.zeros((200, 200), np.float32), np.random.default_rng(1).random((200, 200), np.float32)
    for answer in assess(classifier, [blank, noise]):
        assert answer.status == NOT_MRI and answer.prediction == "" and "no class is given" in answer.message
        assert sum(answer.probabilities.values()) == pytest.approx(1.0)  # still there, on demand


def test_low_confidence_is_uncertain_with_the_threshold_in_the_message(tmp_path, answering_weights, synthetic_dataset):
    strict = tmp_path / "strict"
    shutil.copytree(answering_weights, strict)
    metadata = read_metadata(strict)
    write_json_atomic(strict / "metadata.json", {**metadata, "abstention": {"threshold": 0.999}})
    scan = sorted((synthetic_dataset / "Testing" / "glioma").iterdir())[0]
    gray = load_scan(scan.read_bytes(), scan.name).render()
    (answer,) = assess(Classifier(strict, device="cpu"), [gray])
    assert answer.status == UNCERTAIN and answer.prediction == "" and "99.9 %" in answer.message
    (answer,) = assess(Classifier(answering_weights, device="cpu"), [gray])
    assert answer.status == OK and answer.prediction


def test_a_damaged_gate_file_is_a_clear_error(tmp_path, tiny_weights):
    damaged = tmp_path / "damaged"
    shutil.copytree(tiny_weights, damaged)
    (damaged / GATE_FILE).write_bytes((damaged / GATE_FILE).read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(CheckpointError, match=r"ood\.safetensors does not match"):
        Classifier(damaged, device="cpu")


def test_refitting_existing_weights_keeps_the_weights_and_their_hash(tmp_path, tiny_weights, synthetic_dataset):
    refit = tmp_path / "refit"
    shutil.copytree(tiny_weights, refit)
    before = read_metadata(refit)
    assert safety.main(["--weights", str(refit), "--data", str(synthetic_dataset), "--workers", "1"]) == 0
    after = read_metadata(refit)
    assert after["weights_sha256"] == before["weights_sha256"]
    assert after["ood"]["threshold"] == pytest.approx(before["ood"]["threshold"])
    Classifier(refit, device="cpu")  # loads: every recorded hash matches


def test_refitting_refuses_data_that_differs_from_the_run(tmp_path, tiny_weights, synthetic_dataset, capsys):
    data = tmp_path / "data"
    shutil.copytree(synthetic_dataset, data)
    victim = sorted((data / "Training" / "glioma").glob("*.png"))[0]
    victim.write_bytes(load_png_of_noise())
    assert safety.main(["--weights", str(tiny_weights), "--data", f"mri={data}", "--workers", "1"]) == 2
    assert "differ from the run's manifest" in capsys.readouterr().err
    # under another source name the files are not the run's at all
    assert safety.main(["--weights", str(tiny_weights), "--data", str(data), "--workers", "1"]) == 2
    assert "not in the run's manifest" in capsys.readouterr().err


def load_png_of_noise() -> bytes:
    return non_mri_images()[-1][1]


def test_the_shipped_gate_refuses_other_body_parts_it_was_not_shown():
    """Issue 19: a drawn chest radiograph passed as "uncertain 41 %". Fresh drawings (a seed neither taught
    nor measured) of every kind, through the app's own decoding path, must all be refused as not MRI."""
    import io

    from PIL import Image

    from core.run.paths import DEFAULT_WEIGHTS
    from train.other_body_parts import other_body_parts

    def png(array):
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format="PNG")
        return buffer.getvalue()

    drawings = other_body_parts(np.random.default_rng(99), 3)
    answers = assess(Classifier(DEFAULT_WEIGHTS, device="cpu"), [load_scan(png(a), n).render() for n, a in drawings])
    passed = [name for (name, _), answer in zip(drawings, answers, strict=True) if answer.status != NOT_MRI]
    assert not passed, passed
