"""What a fresh server's first verdict waits for: every module the Classify page imports before it draws one
(app.py starts importing them when the server starts), and the first assessment. Libraries that only other
pages or later steps need must stay off that path; each was on it once, and cost the first user of a
restarted server that much more wait on 2 cores (issue 19):

- scipy.stats, 0.7 s: the gate's mixture density (now numpy) and the localisation report's interval;
- scikit-learn, 1.1 s: the Evaluation page's ROC and precision-recall curves;
- highdicom, 0.4 s: the DICOM result, built only when a DICOM scan's result is offered;
- pytorch-grad-cam with matplotlib: the heatmap, drawn after the verdict.

Run in a fresh interpreter, since the test session has imported all of them long before. And what app.py's
start-up thread imports after that path, it imports only while no verdict is being computed (ui/answering.py).
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OFF_THE_PATH = ["scipy.stats", "sklearn", "highdicom", "pytorch_grad_cam", "matplotlib"]
FIRST_VERDICT = """
import json, sys
from app import _import_the_model_side  # what the server's start-up thread imports first
from cli.predict_files import read_scan
from core.decide.assessment import assess
from core.io.samples import list_samples
from core.model.inference import Classifier

_import_the_model_side()
for module in ("ui.batch", "ui.pacs_source", "ui.resources", "ui.scan_analysis", "ui.scan_panel", "ui.series_panel"):
    __import__(module)  # pages/classify.py's imports before its first verdict
classifier = Classifier("weights/default", device="cpu")
answer = assess(classifier, [read_scan(list_samples()[0].path).render()])[0]
print(json.dumps({"status": answer.status, "loaded": sorted(set(sys.modules) & set(OFF_THE_PATH))}))
"""


def test_the_first_verdict_does_not_wait_for_libraries_it_does_not_use():
    script = f"OFF_THE_PATH = {OFF_THE_PATH!r}\n{FIRST_VERDICT}"
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"]  # the scan was assessed, so the path was walked to its end
    assert result["loaded"] == [], f"imported before the first verdict: {result['loaded']}"


def test_the_heatmap_imports_wait_while_a_verdict_is_being_computed():
    """ui.answering: app.py's start-up thread waits for every open mark to close, however its block ends."""
    import threading

    from ui.answering import answering, wait_until_nobody_waits

    assert wait_until_nobody_waits(timeout=0)  # nobody is waiting for an answer
    with answering(active=False):
        assert wait_until_nobody_waits(timeout=0)  # a page run with nothing uploaded marks nothing

    verdict_drawn = threading.Event()
    waited = []

    def start_up_thread():
        waited.append(wait_until_nobody_waits(timeout=10))
        waited.append(verdict_drawn.is_set())

    with answering():
        with answering():  # a second session waiting at the same time
            thread = threading.Thread(target=start_up_thread)
            thread.start()
            assert not wait_until_nobody_waits(timeout=0.05)
        assert thread.is_alive()  # one session still waits
        verdict_drawn.set()
    thread.join(timeout=10)
    assert waited == [True, True]

    with pytest.raises(RuntimeError), answering():
        raise RuntimeError("a page run that ends with an error")
    assert wait_until_nobody_waits(timeout=0)
