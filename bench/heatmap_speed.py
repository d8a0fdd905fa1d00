"""How long the Classify page takes to show a Grad-CAM map, and to redraw it when a control changes.

  OMP_NUM_THREADS=1 nice -n 10 python -m bench.heatmap_speed            # weights/default, samples/*.jpg

Two parts, both in one fresh process on the CPU:
  page   the Classify page through Streamlit's AppTest (the server's work, no browser): the first run (model
         loaded), an upload (answer and map), then one control at a time: opacity, method, back to the first
         method (its map is kept), target. Seconds per script run.
  core   per method, the steps of one map on each sample: assess, explain (the map as shown), blend + PNG
         (all an opacity change costs, since the map is kept). Median milliseconds.
Writes bench/results/heatmap_speed-cpu.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from bench.record import machine_facts, write_result
from core.decide.assessment import assess
from core.io.image_io import read_image
from core.io.png import png_bytes
from core.model.gradcam import METHODS, Explainer, overlay
from core.model.inference import DEFAULT_WEIGHTS, Classifier
from core.model.threads import limit_threads

ROOT = Path(__file__).resolve().parent.parent


SAMPLES = sorted((ROOT / "samples").glob("*.jpg"))


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return round(time.perf_counter() - started, 3)


def page_timings(sample: Path) -> dict[str, float]:
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=300)
    seconds = {"first run (model loaded)": timed(app.run)}
    app.file_uploader[0].set_value([(sample.name, sample.read_bytes(), "image/jpeg")])
    seconds["upload: answer and map"] = timed(app.run)

    def widget(kind: str, label: str):
        return next(w for w in getattr(app, kind) if w.label == label)

    widget("slider", "Overlay opacity").set_value(0.8)
    seconds["opacity changed"] = timed(app.run)
    first, second = list(METHODS)[:2]
    widget("selectbox", "Method").set_value(second)
    seconds[f"method changed ({second}, new map)"] = timed(app.run)
    widget("selectbox", "Method").set_value(first)
    seconds[f"method changed back ({first}, kept map)"] = timed(app.run)
    widget("selectbox", "Evidence for").select_index(2)
    seconds["target changed (new map)"] = timed(app.run)
    if app.exception:
        raise SystemExit(f"the page failed: {app.exception}")
    return seconds


def core_timings(weights: Path) -> dict[str, dict[str, float]]:
    classifier = Classifier(weights, device="cpu")
    explainer = Explainer(classifier)
    grays = [read_image(path) for path in SAMPLES]
    assess(classifier, grays[:1])  # warm-up: the first call in a process pays one-off costs
    explainer.explain(grays[0], 0)
    result = {}
    for method in METHODS:
        steps: dict[str, list[float]] = {"assess": [], "explain": [], "blend + PNG": []}
        for gray in grays:
            for _ in range(3):
                started = time.perf_counter()
                answer = assess(classifier, [gray])[0]
                middle = time.perf_counter()
                heat = explainer.explain(gray, classifier.classes.index(answer.top_class), method)
                explained = time.perf_counter()
                png_bytes(overlay(gray, heat, 0.5))
                done = time.perf_counter()
                steps["assess"].append(middle - started)
                steps["explain"].append(explained - middle)
                steps["blend + PNG"].append(done - explained)
        result[method] = {step: round(1000 * statistics.median(values), 1) for step, values in steps.items()}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    args = parser.parse_args(argv)
    limit_threads(1)  # as the app serves (ui/resources.py)
    started = time.perf_counter()
    result = {
        "page_seconds": page_timings(SAMPLES[0]),
        "core_ms_median": core_timings(args.weights),
        "sample": SAMPLES[0].name,
        "seconds": round(time.perf_counter() - started, 1),
        "device": "CPU",
        **machine_facts(),
    }
    print(json.dumps(result, indent=2))
    write_result("heatmap_speed-cpu.json", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
