"""Compile (or load from numba's cache) every minicnn kernel for float32 and float64, and print the times.

    python tools/compile_kernels.py

Run it once before a class or a CI job so the first notebook does not pay for
compilation. With a warm cache it measures what a learner's first call costs.
"""
import time

start = time.perf_counter()
import numpy as np  # noqa: E402

import minicnn.functional as F  # noqa: E402

import_time = time.perf_counter() - start


def main():
    print(f"import minicnn: {import_time:.2f} s")
    total = time.perf_counter()
    for dtype in (np.float32, np.float64):
        x, w = np.ones((2, 2, 6, 6), dtype), np.ones((2, 1, 3, 3), dtype)
        t = time.perf_counter()
        y = F.conv2d(x, w, padding=1, groups=2)
        F.conv2d_backward(y, x, w, padding=1, groups=2)
        conv = time.perf_counter() - t
        t = time.perf_counter()
        for pool, pool_backward in ((F.max_pool2d, F.max_pool2d_backward), (F.avg_pool2d, F.avg_pool2d_backward)):
            pool_backward(pool(x, 2), x, 2)
        pooling = time.perf_counter() - t
        print(f"{np.dtype(dtype).name}: convolution kernels {conv:.2f} s, pooling kernels {pooling:.2f} s")
    print(f"all kernels: {time.perf_counter() - total:.2f} s (import + all: {time.perf_counter() - start:.2f} s)")


if __name__ == "__main__":
    main()
