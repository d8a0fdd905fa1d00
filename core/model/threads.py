"""How many threads one request's kernels may use: PyTorch's intra-op pool and numpy's BLAS.
Nothing changes on import; the app's resource loader (ui/resources.py) applies its policy, and
training keeps the libraries' defaults (all cores).
"""

from __future__ import annotations

import torch
from threadpoolctl import threadpool_limits


def limit_threads(count: int) -> None:
    """At most `count` threads per kernel from now on, for the whole process: PyTorch's intra-op pool, and every
    BLAS library loaded by then (numpy's OpenBLAS; scipy's is loaded with pytorch-grad-cam, and the app calls this
    again once that is in, ui/resources.py).

    One gap: a large matrix product that PyTorch hands to MKL from a thread started later takes OpenMP's
    per-thread default instead. With the networks served here, one client kept about one core busy
    (bench/concurrency.py).
    """
    torch.set_num_threads(count)
    threadpool_limits(count, user_api="blas")  # applied now and kept, not undone on return
