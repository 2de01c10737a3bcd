"""numba kernels for 2-D cross-correlation (conv1d runs through them with H = 1).

Not public API: `minicnn.functional.conv` validates, pads and reshapes, then calls these.

The kernels are im2col followed by a matrix product, done one sample and one
*slab* of output positions at a time, so the unfolded windows stay in cache and
no full-batch column matrix is ever built. The products go through
`minicnn.kernels.gemm.gemm_nt` (numpy's BLAS on one thread, or minicnn's own
`dot_rows` on the plain route), with both factors laid out along the summed axis:

    forward       out[k, p]  = b[k] + sum_q w[k, q] * win[p, q]     win: one window per row
    grad input    dwin[p, q] = sum_k delta[p, k] * wT[q, k]         then folded back (col2im)
    grad weight   dwT[q, k] += sum_p col[q, p] * delta[k, p]        col: one weight tap per row

A window is read from a *channels-last* copy of the padded input, xh (N, Hp, Wp*C):
there the C channels of a pixel, and with one group the kW pixels of a kernel row,
sit side by side, so a window is kH contiguous runs instead of C*kH*kW tiny ones.
Windows and their weights use the tap order q = (i*kW + j)*Cg + c. The weight
gradient reads columns (one tap over a slab of whole output rows) from the
channels-first input and keeps PyTorch's order q = (c*kH + i)*kW + j.

One shortcut skips the copies, chosen by `minicnn.functional.conv`'s plan (`ConvPlan`) from the shapes:
stride-1 filters with few taps need no unfolding at all (`conv2d_forward_direct`: one multiply-add per
tap over the shifted plane). Every kernel reads
exactly the numbers of each window (zero padding lies in the arrays themselves), so a nan or inf
reaches only the outputs whose window holds it.

Parallel jobs are samples (forward, grad input) or chunks of samples (grad
weight). A chunk's size depends only on the batch size, never on the number of
threads; each chunk writes its own partial weight gradient, and
`conv2d_backward_weight` adds them in chunk order, in float64. So results are
identical for any NUMBA_NUM_THREADS.

Shapes (g = group, Cg = C/groups, Kg = K/groups, Q = Cg*kH*kW, P = OH*OW):
    xp (N, C, Hp, Wp) padded input;  xh (N, Hp, Wp*C);  w (K, Q');  wt (groups, Q, Kg');  out, grad (N, K, P)
where a prime marks a length padded with zeros by `gemm.aligned_rows` (a multiple of 16).
"""
import numpy as np
from numba import njit

from minicnn.kernels.launch import run_parallel, share

from minicnn.kernels.blas import NO_TRANS, ROW_MAJOR
from minicnn.kernels.gemm import _REASSOC, aligned_rows, gemm_nt, padded_length

_SLAB_FLOATS = 1 << 15  # unfolded windows per slab: about this many numbers (128 KB in float32)
_WEIGHT_SLAB = 512  # output positions per slab for the weight gradient, whose sums run along p
_MAX_CHUNKS = 8


@njit(cache=True)
def _copy(dst, src):
    """dst[t] = src[t] for 1-D arrays of one length, as a loop: assigning an array to a slice (dst[:] = src) makes
    numba compile a formatted shape-mismatch message, about 4 s the first time a process compiles it."""
    for t in range(dst.shape[0]):
        dst[t] = src[t]


