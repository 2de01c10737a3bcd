"""numba kernels for 2-D pooling over padded inputs, one (n, c) plane per job (deterministic).

Each kernel runs its share of the jobs (`minicnn.kernels.launch`).
"""
import numpy as np
from numba import njit

from minicnn.kernels.launch import share


@njit(nogil=True, cache=True)
def max_pool2d_forward_indices(part, parts, xp, out, indices, k_h, k_w, stride_h, stride_w, pad_h, pad_w,
                               width):
    """out[n, c, p, q] = max of the window, and indices[n, c, p, q] its flat index into the unpadded input plane.

    xp is the input with pad_h, pad_w cells of -inf before its rows and columns and at least as many after
    (more with ceil_mode, whose last window may overhang further); width is the unpadded input's width.
    The arg-max is the first cell, in row-major order, holding the window's
    maximum, or the last nan if there is one: PyTorch's rule. Comparisons are
    selects, not branches: with random data the arg-max is unpredictable and a
    branch would mispredict half the time.
    """
    if k_h == k_w == stride_h == stride_w == 2 and pad_h == pad_w == 0 and xp.shape[3] == width:
        _max_pool_2x2_forward_indices(part, parts, xp, out, indices)  # (a -inf row below is fine: it never wins)
        return
    n_batch, n_chan = xp.shape[0], xp.shape[1]
    out_h, out_w = out.shape[2], out.shape[3]
    first, stop = share(n_batch * n_chan, part, parts)
    for job in range(first, stop):
        n, c = job // n_chan, job % n_chan
        plane, dst, where = xp[n, c], out[n, c], indices[n, c]
        for p in range(out_h):
            top = p * stride_h
            dst_row, where_row = dst[p], where[p]
            for q in range(out_w):
                left = q * stride_w
                best = -np.inf  # padding is -inf, so the index only moves onto a real cell
                at = (max(top, pad_h) - pad_h) * width + max(left, pad_w) - pad_w
                for i in range(k_h):
                    row = plane[top + i, left:left + k_w]
                    row_start = (top + i - pad_h) * width + left - pad_w
                    for j in range(k_w):
                        v = row[j]
                        better = (v > best) | (v != v)
                        best = v if better else best
                        at = row_start + j if better else at
                dst_row[q] = best
                where_row[q] = at


@njit(nogil=True, cache=True)
def _max_pool_2x2_forward_indices(part, parts, x, out, indices):
    """`max_pool2d_forward_indices` for the most common case, 2x2 windows with stride 2 and no padding: the
    four cells are named, so a row of windows is one loop LLVM vectorizes (2.4x faster on one core)."""
    n_batch, n_chan, width = x.shape[0], x.shape[1], x.shape[3]
    out_h, out_w = out.shape[2], out.shape[3]
    first, stop = share(n_batch * n_chan, part, parts)
    for job in range(first, stop):
        n, c = job // n_chan, job % n_chan
        plane, dst, where = x[n, c], out[n, c], indices[n, c]
        for p in range(out_h):
            upper, lower, dst_row, where_row = plane[2 * p], plane[2 * p + 1], dst[p], where[p]
            row_start = 2 * p * width
            for q in range(out_w):
                best, at = upper[2 * q], row_start + 2 * q
                for v, cell in ((upper[2 * q + 1], row_start + 2 * q + 1), (lower[2 * q], row_start + width + 2 * q),
                                (lower[2 * q + 1], row_start + width + 2 * q + 1)):
                    better = (v > best) | (v != v)
                    best = v if better else best
                    at = cell if better else at
                dst_row[q] = best
                where_row[q] = at


@njit(nogil=True, cache=True)
def max_pool2d_backward_indices(part, parts, grad_out, indices, grad_x):
    """grad_x[n, c].flat[indices[n, c, p, q]] += grad_out[n, c, p, q]; grad_x must be zero on entry."""
    n_batch, n_chan = grad_out.shape[0], grad_out.shape[1]
    first, stop = share(n_batch * n_chan, part, parts)
    for job in range(first, stop):
        n, c = job // n_chan, job % n_chan
        delta, where, dst = grad_out[n, c].ravel(), indices[n, c].ravel(), grad_x[n, c].ravel()
        for t in range(delta.shape[0]):
            dst[where[t]] += delta[t]


@njit(nogil=True, cache=True)
def sum_pool2d_forward(part, parts, xp, out, k_h, k_w, stride_h, stride_w):
    """out[n, c, p, q] = sum of the window (average and L^p pooling scale it)."""
    n_batch, n_chan = xp.shape[0], xp.shape[1]
    out_h, out_w = out.shape[2], out.shape[3]
    first, stop = share(n_batch * n_chan, part, parts)
    for job in range(first, stop):
        plane = xp[job // n_chan, job % n_chan]
        dst = out[job // n_chan, job % n_chan]
        dst[:, :] = 0.0
        for i in range(k_h):
            for j in range(k_w):
                for p in range(out_h):
                    for q in range(out_w):
                        dst[p, q] += plane[p * stride_h + i, q * stride_w + j]


@njit(nogil=True, cache=True)
def sum_pool2d_backward(part, parts, grad_out, grad_xp, k_h, k_w, stride_h, stride_w):
    """Spread each window's error onto every cell of the window (mean pooling's upsampling, before scaling)."""
    n_batch, n_chan = grad_out.shape[0], grad_out.shape[1]
    out_h, out_w = grad_out.shape[2], grad_out.shape[3]
    first, stop = share(n_batch * n_chan, part, parts)
    for job in range(first, stop):
        delta = grad_out[job // n_chan, job % n_chan]
        dst = grad_xp[job // n_chan, job % n_chan]
        dst[:, :] = 0.0
        for i in range(k_h):
            for j in range(k_w):
                for p in range(out_h):
                    for q in range(out_w):
                        dst[p * stride_h + i, q * stride_w + j] += delta[p, q]
