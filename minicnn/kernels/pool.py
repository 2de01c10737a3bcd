"""numba kernels for 2-D pooling over padded inputs, one (n, c) plane per prange iteration (deterministic)."""
import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True)
def max_pool2d_forward(xp, out, k_h, k_w, stride_h, stride_w):
    """out[n, c, p, q] = max of the window; the first maximum in row-major order wins ties (as in PyTorch)."""
    n_batch, n_chan = xp.shape[0], xp.shape[1]
    out_h, out_w = out.shape[2], out.shape[3]
    for job in prange(n_batch * n_chan):
        plane = xp[job // n_chan, job % n_chan]
        dst = out[job // n_chan, job % n_chan]
        for p in range(out_h):
            for q in range(out_w):
                best = plane[p * stride_h, q * stride_w]
                for i in range(k_h):
                    for j in range(k_w):
                        v = plane[p * stride_h + i, q * stride_w + j]
                        if v > best or np.isnan(v):
                            best = v
                dst[p, q] = best


@njit(parallel=True, cache=True)
def max_pool2d_backward(xp, grad_out, grad_xp, k_h, k_w, stride_h, stride_w):
    """Route each window's error to its arg-max (the upsampling of max pooling); other cells get 0."""
    n_batch, n_chan = xp.shape[0], xp.shape[1]
    out_h, out_w = grad_out.shape[2], grad_out.shape[3]
    for job in prange(n_batch * n_chan):
        n, c = job // n_chan, job % n_chan
        plane, delta, dst = xp[n, c], grad_out[n, c], grad_xp[n, c]
        dst[:, :] = 0.0
        for p in range(out_h):
            for q in range(out_w):
                bi, bj = p * stride_h, q * stride_w
                best = plane[bi, bj]
                for i in range(k_h):
                    for j in range(k_w):
                        v = plane[p * stride_h + i, q * stride_w + j]
                        if v > best or (np.isnan(v) and not np.isnan(best)):
                            best = v
                            bi, bj = p * stride_h + i, q * stride_w + j
                dst[bi, bj] += delta[p, q]


@njit(parallel=True, cache=True)
def sum_pool2d_forward(xp, out, k_h, k_w, stride_h, stride_w):
    """out[n, c, p, q] = sum of the window (average and L^p pooling scale it)."""
    n_batch, n_chan = xp.shape[0], xp.shape[1]
    out_h, out_w = out.shape[2], out.shape[3]
    for job in prange(n_batch * n_chan):
        plane = xp[job // n_chan, job % n_chan]
        dst = out[job // n_chan, job % n_chan]
        dst[:, :] = 0.0
        for i in range(k_h):
            for j in range(k_w):
                for p in range(out_h):
                    for q in range(out_w):
                        dst[p, q] += plane[p * stride_h + i, q * stride_w + j]


@njit(parallel=True, cache=True)
def sum_pool2d_backward(grad_out, grad_xp, k_h, k_w, stride_h, stride_w):
    """Spread each window's error onto every cell of the window (mean pooling's upsampling, before scaling)."""
    n_batch, n_chan = grad_out.shape[0], grad_out.shape[1]
    out_h, out_w = grad_out.shape[2], grad_out.shape[3]
    for job in prange(n_batch * n_chan):
        delta = grad_out[job // n_chan, job % n_chan]
        dst = grad_xp[job // n_chan, job % n_chan]
        dst[:, :] = 0.0
        for i in range(k_h):
            for j in range(k_w):
                for p in range(out_h):
                    for q in range(out_w):
                        dst[p * stride_h + i, q * stride_w + j] += delta[p, q]
