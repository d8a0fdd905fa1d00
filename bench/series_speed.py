"""How long a 24-slice DICOM series takes from bytes to series answer, on the path the Classify page runs.

The slices are real held-out test images (brain-tumor-mri Testing, 512 px) written as 16-bit DICOM files in
memory, one series with positions and orientation, handed over shuffled. Stages, as the page runs them:
  decode   core.io.scan_io.load_scan for each file (pixels, window, acquisition, place in the series)
  group    core.io.dicom_series.group_series: study and series, ordered along the slice normal
  assess   core.decide.assessment.assess in batches of core.decide.assessment.BATCH_SIZE (the served path: calibrated
           probabilities, the not-MRI gate, abstention)
  answer   core.decide.series_rule.series_answer
One thread per request, as the app serves (ui/resources.py). The model is loaded once, before timing, as the
app's cache does; the first (cold) run and the median of the warm repeats are both reported.

  python -m bench.series_speed                 # weights/default, 24 slices, 5 repeats
  python -m bench.series_speed --slices 48 --repeats 3

Writes bench/results/series_speed-<device>.json.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path

import numpy as np

from bench.record import machine_facts, write_result

ROOT = Path(__file__).resolve().parent.parent
DATASET = ROOT.parent / "shared" / "data" / "brain-tumor-mri" / "Testing"


def series_files(count: int) -> list[bytes]:
    """`count` DICOM files of one axial series, from real test slices when present, else phantoms."""
    from tests.scan_files import dicom_series

    if DATASET.is_dir():
        from core.io.image_io import read_image

        paths = sorted(DATASET.rglob("*.jpg"))[::7][:count]
        pictures = [np.round(read_image(path) * 4095).astype(np.uint16) for path in paths]
    else:
        from tests.phantoms import phantom

        pictures = [phantom(i, "glioma", 512).astype(np.uint16) * 16 for i in range(count)]
    return dicom_series(pictures, extra={"RepetitionTime": "550", "EchoTime": "12"})


def classify_series(classifier, files: list[bytes]) -> tuple[dict, object]:
    from core.decide import assessment
    from core.decide.assessment import BATCH_SIZE
    from core.decide.series_rule import series_answer
    from core.decide.slice_sweep import has_tissue
    from core.io.dicom_series import group_series
    from core.io.scan_io import load_scan

    stages, mark = {}, time.perf_counter()
    scans = [load_scan(data, f"IM{i:04d}") for i, data in enumerate(files)]
    stages["decode"], mark = time.perf_counter() - mark, time.perf_counter()
    by_key = {str(i): scan for i, scan in enumerate(scans)}
    [series] = group_series([(key, scan.dicom) for key, scan in by_key.items()])
    pictures = [by_key[key].render() for key in series.keys]
    stages["group"], mark = time.perf_counter() - mark, time.perf_counter()
    answers = []
    for start in range(0, len(pictures), BATCH_SIZE):
        answers += assessment.assess(classifier, pictures[start : start + BATCH_SIZE])
    stages["assess"], mark = time.perf_counter() - mark, time.perf_counter()
    answer = series_answer([a if has_tissue(p) else None for a, p in zip(answers, pictures, strict=True)])
    stages["answer"] = time.perf_counter() - mark
    stages["total"] = sum(stages.values())
    return stages, answer


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", default=str(ROOT / "weights" / "default"))
    parser.add_argument("--slices", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default=None)
    args = parser.parse_args(argv)

    from core.model.inference import Classifier
    from core.model.threads import limit_threads
    from ui.resources import THREADS_PER_REQUEST

    limit_threads(THREADS_PER_REQUEST)
    started = time.perf_counter()
    classifier = Classifier(args.weights, device=args.device)
    load_seconds = time.perf_counter() - started
    files = series_files(args.slices)
    random.Random(0).shuffle(files)
    runs = [classify_series(classifier, files) for _ in range(1 + args.repeats)]
    cold, warm = runs[0][0], [stages for stages, _ in runs[1:]]
    answer = runs[0][1]
    result = {
        "slices": args.slices,
        "mib_of_dicom": round(sum(map(len, files)) / 2**20, 1),
        "cold_seconds": {k: round(v, 3) for k, v in cold.items()},
        "warm_median_seconds": {k: round(statistics.median(s[k] for s in warm), 3) for k in cold},
        "warm_total_seconds_each": [round(s["total"], 3) for s in warm],
        "fastest_total_seconds": round(min(s["total"] for s in [cold, *warm]), 3),
        "model_load_seconds": round(load_seconds, 2),
        "series_answer": {"status": answer.status, "prediction": answer.prediction, "supporting": answer.supporting},
        "threads_per_request": THREADS_PER_REQUEST,
        "device": classifier.device_name,
        **machine_facts(),
    }
    print(json.dumps(result, indent=2))
    device = "cuda" if "GPU" in classifier.device_name else "cpu"
    out = write_result(f"series_speed-{device}.json", result)
    print(f"wrote {out.relative_to(ROOT)}")
    return result


if __name__ == "__main__":
    main()
