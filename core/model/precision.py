"""Which number format a model runs in: float32, or bfloat16 autocast where the hardware makes it faster.

bf16 autocast is 3x faster than float32 for convolutions on GPUs and on Intel CPUs with AMX, and several
times *slower* on CPUs without it (an AMD EPYC here: custom_cnn trains at 44 img/s in float32, 4 in bf16).
So the choice is never hard-coded: serving asks the hardware (`serving_precision`), training times a few
real steps of each (`fastest_training_precision`), and both record what they chose.
"""

from __future__ import annotations

import copy
import time
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

FLOAT32, BFLOAT16 = "float32", "bfloat16"
PRECISIONS = (FLOAT32, BFLOAT16)


def autocast_for(device: torch.device, precision: str = FLOAT32):
    """The autocast context for `precision` on `device`; float32 is no autocast at all."""
    if precision == BFLOAT16:
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


def cpu_has_amx_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Intel AMX with bf16 tiles, as the kernel reports it; False where it cannot tell (not Linux)."""
    try:
        return any(line.startswith("flags") and " amx_bf16" in line for line in cpuinfo.read_text().splitlines())
    except OSError:
        return False


def serving_precision(device: torch.device) -> str:
    """bf16 where the hardware runs it natively (CUDA with bf16, CPU with AMX), float32 elsewhere."""
    if device.type == "cuda":
        return BFLOAT16 if torch.cuda.is_bf16_supported() else FLOAT32
    if device.type == "cpu":
        return BFLOAT16 if cpu_has_amx_bf16() else FLOAT32
    return FLOAT32


def fastest_training_precision(model: nn.Module, batch: torch.Tensor, steps: int = 3) -> tuple[str, dict]:
    """Time `steps` training steps (after one warm-up) in each precision on a copy of `model`, so the run
    itself is untouched. Returns the faster precision and the images/s measured for each; float32 wins ties
    and is kept whenever bf16 fails to run. bf16 is only tried where the hardware has it natively: on a
    busy machine a few timed steps can make emulated bf16 look faster than it is."""
    speeds: dict[str, float | None] = {}
    candidates = PRECISIONS if serving_precision(batch.device) == BFLOAT16 else (FLOAT32,)
    for precision in candidates:
        trial = copy.deepcopy(model).train()
        optimizer = torch.optim.SGD(trial.parameters(), lr=1e-6)
        target = torch.zeros(len(batch), dtype=torch.long, device=batch.device)
        try:
            for step in range(steps + 1):
                if step == 1:
                    _synchronize(batch.device)
                    started = time.perf_counter()
                with autocast_for(batch.device, precision):
                    loss = F.cross_entropy(trial(batch).float(), target)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            _synchronize(batch.device)
            speeds[precision] = round(steps * len(batch) / (time.perf_counter() - started), 1)
        except RuntimeError:  # an operator without a bf16 kernel on this device
            speeds[precision] = None
    bf16 = speeds.get(BFLOAT16)
    chosen = BFLOAT16 if bf16 is not None and bf16 > 1.1 * (speeds[FLOAT32] or 0) else FLOAT32
    return chosen, speeds


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
