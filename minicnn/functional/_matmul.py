"""a @ b.T through `minicnn.kernels.gemm.gemm_nt` (numpy's BLAS, or minicnn's own product), for the layers that
are matrix products."""
import numpy as np

from minicnn.kernels import blas as _blas
from minicnn.kernels import gemm as _gemm
from minicnn.kernels.launch import run_parallel


def matmul_nt(a, b):
    """a @ b.T for 2-D a (M, L) and b (N, L) of one float dtype.

    The operands are copied into the aligned, zero-padded rows the kernel reads.
    Each block of rows of the result is one job's work (a one-thread BLAS product, see
    `minicnn.kernels.blas`), so the numbers do not depend on the number of threads.
    """
    a_rows = _gemm.aligned_rows(a.shape[0], a.shape[1], a.dtype)
    b_rows = _gemm.aligned_rows(b.shape[0], b.shape[1], b.dtype)
    a_rows[:, :a.shape[1]] = a
    b_rows[:, :b.shape[1]] = b
    c = np.empty((a.shape[0], b.shape[0]), dtype=a.dtype)
    run_parallel(_gemm.matmul_nt, _blas.gemm_for(a.dtype), a_rows, b_rows, c, a.shape[1])
    return c
