"""Many users at once: what N browser sessions sharing one Classifier and one Explainer get, against the
same requests one by one.

    python -m bench.concurrency [--weights weights/default] [--data DIR] [--clients 20] [--requests 10]
                                [--threads default,1] [--copies 1,2,4] [--rounds 3]

Each client is a thread that sends its requests back to back, as a Streamlit session's script thread does.
Two workloads: "predict" (core.decide.assessment.assess on one scan) and "predict+cam" (the same, then a heatmap,
methods and target classes taking turns). Every (threads per request, explainer copies) setting runs the same
requests alone (one client) and concurrently (N clients); rounds interleave the settings, so a neighbour's
load on a shared machine falls on all of them alike. Prints a table, writes bench/results/concurrency-<kind>.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import torch
from threadpoolctl import threadpool_info, threadpool_limits

from bench.record import library_versions, load_average
from core.decide.assessment import assess
from core.io.image_io import read_image
from core.model.gradcam import METHODS, Explainer
from core.model.inference import DEFAULT_WEIGHTS, Classifier
from core.model.threads import limit_threads

ROOT = Path(__file__).resolve().parents[1]


DEFAULT_DATA = ROOT.parent / "shared" / "data" / "brain-tumor-mri" / "Testing"
SAMPLES = ROOT / "samples"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"}


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="class folders of scans; else samples/")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=10, help="per client")
    parser.add_argument(
        "--threads", default="default,1", help="threads per request (torch intra-op and BLAS) to compare"
    )
    parser.add_argument("--copies", default="1,2,4", help="explainer network copies to compare")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default=None, help="cpu, cuda; default: CUDA when there is a GPU")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    return parser


def load_scans(data: Path, count: int) -> tuple[list[np.ndarray], str]:
    """`count` different scans, classes taking turns; the bundled samples (repeated) when `data` is absent."""
    folder = data if data.is_dir() else SAMPLES
    by_class = [
        sorted(p for p in sub.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        for sub in sorted(folder.iterdir())
        if sub.is_dir()
    ] or [sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)]
    turns = [paths[i] for i in range(max(map(len, by_class))) for paths in by_class if i < len(paths)]
    return [read_image(turns[i % len(turns)]) for i in range(count)], str(folder)


def run_clients(work, clients: int, per_client: int) -> tuple[float, list[float]]:
    """Wall time and per-request latencies of `clients` threads, started together, each calling work(number)
    for its own `per_client` request numbers."""
    latencies: list[float] = []
    start = threading.Barrier(clients + 1)

    def client(first: int) -> None:
        start.wait()
        for number in range(first, first + per_client):
            began = time.perf_counter()
            work(number)
            latencies.append(time.perf_counter() - began)

    threads = [threading.Thread(target=client, args=(c * per_client,)) for c in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - began, latencies


def workloads(classifier: Classifier, explainer: Explainer, scans: list[np.ndarray]) -> dict:
    methods = list(METHODS)

    def predict(number: int) -> None:
        assess(classifier, [scans[number % len(scans)]])

    def predict_and_explain(number: int) -> None:
        scan = scans[number % len(scans)]
        assess(classifier, [scan])
        target = (number // len(methods)) % len(classifier.classes)
        explainer.heatmap(classifier.prepare(scan), target, methods[number % len(methods)])

    return {"predict": predict, "predict+cam": predict_and_explain}


def blas_threads() -> int:
    return max((pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"), default=1)


def use_threads(count: int | None, defaults: dict) -> None:
    """`count` threads per request, as the app sets them; None: each library's own default."""
    if count is None:
        torch.set_num_threads(defaults["torch"])
        threadpool_limits(defaults["blas"], user_api="blas")
    else:
        limit_threads(count)


def device_description(device: torch.device) -> tuple[str, str]:
    if device.type == "cuda":
        return "cuda", torch.cuda.get_device_name(device)
    cpuinfo = Path("/proc/cpuinfo")
    names = [
        line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")
    ]
    return "cpu", names[0] if names else platform.processor() or platform.machine()


