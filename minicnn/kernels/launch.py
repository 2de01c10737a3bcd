"""Running a kernel's jobs on several threads: Python threads calling serial numba functions that release the GIL.

Every parallel kernel in `minicnn.kernels` has the signature ``kernel(part, parts, *arrays)``: it computes
its job count from the shapes and runs its share of the jobs, ``range(*share(n_jobs, part, parts))``
(contiguous blocks of equal size, as numba's own ``prange`` schedules them). `run_parallel` calls it once per
thread. Each job writes its own outputs, so the result is the same for any number of threads.

Why not ``numba.prange``: compiling a ``parallel=True`` function costs 2.5-4 s more than the same code
compiled serially (numba builds and compiles a separate parallel region for every loop and array expression),
and minicnn has about twenty such kernels in two precisions; a learner waited over a minute and a half on a
fresh install. The threads here cost nothing to compile and about 20 microseconds per call to start.
"""
import concurrent.futures
import os
import threading

import numba
from numba import njit

_pool, _pool_pid = None, None
_pool_lock = threading.Lock()
_local = threading.local()  # .serial: run every kernel on the calling thread alone (see `serial`)


@njit(cache=True)
def share(n_jobs, part, parts):
    """(first, stop): the jobs of one part when n_jobs are cut into `parts` contiguous blocks of equal size."""
    return n_jobs * part // parts, n_jobs * (part + 1) // parts


def _workers(count):
    """The pool of worker threads, made anew in a forked child (whose copy of the pool has no threads)."""
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool._max_workers < count or _pool_pid != os.getpid():
            _pool = concurrent.futures.ThreadPoolExecutor(max_workers=count, thread_name_prefix="minicnn")
            _pool_pid = os.getpid()
        return _pool


class serial:
    """Within the block, on this thread, `run_parallel` runs kernels on the calling thread only (if `on`).

    Cheaper than ``numba.set_num_threads(1)`` and back (about 12 microseconds), which a training step of a small
    network would pay dozens of times."""

    __slots__ = ("on", "before")

    def __init__(self, on=True):
        self.on = on

    def __enter__(self):
        self.before = getattr(_local, "serial", False)
        _local.serial = self.before or self.on

    def __exit__(self, *exc):
        _local.serial = self.before


def run_parallel(kernel, *args):
    """kernel(part, parts, *args) for part in range(parts), with parts = ``numba.get_num_threads()`` (which
    NUMBA_NUM_THREADS and ``numba.set_num_threads`` control) or 1 inside `serial`, part 0 on the calling
    thread."""
    parts = 1 if getattr(_local, "serial", False) else numba.get_num_threads()
    if parts == 1:
        kernel(0, 1, *args)
        return
    pool = _workers(parts - 1)
    others = [pool.submit(kernel, part, parts, *args) for part in range(1, parts)]
    try:
        kernel(0, parts, *args)
    finally:
        for job in others:
            job.result()
