"""How fast the app feels in a real browser (issue 13's targets), measured by the browser test itself.

Runs `tests/test_browser.py` (streamlit on a free port, Debian's Chromium through Playwright, the shipped
weights), which records the seconds from each action to what the user waits for in
tests/output/browser_timings.json, then compares them with the targets and writes
bench/results/page_speed-cpu.json with the machine's load. The test never asserts a time: a busy machine
would fail it for the wrong reason; this script is where the targets live.

  python -m bench.page_speed                       # the whole browser test, about two minutes on 2 cores
  python -m bench.page_speed --runs 3              # three fresh servers; the median of each timing
  python -m bench.page_speed --concurrent-load 1   # the same while one CPU-bound process runs beside it

Timings besides the browser test's: the first scan on a fresh server, uploaded the moment the upload box
shows, with the page opened as soon as the server answers (the worst case: app.py's start-up import of
PyTorch is still running) and 5 s after (a first user who arrives a little after a restart); and
`python -m cli.predict --help`. As a record rather than a target: the import time of what the first verdict
needs, in all and for the libraries that dominate it. With `--concurrent-load N`, N busy-looping processes
share the cores for the whole measurement (a second user's job, a training), the loaded targets apply, and
the result goes to page_speed-cpu-loaded.json.

The load average is recorded before and after: numbers taken while something else runs are not comparable.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from bench.record import load_average, machine_facts, write_result

ROOT = Path(__file__).resolve().parent.parent
TIMINGS = ROOT / "tests" / "output" / "browser_timings.json"
# seconds: cold start to a usable upload box, upload to answer / heatmap, a control change, Evaluation page
TARGETS = {
    "cold_start_to_upload_box": 5.0,
    "upload_to_answer": 1.0,
    "upload_to_heatmap": 2.0,
    "opacity_change": 1.0,
    "method_change": 1.0,
    "row_click_to_scan": 1.0,
    "evaluation_page": 3.0,
    "evaluation_tab": 1.0,
    "first_scan_to_verdict": 2.0,
    "first_scan_5s_after_start_to_verdict": 2.0,
    "predict_help": 1.0,
}
# With one CPU-bound process beside the app (issue 19's targets): what a second user may cost the first.
LOADED_TARGETS = {
    "upload_to_answer": 2.0,
    "first_scan_to_verdict": 2.0,
    "first_scan_5s_after_start_to_verdict": 2.0,
    "evaluation_page": 3.0,
    "evaluation_tab": 1.0,
    "predict_help": 1.0,
}
BUSY_LOOP = "while True: pass"


def one_run() -> dict[str, float]:
    TIMINGS.unlink(missing_ok=True)
    env = {**os.environ, "REQUIRE_BROWSER": "1"}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_browser.py"]
    finished = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if finished.returncode != 0:
        sys.exit(f"the browser test failed:\n{finished.stdout[-3000:]}")
    return json.loads(TIMINGS.read_text())


def first_scan_to_verdict(opened_after: float = 0.0) -> float:
    """A fresh server; a browser opens the page `opened_after` seconds after the server answers; the sample
    uploaded as soon as the upload box shows; seconds from the upload to the verdict."""
    from playwright.sync_api import sync_playwright

    from core.io.samples import list_samples
    from core.run.runs import ROOT_VARIABLE
    from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, SHIPPED, running_app

    sample = list_samples()[0].path
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(120_000)
        with running_app({**os.environ, ROOT_VARIABLE: str(SHIPPED.parent)}, "page_speed_first_scan.log") as url:
            time.sleep(opened_after)
            page.goto(url)
            page.locator('input[type="file"]').wait_for(state="attached")
            uploaded = time.perf_counter()
            page.locator('input[type="file"]').set_input_files(str(sample))
            # The verdict: a stated class with its confidence, or the uncertain / not-MRI banner
            page.wait_for_function(
                "() => /Calibrated confidence|Uncertain: no class given|Outside what this model/"
                ".test(document.body.innerText)"
            )
            seconds = time.perf_counter() - uploaded
        browser.close()
    return seconds


# The libraries whose import a fresh server's first verdict waits for, reported one by one: torch._dynamo is
# the part of torchvision's import that torchvision itself never uses here (torchvision/ops/roi_align.py
# imports torch._dynamo.utils at module level, in 0.24 to 0.29 at least).
IMPORTS_REPORTED = ("torch", "torchvision", "torch._dynamo", "pandas", "streamlit")


def first_verdict_imports() -> dict[str, float]:
    """Seconds to import what the Classify page needs before its first verdict (app.py's start-up set), in a
    fresh interpreter, in all and for each of IMPORTS_REPORTED (Python's -X importtime, cumulative)."""
    code = "import app; app._import_the_model_side()"
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], cwd=ROOT, check=True, capture_output=True, text=True
    )
    seconds = {"all": time.perf_counter() - started}
    for line in done.stderr.splitlines():
        fields = line.removeprefix("import time:").split("|")
        if len(fields) == 3 and fields[2].strip() in IMPORTS_REPORTED and fields[1].strip().isdigit():
            seconds[fields[2].strip()] = int(fields[1]) / 1e6
    return seconds


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    """Per name, the median over the runs that have it (a timing one run lacks, or a library a newer version no
    longer imports, does not drop the others)."""
    names = dict.fromkeys(name for run in runs for name in run)
    return {name: statistics.median(run[name] for run in runs if name in run) for name in names}


def predict_help() -> float:
    """Seconds for `python -m cli.predict --help`, the best of three (the first may read files from disk)."""
    times = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "cli.predict", "--help"], cwd=ROOT, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return min(times)


@contextmanager
def busy_processes(count: int):
    """`count` processes that each keep one core busy until the block ends."""
    workers = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(count)]
    try:
        yield
    finally:
        for worker in workers:
            worker.kill()
            worker.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--concurrent-load", type=int, default=0, help="CPU-bound processes running beside")
    args = parser.parse_args(argv)
    targets = LOADED_TARGETS if args.concurrent_load else TARGETS
    load_before = load_average()
    with busy_processes(args.concurrent_load):
        runs = [
            {
                **one_run(),
                "first_scan_to_verdict": first_scan_to_verdict(),
                "first_scan_5s_after_start_to_verdict": first_scan_to_verdict(opened_after=5.0),
                "predict_help": predict_help(),
            }
            for _ in range(args.runs)
        ]
        imports = [first_verdict_imports() for _ in range(args.runs)]
        load_during = load_average()
    measured = median_of(runs)
    rows = {
        name: {
            "seconds": round(seconds, 2),
            "target": targets.get(name),
            "met": seconds <= targets[name] if name in targets else None,
        }
        for name, seconds in measured.items()
    }
    result = {
        "timings": rows,
        # not a target: where a fresh server's first verdict waits (median seconds of --runs fresh interpreters)
        "first_verdict_imports": {name: round(seconds, 2) for name, seconds in median_of(imports).items()},
        "runs": args.runs,
        "concurrent_cpu_processes": args.concurrent_load,
        "load_average_before": load_before,
        "load_average_during": load_during,
        **machine_facts(),
    }
    for name, row in rows.items():
        target = f"≤ {row['target']:.1f} s" if row["target"] else ""
        verdict = {True: "met", False: "NOT MET", None: ""}[row["met"]]
        print(f"{name:28s} {row['seconds']:6.2f} s  {target:9s} {verdict}")
    for name, seconds in result["first_verdict_imports"].items():
        print(f"import before the first verdict, {name:14s} {seconds:5.2f} s")
    write_result("page_speed-cpu-loaded.json" if args.concurrent_load else "page_speed-cpu.json", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
