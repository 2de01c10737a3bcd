"""Small jobs run on one thread; BLAS products inside the kernels always do (`minicnn.kernels.blas`).

Starting numba's thread team costs little on an idle machine, but when other processes (or OpenBLAS's own
threads) compete for the cores, the spinning workers of a parallel region can make a small kernel 10-50x
slower. Below about two million multiply-adds a kernel gains little from a second thread anyway, so it runs
on one. Results do not change: the kernels cut the work into the same chunks whatever the thread count.
"""
import contextlib

import numba

from minicnn.kernels.blas import one_thread

SMALL_WORK = 2_000_000


@contextlib.contextmanager
def threads_for(work):
    """Within the block, use one numba thread if `work` (multiply-adds or elements) is below SMALL_WORK,
    and one OpenBLAS thread inside each numba thread."""
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
