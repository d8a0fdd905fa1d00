"""How fast the app feels in a real browser (issue 13's targets), measured by the browser test itself.

Runs `tests/test_browser.py` (streamlit on a free port, Debian's Chromium through Playwright, the shipped
weights), which records the seconds from each action to what the user waits for in
tests/output/browser_timings.json, then compares them with the targets and writes
bench/results/page_speed-cpu.json with the machine's load. The test never asserts a time: a busy machine
would fail it for the wrong reason; this script is where the targets live.

  python bench/page_speed.py             # the whole browser test, about two minutes on 2 cores
  python bench/page_speed.py --runs 3    # three fresh servers; the median of each timing

The load average is recorded before and after: numbers taken while something else runs are not comparable.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

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
}


def one_run() -> dict[str, float]:
    TIMINGS.unlink(missing_ok=True)
    env = {**os.environ, "REQUIRE_BROWSER": "1"}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_browser.py"]
    finished = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if finished.returncode != 0:
        sys.exit(f"the browser test failed:\n{finished.stdout[-3000:]}")
    return json.loads(TIMINGS.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    runs = [one_run() for _ in range(args.runs)]
    measured = {name: statistics.median(run[name] for run in runs if name in run) for name in runs[0]}
    rows = {
        name: {
            "seconds": round(seconds, 2),
            "target": TARGETS.get(name),
            "met": seconds <= TARGETS[name] if name in TARGETS else None,
        }
        for name, seconds in measured.items()
    }
    result = {
        "timings": rows,
        "runs": args.runs,
        "cores": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "python": platform.python_version(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", "bench/page_speed.py", *(argv if argv is not None else sys.argv[1:])]),
    }
    for name, row in rows.items():
        target = f"≤ {row['target']:.1f} s" if row["target"] else ""
        verdict = {True: "met", False: "NOT MET", None: ""}[row["met"]]
        print(f"{name:28s} {row['seconds']:6.2f} s  {target:9s} {verdict}")
    out = ROOT / "bench" / "results" / "page_speed-cpu.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
