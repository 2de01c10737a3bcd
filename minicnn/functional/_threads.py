"""Small jobs run on one thread; BLAS products inside the kernels always do (`minicnn.kernels.blas`).

Handing a share of the jobs to a second thread (`minicnn.kernels.launch`) costs tens of microseconds, and
when other processes compete for the cores a waiting thread costs far more. Below about two million
multiply-adds a kernel gains little from a second thread anyway, so it runs on one. Results do not change:
the kernels cut the work into the same jobs whatever the thread count. The thread count is numba's
(NUMBA_NUM_THREADS, ``numba.set_num_threads``), so one setting governs every kernel.
"""
from minicnn.kernels.blas import one_thread
from minicnn.kernels.launch import serial

SMALL_WORK = 2_000_000


class threads_for:
    """Within the block, use one thread if `work` (multiply-adds or elements) is below SMALL_WORK, and one
    OpenBLAS thread inside each of minicnn's threads."""

    __slots__ = ("blas", "small")

    def __init__(self, work):
        self.blas, self.small = one_thread(), serial(work < SMALL_WORK)

    def __enter__(self):
        self.small.__enter__()
        self.blas.__enter__()

    def __exit__(self, *exc):
        self.blas.__exit__(*exc)
        self.small.__exit__(*exc)
