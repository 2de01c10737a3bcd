"""numba kernels for 2-D cross-correlation (conv1d runs through them with H = 1).

Not public API: `minicnn.functional.conv` validates, pads and reshapes, then calls these.

Each kernel works on *chunks* of the batch: a few samples are unfolded into a
column matrix (im2col, unit-stride writes) small enough to stay in cache, and
the convolution becomes a matrix product whose innermost loop runs over a long
contiguous axis, so it vectorizes. A chunk's size depends only on the shapes,
never on the number of threads, and every output element is summed in a fixed
order, so results are identical for any NUMBA_NUM_THREADS. Partial weight
gradients of the chunks are added in chunk order, in float64.

Shapes (g = group, Cg = C/groups, Kg = K/groups, Q = Cg*kH*kW, P = OH*OW):
    xp (N, C, Hp, Wp) padded input;  w (K, Q) weight rows;  out, grad (N, K, P)
"""
import numpy as np
from numba import njit, prange

_CHUNK_FLOATS = 1 << 15  # a chunk's column matrix holds about this many numbers (128 KB in float32)


@njit(cache=True)
def chunk_size(n_batch, q, p):
    """Samples per chunk: about _CHUNK_FLOATS numbers of columns, and at least 8 chunks when N >= 8."""
    by_cache = max(1, _CHUNK_FLOATS // max(1, q * p))
    by_balance = max(1, (n_batch + 7) // 8)
    return min(by_cache, by_balance)


@njit(cache=True)
def _unfold(xp, n0, n1, c0, k_h, k_w, out_h, out_w, sh, sw, dh, dw, cols):
    """cols[(c*kH + i)*kW + j, s*P + oh*OW + ow] = xp[n0 + s, c0 + c, oh*sh + i*dh, ow*sw + j*dw]."""
    for q in range(cols.shape[0]):
        j = q % k_w
        i = (q // k_w) % k_h
        c = q // (k_w * k_h)
        p = 0
        for n in range(n0, n1):
            for oh in range(out_h):
                r = oh * sh + i * dh
                for ow in range(out_w):
                    cols[q, p] = xp[n, c0 + c, r, ow * sw + j * dw]
                    p += 1


@njit(parallel=True, cache=True)
def conv2d_forward(xp, w, bias, out, k_h, k_w, out_h, out_w, sh, sw, dh, dw, groups):
    """out[n, k, p] = bias[k] + sum_q w[k, q] * cols[q, p]: one matrix product per (chunk, group)."""
    n_batch = xp.shape[0]
    n_out, q_len = w.shape
    c_per_group, k_per_group, p_len = q_len // (k_h * k_w), n_out // groups, out_h * out_w
    chunk = chunk_size(n_batch, q_len, p_len)
    n_chunks = (n_batch + chunk - 1) // chunk
    for job in prange(n_chunks * groups):
        g = job % groups
        n0 = (job // groups) * chunk
        n1 = min(n_batch, n0 + chunk)
        m = (n1 - n0) * p_len
        cols = np.empty((q_len, m), dtype=xp.dtype)
        _unfold(xp, n0, n1, g * c_per_group, k_h, k_w, out_h, out_w, sh, sw, dh, dw, cols)
        row = np.empty(m, dtype=xp.dtype)
        for kk in range(k_per_group):
            k = g * k_per_group + kk
            row[:] = bias[k]
            for q in range(q_len):
                wv = w[k, q]
                for p in range(m):
                    row[p] += wv * cols[q, p]
            for s in range(n1 - n0):
                for p in range(p_len):
                    out[n0 + s, k, p] = row[s * p_len + p]


@njit(parallel=True, cache=True)
def conv2d_backward_input(grad, w, grad_xp, k_h, k_w, out_h, out_w, sh, sw, dh, dw, groups):
    """dcols[q, p] = sum_k w[k, q] * grad[k, p], folded back (col2im, a scatter-add) into grad_xp.

    Folding the columns back is the "wide convolution of delta with the flipped
    kernel": every input cell collects the errors of all the windows that saw it.
    grad_xp must be zero on entry.
    """
    n_batch = grad.shape[0]
    n_out, q_len = w.shape
    c_per_group, k_per_group, p_len = q_len // (k_h * k_w), n_out // groups, out_h * out_w
    chunk = chunk_size(n_batch, q_len, p_len)
    n_chunks = (n_batch + chunk - 1) // chunk
    for job in prange(n_chunks * groups):
        g = job % groups
        n0 = (job // groups) * chunk
        n1 = min(n_batch, n0 + chunk)
        m = (n1 - n0) * p_len
        delta = np.empty((k_per_group, m), dtype=grad.dtype)
        for kk in range(k_per_group):
            for s in range(n1 - n0):
                for p in range(p_len):
                    delta[kk, s * p_len + p] = grad[n0 + s, g * k_per_group + kk, p]
        dcol = np.empty(m, dtype=grad.dtype)
        for q in range(q_len):
            dcol[:] = 0.0
            for kk in range(k_per_group):
                wv = w[g * k_per_group + kk, q]
                for p in range(m):
                    dcol[p] += wv * delta[kk, p]
            j = q % k_w
            i = (q // k_w) % k_h
            c = g * c_per_group + q // (k_w * k_h)
            p = 0
            for n in range(n0, n1):
                for oh in range(out_h):
                    r = oh * sh + i * dh
                    for ow in range(out_w):
                        grad_xp[n, c, r, ow * sw + j * dw] += dcol[p]
                        p += 1


@njit(parallel=True, cache=True)
def conv2d_backward_weight(grad, xp, partial, k_h, k_w, out_h, out_w, sh, sw, dh, dw, groups):
    """partial[chunk, k, q] = sum_{p in chunk} grad[k, p] * cols[q, p], vectorized over q.

    The caller adds the chunks' partial sums in order (in float64).
    """
    n_batch = xp.shape[0]
    _, n_out, q_len = partial.shape
    c_per_group, k_per_group, p_len = q_len // (k_h * k_w), n_out // groups, out_h * out_w
    chunk = chunk_size(n_batch, q_len, p_len)
    n_chunks = (n_batch + chunk - 1) // chunk
    for job in prange(n_chunks * groups):
        g = job % groups
        ci = job // groups
        n0 = ci * chunk
        n1 = min(n_batch, n0 + chunk)
        m = (n1 - n0) * p_len
        cols = np.empty((q_len, m), dtype=xp.dtype)
        _unfold(xp, n0, n1, g * c_per_group, k_h, k_w, out_h, out_w, sh, sw, dh, dw, cols)
        cols_t = np.ascontiguousarray(cols.T)
        for kk in range(k_per_group):
            k = g * k_per_group + kk
            acc = partial[ci, k]
            acc[:] = 0.0
            p = 0
            for s in range(n1 - n0):
                for pp in range(p_len):
                    gv = grad[n0 + s, k, pp]
                    for q in range(q_len):
                        acc[q] += gv * cols_t[p, q]
                    p += 1
