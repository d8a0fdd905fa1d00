"""Where do the shipped model's heatmaps point? `python -m train.localisation` on its test slices with masks.

  OMP_NUM_THREADS=1 nice -n 10 python -m bench.localisation_table                      # all 787 masked test slices
  python -m bench.localisation_table --limit-per-class 50 --seed 0                     # a seeded sample, faster

Writes WEIGHTS/localisation.json (what the Evaluation page shows) and bench/results/localisation-cpu.json:
per Grad-CAM method, the pointing game and heat share for the map of the true class and of the stated class,
overall, per class and on the leak-free subset, beside the head-only baseline, and milliseconds per map.
The full set takes about 15 minutes on two busy CPU cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from bench.record import machine_facts, write_result
from core.report.localisation_scores import SUBSETS, TARGETS, overall_rows
from train import localisation

ROOT = Path(__file__).resolve().parent.parent


SHARED = ROOT.parent / "shared" / "data"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", type=Path, default=ROOT / "weights" / "default")
    parser.add_argument("--data", type=Path, default=SHARED / "brain-tumor-mri")
    parser.add_argument("--masks", type=Path, default=SHARED / "brain-tumor-mri-masks")
    parser.add_argument("--limit-per-class", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    document = localisation.run(args.weights, args.data, args.masks, args.limit_per_class, args.seed)
    result = {
        "what": "pointing game and heat share of each Grad-CAM method, against a head-only baseline",
        "weights": str(args.weights.relative_to(ROOT) if args.weights.is_relative_to(ROOT) else args.weights),
        "images": document["images"],
        "stated": document["stated"],
        "tolerance": document["tolerance"],
        "baselines": document["baselines"],
        **{target: {subset: overall_rows(document, target, subset) for subset in SUBSETS} for target in TARGETS},
        "ms_per_map": {k: round(v, 1) for k, v in document["ms_per_map"].items()},
        "seconds": round(time.perf_counter() - started, 1),
        "device": "CPU",
        "torch_threads": torch.get_num_threads(),
        **machine_facts(),
    }
    print(json.dumps(result, indent=2))
    write_result("localisation-cpu.json", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
