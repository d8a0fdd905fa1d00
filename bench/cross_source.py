"""The shortcut experiment: does the model learn tumours, or which collection a slice comes from?

Trains with `python -m train` under several recipes and scores each on slices from a source it did not
train on, with `train.evaluate`:

  main-only/<policy>   train on brain-tumor-mri alone (one run per augmentation policy), score ALL of
                       radiopaedia-mri: a second source the model never saw
  both/<policy>        train on brain-tumor-mri + radiopaedia-mri, score the held-out test shares of both

and tabulates top-class accuracy, tumour sensitivity and "answered but wrong", overall and per sequence.

  python -m bench.cross_source --epochs 10 --policies geometry geometry,intensity,degradation
  python -m bench.cross_source --summarise bench/runs/main-only/geometry weights/default   # existing runs

Writes bench/results/cross_source-<device>.json. Each training run takes minutes to an hour on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from bench.record import machine_facts
from core.run.run_folder import RunFolder

ROOT = Path(__file__).resolve().parent.parent

SHARED = ROOT.parent / "shared" / "data"
MAIN, SECOND = SHARED / "brain-tumor-mri", SHARED / "radiopaedia-mri"


def train(out: Path, sources: list[Path], policy: str, extra: list[str], external: bool) -> float:
    command = [sys.executable, "-m", "train", "--out", str(out), "--augment", policy, *extra]
    for source in sources:
        command += ["--data", str(source)]
    if external:
        command += ["--external", f"radiopaedia={SECOND}"]
    started = time.perf_counter()
    print("$", " ".join(command), flush=True)
    subprocess.run(command, cwd=ROOT, check=True)
    return time.perf_counter() - started


def row_of(report: dict) -> dict:
    """The figures this experiment compares, from a metrics section made by core.report.scoring.summarise."""
    outcomes = report.get("outcomes") or {}  # reports written before core.report.scoring have none
    row = {
        "n": report["n"],
        "accuracy": report["accuracy"],
        "tumour_sensitivity": outcomes.get("tumour_sensitivity"),
        "answered_wrong_share": outcomes.get("answered_wrong_share"),
        "not_mri_share": outcomes.get("not_mri_share"),
    }
    sequences = report.get("breakdown", {}).get("sequence", {})
    row["by_sequence"] = {name: {"n": v["n"], "accuracy": v["accuracy"]} for name, v in sequences.items()}
    return row


def summarise_run(run: Path) -> dict:
    metrics = json.loads(RunFolder(run).metrics.read_text())
    metadata = json.loads(RunFolder(run).metadata.read_text())
    result = {
        "run": str(run.relative_to(ROOT) if run.is_relative_to(ROOT) else run),
        "sources": metadata["data"].get("sources"),
        "augmentation": metadata["training"].get("augmentation", {}).get("families"),
        "architecture": metadata["architecture"],
        "img_size": metadata["preprocessing"]["img_size"],
        "epochs": metadata["training"].get("epochs_run"),
        "train_loop_seconds": metadata["training"].get("train_loop_seconds"),
        "test": {},
    }
    for subset in ("full", "leak_free"):
        section = metrics["test"][subset]
        result["test"][subset] = row_of(section)
        for source, values in section.get("breakdown", {}).get("source", {}).items():
            result["test"][f"{subset}:{source}"] = row_of(values)
    external = RunFolder(run).external("radiopaedia").metrics
    if external.is_file():
        scored = json.loads(external.read_text())
        result["radiopaedia_external"] = {"all": row_of(scored["all"]), "clean": row_of(scored["clean"])}
    return result


def print_table(results: list[dict]) -> None:
    for result in results:
        print(f"\n{result['run']}  sources={result['sources']}  augmentation={result['augmentation']}")
        sections = {
            **result["test"],
            **{f"radiopaedia external {k}": v for k, v in result.get("radiopaedia_external", {}).items()},
        }
        for name, row in sections.items():
            sequences = "  ".join(
                f"{s} {v['accuracy']:.1%}" for s, v in row["by_sequence"].items() if v["accuracy"] is not None
            )
            print(
                f"  {name:40s} n={row['n']:5d}  acc {_percent(row['accuracy'])}  tumour found "
                f"{_percent(row['tumour_sensitivity'])}  answered wrong {_percent(row['answered_wrong_share'])}  "
                f"{sequences}"
            )


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--policies", nargs="+", default=["geometry", "geometry,intensity,degradation"])
    parser.add_argument("--setups", nargs="+", default=["main-only"], choices=["main-only", "both"])
    parser.add_argument("--train-args", default="--img-size 128 --arch mobilenet_v3_small", help="passed on")
    parser.add_argument("--runs", default=str(ROOT / "bench" / "runs"), help="where the trained runs go")
    parser.add_argument("--summarise", nargs="*", type=Path, help="only tabulate these existing runs")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "cross_source-cpu.json")
    args = parser.parse_args()

    runs: list[Path] = []
    if args.summarise is not None:
        runs = [path.resolve() for path in args.summarise]
    else:
        for setup in args.setups:
            for policy in args.policies:
                out = Path(args.runs) / setup / policy.replace(",", "+")
                sources = [MAIN] if setup == "main-only" else [MAIN, SECOND]
                extra = ["--epochs", str(args.epochs), *args.train_args.split()]
                train(out, sources, policy, extra, external=setup == "main-only")
                runs.append(out)
    results = [summarise_run(run) for run in runs]
    print_table(results)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            {
                **machine_facts(),
                "results": results,
            },
            indent=2,
        )
    )
    print(f"\nwritten to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
