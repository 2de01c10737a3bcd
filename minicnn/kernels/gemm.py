"""A matrix product written for numba: ``c[i, c0 + j] += sum_l a[i, l] * b[j, l]``.

`gemm_nt` is what the kernels call: numpy's BLAS where it was found (`minicnn.kernels.blas`), else
`dot_rows` below, the plain route, which runs on any CPU and is tested against numpy and the BLAS.

Both factors are read along their rows (the "NT" form, ``c += a @ b.T``), so every
element of ``c`` is a dot product of two contiguous rows. The work is cut into
blocks of 6 rows of ``a`` by 4 rows of ``b``: the 24 running sums stay in vector
registers while the loop walks the shared axis once, so every 10 loads feed 24
multiply-adds. LLVM vectorizes that loop only if it may reassociate the sums
(fast-math 'reassoc'), so each dot product is summed as a few interleaved
partial sums rather than strictly left to right. That order depends on the
shapes and the CPU's vector width only, never on the data or the number of
threads, so results repeat exactly on a given machine.

Measured on one core of the CI machine (AVX-512, float32): 145-195 GFLOP/s on the
benchmark layers' shapes, against 20-80 for loops that keep the sums in memory.

Details that keep the loop fast: the rows are taken as 1-D views and indexed
from 0 (an index like ``i + l`` may be negative as far as numba knows, and its
wraparound check blocks vectorization); the 24 sums are plain local variables
(an array would live in memory); and callers lay the factors out with
`aligned_rows`, rows padded with zeros to a multiple of 16 numbers and starting
on a 64-byte boundary, so every row is whole vectors with no scalar remainder.
"""
import numpy as np
from numba import njit, types
from numba.extending import overload

from minicnn.kernels.blas import NO_TRANS, ROW_MAJOR, TRANS
from minicnn.kernels.launch import share

_REASSOC = {"reassoc", "contract"}  # reorder and fuse the sums of a dot product; no other fast-math liberty
_LANES = 16  # row lengths are padded to a multiple of this (one AVX-512 vector of float32)
_ALIGN = 64  # bytes


@njit(cache=True)
def padded_length(length):
    return (length + _LANES - 1) // _LANES * _LANES


