import torch
from threadpoolctl import threadpool_info, threadpool_limits

import core.model.gradcam  # noqa: F401  (loads the BLAS libraries the app uses: numpy's, and scipy's via grad-cam)
from core.model.threads import limit_threads


def blas_threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_limit_threads_limits_torch_and_every_blas_library():
    torch_threads = torch.get_num_threads()
    with threadpool_limits(limits=None):  # restores the BLAS defaults for the tests that follow
        limit_threads(1)
        assert torch.get_num_threads() == 1
        assert blas_threads() and set(blas_threads()) == {1}
    torch.set_num_threads(torch_threads)
