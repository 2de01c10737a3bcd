"""Small jobs run on one thread; BLAS products inside the kernels always do (`minicnn.kernels.blas`).

Handing a share of the jobs to a second thread (`minicnn.kernels.launch`) costs tens of microseconds, and
when other processes compete for the cores a waiting thread costs far more. Below about two million
multiply-adds a kernel gains little from a second thread anyway, so it runs on one. Results do not change:
the kernels cut the work into the same jobs whatever the thread count. The thread count is numba's
(NUMBA_NUM_THREADS, ``numba.set_num_threads``), so one setting governs every kernel.
"""
import contextlib

import numba

from minicnn.kernels.blas import one_thread

SMALL_WORK = 2_000_000


@contextlib.contextmanager
def threads_for(work):
    """Within the block, use one thread if `work` (multiply-adds or elements) is below SMALL_WORK, and one
    OpenBLAS thread inside each of minicnn's threads."""
    with one_thread():
        if work >= SMALL_WORK:
            yield
            return
        previous = numba.get_num_threads()
        numba.set_num_threads(1)
        try:
            yield
        finally:
            numba.set_num_threads(previous)