@njit(cache=True)
def aligned_rows(rows, length, dtype):
    """Zeros of shape (rows, padded_length(length)) and the given dtype, every row starting on a 64-byte boundary.

    (A dtype, not an array "like" this one: numba compiles a function once per argument type, and arrays of
    every rank and layout would each cost a compilation.)
    """
    pitch = padded_length(length)
    buffer = np.zeros(rows * pitch + _ALIGN // 4, dtype=dtype)  # room to shift the start by up to 64 bytes
    start = (-buffer.ctypes.data % _ALIGN) // buffer.itemsize
    return buffer[start:start + rows * pitch].reshape((rows, pitch))


@njit(fastmath=_REASSOC, cache=True)
def _dot(x, y):
    s = x.dtype.type(0)
    for l in range(x.shape[0]):
        s += x[l] * y[l]
    return s


@njit(fastmath=_REASSOC, cache=True)
def dot_rows(a, b, c, c0):
    """c[i, c0 + j] += sum_{l < L} a[i, l] * b[j, l] for i < M, j < N, with L = b.shape[1].

    a (M, >= L), b (N, L) and c (M, >= c0 + N) are C-contiguous 2-D arrays of one dtype.
    """
    m, n, length = a.shape[0], b.shape[0], b.shape[1]
    m6, n4 = m - m % 6, n - n % 4
    zero = a.dtype.type(0)
    for i in range(0, m6, 6):
        a_0 = a[i, :length]
        a_1 = a[i + 1, :length]
        a_2 = a[i + 2, :length]
        a_3 = a[i + 3, :length]
        a_4 = a[i + 4, :length]
        a_5 = a[i + 5, :length]
        for j in range(0, n4, 4):
            b0 = b[j]
            b1 = b[j + 1]
            b2 = b[j + 2]
            b3 = b[j + 3]
            s00 = s01 = s02 = s03 = zero
            s10 = s11 = s12 = s13 = zero
            s20 = s21 = s22 = s23 = zero
            s30 = s31 = s32 = s33 = zero
            s40 = s41 = s42 = s43 = zero
            s50 = s51 = s52 = s53 = zero
            for l in range(length):
                v0, v1, v2, v3 = b0[l], b1[l], b2[l], b3[l]
                u = a_0[l]
                s00 += u * v0; s01 += u * v1; s02 += u * v2; s03 += u * v3
                u = a_1[l]
                s10 += u * v0; s11 += u * v1; s12 += u * v2; s13 += u * v3
                u = a_2[l]
                s20 += u * v0; s21 += u * v1; s22 += u * v2; s23 += u * v3
                u = a_3[l]
                s30 += u * v0; s31 += u * v1; s32 += u * v2; s33 += u * v3
                u = a_4[l]
                s40 += u * v0; s41 += u * v1; s42 += u * v2; s43 += u * v3
                u = a_5[l]
                s50 += u * v0; s51 += u * v1; s52 += u * v2; s53 += u * v3
            jc = c0 + j
            c[i + 0, jc + 0] += s00; c[i + 0, jc + 1] += s01; c[i + 0, jc + 2] += s02; c[i + 0, jc + 3] += s03
            c[i + 1, jc + 0] += s10; c[i + 1, jc + 1] += s11; c[i + 1, jc + 2] += s12; c[i + 1, jc + 3] += s13
            c[i + 2, jc + 0] += s20; c[i + 2, jc + 1] += s21; c[i + 2, jc + 2] += s22; c[i + 2, jc + 3] += s23
            c[i + 3, jc + 0] += s30; c[i + 3, jc + 1] += s31; c[i + 3, jc + 2] += s32; c[i + 3, jc + 3] += s33
            c[i + 4, jc + 0] += s40; c[i + 4, jc + 1] += s41; c[i + 4, jc + 2] += s42; c[i + 4, jc + 3] += s43
            c[i + 5, jc + 0] += s50; c[i + 5, jc + 1] += s51; c[i + 5, jc + 2] += s52; c[i + 5, jc + 3] += s53
        for j in range(n4, n):
            for r in range(6):
                c[i + r, c0 + j] += _dot(a[i + r, :length], b[j])
    for i in range(m6, m):  # leftover rows of a: blocks of 1 by 4
        a_i = a[i, :length]
        for j in range(0, n4, 4):
            b0, b1, b2, b3 = b[j], b[j + 1], b[j + 2], b[j + 3]
            s00 = s01 = s02 = s03 = zero
            for l in range(length):
                u = a_i[l]
                s00 += u * b0[l]; s01 += u * b1[l]; s02 += u * b2[l]; s03 += u * b3[l]
            c[i, c0 + j] += s00; c[i, c0 + j + 1] += s01; c[i, c0 + j + 2] += s02; c[i, c0 + j + 3] += s03
        for j in range(n4, n):
            c[i, c0 + j] += _dot(a_i, b[j])


def gemm_nt(blas, a, b, c, c0, length):
    """c[i, c0 + j] += sum_{l < length} a[i, l] * b[j, l]: BLAS when `blas` is a function, else `dot_rows`.

    `blas` is a ``cblas_?gemm`` of a's dtype from `minicnn.kernels.blas.gemm_for`, passed as an argument so
    numba can cache the kernels that call it. The choice is made when a kernel is compiled (from the type of
    `blas`, see `_gemm_nt_for`), so each route compiles only its own product: `dot_rows`' large unrolled body
    is compiled only on the plain route. a, b and c have rows of unit stride; BLAS skips the zeros past
    `length` (`aligned_rows`' padding), `dot_rows` reads them.
    """
    if blas is None:
        dot_rows(a, b, c, c0)
    else:
        _blas_gemm_nt(blas, a, b, c, c0, length)


@njit(cache=True)
def _blas_gemm_nt(blas, a, b, c, c0, length):
    m, n, size = a.shape[0], b.shape[0], a.itemsize
    if m > 0 and n > 0 and length > 0:
        blas(ROW_MAJOR, NO_TRANS, TRANS, m, n, length, 1.0, a.ctypes.data, a.strides[0] // size, b.ctypes.data,
             b.strides[0] // size, 1.0, c.ctypes.data + c0 * size, c.strides[0] // size)


@overload(gemm_nt, jit_options={"cache": True})
def _gemm_nt_for(blas, a, b, c, c0, length):
    if isinstance(blas, types.NoneType):
        return lambda blas, a, b, c, c0, length: dot_rows(a, b, c, c0)
    return lambda blas, a, b, c, c0, length: _blas_gemm_nt(blas, a, b, c, c0, length)


_ROWS_PER_JOB = 48


@njit(nogil=True, cache=True)
def matmul_nt(part, parts, blas, a, b, c, length):
    """c = a @ b.T for `aligned_rows` operands a (M, L') and b (N, L') of `length` numbers per row (the rest
    zeros); jobs are blocks of 48 rows of a."""
    m = a.shape[0]
    first, stop = share((m + _ROWS_PER_JOB - 1) // _ROWS_PER_JOB, part, parts)
    for job in range(first, stop):
        r0 = job * _ROWS_PER_JOB
        r1 = min(m, r0 + _ROWS_PER_JOB)
        c[r0:r1, :] = 0.0
        gemm_nt(blas, a[r0:r1], b, c[r0:r1], 0, length)

