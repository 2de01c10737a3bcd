"""minicnn.kernels.launch (a kernel's jobs on several threads) and minicnn.kernels.blas (numpy's BLAS on one thread)."""
import threading

import numba
import numpy as np
import pytest

from minicnn.kernels import blas
from minicnn.kernels.launch import run_parallel, serial, share


@pytest.mark.parametrize("n_jobs", [0, 1, 2, 3, 7, 64, 1001])
@pytest.mark.parametrize("parts", [1, 2, 3, 8])
def test_share_cuts_the_jobs_into_contiguous_blocks_of_equal_size(n_jobs, parts):
    blocks = [share(n_jobs, part, parts) for part in range(parts)]
    assert blocks[0][0] == 0 and blocks[-1][1] == n_jobs
    assert all(stop == first for (_, stop), (first, _) in zip(blocks, blocks[1:]))
    sizes = [stop - first for first, stop in blocks]
    assert max(sizes) - min(sizes) <= 1


def test_run_parallel_runs_every_part_once_on_as_many_threads_as_numba_says():
    calls, lock = [], threading.Lock()

    def kernel(part, parts, tag):
        with lock:
            calls.append((part, parts, tag, threading.current_thread() is threading.main_thread()))

    run_parallel(kernel, "x")
    parts = numba.get_num_threads()
    assert sorted(c[0] for c in calls) == list(range(parts)) and {c[1] for c in calls} == {parts}
    assert [c[3] for c in calls if c[0] == 0] == [True]  # part 0 runs on the calling thread
    calls.clear()
    with serial():
        run_parallel(kernel, "y")
        with serial(False):  # an inner block cannot undo the outer one
            run_parallel(kernel, "z")
    run_parallel(kernel, "w")
    assert [(c[0], c[1], c[2]) for c in calls[:2]] == [(0, 1, "y"), (0, 1, "z")]
    assert sorted(c[0] for c in calls[2:]) == list(range(parts))


def test_an_error_in_a_worker_reaches_the_caller():
    def kernel(part, parts):
        if part == parts - 1:
            raise ValueError("from the last part")

    with pytest.raises(ValueError, match="from the last part"):
        run_parallel(kernel)


def _conv_in_child(queue):
    import minicnn.functional as F

    x = np.ones((64, 8, 32, 32), np.float32)  # large enough for two threads
    queue.put(float(F.conv2d(x, np.ones((16, 8, 3, 3), np.float32)).sum()))


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="no fork on this platform")
def test_a_forked_child_gets_worker_threads_of_its_own():
    """A process forked after minicnn started its threads inherits a pool without threads; it must not hang."""
    import multiprocessing

    import minicnn.functional as F

    F.conv2d(np.ones((64, 8, 32, 32), np.float32), np.ones((16, 8, 3, 3), np.float32))  # start the pool here
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_conv_in_child, args=(queue,))
    child.start()
    child.join(timeout=60)
    if child.is_alive():
        child.kill()
    assert child.exitcode == 0, "the forked child hung or failed"
    assert queue.get(timeout=5) == 64 * 16 * 30 * 30 * 72.0


@pytest.mark.skipif(blas.gemm_for(np.float32) is None, reason="no OpenBLAS beside numpy here")
def test_one_thread_holds_openblas_to_one_thread_and_restores_its_setting():
    get_threads, set_threads = blas._FUNCTIONS[2:4]
    before = get_threads()
    set_threads(2)
    try:
        with blas.one_thread():
            assert get_threads() == 1
        assert get_threads() == 2
    finally:
        set_threads(before)
    assert blas.core_name() not in ("", "none")
