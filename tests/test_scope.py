"""core.decide.scope: a scan is outside the validated scope only for a known fact the report can check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.decide.scope import DICOM, NIFTI, PICTURE, ScanFacts, ScopeReport, check_scope

SHIPPED = Path(__file__).resolve().parents[1] / "weights" / "default"


def _report(tmp_path: Path, planes: dict | None = None) -> ScopeReport:
    (tmp_path / "split_manifest.csv").write_text("source,path,class\na,Training/glioma/x.jpg,glioma\n")
    metadata = {
        "data": {
            "validated_scope": {
                "sources": ["a", "b"],
                "sequences_named": {"not named": 100, "T1": 5, "T2": 9},
                "planes_named": planes or {"not named": 114},
            }
        }
    }
    metrics = {
        "test": {
            "leak_free": {
                "n": 50,
                "accuracy": 0.8,
                "outcomes": {"answered": 20, "accuracy_when_answered": 0.95},
                "breakdown": {"sequence": {"T2": {"n": 10, "accuracy": 0.6, "outcomes": {"answered": 0}}}},
            }
        }
    }
    return ScopeReport.from_run(metadata, metrics, tmp_path)


def test_the_report_names_what_was_validated(tmp_path):
    report = _report(tmp_path)
    assert report.sources == ("a", "b")
    assert report.sequences == ("T2", "T1")  # most frequent first, "not named" left out
    assert report.planes == ()
    assert report.file_types == (PICTURE,)


def test_a_known_sequence_gets_its_own_figure(tmp_path):
    check = check_scope(_report(tmp_path), ScanFacts.from_name(PICTURE, "astrocitoma_T2_007.jpeg"))
    assert check.inside is True
    assert check.like_this.what == "held-out T2 slices"
    assert "On 10 held-out T2 slices it was right 60.0 % of the time" in check.like_this.sentence()
    assert "answered none of them" in check.like_this.sentence()


def test_an_unvalidated_sequence_is_outside(tmp_path):
    check = check_scope(_report(tmp_path), ScanFacts(PICTURE, sequence="FLAIR", sequence_from="DICOM tags"))
    assert check.inside is False
    assert "FLAIR (DICOM tags)" in check.reasons[0] and "T2, T1" in check.reasons[0]
    assert check.like_this.n == 50  # no FLAIR figure: the overall leak-free one


def test_an_unknown_sequence_cannot_be_judged(tmp_path):
    check = check_scope(_report(tmp_path), ScanFacts.from_name(PICTURE, "scan.png"))
    assert check.inside is None
    assert check.reasons == ("The sequence is not known; the model was tested on T2, T1 slices.",)
    assert "on the 20 it answered (not uncertain), 95.0 %" in check.like_this.sentence()


@pytest.mark.parametrize("file_type", [DICOM, NIFTI])
def test_a_file_type_never_trained_on_is_outside(tmp_path, file_type):
    check = check_scope(_report(tmp_path), ScanFacts(file_type, sequence="T1", sequence_from="DICOM tags"))
    assert check.inside is False
    assert "exported pictures (JPEG, PNG) only" in check.reasons[0]


def test_planes_count_only_when_the_training_names_stated_them(tmp_path):
    unrecorded = check_scope(_report(tmp_path), ScanFacts(PICTURE, "T1", "file name", "sagittal", "file name"))
    assert unrecorded.inside is True
    stated = _report(tmp_path, planes={"axial": 10})
    assert check_scope(stated, ScanFacts(PICTURE, "T1", "file name", "sagittal", "file name")).inside is False


@pytest.mark.skipif(not (SHIPPED / "metrics.json").is_file(), reason="the shipped model's report is not here")
def test_the_shipped_report_has_a_figure_per_sequence_it_was_tested_on():
    metadata = json.loads((SHIPPED / "metadata.json").read_text())
    metrics = json.loads((SHIPPED / "metrics.json").read_text())
    report = ScopeReport.from_run(metadata, metrics, SHIPPED)
    assert set(report.by_sequence) == set(report.sequences) == {"T1", "T1C", "T2"}
    assert report.file_types == (PICTURE,)