def busy_cpu_seconds() -> float | None:
    """CPU seconds every process on the machine has used since boot (Linux), to tell how busy the others were."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def rss_mib() -> float:
    return psutil.Process().memory_info().rss / 2**20


def main(argv: list[str] | None = None) -> dict:
    args = get_args_parser().parse_args(argv)
    thread_counts = [None if t == "default" else int(t) for t in args.threads.split(",")]
    copy_counts = [int(c) for c in args.copies.split(",")]
    total = args.clients * args.requests

    classifier = Classifier(args.weights, device=args.device)
    defaults = {"torch": torch.get_num_threads(), "blas": blas_threads()}
    scans, source = load_scans(args.data, total)
    explainers = {copies: Explainer(classifier, copies=copies) for copies in copy_counts}
    kind, device_name = device_description(classifier.device)
    load_before = load_average()
    # Warm-up, in a client thread like everything measured: every method and target once on each explainer.
    for explainer in explainers.values():
        run_clients(workloads(classifier, explainer, scans)["predict+cam"], 1, len(METHODS) * len(classifier.classes))
    rss_before = rss_mib()

    # Settings: predict does not use the explainer, and alone only one copy is ever in use.
    settings = []
    for threads in thread_counts:
        settings.append(("predict", threads, None, "alone"))
        settings.append(("predict", threads, None, "concurrent"))
        settings.append(("predict+cam", threads, copy_counts[0], "alone"))
        settings += [("predict+cam", threads, copies, "concurrent") for copies in copy_counts]
    measured: dict[tuple, dict] = {setting: {"throughputs": [], "latencies": [], "cores": []} for setting in settings}
    load_per_round, others_per_round = [], []
    for round_number in range(args.rounds):
        round_began, machine_before, ours_before = time.perf_counter(), busy_cpu_seconds(), time.process_time()
        for setting in settings:
            workload, threads, copies, mode = setting
            use_threads(threads, defaults)
            work = workloads(classifier, explainers[copies or copy_counts[0]], scans)[workload]
            clients, per_client = (args.clients, args.requests) if mode == "concurrent" else (1, total)
            cpu_before = time.process_time()
            wall, latencies = run_clients(work, clients, per_client)
            measured[setting]["throughputs"].append(total / wall)
            measured[setting]["latencies"] += latencies
            # Cores this process kept busy (CPU seconds per second): a thread waiting for the GIL adds nothing,
            # a library's worker spinning while it waits for work counts in full.
            measured[setting]["cores"].append((time.process_time() - cpu_before) / wall)
        load_per_round.append(round(os.getloadavg()[0], 2))
        if machine_before is not None:
            others = busy_cpu_seconds() - machine_before - (time.process_time() - ours_before)
            others_per_round.append(round(max(others, 0.0) / (time.perf_counter() - round_began), 2))
        print(
            f"round {round_number + 1}/{args.rounds} done, load average {load_per_round[-1]}, "
            f"cores busy with other processes {others_per_round[-1] if others_per_round else '?'}",
            file=sys.stderr,
        )
    use_threads(None, defaults)

    rows = []
    for (workload, threads, copies, mode), values in measured.items():
        latencies_ms = np.array(values["latencies"]) * 1000
        rows.append(
            {
                "workload": workload,
                "mode": mode,
                "clients": args.clients if mode == "concurrent" else 1,
                "threads": threads or "default",
                "copies": copies,
                "requests_per_round": total,
                "throughput_rps_per_round": [round(x, 2) for x in values["throughputs"]],
                "throughput_rps": round(statistics.median(values["throughputs"]), 2),
                "latency_ms_median": round(float(np.median(latencies_ms)), 1),
                "latency_ms_p95": round(float(np.percentile(latencies_ms, 95)), 1),
                "cores_busy": round(statistics.median(values["cores"]), 2),
            }
        )
    result = {
        "benchmark": "concurrency",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", *sys.argv]),
        "device": {
            "kind": kind,
            "name": device_name,
            "cpu_cores": os.cpu_count(),
            "cpu_cores_usable": len(os.sched_getaffinity(0)),
            "threads_default": defaults,
        },
        "versions": {"python": platform.python_version(), **library_versions()},
        # How busy the machine was. The load average counts this benchmark's own threads too; the cores other
        # processes kept busy during each round do not.
        "load_average_1_5_15min": {
            "before": load_before,
            "after": load_average(),
        },
        "load_average_after_each_round": load_per_round,
        "cores_busy_with_other_processes_each_round": others_per_round,
        "model": {
            "weights": os.path.relpath(args.weights, ROOT),
            "architecture": classifier.architecture,
            "img_size": classifier.preprocessing.img_size,
        },
        "scans": {"source": os.path.relpath(source, ROOT), "count": total},
        "clients": args.clients,
        "requests_per_client": args.requests,
        "rounds": args.rounds,
        "rss_mib": {"before": round(rss_before, 1), "after": round(rss_mib(), 1)},
        "results": rows,
    }
    print_table(result)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"concurrency-{kind}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written {path}")
    return result


def print_table(result: dict) -> None:
    device = result["device"]
    print(
        f"{device['name']} ({device['kind']}, {device['cpu_cores']} cores), {result['model']['architecture']} "
        f"at {result['model']['img_size']} px, {result['clients']} clients x {result['requests_per_client']} "
        f"requests, median of {result['rounds']} rounds; other processes kept "
        f"{result['cores_busy_with_other_processes_each_round']} cores busy"
    )
    print(
        f"{'workload':<12} {'mode':<11} {'threads':>7} {'copies':>6} {'req/s':>7} {'median ms':>9} {'p95 ms':>8} "
        f"{'cores':>5}"
    )
    for row in result["results"]:
        copies = "-" if row["copies"] is None else row["copies"]
        print(
            f"{row['workload']:<12} {row['mode']:<11} {row['threads']:>7} {copies:>6} {row['throughput_rps']:>7.1f} "
            f"{row['latency_ms_median']:>9.1f} {row['latency_ms_p95']:>8.1f} {row['cores_busy']:>5.2f}"
        )
    rss = result["rss_mib"]
    print(f"RSS {rss['before']:.0f} MiB after warm-up, {rss['after']:.0f} MiB at the end")


if __name__ == "__main__":
    main()
