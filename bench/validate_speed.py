"""How long the Validate page takes on 2,000 slices, and how much memory it holds (issue: ≤ 2 min on 2 CPU cores).

Runs the page's own path without a browser: a ZIP of class folders read in memory (core.io.zip_input), labelled
by folder (core.report.labelled_set), scored in batches with the contamination check (core.report.validation, the run's
split manifest), then the HTML report built (ui.validation_report). Slices are the dataset's Testing images
when `../shared/data/brain-tumor-mri` is there (repeated to the count), else synthetic phantoms at 512 px.

  python -m bench.validate_speed                      # weights/default, 2,000 slices
  python -m bench.validate_speed --slices 500 --weights weights/other

Writes bench/results/validate_speed-<device>.json: seconds per stage, slices/s, and peak resident memory
(ru_maxrss) before and after, so the growth that validation itself costs is visible.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import sys
import time
import zipfile
from pathlib import Path

from bench.record import machine_facts, write_result

ROOT = Path(__file__).resolve().parent.parent
DATASET = ROOT.parent / "shared" / "data" / "brain-tumor-mri" / "Testing"


def slices(count: int) -> list[tuple[str, bytes]]:
    """(class/name, bytes): real test slices when present, else phantoms (PNG, 512 px)."""
    if DATASET.is_dir():
        files = sorted(DATASET.rglob("*.jpg"))
        chosen = (files[i % len(files)] for i in range(count))
        return [(f"{p.parent.name}/{i:05d}_{p.name}", p.read_bytes()) for i, p in enumerate(chosen)]
    from core.io.png import png_bytes
    from tests.phantoms import CLASSES, phantom

    return [(f"{CLASSES[i % 4]}/{i:05d}.png", png_bytes(phantom(i, CLASSES[i % 4], 512))) for i in range(count)]


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", default=str(ROOT / "weights" / "default"))
    parser.add_argument("--slices", type=int, default=2000)
    parser.add_argument("--device", default=None, help="cpu or cuda (default: CUDA when available)")
    args = parser.parse_args(argv)

    from core.io.zip_input import read_zip
    from core.labels import canonical_label
    from core.model.inference import Classifier
    from core.model.threads import limit_threads
    from core.report.labelled_set import from_folders
    from core.report.validation import run_metrics, score_set
    from core.run.run_folder import RunFolder
    from core.run.training_copies import TrainingCopies
    from ui.validation_report import report_html

    limit_threads(1)  # as the app serves (ui/resources.py)
    classifier = Classifier(args.weights, device=args.device)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in slices(args.slices):
            archive.writestr(name, data)
    upload = buffer.getvalue()
    baseline = peak_mib()
    stages = {}
    started = time.perf_counter()
    labelled = from_folders(read_zip(upload).members)
    stages["unzip_and_label"] = time.perf_counter() - started
    manifest = RunFolder(args.weights).manifest
    mark = time.perf_counter()
    copies = TrainingCopies(manifest) if manifest.is_file() else None
    stages["read_training_hashes"] = time.perf_counter() - mark
    mapping = {f.label: canonical_label(f.label, classifier.classes) for f in labelled.files}
    mark = time.perf_counter()
    run = score_set(classifier, labelled.files, mapping, copies)
    stages["decode_hash_score"] = time.perf_counter() - mark
    mark = time.perf_counter()
    metrics = run_metrics(classifier, run, "bench", {})
    html = report_html(metrics, run, hide_names=True)
    stages["metrics_and_report"] = time.perf_counter() - mark
    total = time.perf_counter() - started
    result = {
        "slices": len(run.names),
        "seconds": round(total, 2),
        "slices_per_second": round(len(run.names) / total, 1),
        "stages_seconds": {k: round(v, 2) for k, v in stages.items()},
        "peak_rss_mib_before": round(baseline, 1),
        "peak_rss_mib_after": round(peak_mib(), 1),
        "zip_mib": round(len(upload) / 2**20, 1),
        "report_mib": round(len(html) / 2**20, 1),
        "accuracy": metrics["all"]["accuracy"],
        "device": classifier.device_name,
        **machine_facts(),
    }
    print(json.dumps(result, indent=2))
    write_result(f"validate_speed-{'cuda' if 'GPU' in classifier.device_name else 'cpu'}.json", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
