import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_two_process_torchrun_on_gloo_trains_and_reports(tmp_path, synthetic_dataset):
    out = tmp_path / "ddp"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "train",
        "--data",
        str(synthetic_dataset),
        "--out",
        str(out),
        "--epochs",
        "2",
        "--img-size",
        "32",
        "--batch-size",
        "16",
        "--workers",
        "1",
        "--arch",
        "custom_cnn",
        "--device",
        "cpu",
    ]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, env=environment)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.count("epoch   1/2") == 1  # only rank 0 reports
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["training"]["processes"] == 2 and metadata["complete"]
    assert (out / "metrics.json").is_file() and not (out / "resume").exists()
