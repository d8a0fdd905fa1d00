"""Measure the series rule (core/decide/series_rule.py) on pseudo-series of held-out slices, and choose its run
length k.

There are no real volumes with labels here: the data are 2-D slices. The most realistic series that can be
built honestly from the shipped model's test images (split_manifest.csv, split "test"; nothing else):

  tumour slices   the brain-tumor-mri test images that are figshare slices (index.tsv of
                  brain-tumor-mri-masks gives each one's figshare index). figshare numbers a patient's slices
                  consecutively, so test slices of one class taken in figshare order, 8 (or 4) at a time,
                  and never across a gap of more than MAX_INDEX_GAP, are mostly nearby slices of one patient.
  healthy slices  the brain-tumor-mri "notumor" test images in file-name order (other collections; no patient
                  identity is known, so neighbouring names are neighbouring slices only sometimes).

  tumour series   SERIES_LENGTH slices: a run of 8 (or 4) tumour slices in the middle of healthy ones, as in
                  a 24-slice axial series where the tumour spans a third (or a sixth) of the head.
  healthy series  SERIES_LENGTH consecutive healthy slices (windows with stride SERIES_LENGTH // 2, so
                  neighbouring series share half their slices: there are only ~400 healthy test slices),
                  and RESAMPLED_HEALTHY random draws of SERIES_LENGTH healthy test slices from each source
                  (brain-tumor-mri, radiopaedia-mri), for a false-tumour rate the windows cannot resolve.

Every slice is scored once with the served path (core.decide.assessment.assess: calibrated probabilities, the
"not a brain MRI" gate, abstention) and the rule is applied for each k. Per k: series accuracy, tumour
sensitivity (tumour series answered with any tumour class), right-class share, specificity (healthy series
answered "no tumour"), false-tumour share, and abstention (uncertain or not-MRI series answers).
k is chosen to maximise the balanced accuracy (the mean of: tumour series answered with the right class,
averaged over the tumour sizes; resampled healthy series answered no tumour, averaged over the sources);
ties go to the larger k, the more conservative rule.

Limits: these are not real volumes. The tumour and healthy slices of one series come from different
patients and different collections (a model that tells collections apart has an easy time); tumour slices
are all tumour-bearing, where a real series has slices that only graze the tumour; healthy windows overlap.
The figures rank the values of k; they do not promise a series-level accuracy on real PACS series.

  python -m bench.series_rule                     # weights/default
  python -m bench.series_rule --tumour-slices 6 3  # other tumour sizes
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from bench.record import machine_facts, write_result
from core.run.run_folder import TEST, RunFolder

ROOT = Path(__file__).resolve().parent.parent

DATA = ROOT.parent / "shared" / "data"
MAIN, OTHER, MASKS = "brain-tumor-mri", "radiopaedia-mri", DATA / "brain-tumor-mri-masks" / "index.tsv"
SERIES_LENGTH, TUMOUR_SLICES, MAX_INDEX_GAP = 24, (8, 4), 10
RUN_LENGTHS = range(1, 9)
RESAMPLED_HEALTHY = 2000  # random 24-slice draws from all healthy test slices, for the false-tumour rate
HEALTHY_SHARES = (0.5, 0.75)


def test_images(weights: Path) -> dict[str, str]:
    """{"<source>/<path inside it>": class} for the run's test split, both sources."""
    rows = RunFolder(weights).manifest_rows()
    return {f"{r['source']}/{r['path']}": r["class"] for r in rows if r["split"] == TEST}


