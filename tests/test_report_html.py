import re
from datetime import UTC, datetime
from html import escape

import numpy as np

from core.decide.assessment import Assessment
from core.io.png import png_bytes
from core.labels import ERROR
from core.report.report_html import DISCLAIMER, ReportEntry, build_report
from core.report.results import ScanResult
from core.run.model_info import ModelInfo

CLASSES = ["glioma", "meningioma", "notumor", "pituitary"]
MODEL = ModelInfo(
    name="mnv3s_128",
    architecture="mobilenet_v3_small",
    img_size=128,
    classes=CLASSES,
    created="2026-11-23T11:33:45+00:00",
    weights_sha256="0d51e9b382af23066a01450a101239ea592ad16364500dd7c01ddf53dccec600",
    accuracy_full=0.9672,
    accuracy_leak_free=0.9176,
    test_images=1311,
    leak_free_images=376,
)


def report() -> str:
    picture = png_bytes(np.linspace(0, 1, 32 * 32, dtype=np.float32).reshape(32, 32))
    ok = Assessment("ok", {"glioma": 0.91, "meningioma": 0.05, "notumor": 0.03, "pituitary": 0.01})
    uncertain = Assessment("uncertain", {"glioma": 0.40, "meningioma": 0.45, "notumor": 0.05, "pituitary": 0.10}, "")
    entries = [
        ReportEntry(
            ScanResult("<script>alert(1)</script>.png", "", "ok", "", ok), picture, picture, "Grad-CAM", picture
        ),
        ReportEntry(
            ScanResult("brain.nii.gz", "axial slice 90 of 181", "uncertain", "close call", uncertain),
            picture,
            thumbnail_png=picture,
        ),
        ReportEntry(ScanResult("notes.txt", "", ERROR, "Not a format this app can read.")),
    ]
    return build_report(entries, CLASSES, MODEL, datetime(2026, 11, 24, 9, 30, tzinfo=UTC))


def test_report_is_self_contained():
    html = report()
    sources = re.findall(r'src="([^"]*)"', html)
    # two scans with pictures: a thumbnail each in the summary table, then 2 + 1 pictures in their sections
    assert len(sources) == 5 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "http://" not in html and "https://" not in html and "<link" not in html
    assert "<script>" not in html  # file names are escaped, and the report has no scripts of its own


def test_report_names_the_model_version_and_date():
    html = report()
    assert "mnv3s_128" in html and MODEL.version in html and "2026-11-24 09:30" in html
    assert MODEL.weights_sha256 in html  # in full, as in the CSV: the report can be matched to its weights
    # each held-out rate with its count and interval, the leak-free one first
    leak_free, full = html.index("91.8 % (345 of 376; 95 % CI"), html.index("96.7 % (1,268 of 1,311; 95 % CI")
    assert leak_free < full
    assert escape(DISCLAIMER) in html


def test_uncertain_and_unreadable_scans_state_no_class():
    html = report()
    sections = html.split('<section class="scan">')[1:]
    assert len(sections) == 3
    ok, uncertain, unreadable = sections
    assert "Glioma (calibrated confidence 91.0 %)" in ok and "Any tumour: 97.0 %" in ok
    verdict = re.search(r'<p class="verdict[^>]*>(.*?)</p>', uncertain).group(1)
    assert "No class given: uncertain" in verdict
    assert not any(name in verdict for name in ("Glioma", "Meningioma", "tumour"))
    assert "Any tumour" not in uncertain  # no tumour/no-tumour summary without an answer
    assert "could not be read" in unreadable and "Not a format" in unreadable


def test_the_report_carries_the_maps_caveat_and_the_scope_text():
    picture = png_bytes(np.linspace(0, 1, 32 * 32, dtype=np.float32).reshape(32, 32))
    ok = Assessment("ok", {"glioma": 0.91, "meningioma": 0.05, "notumor": 0.03, "pituitary": 0.01})
    entry = ReportEntry(
        ScanResult("a.png", "", "ok", "", ok),
        picture,
        picture,
        "Grad-CAM: evidence for Glioma",
        picture,
        overlay_caveat="This map does not point at the tumour more often than the centre of the head does.",
        scope="Outside the validated scope. FLAIR was not among the tested sequences.",
    )
    html = build_report([entry], CLASSES, MODEL, datetime(2026, 11, 24, 9, 30, tzinfo=UTC))
    assert "does not point at the tumour more often than the centre of the head" in html
    assert "Validated scope: Outside the validated scope. FLAIR was not among" in html
