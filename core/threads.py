"""How many threads one request's kernels may use: PyTorch's intra-op pool and numpy's BLAS (the SVD of
Eigen-CAM). Nothing changes on import; the app's resource loader (ui/resources.py) applies its policy, and
training keeps the libraries' defaults (all cores).
"""

from __future__ import annotations

import torch
from threadpoolctl import threadpool_limits


def limit_threads(count: int) -> None:
    """Every later kernel, in every thread of this process, uses at most `count` threads."""
    torch.set_num_threads(count)
    threadpool_limits(count, user_api="blas")  # applied now and kept: numpy's and scipy's OpenBLAS
