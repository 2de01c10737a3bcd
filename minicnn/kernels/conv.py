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
def chunk_layout(n_batch, q, p):
    """(samples per chunk, number of chunks): about _CHUNK_FLOATS numbers of columns a chunk, and at least
    8 chunks when N >= 8. It depends on the shapes only, never on the number of threads."""
    by_cache = max(1, _CHUNK_FLOATS // max(1, q * p))
    by_balance = max(1, (n_batch + 7) // 8)
    chunk = min(by_cache, by_balance)
    return chunk, (n_batch + chunk - 1) // chunk


@njit(cache=True)
def _job(job, groups, chunk, n_batch):
    """The group, chunk index and sample range [n0, n1) of one prange job over (chunk, group) pairs."""
    g = job % groups
    ci = job // groups
    n0 = ci * chunk
    return g, ci, n0, min(n_batch, n0 + chunk)


@njit(cache=True)
def _gather_errors(grad, n0, n1, k, row):
    """row[s*P + p] = grad[n0 + s, k, p]: one filter's errors for a chunk, laid out like the columns."""
    p_len = grad.shape[2]
    for s in range(n1 - n0):
        for p in range(p_len):
            row[s * p_len + p] = grad[n0 + s, k, p]


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


@njit(cache=True)
def _fold(dcol, q, n0, n1, c0, k_h, k_w, out_h, out_w, sh, sw, dh, dw, grad_xp):
    """The inverse of `_unfold` for column row q: add dcol back onto the input cells it was read from."""
    j = q % k_w
    i = (q // k_w) % k_h
    c = c0 + q // (k_w * k_h)
    p = 0
    for n in range(n0, n1):
        for oh in range(out_h):
            r = oh * sh + i * dh
            for ow in range(out_w):
                grad_xp[n, c, r, ow * sw + j * dw] += dcol[p]
                p += 1


@njit(parallel=True, cache=True)
def conv2d_forward(xp, w, bias, out, k_h, k_w, out_h, out_w, sh, sw, dh, dw, groups):
    """out[n, k, p] = bias[k] + sum_q w[k, q] * cols[q, p]: one matrix product per (chunk, group)."""
    n_batch = xp.shape[0]
    n_out, q_len = w.shape
    c_per_group, k_per_group, p_len = q_len // (k_h * k_w), n_out // groups, out_h * out_w
    chunk, n_chunks = chunk_layout(n_batch, q_len, p_len)
    for job in prange(n_chunks * groups):
        g, _, n0, n1 = _job(job, groups, chunk, n_batch)
        m = (n1 - n0) * p_len
        cols = np.empty((q_len, m), dtype=xp.dtype)
        _unfold(xp, n0, n1, g * c_per_group, k_h, k_w, out_h, out_w, sh, sw, dh, dw, cols)
        row = np.empty(m, dtype=xp.dtype)
        for kk in range(k_per_group):
            k = g * k_per_group + kk
            row[:] = bias[k]
            # four columns per pass: one load and store of `row` per four multiply-adds, same summation order
            q4 = q_len - q_len % 4
            for q in range(0, q4, 4):
                w0, w1, w2, w3 = w[k, q], w[k, q + 1], w[k, q + 2], w[k, q + 3]
                for p in range(m):
                    row[p] = row[p] + w0 * cols[q, p] + w1 * cols[q + 1, p] + w2 * cols[q + 2, p] + w3 * cols[q + 3, p]
            for q in range(q4, q_len):
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
    chunk, n_chunks = chunk_layout(n_batch, q_len, p_len)
    for job in prange(n_chunks * groups):
        g, _, n0, n1 = _job(job, groups, chunk, n_batch)
        m = (n1 - n0) * p_len
        delta = np.empty((k_per_group, m), dtype=grad.dtype)
        for kk in range(k_per_group):
            _gather_errors(grad, n0, n1, g * k_per_group + kk, delta[kk])
        dcol = np.empty(m, dtype=grad.dtype)
        for q in range(q_len):
            dcol[:] = 0.0
            k4 = k_per_group - k_per_group % 4
            for kk in range(0, k4, 4):
                k = g * k_per_group + kk
                w0, w1, w2, w3 = w[k, q], w[k + 1, q], w[k + 2, q], w[k + 3, q]
                for p in range(m):
                    dcol[p] = (dcol[p] + w0 * delta[kk, p] + w1 * delta[kk + 1, p] + w2 * delta[kk + 2, p]
                               + w3 * delta[kk + 3, p])
            for kk in range(k4, k_per_group):
                wv = w[g * k_per_group + kk, q]
                for p in range(m):
                    dcol[p] += wv * delta[kk, p]
            _fold(dcol, q, n0, n1, g * c_per_group, k_h, k_w, out_h, out_w, sh, sw, dh, dw, grad_xp)


@njit(parallel=True, cache=True)
def conv2d_backward_weight(grad, xp, partial, k_h, k_w, out_h, out_w, sh, sw, dh, dw, groups):
    """partial[chunk, k, q] = sum_{p in chunk} grad[k, p] * cols[q, p], vectorized over q.

    The caller adds the chunks' partial sums in order (in float64).
    """
    n_batch = xp.shape[0]
    _, n_out, q_len = partial.shape
    c_per_group, k_per_group, p_len = q_len // (k_h * k_w), n_out // groups, out_h * out_w
    chunk, n_chunks = chunk_layout(n_batch, q_len, p_len)
    for job in prange(n_chunks * groups):
        g, ci, n0, n1 = _job(job, groups, chunk, n_batch)
        m = (n1 - n0) * p_len
        cols = np.empty((q_len, m), dtype=xp.dtype)
        _unfold(xp, n0, n1, g * c_per_group, k_h, k_w, out_h, out_w, sh, sw, dh, dw, cols)
        cols_t = np.ascontiguousarray(cols.T)
        g_row = np.empty(m, dtype=grad.dtype)
        for kk in range(k_per_group):
            k = g * k_per_group + kk
            acc = partial[ci, k]
            acc[:] = 0.0
            _gather_errors(grad, n0, n1, k, g_row)
            m4 = m - m % 4
            for p in range(0, m4, 4):
                g0, g1, g2, g3 = g_row[p], g_row[p + 1], g_row[p + 2], g_row[p + 3]
                for q in range(q_len):
                    acc[q] = (acc[q] + g0 * cols_t[p, q] + g1 * cols_t[p + 1, q] + g2 * cols_t[p + 2, q]
                              + g3 * cols_t[p + 3, q])
            for p in range(m4, m):
                gv = g_row[p]
                for q in range(q_len):
                    acc[q] += gv * cols_t[p, q]
