import csv
import io

import pytest

from core.assessment import Assessment
from core.predict import csv_columns
from core.results import ERROR, ScanResult, filter_results, results_csv, sort_results

CLASSES = ["glioma", "meningioma", "notumor", "pituitary"]


def result(name: str, status: str = "ok", top: str = "glioma", p: float = 0.9, message: str = "") -> ScanResult:
    rest = (1 - p) / 3
    probabilities = {c: (p if c == top else rest) for c in CLASSES}
    return ScanResult(name, "", status, message, Assessment(status, probabilities, message))


@pytest.fixture
def results():
    return [
        result("b.png", top="glioma", p=0.95),
        result("a.png", top="notumor", p=0.60),
        result("c.png", status="uncertain", top="meningioma", p=0.45, message="two classes close"),
        ScanResult("d.txt", "", ERROR, "Not a format this app can read."),
        result("e.png", top="pituitary", p=0.80),
    ]


def names(results):
    return [r.name for r in results]


def test_no_class_and_no_confidence_are_stated_unless_ok(results):
    uncertain, error = results[2], results[3]
    assert uncertain.prediction == "" and uncertain.confidence is None
    assert error.prediction == "" and error.confidence is None
    assert results[0].prediction == "glioma" and results[0].confidence == pytest.approx(0.95)


def test_filters(results):
    assert names(filter_results(results, statuses={"ok"})) == ["b.png", "a.png", "e.png"]
    assert names(filter_results(results, statuses={"uncertain", ERROR})) == ["c.png", "d.txt"]
    # results without a stated class are not hidden by a class or confidence filter
    assert names(filter_results(results, predictions={"glioma"})) == ["b.png", "c.png", "d.txt"]
    assert names(filter_results(results, min_confidence=0.7)) == ["b.png", "c.png", "d.txt", "e.png"]


def test_sorting_puts_missing_values_last(results):
    assert names(sort_results(results, "confidence", descending=True))[:3] == ["b.png", "e.png", "a.png"]
    assert names(sort_results(results, "confidence"))[:3] == ["a.png", "e.png", "b.png"]
    assert set(names(sort_results(results, "confidence"))[3:]) == {"c.png", "d.txt"}
    assert names(sort_results(results, "file")) == ["a.png", "b.png", "c.png", "d.txt", "e.png"]
    assert names(sort_results(results, "prediction"))[:3] == ["b.png", "a.png", "e.png"]
    with pytest.raises(ValueError, match="confidence"):
        sort_results(results, "size")


def test_csv_has_the_cli_columns_plus_view(results):
    rows = list(csv.DictReader(io.StringIO(results_csv(results, CLASSES))))
    expected = csv_columns(CLASSES)
    expected.insert(1, "view")
    assert list(rows[0]) == expected
    assert rows[0]["prediction"] == "glioma" and float(rows[0]["confidence"]) == pytest.approx(0.95)
    assert rows[2]["status"] == "uncertain" and rows[2]["prediction"] == "" and rows[2]["confidence"] == ""
    assert float(rows[2]["p_meningioma"]) == pytest.approx(0.45)  # the scores stay available
    assert rows[3]["status"] == ERROR and rows[3]["message"].startswith("Not a format") and rows[3]["p_glioma"] == ""
