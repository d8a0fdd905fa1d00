"""The "From PACS" flow in a real browser: the app (`streamlit run app.py`) configured for a real Orthanc
through the environment; search by accession number, fetch the series, see the answer and the DICOM export.
Screenshot: tests/output/browser_pacs.png. Skipped as tests/test_browser.py is (Chromium, Playwright), and as
tests/orthanc.py is (Orthanc)."""

from __future__ import annotations

import os

import pytest

from core.decide.assessment import NOT_MRI, OK, UNCERTAIN, assess
from core.io.scan_io import load_scan
from core.labels import display_name
from core.model.inference import Classifier
from core.pacs import Pacs
from core.run.runs import ROOT_VARIABLE
from tests.orthanc import USER
from tests.pacs_studies import ACCESSION, PATIENT_SECRETS, mr_study
from tests.test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    OUTPUT,
    SHIPPED,
    _require_browser,
    _wait_until_idle,
    running_app,
)

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # _require_browser skips, or fails under REQUIRE_BROWSER=1
    expect = sync_playwright = None

BANNERS = {UNCERTAIN: "Uncertain: no class given.", NOT_MRI: "Outside what this model was trained on."}


@pytest.fixture(scope="module")
def pacs_server(orthanc):
    """The app on the shipped model, its PACS the test Orthanc (MRI_PACS_* variables)."""
    _require_browser()
    if not (SHIPPED / "model.safetensors").is_file():
        pytest.skip("the shipped model (weights/default) is not in this checkout")
    settings = orthanc.settings()
    env = {
        **os.environ,
        ROOT_VARIABLE: str(SHIPPED.parent),
        "MRI_PACS_URL": settings.url,
        "MRI_PACS_USERNAME": USER,
        "MRI_PACS_PASSWORD": settings.password,
    }
    with running_app(env, "streamlit_pacs.log") as url:
        yield url


def test_search_fetch_and_classify_a_series_from_the_pacs(orthanc, pacs_server):
    orthanc.clear()
    study = mr_study(slices=6)
    pacs = Pacs(orthanc.settings())
    pacs.store(study.datasets)
    [series] = pacs.mr_series(study.study_uid)
    first = pacs.fetch_series(series)[0]
    expected = assess(Classifier(SHIPPED, device="cpu"), [load_scan(first.getvalue(), first.name).render()])[0]

    expect.set_options(timeout=60_000)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 2200})
        page.set_default_timeout(120_000)
        page.goto(pacs_server)
        page.get_by_role("heading", name="Classify brain MRI").wait_for()
        # a click that lands while the first run is still drawing the page can be dropped by Streamlit
        _wait_until_idle(page)
        page.get_by_text("From PACS", exact=True).click()
        page.get_by_label("Accession number").fill(ACCESSION)
        page.get_by_role("button", name="Search the PACS").click()
        _wait_until_idle(page)
        fetch = page.get_by_role("button", name="Fetch this series")
        expect(fetch).to_be_visible()
        assert "MRI BRAIN WITH CONTRAST" in page.get_by_role("combobox", name="Study").input_value()
        fetch.click()
        expect(page.get_by_text("Fetched 6 images of Series 3").first).to_be_visible()
        expect(page.get_by_role("heading", name=first.name)).to_be_visible()
        if expected.status == OK:
            answer = page.get_by_role("heading", name=display_name(expected.prediction), exact=True)
        else:
            answer = page.get_by_text(BANNERS[expected.status]).first
        expect(answer).to_be_visible()
        # one for the series view's answer, one for the slice in detail
        expect(page.get_by_text("Result as DICOM (structured report and Grad-CAM capture)").first).to_be_visible()
        page.wait_for_timeout(1_000)  # let the charts and pictures settle for the screenshot
        page.screenshot(path=str(OUTPUT / "browser_pacs.png"), full_page=True)
        shown = page.locator("body").inner_text()
        browser.close()
    assert not any(secret in shown for secret in PATIENT_SECRETS)