@njit(cache=True)
def chunk_layout(n_batch):
    """(samples per chunk, number of chunks) for the weight gradient: at most 8 chunks, from N alone."""
    chunk = max(1, (n_batch + _MAX_CHUNKS - 1) // _MAX_CHUNKS)
    return chunk, (n_batch + chunk - 1) // chunk


@njit(cache=True)
def _slab_len(q_len, p_len):
    """Windows per slab: a multiple of 4 (the product's block width) unless the whole of P is smaller."""
    slab = max(4, (_SLAB_FLOATS // q_len) // 4 * 4)
    return min(slab, p_len)


@njit(nogil=True, cache=True)
def to_channels_last(part, parts, x, top, left, xh):
    """xh[n, top + h, (left + w)*C + c] = x[n, c, h, w]; the caller zero-fills xh (that is the padding)."""
    n_batch, n_ch, height, width = x.shape
    first, stop = share(n_batch, part, parts)
    for n in range(first, stop):
        for h in range(height):
            dst = xh[n, top + h]
            for c in range(n_ch):
                src = x[n, c, h]
                for w in range(width):
                    dst[(left + w) * n_ch + c] = src[w]


@njit(cache=True)
def _window_runs(c_len, n_ch, k_w, dw):
    """(runs per kernel row, run length): one run of kW*C if the kernel row is contiguous in xh, else kW of Cg."""
    if c_len == n_ch and dw == 1:
        return 1, k_w * c_len
    return k_w, c_len


@njit(cache=True)
def _unfold_windows(xh, n_ch, n, c0, p0, p1, k_h, k_w, out_w, sh, sw, dh, dw, win, q_len):
    """win[p - p0, (i*kW + j)*Cg + c] = xh[n, oh*sh + i*dh, (ow*sw + j*dw)*C + c0 + c], p = oh*OW + ow in [p0, p1)."""
    n_runs, run = _window_runs(q_len // (k_h * k_w), n_ch, k_w, dw)
    oh, ow = p0 // out_w, p0 % out_w
    for p in range(p1 - p0):
        row = win[p]
        for i in range(k_h):
            src_row = xh[n, oh * sh + i * dh]
            for jr in range(n_runs):
                start = (ow * sw + jr * dw) * n_ch + c0
                src = src_row[start:start + run]
                dst = row[(i * n_runs + jr) * run:(i * n_runs + jr + 1) * run]
                for t in range(run):
                    dst[t] = src[t]
        ow += 1
        if ow == out_w:
            ow, oh = 0, oh + 1


@njit(cache=True)
def _fold_windows(dwin, n_ch, n, c0, p0, p1, k_h, k_w, out_w, sh, sw, dh, dw, grad_xh, q_len):
    """The inverse of `_unfold_windows`: add every window's gradient back onto the input cells it was read from."""
    n_runs, run = _window_runs(q_len // (k_h * k_w), n_ch, k_w, dw)
    oh, ow = p0 // out_w, p0 % out_w
    for p in range(p1 - p0):
        row = dwin[p]
        for i in range(k_h):
            dst_row = grad_xh[n, oh * sh + i * dh]
            for jr in range(n_runs):
                start = (ow * sw + jr * dw) * n_ch + c0
                dst = dst_row[start:start + run]
                src = row[(i * n_runs + jr) * run:(i * n_runs + jr + 1) * run]
                for t in range(run):
                    dst[t] += src[t]
        ow += 1
        if ow == out_w:
            ow, oh = 0, oh + 1


@njit(cache=True)
def _unfold_columns(xp, n, c0, oh0, oh1, k_h, k_w, out_w, sh, sw, dh, dw, col, base):
    """col[(c*kH + i)*kW + j, base + (oh - oh0)*OW + ow] = xp[n, c0 + c, oh*sh + i*dh, ow*sw + j*dw], oh in [oh0, oh1)."""
    for q in range(col.shape[0]):
        j = q % k_w
        i = (q // k_w) % k_h
        c = c0 + q // (k_w * k_h)
        for oh in range(oh0, oh1):
            src = xp[n, c, oh * sh + i * dh, j * dw:]
            dst = col[q, base + (oh - oh0) * out_w:base + (oh - oh0 + 1) * out_w]
            if sw == 1:
                for ow in range(out_w):
                    dst[ow] = src[ow]
            else:
                for ow in range(out_w):
                    dst[ow] = src[ow * sw]


@njit(nogil=True, cache=True)
def conv2d_forward(part, parts, blas, xh, n_ch, w, bias, out, k_h, k_w, out_h, out_w, sh, sw, dh, dw, groups):
    """out[n, k, p] = bias[k] + sum_q w[k, q] * win[p, q], one (sample, group) per job, windows copied out.

    xh is channels-last; w is (K, Q) padded with zeros to `aligned_rows`' row length, in tap order (i, j, c).
    """
    n_batch, n_out = xh.shape[0], w.shape[0]
    c_per_group, k_per_group, p_len = n_ch // groups, n_out // groups, out_h * out_w
    q_len = c_per_group * k_h * k_w
    slab = _slab_len(q_len, p_len)
    win = aligned_rows(slab, q_len, xh.dtype)  # one buffer for all the part's jobs; its padding columns stay zero
    first, stop = share(n_batch * groups, part, parts)
    for job in range(first, stop):
        n, g = job // groups, job % groups
        k0 = g * k_per_group
        w_g, out_g = w[k0:k0 + k_per_group], out[n, k0:k0 + k_per_group]
        for kk in range(k_per_group):
            out_g[kk, :] = bias[k0 + kk]
        for p0 in range(0, p_len, slab):
            p1 = min(p_len, p0 + slab)
            _unfold_windows(xh, n_ch, n, g * c_per_group, p0, p1, k_h, k_w, out_w, sh, sw, dh, dw, win, q_len)
            gemm_nt(blas, w_g, win[:p1 - p0], out_g, p0, q_len)


@njit(nogil=True, cache=True)
def conv2d_forward_shifted_products(part, parts, blas, xp, w_taps, bias, out, k_h, k_w, out_h, out_w, dh, dw,
                                    groups):
    """Stride-1 forward as kH*kW BLAS products per sample, reading the input where it lies (implicit GEMM):

        Y_wide[k, t] = b[k] + sum_{i, j} sum_c W[k, c, i, j] * Xflat[c, t + i*dh*Wp + j*dw],   t < span

    Over the padded row pitch Wp, the cells that tap (i, j) reads for a run of output rows are one contiguous
    run of every flattened input plane, so the tap is one product of the (Kg, Cg) weight slice
    w_taps[i*kW + j] with Cg rows of the input, each Hp*Wp apart: no window is copied. The Wp - OW places
    between output rows are computed and dropped; each kept output reads exactly its own window. Output rows
    are taken in slabs whose Kg x slab block of sums stays in cache across the taps. `blas` must not be None.
    """
    n_batch, n_ch, height, width = xp.shape
    n_out, c_per_group = w_taps.shape[1], w_taps.shape[2]
    k_per_group, plane, size = n_out // groups, height * width, xp.itemsize
    rows = min(out_h, max(1, _SLAB_FLOATS // (k_per_group * width)))
    wide = np.empty(k_per_group * rows * width, dtype=xp.dtype)
    first, stop = share(n_batch * groups, part, parts)
    for job in range(first, stop):
        n, g = job // groups, job % groups
        k0 = g * k_per_group
        origin = xp.ctypes.data + (n * n_ch + g * c_per_group) * plane * size
        for oh0 in range(0, out_h, rows):
            oh1 = min(out_h, oh0 + rows)
            span = (oh1 - oh0 - 1) * width + out_w
            block = wide[:k_per_group * span].reshape((k_per_group, span))
            for kk in range(k_per_group):
                block[kk, :] = bias[k0 + kk]
            for i in range(k_h):
                for j in range(k_w):
                    start = (oh0 + i * dh) * width + j * dw
                    blas(ROW_MAJOR, NO_TRANS, NO_TRANS, k_per_group, span, c_per_group, 1.0,
                         w_taps[i * k_w + j, k0:].ctypes.data, c_per_group, origin + start * size, plane,
                         1.0, block.ctypes.data, span)
            for kk in range(k_per_group):
                dst, src = out[n, k0 + kk], block[kk]
                for oh in range(oh0, oh1):
                    _copy(dst[oh * out_w:(oh + 1) * out_w], src[(oh - oh0) * width:(oh - oh0) * width + out_w])


@njit(nogil=True, cache=True)
def conv2d_forward_direct(part, parts, xp, w, bias, out, out_h, out_w, dh, dw, groups):
    """Stride-1 forward without unfolding, for few taps per filter (LeNet's C1: 1 channel, 5x5).

    For each tap (c, i, j), out[k] += w[k, c, i, j] * (the padded plane shifted by (i*dh, j*dw)).
    Over a row pitch of Wp, that shifted plane is one contiguous run of the flattened
    input, so each tap is a single long vectorized multiply-add; the last Wp - OW
    columns of every row are thrown away at the end. Taps are added in order: no reassociation.
    """
    n_batch, n_ch, height, width = xp.shape
    n_out, c_per_group, k_h, k_w = w.shape
    k_per_group, span = n_out // groups, out_h * width
    wide = np.empty(span, dtype=xp.dtype)  # one buffer for all the part's jobs (a depthwise layer has N*C of them)
    first, stop = share(n_batch * groups, part, parts)
    for job in range(first, stop):
        n, g = job // groups, job % groups
        for kk in range(k_per_group):
            k = g * k_per_group + kk
            wide[:] = bias[k]
            for c in range(c_per_group):
                plane = xp[n, g * c_per_group + c].ravel()
                for i in range(k_h):
                    for j in range(k_w):
                        wv = w[k, c, i, j]
                        start = i * dh * width + j * dw
                        src = plane[start:start + span - (k_w - 1) * dw]
                        dst = wide[:span - (k_w - 1) * dw]
                        for t in range(dst.shape[0]):
                            dst[t] += wv * src[t]
            dst_plane = out[n, k]
            for oh in range(out_h):
                _copy(dst_plane[oh * out_w:(oh + 1) * out_w], wide[oh * width:oh * width + out_w])


@njit(nogil=True, cache=True)
def conv2d_backward_input(part, parts, blas, grad, wt, n_ch, grad_xh, k_h, k_w, out_h, out_w, sh, sw, dh, dw,
                          groups):
    """dwin[p, q] = sum_k grad[k, p] * w[k, q], folded back (col2im, a scatter-add) into the channels-last grad_xh.

    Folding the windows back is the "wide convolution of delta with the flipped
    kernel": every input cell collects the errors of all the windows that saw it.
    wt (groups, Q, Kg) is padded with zeros along Kg to `aligned_rows`' row length.
    grad_xh must be zero on entry.
    """
    n_batch, n_out, p_len = grad.shape
    q_len = wt.shape[1]
    c_per_group, k_per_group = n_ch // groups, n_out // groups
    slab = _slab_len(q_len, p_len)
    delta = aligned_rows(slab, k_per_group, grad.dtype)  # buffers for all the part's jobs; padding stays zero
    dwin = np.empty((slab, q_len), dtype=grad.dtype)
    first, stop = share(n_batch * groups, part, parts)
    for job in range(first, stop):
        n, g = job // groups, job % groups
        grad_g = grad[n, g * k_per_group:(g + 1) * k_per_group]
        for p0 in range(0, p_len, slab):
            p1 = min(p_len, p0 + slab)
            for p in range(p1 - p0):
                for kk in range(k_per_group):
                    delta[p, kk] = grad_g[kk, p0 + p]
            dwin[:] = 0.0
            gemm_nt(blas, delta[:p1 - p0], wt[g], dwin, 0, k_per_group)
            _fold_windows(dwin, n_ch, n, g * c_per_group, p0, p1, k_h, k_w, out_w, sh, sw, dh, dw, grad_xh, q_len)


def conv2d_backward_weight(blas, grad, xp, kernel_size, out_size, stride, dilation, groups):
    """dL/dW as (K, Cg*kH*kW) in PyTorch's order: the chunks' partial sums (`_backward_weight_chunks`) added
    in chunk order, in float64, so the result does not depend on the number of threads."""
    n_out = grad.shape[1]
    k_per_group, q_len = n_out // groups, xp.shape[1] // groups * kernel_size[0] * kernel_size[1]
    partial = np.empty((chunk_layout(xp.shape[0])[1], groups, q_len, k_per_group), dtype=xp.dtype)
    run_parallel(_backward_weight_chunks, blas, grad, xp, partial, *kernel_size, *out_size, *stride, *dilation,
                 groups)
    total = partial.sum(axis=0, dtype=np.float64)  # (groups, Q, Kg)
    return total.transpose(0, 2, 1).reshape(n_out, q_len).astype(xp.dtype)


@njit(nogil=True, cache=True)
def _backward_weight_chunks(part, parts, blas, grad, xp, partial, k_h, k_w, out_h, out_w, sh, sw, dh, dw,
                            groups):
    """partial[chunk, g, q, k] = sum over the chunk's samples and positions p of col[q, p] * grad[g*Kg + k, p].

    The sums run along p, so slabs are long (whole output rows, about _WEIGHT_SLAB positions). The caller
    adds the chunks' partial sums in order (in float64) and transposes (Q, Kg) to (Kg, Q). A job is one chunk
    of samples and one group.
    """
    n_batch = xp.shape[0]
    n_chunks, _, q_len, k_per_group = partial.shape
    c_per_group = q_len // (k_h * k_w)
    chunk, _ = chunk_layout(n_batch)
    rows = min(out_h, max(1, _WEIGHT_SLAB // out_w))  # a slab is whole output rows of one sample,
    samples = max(1, _WEIGHT_SLAB // (out_h * out_w)) if rows == out_h else 1  # or small samples side by side
    longest = padded_length(samples * rows * out_w)
    col_buffer = aligned_rows(1, q_len * longest, xp.dtype)[0]
    delta_buffer = aligned_rows(1, k_per_group * longest, grad.dtype)[0]
    first, stop = share(n_chunks * groups, part, parts)
    for job in range(first, stop):
        ci, g = job // groups, job % groups
        k0 = g * k_per_group
        acc = partial[ci, g]
        acc[:] = 0.0
        for n0 in range(ci * chunk, min(n_batch, (ci + 1) * chunk), samples):
            n1 = min(n_batch, (ci + 1) * chunk, n0 + samples)
            for oh0 in range(0, out_h, rows):
                oh1 = min(out_h, oh0 + rows)
                m_one = (oh1 - oh0) * out_w
                m = (n1 - n0) * m_one
                pitch = padded_length(m)  # rows stay 64-byte aligned; the tail [m, pitch) must be zero
                col = col_buffer[:q_len * pitch].reshape((q_len, pitch))
                delta = delta_buffer[:k_per_group * pitch].reshape((k_per_group, pitch))
                for n in range(n0, n1):
                    base = (n - n0) * m_one
                    for kk in range(k_per_group):
                        _copy(delta[kk, base:base + m_one], grad[n, k0 + kk, oh0 * out_w:oh1 * out_w])
                    _unfold_columns(xp, n, g * c_per_group, oh0, oh1, k_h, k_w, out_w, sh, sw, dh, dw, col, base)
                for kk in range(k_per_group):
                    delta[kk, m:] = 0.0
                for q in range(q_len):
                    col[q, m:] = 0.0
                gemm_nt(blas, col, delta, acc, 0, m)


# ------------------------------------------------------------------------------------------------ depthwise
# A depthwise convolution (groups = C = K: one kH x kW filter per channel, MobileNet's and EfficientNet's) has
# only kH*kW taps per output: too few for the unfolded matrix products above to pay for their copies. These
# kernels walk each (sample, channel) plane directly, one output row at a time, one tap at a time.


@njit(cache=True)
def _split_columns(plane, sw):
    """buf[h, r, t] = plane[h, t*sw + r]: each row's columns grouped by their remainder mod sw, so the strided read
    of columns ow*sw + j*dw (ow = 0, 1, ...) becomes the contiguous run buf[h, (j*dw) % sw, (j*dw) // sw + ow].
    With sw = 1 that is the plane itself (a view, no copy)."""
    height, width = plane.shape
    if sw == 1:
        return plane.reshape((height, 1, width))
    buf = np.zeros((height, sw, (width + sw - 1) // sw), dtype=plane.dtype)
    for h in range(height):
        for r in range(sw):
            dst, src = buf[h, r], plane[h]
            for t in range((width - r + sw - 1) // sw):
                dst[t] = src[t * sw + r]
    return buf


@njit(nogil=True, cache=True)
def depthwise_forward(part, parts, xp, w, bias, out, sh, sw, dh, dw):
    """out[n, c, oh, ow] = bias[c] + sum_{i, j} w[c, 0, i, j] * xp[n, c, oh*sh + i*dh, ow*sw + j*dw].

    The strided route: with stride 1, `conv2d_forward_direct` (groups = C) adds the same taps in the same order
    over whole shifted planes. One (sample, channel) plane per job; each output row collects its kH*kW taps in
    order (no reassociation), reading exactly its window's cells of the padded input xp. With a horizontal
    stride the plane's columns are first split by remainder (`_split_columns`), so every tap's row is read
    contiguously and vectorizes.
    """
    n_batch, n_ch = xp.shape[0], xp.shape[1]
    k_h, k_w = w.shape[2], w.shape[3]
    out_h, out_w = out.shape[2], out.shape[3]
    first, stop = share(n_batch * n_ch, part, parts)
    for job in range(first, stop):
        n, c = job // n_ch, job % n_ch
        dst = out[n, c]
        buf = _split_columns(xp[n, c], sw)
        for oh in range(out_h):
            row = dst[oh]
            row[:] = bias[c]
            for i in range(k_h):
                for j in range(k_w):
                    wv = w[c, 0, i, j]
                    start = (j * dw) // sw
                    src = buf[oh * sh + i * dh, (j * dw) % sw, start:start + out_w]
                    for ow in range(out_w):
                        row[ow] += wv * src[ow]


@njit(nogil=True, cache=True)
def depthwise_backward_input(part, parts, grad, w, grad_xp, sh, sw, dh, dw):
    """grad_xp[n, c, oh*sh + i*dh, ow*sw + j*dw] += w[c, 0, i, j] * grad[n, c, oh, ow]: every input cell collects
    the errors of the windows that read it (chapter 6's scatter). One plane per job, added into columns split by
    remainder (`_split_columns`) and put back in place at the end; grad_xp zero on entry."""
    n_batch, n_ch, out_h, out_w = grad.shape
    k_h, k_w = w.shape[2], w.shape[3]
    height, width = grad_xp.shape[2], grad_xp.shape[3]
    first, stop = share(n_batch * n_ch, part, parts)
    for job in range(first, stop):
        n, c = job // n_ch, job % n_ch
        src, plane = grad[n, c], grad_xp[n, c]
        if sw == 1:
            buf = plane.reshape((height, 1, width))  # add in place
        else:
            buf = np.zeros((height, sw, (width + sw - 1) // sw), dtype=grad.dtype)
        for oh in range(out_h):
            g_row = src[oh]
            for i in range(k_h):
                for j in range(k_w):
                    wv = w[c, 0, i, j]
                    start = (j * dw) // sw
                    dst = buf[oh * sh + i * dh, (j * dw) % sw, start:start + out_w]
                    for ow in range(out_w):
                        dst[ow] += wv * g_row[ow]
        if sw > 1:
            for h in range(height):
                for r in range(sw):
                    for t in range((width - r + sw - 1) // sw):
                        plane[h, t * sw + r] = buf[h, r, t]


@njit(nogil=True, fastmath=_REASSOC, cache=True)
def depthwise_backward_weight(part, parts, grad, xp, grad_w, sh, sw, dh, dw):
    """grad_w[c, 0, i, j] = sum_{n, oh, ow} grad[n, c, oh, ow] * xp[n, c, oh*sh + i*dh, ow*sw + j*dw].

    One channel per job, so a tap's whole sum is made by one thread: row by row (a dot product, which may be
    reassociated), the rows' sums added in order (sample, then row) in float64. No result depends on the
    number of threads.
    """
    n_batch, n_ch, out_h, out_w = grad.shape
    k_h, k_w = grad_w.shape[2], grad_w.shape[3]
    zero = xp.dtype.type(0)
    first, stop = share(n_ch, part, parts)
    for c in range(first, stop):
        total = np.zeros((k_h, k_w))  # float64
        for n in range(n_batch):
            buf = _split_columns(xp[n, c], sw)
            for i in range(k_h):
                for j in range(k_w):
                    start = (j * dw) // sw
                    for oh in range(out_h):
                        g_row = grad[n, c, oh]
                        src = buf[oh * sh + i * dh, (j * dw) % sw, start:start + out_w]
                        s = zero
                        for ow in range(out_w):
                            s += g_row[ow] * src[ow]
                        total[i, j] += s
        for i in range(k_h):
            for j in range(k_w):
                grad_w[c, 0, i, j] = total[i, j]
