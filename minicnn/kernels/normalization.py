"""numba kernels for batch normalization: per-channel statistics and the elementwise passes.

Statistics are summed in float64, one channel per parallel job, in an order fixed by the shapes (the
sums of one channel may be vectorized, as in `minicnn.kernels.gemm`), so results do not depend on the
number of threads. Arrays are (N, C, S) with S the flattened spatial positions (1 for (N, C) inputs).
"""
import numpy as np
from numba import njit

from minicnn.kernels.launch import share

from minicnn.kernels.gemm import _REASSOC


@njit(nogil=True, cache=True, fastmath=_REASSOC)
def channel_moments(part, parts, x, mean, var):
    """mean[c] and the biased var[c] of x[:, c, :] (float64 outputs), in two passes for accuracy."""
    n_batch, n_chan, size = x.shape
    count = n_batch * size
    first, stop = share(n_chan, part, parts)
    for c in range(first, stop):
        total = 0.0
        for n in range(n_batch):
            row = x[n, c]
            for s in range(size):
                total += row[s]
        centre = total / count
        squares = 0.0
        for n in range(n_batch):
            row = x[n, c]
            for s in range(size):
                d = row[s] - centre
                squares += d * d
        mean[c], var[c] = centre, squares / count


@njit(nogil=True, cache=True)
def affine(part, parts, x, centre, scale, shift, y):
    """y[n, c, s] = (x[n, c, s] - centre[c]) * scale[c] + shift[c]; one (n, c) row per job."""
    n_batch, n_chan, size = x.shape
    first, stop = share(n_batch * n_chan, part, parts)
    for job in range(first, stop):
        n, c = job // n_chan, job % n_chan
        row, out = x[n, c], y[n, c]
        m, a, b = centre[c], scale[c], shift[c]
        for s in range(size):
            out[s] = (row[s] - m) * a + b


@njit(nogil=True, cache=True, fastmath=_REASSOC)
def channel_grad_sums(part, parts, grad, x, mean, inv_std, sum_grad, sum_grad_x_hat):
    """sum_grad[c] = sum of grad[:, c], sum_grad_x_hat[c] = sum of grad * (x - mean) * inv_std (float64)."""
    n_batch, n_chan, size = x.shape
    first, stop = share(n_chan, part, parts)
    for c in range(first, stop):
        total, weighted = 0.0, 0.0
        m, k = mean[c], inv_std[c]
        for n in range(n_batch):
            g_row, x_row = grad[n, c], x[n, c]
            for s in range(size):
                total += g_row[s]
                weighted += g_row[s] * ((x_row[s] - m) * k)
        sum_grad[c], sum_grad_x_hat[c] = total, weighted


@njit(nogil=True, cache=True)
def batch_norm_grad_input(part, parts, grad, x, mean, inv_std, scale, mean_grad, mean_grad_x_hat,
                          grad_x):
    """grad_x = scale * (grad - mean_grad - x_hat * mean_grad_x_hat) per channel, x_hat = (x - mean) * inv_std,
    scale = gamma * inv_std: the training-mode gradient, the batch statistics depending on every x."""
    n_batch, n_chan, size = x.shape
    first, stop = share(n_batch * n_chan, part, parts)
    for job in range(first, stop):
        n, c = job // n_chan, job % n_chan
        g_row, x_row, out = grad[n, c], x[n, c], grad_x[n, c]
        m, k, a, g0, g1 = mean[c], inv_std[c], scale[c], mean_grad[c], mean_grad_x_hat[c]
        for s in range(size):
            out[s] = a * (g_row[s] - g0 - (x_row[s] - m) * k * g1)
