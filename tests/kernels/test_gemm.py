"""minicnn.kernels.gemm: the register-blocked product (the plain route) and the BLAS route against numpy, on
shapes that leave every kind of remainder."""
import numpy as np
import pytest

from minicnn.kernels import blas, gemm
from minicnn.kernels.launch import run_parallel

ROUTES = ["plain"] + (["blas"] if blas.gemm_for(np.float32) is not None else [])


TOL = {np.float32: dict(rtol=1e-5, atol=1e-4), np.float64: dict(rtol=1e-12, atol=1e-12)}


def product_for(route, dtype):
    return None if route == "plain" else blas.gemm_for(dtype)


def operands(m, n, length, dtype):
    """Aligned, zero-padded a (m, length) and b (n, length), c (m, n + 5) and the expected c + [0 | a b^T | 0]."""
    rng = np.random.default_rng(m * 100 + n)
    a = gemm.aligned_rows(m, length, np.dtype(dtype))
    b = gemm.aligned_rows(n, length, np.dtype(dtype))
    a[:, :length] = rng.standard_normal((m, length))
    b[:, :length] = rng.standard_normal((n, length))
    c = rng.standard_normal((m, n + 5)).astype(dtype)
    want = c.copy()
    want[:, 3:3 + n] += a @ b.T
    return a, b, c, want


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m, n, length", [(6, 4, 16), (13, 7, 5), (1, 1, 1), (5, 3, 40), (64, 33, 576), (12, 8, 0)])
def test_dot_rows_adds_a_times_b_transposed(dtype, m, n, length):
    a, b, c, want = operands(m, n, length, dtype)
    gemm.dot_rows(a, b, c, 3)
    np.testing.assert_allclose(c, want, **TOL[dtype])


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m, n, length", [(6, 4, 16), (13, 7, 5), (1, 1, 1), (64, 33, 576), (12, 8, 0), (0, 3, 4)])
def test_gemm_nt_adds_a_times_b_transposed_on_either_route(route, dtype, m, n, length):
    a, b, c, want = operands(m, n, length, dtype)
    with blas.one_thread():
        gemm.gemm_nt(product_for(route, dtype), a, b, c, 3, length)
    np.testing.assert_allclose(c, want, **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_aligned_rows_are_zero_padded_and_aligned(dtype):
    rows = gemm.aligned_rows(5, 17, np.dtype(dtype))
    assert rows.shape == (5, 32) and rows.dtype == dtype and rows.flags.c_contiguous
    assert rows.ctypes.data % 64 == 0 and not rows.any()


@pytest.mark.parametrize("route", ROUTES)
def test_matmul_nt_splits_rows_into_jobs(route):
    rng = np.random.default_rng(0)
    a = gemm.aligned_rows(100, 30, np.dtype(np.float64))
    b = gemm.aligned_rows(9, 30, np.dtype(np.float64))
    a[:, :30], b[:, :30] = rng.standard_normal((100, 30)), rng.standard_normal((9, 30))
    c = np.full((100, 9), np.nan)
    with blas.one_thread():
        run_parallel(gemm.matmul_nt, product_for(route, np.float64), a, b, c, 30)
    np.testing.assert_allclose(c, a @ b.T, rtol=1e-12)


def test_blas_is_found_beside_numpy_here_and_can_be_switched_off():
    """numpy's Linux wheels ship OpenBLAS; MINICNN_BLAS=0 selects the plain route (checked in a fresh process)."""
    import subprocess
    import sys
    code = "from minicnn.kernels import blas; print(blas.gemm_for('float32') is None, blas.SOURCE)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**__import__("os").environ, "MINICNN_BLAS": "0"}).stdout
    assert out.startswith("True switched off")
    if "openblas" in str(np.__config__.CONFIG["Build Dependencies"]["blas"]).lower():
        assert blas.gemm_for(np.float32) is not None, blas.SOURCE
