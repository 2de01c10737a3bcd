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
        x = np.ones((2, 2, 6, 6), dtype)
        t = time.perf_counter()
        for w, args in ((np.ones((4, 1, 3, 3), dtype), dict(padding=1, groups=2)),  # shifted planes, folding
                        (np.ones((2, 1, 3, 3), dtype), dict(padding=1, groups=2)),  # depthwise, stride 1
                        (np.ones((2, 1, 3, 3), dtype), dict(stride=2, groups=2)),  # depthwise, stride 2
                        (np.ones((4, 2, 6, 6), dtype), dict(stride=2, padding=2)),  # windows copied, folding
                        (np.ones((12, 2, 3, 3), dtype), dict(stride=2)),  # windows copied, folding
                        (np.ones((3, 2, 6, 6), dtype), {})):  # matrix product
            y = F.conv2d(x, w, **args)
            F.conv2d_backward(y, x, w, **args)
        wide = np.ones((2, 16, 6, 6), dtype)  # 16 channels: shifted products, input gradient by full correlation
        F.conv2d_backward(F.conv2d(wide, np.ones((12, 16, 3, 3), dtype), padding=1), wide,
                          np.ones((12, 16, 3, 3), dtype), padding=1)
        flat, weight = x.reshape(2, -1), np.ones((3, 72), dtype)
        F.linear_backward(F.linear(flat, weight), flat, weight)
        conv = time.perf_counter() - t
        t = time.perf_counter()
        y, indices = F.max_pool2d(x, 2, return_indices=True)
        F.max_pool2d_backward(y, x, 2, indices=indices)
        F.avg_pool2d_backward(F.avg_pool2d(F.max_pool2d(x, 2), 1), F.max_pool2d(x, 2), 1)
        F.relu_backward(F.relu(x), x)
        F.relu6_backward(F.relu6(x), x)
        stats = np.zeros(2, dtype), np.ones(2, dtype)
        for training in (True, False):
            F.batch_norm_backward(F.batch_norm(x, *stats, training=training), x, None, *stats, training=training)
        other = time.perf_counter() - t
        print(f"{np.dtype(dtype).name}: convolution and linear kernels {conv:.2f} s, "
              f"pooling, relu and batch norm {other:.2f} s")
    print(f"all kernels: {time.perf_counter() - total:.2f} s (import + all: {time.perf_counter() - start:.2f} s)")


if __name__ == "__main__":
    main()