def tumour_runs(tests: dict[str, str], length: int) -> list[tuple[str, list[str]]]:
    """(class, `length` test paths in figshare order) per run, within one class and without big gaps."""
    by_class: dict[str, list[tuple[int, str]]] = defaultdict(list)
    with open(MASKS, newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            image = f"{MAIN}/{row['image']}"
            if tests.get(image) == row["class"]:
                by_class[row["class"]].append((int(row["figshare_index"]), image))
    runs = []
    for label, slices in sorted(by_class.items()):
        slices.sort()
        current: list[tuple[int, str]] = []
        for index, path in slices:
            if current and index - current[-1][0] > MAX_INDEX_GAP:
                current = []
            current.append((index, path))
            if len(current) == length:
                runs.append((label, [p for _, p in current]))
                current = []
    return runs


def healthy_windows(tests: dict[str, str], length: int, stride: int) -> list[list[str]]:
    by_prefix: dict[str, list[str]] = defaultdict(list)
    for path, label in tests.items():
        if label == "notumor" and path.startswith(f"{MAIN}/"):
            by_prefix[Path(path).name.split("_")[0]].append(path)
    windows = []
    for paths in by_prefix.values():
        paths.sort()
        windows += [paths[i : i + length] for i in range(0, len(paths) - length + 1, stride)]
    return windows


def score(weights: Path, paths: list[str], device: str | None) -> dict:
    """{path: Assessment or None (no tissue)}, every slice through the served path, in batches."""
    from core.decide.slice_sweep import sweep_pictures
    from core.io.image_io import read_image
    from core.model.inference import Classifier

    classifier = Classifier(weights, device=device)
    started = time.perf_counter()
    result = sweep_pictures(classifier, len(paths), lambda i: read_image(DATA / paths[i]), "slices")
    seconds = time.perf_counter() - started
    return dict(zip(paths, result.assessments, strict=True)), classifier, seconds


def evaluate(series: list[tuple[str, list[str]]], answers: dict, rule) -> dict:
    from core.decide.assessment import OK
    from core.decide.series_rule import series_answer

    tumour = [truth != "notumor" for truth, _ in series]
    outcome = []
    for truth, paths in series:
        answer = series_answer([answers[p] for p in paths], rule)
        outcome.append((truth, answer.status, answer.prediction))

    def share(rows, test) -> float | None:
        return round(sum(map(test, rows)) / len(rows), 4) if rows else None

    sick = [o for o, t in zip(outcome, tumour, strict=True) if t]
    healthy = [o for o, t in zip(outcome, tumour, strict=True) if not t]
    called_tumour = lambda o: o[1] == OK and o[2] not in ("", "notumor")  # noqa: E731
    right = lambda o: o[1] == OK and o[2] == o[0]  # noqa: E731
    abstained = lambda o: o[1] != OK  # noqa: E731
    result = {
        "series": len(outcome),
        "tumour_series": len(sick),
        "healthy_series": len(healthy),
        "accuracy": share(outcome, right),
        "tumour_sensitivity": share(sick, called_tumour),
        "tumour_right_class": share(sick, right),
        "specificity": share(healthy, right),
        "false_tumour": share(healthy, called_tumour),
        "abstained": share(outcome, abstained),
        "abstained_tumour": share(sick, abstained),
        "abstained_healthy": share(healthy, abstained),
    }
    both = (result["tumour_right_class"], result["specificity"])
    result["balanced_accuracy"] = round(sum(both) / 2, 4) if None not in both else None
    return result


def slice_baseline(paths: list[str], tests: dict[str, str], answers: dict) -> dict:
    """The same figures for single slices: what the rule is compared with."""
    from core.decide.assessment import OK

    rows = [(tests[p], answers[p]) for p in paths if answers[p] is not None]
    sick = [(t, a) for t, a in rows if t != "notumor"]
    healthy = [(t, a) for t, a in rows if t == "notumor"]
    return {
        "slices": len(rows),
        "answered": round(sum(a.status == OK for _, a in rows) / len(rows), 4),
        "tumour_sensitivity": round(sum(a.prediction not in ("", "notumor") for _, a in sick) / len(sick), 4),
        "specificity": round(sum(a.prediction == "notumor" for _, a in healthy) / len(healthy), 4),
        "accuracy": round(sum(a.prediction == t for t, a in rows) / len(rows), 4),
    }


COLUMNS = ("accuracy", "tumour_sensitivity", "tumour_right_class", "specificity", "false_tumour", "abstained")


def build_series(tests: dict[str, str], tumour_slices: int) -> list[tuple[str, list[str]]]:
    """(true class, slice paths in series order) for every tumour and healthy pseudo-series."""
    runs = tumour_runs(tests, tumour_slices)
    fillers = healthy_windows(tests, SERIES_LENGTH - tumour_slices, SERIES_LENGTH - tumour_slices)
    before = (SERIES_LENGTH - tumour_slices) // 2
    tumour_series = [
        (label, filler[:before] + run + filler[before:])
        for (label, run), filler in zip(runs, (fillers[i % len(fillers)] for i in range(len(runs))), strict=True)
    ]
    return tumour_series + [("notumor", w) for w in healthy_windows(tests, SERIES_LENGTH, SERIES_LENGTH // 2)]


def rules():
    from core.decide.series_rule import SeriesRule

    for bridge in (True, False):
        for share in HEALTHY_SHARES:
            for k in RUN_LENGTHS:
                yield SeriesRule(k, share, bridge)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", default=str(ROOT / "weights" / "default"))
    parser.add_argument("--tumour-slices", type=int, nargs="+", default=list(TUMOUR_SLICES))
    parser.add_argument("--device", default=None)
    args = parser.parse_args(argv)

    from core.decide.series_rule import DEFAULT_RULE
    from core.model.threads import limit_threads

    limit_threads(1)
    weights = Path(args.weights)
    tests = test_images(weights)
    sets = {size: build_series(tests, size) for size in args.tumour_slices}
    rng = np.random.default_rng(0)
    pools, resampled = {}, {}
    for source in (MAIN, OTHER):
        pools[source] = sorted(p for p, label in tests.items() if label == "notumor" and p.startswith(f"{source}/"))
        draws = (rng.choice(pools[source], SERIES_LENGTH, replace=False) for _ in range(RESAMPLED_HEALTHY))
        resampled[source] = [("notumor", list(draw)) for draw in draws]
    in_series = {p for series in sets.values() for _, slices in series for p in slices}
    paths = sorted(in_series.union(*pools.values()))
    answers, classifier, seconds = score(weights, paths, args.device)

    table = []
    for rule in rules():
        row = {"run_length": rule.run_length, "healthy_share": rule.healthy_share, "bridge": rule.bridge_unanswered}
        per_size = {str(size): evaluate(series, answers, rule) for size, series in sets.items()}
        healthy = {source: evaluate(draws, answers, rule) for source, draws in resampled.items()}
        row["resampled_healthy"] = {
            source: {k: h[k] for k in ("series", "specificity", "false_tumour", "abstained")}
            for source, h in healthy.items()
        }
        # The choice: tumour series answered with the right class (mean over tumour sizes), and resampled
        # healthy series answered no tumour (mean over the two sources: 2,000 draws each resolve a
        # false-tumour rate the 31 windows cannot, and the second source is one the shortcut does not serve).
        right = sum(r["tumour_right_class"] for r in per_size.values()) / len(sets)
        specificity = sum(h["specificity"] for h in healthy.values()) / len(healthy)
        row["balanced_accuracy"] = round((right + specificity) / 2, 4)
        table.append({**row, "by_tumour_slices": per_size})
    best = max(table, key=lambda r: (r["balanced_accuracy"], r["run_length"], r["bridge"], -r["healthy_share"]))
    construction = {
        str(size): {
            "tumour_series_per_class": dict(
                sorted(Counter(label for label, _ in series if label != "notumor").items())
            ),
            "healthy_series": sum(label == "notumor" for label, _ in series),
        }
        for size, series in sets.items()
    }
    result = {
        "construction": {
            "series_length": SERIES_LENGTH,
            "tumour_slices_per_tumour_series": args.tumour_slices,
            "max_figshare_index_gap": MAX_INDEX_GAP,
            "healthy_window_stride": SERIES_LENGTH // 2,
            "series": construction,
            "resampled_healthy_series": RESAMPLED_HEALTHY,
            "resampled_from_healthy_slices": {source: len(pool) for source, pool in pools.items()},
            "distinct_slices": len(paths),
            "limits": "Pseudo-series, not real volumes: the tumour run and the healthy slices around it come from "
            "different patients and collections; tumour slices all show tumour; healthy windows overlap by half, "
            "so the healthy series are few and not independent; the resampled healthy series draw slices at "
            "random, so they treat slice errors as independent, where a real series' errors are correlated.",
        },
        "single_slices": slice_baseline(paths, tests, answers),
        "by_rule": table,
        "chosen": best,
        "shipped_rule": {
            "run_length": DEFAULT_RULE.run_length,
            "healthy_share": DEFAULT_RULE.healthy_share,
            "bridge": DEFAULT_RULE.bridge_unanswered,
        },
        "scoring_seconds": round(seconds, 1),
        "model": classifier.metadata.get("name"),
        "weights_sha256": classifier.metadata.get("weights_sha256"),
        "device": classifier.device_name,
        **machine_facts(),
    }
    print_table(result)
    device = "cuda" if "GPU" in classifier.device_name else "cpu"
    out = write_result(f"series_rule-{device}.json", result)
    print(f"wrote {out.relative_to(ROOT)}")
    return result


def print_table(result: dict) -> None:
    print(json.dumps(result["construction"]["series"]), "single slices:", json.dumps(result["single_slices"]))
    sizes = result["construction"]["tumour_slices_per_tumour_series"]
    head = " ".join(f"{name[:8]:>8}" for name in COLUMNS)
    print(
        f"{'bridge':>6} {'k':>2} {'share':>5} {'bal':>6} | healthy {MAIN[:9]}: spec falseT "
        f"| {OTHER[:9]}: spec falseT | " + " | ".join(f"{size} tumour slices: {head}" for size in sizes)
    )
    for row in result["by_rule"]:
        cells = " | ".join(
            " " * len(f"{size} tumour slices: ")
            + " ".join(f"{row['by_tumour_slices'][str(size)][c]!s:>8}" for c in COLUMNS)
            for size in sizes
        )
        main, other = row["resampled_healthy"][MAIN], row["resampled_healthy"][OTHER]
        print(
            f"{row['bridge']!s:>6} {row['run_length']:>2} {row['healthy_share']:>5} {row['balanced_accuracy']:>6} | "
            f"{main['specificity']:>23} {main['false_tumour']:>6} | "
            f"{other['specificity']:>16} {other['false_tumour']:>6} | {cells}"
        )
    best = result["chosen"]
    shipped = result["shipped_rule"]
    if any(shipped[key] != best[key] for key in shipped):
        print(f"note: core/decide/series_rule.py ships {shipped}, not the rule chosen here")
    print(
        f"chosen: k = {best['run_length']}, passing over unanswered slices: {best['bridge']}, "
        f"healthy share {best['healthy_share']} (balanced accuracy {best['balanced_accuracy']})"
    )


if __name__ == "__main__":
    main()
