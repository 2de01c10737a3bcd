r"""Slow, obvious versions of minicnn's ops: plain loops you can read in one sitting.

The notebooks teach with these and the tests use them as oracles for the fast
numba kernels in `minicnn.functional` and the optimizers of `minicnn.optim`
(they need no PyTorch). They do little checking: pass arrays of the shapes the
docstrings give. Every function here mirrors one in `minicnn.functional` with
the same name and arguments, except `dropout`, which takes the mask instead of
drawing one (random numbers cannot be compared), and the optimizer steps
`sgd_step` and `adam_step`, which follow `minicnn.optim.SGD` and `minicnn.optim.Adam`.

Each loop runs over the *output* cells and writes the formula of one cell, so
it reads next to the math; none of it is fast.
"""
import math

import numpy as np


def _pair(value):
    return (value, value) if np.isscalar(value) else tuple(value)


# ================================================================ convolution


def correlate1d(x, w):
    r"""Narrow (valid) cross-correlation of a signal with a filter: :math:`y_t = \sum_{k} w_k x_{t+k}`.

    >>> correlate1d(np.array([1.0, 2, 3, 4]), np.array([1.0, 0, -1]))
    array([-2., -2.])
    """
    n, m = len(x), len(w)
    y = np.zeros(n - m + 1)
    for t in range(n - m + 1):
        for k in range(m):
            y[t] += w[k] * x[t + k]
    return y


def convolve1d(x, w, mode="full"):
    r"""True 1-D convolution, the course's :math:`y_t = \sum_{k=1}^{m} w_k x_{t-k+1}`.

    The kernel is read backwards as it slides. mode 'full' (wide) pads m - 1
    zeros on both sides; 'valid' (narrow) pads none; 'same' (equal-width) keeps
    the middle len(x) values of 'full'.

    >>> convolve1d(np.array([1.0, 1, 1, 1, 1]), np.array([1.0, -1/2, 1/4]), mode="valid")
    array([0.75, 0.75, 0.75])
    """
    n, m = len(x), len(w)
    full = np.zeros(n + m - 1)
    for t in range(n + m - 1):
        for k in range(m):
            if 0 <= t - k < n:
                full[t] += w[k] * x[t - k]
    if mode == "full":
        return full
    if mode == "valid":
        return full[m - 1:n]
    start = (m - 1) // 2
    return full[start:start + n]


def correlate2d(image, kernel):
    r"""Narrow cross-correlation of one image: :math:`Y_{ij} = \sum_{u,v} W_{uv} X_{i+u, j+v}`."""
    kh, kw = kernel.shape
    out = np.zeros((image.shape[0] - kh + 1, image.shape[1] - kw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(kernel * image[i:i + kh, j:j + kw])
    return out


def convolve2d(image, kernel):
    r"""Narrow true convolution of one image: turn the kernel by 180 degrees, then cross-correlate."""
    return correlate2d(image, kernel[::-1, ::-1])


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Batched multi-channel cross-correlation with PyTorch's arguments; see `minicnn.functional.conv2d`."""
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    n_batch, n_in, h, w = x.shape
    n_out, c_per_group, kh, kw = weight.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out_h = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    out_w = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n_batch, n_out, out_h, out_w), dtype=x.dtype)
    k_per_group = n_out // groups
    for n in range(n_batch):
        for k in range(n_out):
            g = k // k_per_group
            channels = slice(g * c_per_group, (g + 1) * c_per_group)
            for p in range(out_h):
                for q in range(out_w):
                    # the window this output cell sees: every dilation-th cell from (p*sh, q*sw)
                    window = xp[n, channels,
                                p * sh:p * sh + dh * (kh - 1) + 1:dh,
                                q * sw:q * sw + dw * (kw - 1) + 1:dw]
                    out[n, k, p, q] = np.sum(weight[k] * window)
            if bias is not None:
                out[n, k] += bias[k]
    return out


def conv2d_backward(grad_out, x, weight, stride=1, padding=0, dilation=1, groups=1):
    """Gradients of `conv2d` by the chain rule, one output cell at a time.

    Each output cell Y[n, k, p, q] was a dot product of weight[k] with one
    window; so its error delta = grad_out[n, k, p, q] flows back as
    delta * window into grad_weight[k] and as delta * weight[k] into that window
    of grad_x. Summing over all cells gives the convolution formulas of
    `minicnn.functional.conv2d_backward`.
    """
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    n_batch, n_in, h, w = x.shape
    n_out, c_per_group, kh, kw = weight.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    grad_xp = np.zeros_like(xp)
    grad_w = np.zeros_like(weight)
    k_per_group = n_out // groups
    for n in range(n_batch):
        for k in range(n_out):
            g = k // k_per_group
            channels = slice(g * c_per_group, (g + 1) * c_per_group)
            for p in range(grad_out.shape[2]):
                for q in range(grad_out.shape[3]):
                    rows = slice(p * sh, p * sh + dh * (kh - 1) + 1, dh)
                    cols = slice(q * sw, q * sw + dw * (kw - 1) + 1, dw)
                    delta = grad_out[n, k, p, q]
                    grad_w[k] += delta * xp[n, channels, rows, cols]
                    grad_xp[n, channels, rows, cols] += delta * weight[k]
    grad_x = grad_xp[:, :, ph:ph + h, pw:pw + w]
    grad_b = grad_out.sum(axis=(0, 2, 3))
    return grad_x, grad_w, grad_b


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Batched 1-D cross-correlation: `conv2d` on signals seen as images of height 1."""
    out = conv2d(x[:, :, None, :], weight[:, :, None, :], bias,
                 (1, stride), (0, padding), (1, dilation), groups)
    return out[:, :, 0, :]


def conv1d_backward(grad_out, x, weight, stride=1, padding=0, dilation=1, groups=1):
    """Gradients of `conv1d` through `conv2d_backward` with height 1."""
    gx, gw, gb = conv2d_backward(grad_out[:, :, None, :], x[:, :, None, :], weight[:, :, None, :],
                                 (1, stride), (0, padding), (1, dilation), groups)
    return gx[:, :, 0, :], gw[:, :, 0, :], gb


# ================================================================ pooling


def _pool_geometry(x, kernel_size, stride, padding, ceil_mode=False):
    """kernel, stride, padding as pairs and the output shape; stride defaults to the kernel size.

    Each output length is (n + 2 padding - kernel) / stride + 1 rounded down, or with ceil_mode rounded up;
    a rounded-up last window that would start in the right padding (at or after n + padding) is dropped.
    """
    kernel = _pair(kernel_size)
    stride = kernel if stride is None else _pair(stride)
    padding = _pair(padding)
    n_batch, n_chan, h, w = x.shape
    out = []
    for n, k, s, p in zip((h, w), kernel, stride, padding):
        if ceil_mode:
            size = math.ceil((n + 2 * p - k) / s) + 1
            if (size - 1) * s >= n + p:
                size -= 1
        else:
            size = (n + 2 * p - k) // s + 1
        out.append(size)
    return kernel, stride, padding, (n_batch, n_chan, *out)


def _window(p, q, kernel, stride, padding, h, w):
    """The input cells (i, j) under output cell (p, q)'s window, in row-major order, padding cells left out."""
    top, left = p * stride[0] - padding[0], q * stride[1] - padding[1]
    return [(i, j) for i in range(top, top + kernel[0]) for j in range(left, left + kernel[1])
            if 0 <= i < h and 0 <= j < w]


def max_pool2d(x, kernel_size, stride=None, padding=0, return_indices=False, *, ceil_mode=False):
    r"""Max pooling: :math:`y_{ncpq} = \max_{(i,j) \in R_{pq}} x_{ncij}`, every channel on its own.

    The window :math:`R_{pq}` is kernel_size cells from (p*stride - padding, q*stride - padding);
    padded cells count as -inf, so they never win. With ceil_mode the output size rounds up, and the
    last window's cells beyond the input are left out like padding.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    kernel_size, stride, padding : int or (int, int)
        stride defaults to kernel_size.
    return_indices : bool
        Also return where each maximum is, as the flat index ``i * W + j`` into its
        input plane: the first maximum in row-major order, or the last nan if the
        window holds one (PyTorch's rule; the output is then nan).

    Returns
    -------
    ndarray, shape (N, C, H_out, W_out) with H_out = (H + 2 padding - kernel) // stride + 1
    (see `_pool_geometry` for ceil_mode); with ``return_indices`` also the int64 indices, of the same shape.

    Examples
    --------
    >>> max_pool2d(np.array([[[[1.0, 5, 2], [4, 3, 5]]]]), 2, stride=1, return_indices=True)
    (array([[[[5., 5.]]]]), array([[[[1, 1]]]]))
    """
    kernel, stride, padding, out_shape = _pool_geometry(x, kernel_size, stride, padding, ceil_mode)
    h, w = x.shape[2:]
    out, indices = np.zeros(out_shape, dtype=x.dtype), np.zeros(out_shape, dtype=np.int64)
    for n, c, p, q in np.ndindex(*out_shape):
        best, where = None, None
        for i, j in _window(p, q, kernel, stride, padding, h, w):
            v = x[n, c, i, j]
            # '>' keeps the first of equal maxima; a nan beats everything, a later nan an earlier one
            if best is None or v > best or np.isnan(v):
                best, where = v, i * w + j
        out[n, c, p, q], indices[n, c, p, q] = best, where
    return (out, indices) if return_indices else out


def max_pool2d_backward(grad_out, x, kernel_size, stride=None, padding=0, *, ceil_mode=False):
    r"""Gradient of `max_pool2d`: :math:`\partial L/\partial x_{ij} = \sum_{(p,q):\,(i,j)=\arg\max R_{pq}} \delta_{pq}`.

    Only the winner of a window moved its output, so the window's error
    :math:`\delta_{pq}` goes to it alone; overlapping windows add up.
    grad_out has the output's shape, the result x's.

    >>> max_pool2d_backward(np.array([[[[10.0]]]]), np.array([[[[1.0, 3.0], [2.0, 0.0]]]]), 2)
    array([[[[ 0., 10.],
             [ 0.,  0.]]]])
    """
    _, indices = max_pool2d(x, kernel_size, stride, padding, return_indices=True, ceil_mode=ceil_mode)
    grad_x = np.zeros_like(x)
    for n, c, p, q in np.ndindex(*grad_out.shape):
        i, j = divmod(int(indices[n, c, p, q]), x.shape[3])
        grad_x[n, c, i, j] += grad_out[n, c, p, q]
    return grad_x


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    r"""Average pooling: :math:`y_{ncpq} = \frac{1}{|R_{pq}|} \sum_{(i,j) \in R_{pq}} x_{ncij}`.

    Padded cells are zeros that still count in :math:`|R_{pq}| = K_h K_w` (PyTorch's
    ``count_include_pad=True``). Shapes and windows as in `max_pool2d`. With ceil_mode a last
    window may reach beyond the padding; it counts only its cells up to the end of the padding.

    >>> avg_pool2d(np.arange(16.0).reshape(1, 1, 4, 4), 2)
    array([[[[ 2.5,  4.5],
             [10.5, 12.5]]]])
    """
    kernel, stride, padding, out_shape = _pool_geometry(x, kernel_size, stride, padding, ceil_mode)
    h, w = x.shape[2:]
    out = np.zeros(out_shape, dtype=x.dtype)
    for n, c, p, q in np.ndindex(*out_shape):
        total = 0.0
        for i, j in _window(p, q, kernel, stride, padding, h, w):
            total += x[n, c, i, j]
        out[n, c, p, q] = total / _window_size(p, q, kernel, stride, padding, h, w)
    return out


def _window_size(p, q, kernel, stride, padding, h, w):
    """|R_pq|: kernel cells, less those of a ceil_mode window beyond the bottom or right padding."""
    rows = min(p * stride[0] + kernel[0], h + 2 * padding[0]) - p * stride[0]
    cols = min(q * stride[1] + kernel[1], w + 2 * padding[1]) - q * stride[1]
    return rows * cols


def avg_pool2d_backward(grad_out, x, kernel_size, stride=None, padding=0, ceil_mode=False):
    r"""Gradient of `avg_pool2d`: every cell of window :math:`R_{pq}` gets :math:`\delta_{pq} / |R_{pq}|`.

    >>> avg_pool2d_backward(np.array([[[[4.0]]]]), np.zeros((1, 1, 2, 2)), 2)
    array([[[[1., 1.],
             [1., 1.]]]])
    """
    kernel, stride, padding, _ = _pool_geometry(x, kernel_size, stride, padding, ceil_mode)
    h, w = x.shape[2:]
    grad_x = np.zeros_like(x)
    for n, c, p, q in np.ndindex(*grad_out.shape):
        for i, j in _window(p, q, kernel, stride, padding, h, w):
            grad_x[n, c, i, j] += grad_out[n, c, p, q] / _window_size(p, q, kernel, stride, padding, h, w)
    return grad_x


def lp_pool2d(x, norm_type, kernel_size, stride=None):
    r"""Power-average pooling: :math:`y_{ncpq} = \big(\sum_{(i,j) \in R_{pq}} x_{ncij}^p\big)^{1/p}` with p = norm_type.

    No padding. p = 1 is sum pooling, p = 2 L2 pooling, p -> inf max pooling.
    A negative sum (odd p) gives the real root :math:`-|\sum|^{1/p}`, as `minicnn.functional.lp_pool2d`
    does (PyTorch gives nan there).

    >>> lp_pool2d(np.array([[[[3.0, 4.0]]]]), 2, (1, 2))
    array([[[[5.]]]])
    """
    kernel, stride, padding, out_shape = _pool_geometry(x, kernel_size, stride, 0)
    h, w = x.shape[2:]
    out = np.zeros(out_shape, dtype=x.dtype)
    for n, c, p, q in np.ndindex(*out_shape):
        total = 0.0
        for i, j in _window(p, q, kernel, stride, padding, h, w):
            total += x[n, c, i, j] ** norm_type
        out[n, c, p, q] = np.sign(total) * abs(total) ** (1 / norm_type)
    return out


def lp_pool2d_backward(grad_out, x, norm_type, kernel_size, stride=None):
    r"""Gradient of `lp_pool2d`: :math:`\partial y_{pq} / \partial x_{ij} = x_{ij}^{p-1} / y_{pq}^{p-1}` in window R_pq.

    (From :math:`y = s^{1/p}`, :math:`s = \sum x^p`: :math:`\frac1p s^{1/p - 1} \cdot p x^{p-1}`.)
    Windows with y = 0 pass no gradient.

    >>> lp_pool2d_backward(np.array([[[[1.0]]]]), np.array([[[[3.0, 4.0]]]]), 2, (1, 2))
    array([[[[0.6, 0.8]]]])
    """
    kernel, stride, padding, _ = _pool_geometry(x, kernel_size, stride, 0)
    h, w = x.shape[2:]
    y = lp_pool2d(x, norm_type, kernel_size, stride)
    grad_x = np.zeros_like(x)
    for n, c, p, q in np.ndindex(*grad_out.shape):
        if y[n, c, p, q] == 0:
            continue
        for i, j in _window(p, q, kernel, stride, padding, h, w):
            dy_dx = x[n, c, i, j] ** (norm_type - 1) / y[n, c, p, q] ** (norm_type - 1)
            grad_x[n, c, i, j] += grad_out[n, c, p, q] * dy_dx
    return grad_x


def _adaptive_bin(i, size, out_size):
    """Input range [start, end) of output cell i, PyTorch's bins: [floor(i*size/out), ceil((i+1)*size/out))."""
    return math.floor(i * size / out_size), math.ceil((i + 1) * size / out_size)


def adaptive_avg_pool2d(x, output_size):
    r"""Average pooling to a fixed output size: :math:`y_{ncpq}` is the mean of :math:`x_{nc}` over rows
    :math:`[\lfloor pH/H_{out} \rfloor, \lceil (p+1)H/H_{out} \rceil)` and the columns likewise.

    Neighbouring bins share a cell when the sizes do not divide. ``output_size=1`` is global average pooling.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    output_size : int or (int, int)

    Returns
    -------
    ndarray, shape (N, C, H_out, W_out)

    Examples
    --------
    >>> adaptive_avg_pool2d(np.arange(5.0).reshape(1, 1, 1, 5), (1, 3))  # bins [0, 2), [1, 4), [3, 5)
    array([[[[0.5, 2. , 3.5]]]])
    """
    out_h, out_w = _pair(output_size)
    h, w = x.shape[2:]
    out = np.zeros(x.shape[:2] + (out_h, out_w), dtype=x.dtype)
    for n, c, p, q in np.ndindex(*out.shape):
        (top, bottom), (left, right) = _adaptive_bin(p, h, out_h), _adaptive_bin(q, w, out_w)
        total = 0.0
        for i in range(top, bottom):
            for j in range(left, right):
                total += x[n, c, i, j]
        out[n, c, p, q] = total / ((bottom - top) * (right - left))
    return out


def adaptive_avg_pool2d_backward(grad_out, x, output_size):
    r"""Gradient of `adaptive_avg_pool2d`: every cell of bin (p, q) gets :math:`\delta_{pq}` / (cells in the bin).

    >>> adaptive_avg_pool2d_backward(np.array([[[[6.0, 3.0]]]]), np.zeros((1, 1, 1, 3)), (1, 2))
    array([[[[3. , 4.5, 1.5]]]])
    """
    out_h, out_w = _pair(output_size)
    h, w = x.shape[2:]
    grad_x = np.zeros_like(x)
    for n, c, p, q in np.ndindex(*grad_out.shape):
        (top, bottom), (left, right) = _adaptive_bin(p, h, out_h), _adaptive_bin(q, w, out_w)
        for i in range(top, bottom):
            for j in range(left, right):
                grad_x[n, c, i, j] += grad_out[n, c, p, q] / ((bottom - top) * (right - left))
    return grad_x


def global_avg_pool2d(x):
    r"""Mean of every feature map, :math:`y_{nc} = \frac{1}{HW} \sum_{i,j} x_{ncij}`: (N, C, H, W) -> (N, C).

    >>> global_avg_pool2d(np.arange(8.0).reshape(1, 2, 2, 2))
    array([[1.5, 5.5]])
    """
    n_batch, n_chan, h, w = x.shape
    out = np.zeros((n_batch, n_chan), dtype=x.dtype)
    for n, c in np.ndindex(n_batch, n_chan):
        total = 0.0
        for i, j in np.ndindex(h, w):
            total += x[n, c, i, j]
        out[n, c] = total / (h * w)
    return out


def global_avg_pool2d_backward(grad_out, x):
    r"""Gradient of `global_avg_pool2d`: :math:`\partial L / \partial x_{ncij} = \delta_{nc} / (HW)`.

    >>> global_avg_pool2d_backward(np.array([[4.0]]), np.zeros((1, 1, 2, 2)))
    array([[[[1., 1.],
             [1., 1.]]]])
    """
    h, w = x.shape[2:]
    grad_x = np.zeros_like(x)
    for n, c, i, j in np.ndindex(*x.shape):
        grad_x[n, c, i, j] = grad_out[n, c] / (h * w)
    return grad_x


# ================================================================ normalization


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    r"""Batch normalization, channel by channel:

    .. math:: y = \gamma_c \frac{x - \mu_c}{\sqrt{\sigma_c^2 + \epsilon}} + \beta_c

    In training :math:`\mu_c, \sigma_c^2` are the mean and (biased) variance of the M
    values of channel c in the batch (M = N, N*L or N*H*W), and the running estimates
    move towards them, in place: ``running_mean = (1 - momentum) * running_mean + momentum * mu``,
    the same for ``running_var`` with the unbiased variance :math:`\sigma^2 M / (M - 1)`.
    In evaluation the running estimates are used instead.

    Parameters
    ----------
    x : ndarray, shape (N, C), (N, C, L) or (N, C, H, W)
    running_mean, running_var : ndarray, shape (C,)
        Updated in place when training (may then be None); used when not.
    weight, bias : ndarray, shape (C,), optional
        gamma and beta; default 1 and 0.

    Returns
    -------
    ndarray, shape of x

    Examples
    --------
    >>> rm, rv = np.zeros(1), np.ones(1)
    >>> batch_norm(np.array([[1.0], [3.0]]), rm, rv, training=True, eps=0.0)
    array([[-1.],
           [ 1.]])
    >>> rm, rv   # 10% of the way to the batch mean 2 and unbiased variance 2
    (array([0.2]), array([1.1]))
    """
    y = np.zeros_like(x)
    for c in range(x.shape[1]):
        values = x[:, c]  # the M values of channel c: shape (N,), (N, L) or (N, H, W)
        if training:
            m = values.size
            mean = np.sum(values) / m
            var = np.sum((values - mean) ** 2) / m
            if running_mean is not None:
                running_mean[c] = (1 - momentum) * running_mean[c] + momentum * mean
            if running_var is not None:
                running_var[c] = (1 - momentum) * running_var[c] + momentum * var * m / (m - 1)
        else:
            mean, var = running_mean[c], running_var[c]
        gamma = 1.0 if weight is None else weight[c]
        beta = 0.0 if bias is None else bias[c]
        y[:, c] = gamma * (values - mean) / np.sqrt(var + eps) + beta
    return y


def batch_norm_backward(grad_out, x, weight=None, running_mean=None, running_var=None, training=False, eps=1e-5):
    r"""Gradients of `batch_norm` by the chain rule: ``(grad_x, grad_weight, grad_bias)``.

    Per channel, with :math:`\delta = \partial L / \partial y` and
    :math:`\hat x = (x - \mu) / \sqrt{\sigma^2 + \epsilon}`:

    .. math::

        \frac{\partial L}{\partial \gamma} = \sum \delta \hat x, \qquad
        \frac{\partial L}{\partial \beta} = \sum \delta, \qquad
        \frac{\partial L}{\partial \hat x_i} = \gamma \delta_i .

    In evaluation :math:`\mu, \sigma^2` are the running estimates, constants, so
    :math:`\partial L / \partial x_i = \gamma \delta_i / \sqrt{\sigma^2 + \epsilon}`.
    In training they are the batch's and depend on every :math:`x_i`, so the error
    flows through them too (Ioffe and Szegedy, 2015):

    .. math::

        \frac{\partial L}{\partial \sigma^2} &= \sum_i \frac{\partial L}{\partial \hat x_i}
            (x_i - \mu) \cdot \left(-\tfrac12\right) (\sigma^2 + \epsilon)^{-3/2} \\
        \frac{\partial L}{\partial \mu} &= \sum_i \frac{\partial L}{\partial \hat x_i}
            \frac{-1}{\sqrt{\sigma^2 + \epsilon}}
            + \frac{\partial L}{\partial \sigma^2} \cdot \frac{-2}{M} \sum_i (x_i - \mu) \\
        \frac{\partial L}{\partial x_i} &= \frac{\partial L}{\partial \hat x_i} \frac{1}{\sqrt{\sigma^2 + \epsilon}}
            + \frac{\partial L}{\partial \sigma^2} \frac{2 (x_i - \mu)}{M} + \frac{\partial L}{\partial \mu} \frac{1}{M}

    Shapes as in `batch_norm`; grad_out has the shape of x.

    >>> gx, gw, gb = batch_norm_backward(np.array([[1.0], [1.0]]), np.array([[1.0], [3.0]]), training=True)
    >>> gx.ravel(), gw, gb   # moving both outputs up together is undone by the normalization
    (array([0., 0.]), array([0.]), array([2.]))
    """
    grad_x = np.zeros_like(x)
    grad_w, grad_b = np.zeros(x.shape[1], dtype=x.dtype), np.zeros(x.shape[1], dtype=x.dtype)
    for c in range(x.shape[1]):
        xs, delta = x[:, c], grad_out[:, c]
        m = xs.size
        if training:
            mean = np.sum(xs) / m
            var = np.sum((xs - mean) ** 2) / m
        else:
            mean, var = running_mean[c], running_var[c]
        std = np.sqrt(var + eps)
        x_hat = (xs - mean) / std
        gamma = 1.0 if weight is None else weight[c]
        grad_w[c] = np.sum(delta * x_hat)
        grad_b[c] = np.sum(delta)
        grad_x_hat = gamma * delta
        if not training:
            grad_x[:, c] = grad_x_hat / std
            continue
        grad_var = np.sum(grad_x_hat * (xs - mean)) * -0.5 * (var + eps) ** -1.5
        grad_mean = np.sum(grad_x_hat * -1 / std) + grad_var * -2 * np.sum(xs - mean) / m
        grad_x[:, c] = grad_x_hat / std + grad_var * 2 * (xs - mean) / m + grad_mean / m
    return grad_x, grad_w, grad_b


def _lrn_window(c, size, n_chan):
    """Channels summed for channel c: c - size//2 .. c + (size-1)//2, those outside 0..C-1 being zeros."""
    return range(max(0, c - size // 2), min(n_chan, c + (size - 1) // 2 + 1))


def local_response_norm(x, size, alpha=1e-4, beta=0.75, k=1.0):
    r"""Local response normalization across channels (AlexNet), at every position on its own:

    .. math::

        b_c = a_c / D_c^{\beta}, \qquad
        D_c = k + \frac{\alpha}{n} \sum_{c' = c - \lfloor n/2 \rfloor}^{c + \lfloor (n-1)/2 \rfloor} a_{c'}^2

    with n = size, channels outside 0..C-1 counting as zeros (PyTorch's window).
    x has shape (N, C, L) or (N, C, H, W); the result has its shape.

    >>> np.round(local_response_norm(np.ones((1, 3, 1)), size=3, alpha=3.0, beta=1.0, k=0.0)[0, :, 0], 4)
    array([0.5   , 0.3333, 0.5   ])
    """
    y = np.zeros_like(x)
    for n, c in np.ndindex(*x.shape[:2]):  # x[n, c] is one feature map: the formula holds at each position
        squares = sum(x[n, j] ** 2 for j in _lrn_window(c, size, x.shape[1]))
        y[n, c] = x[n, c] / (k + alpha / size * squares) ** beta
    return y


def local_response_norm_backward(grad_out, x, size, alpha=1e-4, beta=0.75, k=1.0):
    r"""Gradient of `local_response_norm`: :math:`\partial L/\partial a_j = \sum_c \delta_c \partial b_c/\partial a_j`.

    Output channel c depends on :math:`a_c` through its numerator and on every
    :math:`a_j` of its window through :math:`D_c`:

    .. math::

        \frac{\partial b_c}{\partial a_j} = [j = c]\, D_c^{-\beta}
            - \beta\, a_c D_c^{-\beta - 1} \cdot \frac{2 \alpha}{n} a_j\, [j \in \mathrm{window}(c)]

    >>> local_response_norm_backward(np.ones((1, 1, 2)), np.array([[[2.0, -3.0]]]), size=1, alpha=1.0, beta=0.5, k=0.0)
    array([[[0., 0.]]])

    (With k = 0, n = 1, beta = 1/2 the output is :math:`a / |a|`, flat wherever a is not 0.)
    """
    grad_x = np.zeros_like(x)
    for n, c in np.ndindex(*x.shape[:2]):
        window = _lrn_window(c, size, x.shape[1])
        denom = k + alpha / size * sum(x[n, j] ** 2 for j in window)
        grad_x[n, c] += grad_out[n, c] * denom ** -beta
        for j in window:
            grad_x[n, j] -= grad_out[n, c] * beta * x[n, c] * denom ** (-beta - 1) * 2 * alpha / size * x[n, j]
    return grad_x


# ================================================================ fully connected layer and dropout


def linear(x, weight, bias=None):
    r"""Fully connected layer: :math:`y_{no} = \sum_i x_{ni} W_{oi} + b_o`, i.e. :math:`y = x W^T + b`.

    Parameters
    ----------
    x : ndarray, shape (N, in_features)
    weight : ndarray, shape (out_features, in_features)
    bias : ndarray, shape (out_features,), optional

    Returns
    -------
    ndarray, shape (N, out_features)

    Examples
    --------
    >>> linear(np.array([[1.0, 2.0]]), np.array([[1.0, 1.0], [0.0, -1.0]]), np.array([0.5, 0.0]))
    array([[ 3.5, -2. ]])
    """
    n_batch, n_in = x.shape
    y = np.zeros((n_batch, weight.shape[0]), dtype=x.dtype)
    for n, o in np.ndindex(*y.shape):
        for i in range(n_in):
            y[n, o] += x[n, i] * weight[o, i]
        if bias is not None:
            y[n, o] += bias[o]
    return y


def linear_backward(grad_out, x, weight):
    r"""Gradients of `linear`, ``(grad_x, grad_weight, grad_bias)``, one output cell at a time.

    Output :math:`y_{no}` used :math:`x_{ni}` and :math:`W_{oi}` for every i, so its error
    :math:`\delta_{no}` adds :math:`\delta_{no} W_{oi}` to :math:`\partial L/\partial x_{ni}`,
    :math:`\delta_{no} x_{ni}` to :math:`\partial L/\partial W_{oi}` and :math:`\delta_{no}` to
    :math:`\partial L/\partial b_o`: in matrices :math:`\delta W`, :math:`\delta^T x`, :math:`\sum_n \delta_n`.

    >>> gx, gw, gb = linear_backward(np.array([[1.0, 2.0]]), np.array([[3.0, 4.0]]), np.eye(2))
    >>> gx, gw, gb
    (array([[1., 2.]]), array([[3., 4.],
           [6., 8.]]), array([1., 2.]))
    """
    grad_x, grad_w = np.zeros_like(x), np.zeros_like(weight)
    grad_b = np.zeros(weight.shape[0], dtype=x.dtype)
    for n, o in np.ndindex(*grad_out.shape):
        delta = grad_out[n, o]
        for i in range(x.shape[1]):
            grad_x[n, i] += delta * weight[o, i]
            grad_w[o, i] += delta * x[n, i]
        grad_b[o] += delta
    return grad_x, grad_w, grad_b


def _each(formula, x, *others):
    """Apply a formula on numbers to every cell: out[idx] = formula(x[idx], others[0][idx], ...)."""
    out = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        out[idx] = formula(x[idx], *(a[idx] for a in others))
    return out


def dropout(x, mask):
    r"""Inverted dropout with a given mask: :math:`y = x \odot m`, m holding 0 (dropped) or 1/(1-p) (kept).

    Unlike `minicnn.functional.dropout(x, p, training, rng)`, which draws the mask and
    returns ``(y, mask)``, this takes that mask, because random draws cannot be compared.
    mask None (evaluation, or p = 0) is the identity.

    >>> dropout(np.array([1.0, 2.0, 3.0]), np.array([2.0, 0.0, 2.0]))   # p = 1/2
    array([2., 0., 6.])
    """
    if mask is None:
        return x.copy()
    return _each(lambda v, keep: v * keep, x, mask)


def dropout_backward(grad_out, mask):
    r"""Gradient of `dropout`: :math:`\partial L/\partial x = \delta \odot m`, through the kept units only.

    >>> dropout_backward(np.array([1.0, 1.0, 1.0]), np.array([2.0, 0.0, 2.0]))
    array([2., 0., 2.])
    """
    if mask is None:
        return grad_out.copy()
    return _each(lambda d, keep: d * keep, grad_out, mask)


# ================================================================ combining branches


def add(a, b):
    r"""Element-wise sum of two branches, :math:`y = a + b` (a residual block's :math:`F(x) + x`).

    >>> add(np.array([1.0, 2.0]), np.array([10.0, 20.0]))
    array([11., 22.])
    """
    return _each(lambda u, v: u + v, a, b)


def add_backward(grad_out):
    r"""Gradient of `add`: :math:`\partial y/\partial a = \partial y/\partial b = 1`, so each branch receives
    :math:`\delta` itself, ``(grad_a, grad_b)``.

    >>> add_backward(np.array([1.0, -2.0]))
    (array([ 1., -2.]), array([ 1., -2.]))
    """
    grad_a, grad_b = np.zeros_like(grad_out), np.zeros_like(grad_out)
    for idx in np.ndindex(*grad_out.shape):
        grad_a[idx] = grad_out[idx]
        grad_b[idx] = grad_out[idx]
    return grad_a, grad_b


def cat(xs, dim=1):
    r"""Arrays joined along `dim` (an Inception module's branches along the channels): input k's cells
    land at offset :math:`\sum_{j<k} \mathrm{size}_j` along dim.

    >>> cat([np.ones((1, 1, 2)), np.zeros((1, 2, 2))]).shape
    (1, 3, 2)
    """
    dim = dim % xs[0].ndim
    shape = list(xs[0].shape)
    shape[dim] = sum(x.shape[dim] for x in xs)
    y = np.zeros(shape, dtype=xs[0].dtype)
    offset = 0
    for x in xs:
        for idx in np.ndindex(*x.shape):
            moved = list(idx)
            moved[dim] += offset
            y[tuple(moved)] = x[idx]
        offset += x.shape[dim]
    return y


def cat_backward(grad_out, sizes_or_shapes, dim=1):
    r"""Gradient of `cat`: input k's cells were copied to offset :math:`\sum_{j<k} \mathrm{size}_j`, so its
    gradient is the matching slab of :math:`\delta`, a list of one array per input.

    ``sizes_or_shapes``: each input's length along dim, or each input's shape.

    >>> [g.tolist() for g in cat_backward(np.array([[1.0, 2.0, 3.0]]), [1, 2])]
    [[[1.0]], [[2.0, 3.0]]]
    """
    dim = dim % grad_out.ndim
    sizes = [size if np.isscalar(size) else size[dim] for size in sizes_or_shapes]
    grads, offset = [], 0
    for size in sizes:
        shape = list(grad_out.shape)
        shape[dim] = size
        grad = np.zeros(shape, dtype=grad_out.dtype)
        for idx in np.ndindex(*grad.shape):
            moved = list(idx)
            moved[dim] += offset
            grad[idx] = grad_out[tuple(moved)]
        grads.append(grad)
        offset += size
    return grads


# ================================================================ padding


def pad(x, pad):
    r"""Zeros around (N, C, H, W) maps, ``pad = (left, right, top, bottom)``: input cell (i, j) lands at
    (top + i, left + j) of a zero array of shape (N, C, top + H + bottom, left + W + right).

    >>> pad(np.ones((1, 1, 1, 2)), (1, 0, 0, 1))[0, 0]
    array([[0., 1., 1.],
           [0., 0., 0.]])
    """
    left, right, top, bottom = pad
    n_batch, n_chan, h, w = x.shape
    y = np.zeros((n_batch, n_chan, top + h + bottom, left + w + right), dtype=x.dtype)
    for n in range(n_batch):
        for c in range(n_chan):
            for i in range(h):
                for j in range(w):
                    y[n, c, top + i, left + j] = x[n, c, i, j]
    return y


def pad_backward(grad_out, pad):
    r"""Gradient of `pad`: input cell (i, j) became output cell (top + i, left + j), so it receives that cell's
    :math:`\delta`; the padded zeros were no input's, and their :math:`\delta` is dropped.

    >>> pad_backward(np.arange(6.0).reshape(1, 1, 2, 3), (1, 0, 0, 1))[0, 0]
    array([[1., 2.]])
    """
    left, right, top, bottom = pad
    n_batch, n_chan, hp, wp = grad_out.shape
    h, w = hp - top - bottom, wp - left - right
    grad_x = np.zeros((n_batch, n_chan, h, w), dtype=grad_out.dtype)
    for n in range(n_batch):
        for c in range(n_chan):
            for i in range(h):
                for j in range(w):
                    grad_x[n, c, i, j] = grad_out[n, c, top + i, left + j]
    return grad_x


# ================================================================ activations


def relu(x):
    r"""Rectified linear unit :math:`\max(0, x)`, cell by cell (nan stays nan).

    >>> relu(np.array([-2.0, 0.0, 3.0]))
    array([0., 0., 3.])
    """
    return _each(lambda v: 0.0 if v <= 0 else v, x)


def relu_backward(grad_out, x):
    r""":math:`\delta \cdot f'(x)` with :math:`f'(x) = 1` for x > 0, else 0.

    >>> relu_backward(np.array([5.0, 5.0, 5.0]), np.array([-1.0, 0.0, 2.0]))
    array([0., 0., 5.])
    """
    return _each(lambda d, v: d if v > 0 else 0.0, grad_out, x)


def relu6(x):
    r""":math:`\min(\max(0, x), 6)`, cell by cell (nan stays nan).

    >>> relu6(np.array([-2.0, 3.0, 8.0]))
    array([0., 3., 6.])
    """
    return _each(lambda v: 0.0 if v <= 0 else (6.0 if v >= 6 else v), x)


def relu6_backward(grad_out, x):
    r""":math:`\delta \cdot f'(x)` with :math:`f'(x) = 1` for 0 < x < 6, else 0 (0 at exactly 0 and 6, as PyTorch).

    >>> relu6_backward(np.array([5.0, 5.0, 5.0, 5.0]), np.array([0.0, 2.0, 6.0, 7.0]))
    array([0., 5., 0., 0.])
    """
    return _each(lambda d, v: 0.0 if (v <= 0 or v >= 6) else d, grad_out, x)


def leaky_relu(x, negative_slope=0.01):
    r""":math:`x` for x > 0, else :math:`\alpha x` (alpha = negative_slope).

    >>> leaky_relu(np.array([-2.0, 3.0]), 0.1)
    array([-0.2,  3. ])
    """
    return _each(lambda v: v if v > 0 else negative_slope * v, x)


def leaky_relu_backward(grad_out, x, negative_slope=0.01):
    r""":math:`\delta \cdot f'(x)` with :math:`f'(x) = 1` for x > 0, else :math:`\alpha`.

    >>> leaky_relu_backward(np.array([1.0, 1.0]), np.array([-2.0, 3.0]), 0.1)
    array([0.1, 1. ])
    """
    return _each(lambda d, v: d if v > 0 else negative_slope * d, grad_out, x)


def _sigmoid(v):
    # 1 / (1 + e^{-v}); for v < 0 the same number written as e^v / (1 + e^v), so that exp never overflows
    return 1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v))


def sigmoid(x):
    r"""Logistic function :math:`\sigma(x) = 1 / (1 + e^{-x})`, cell by cell.

    >>> sigmoid(np.array([0.0, 1000.0, -1000.0]))
    array([0.5, 1. , 0. ])
    """
    return _each(_sigmoid, x)


def sigmoid_backward(grad_out, x):
    r""":math:`\delta \cdot \sigma(x) (1 - \sigma(x))`.

    >>> sigmoid_backward(np.array([1.0]), np.array([0.0]))
    array([0.25])
    """
    return _each(lambda d, v: d * _sigmoid(v) * (1 - _sigmoid(v)), grad_out, x)


def tanh(x):
    r""":math:`\tanh(x) = (e^x - e^{-x}) / (e^x + e^{-x})`, cell by cell.

    >>> tanh(np.array([0.0, 100.0]))
    array([0., 1.])
    """
    return _each(math.tanh, x)


def tanh_backward(grad_out, x):
    r""":math:`\delta \cdot (1 - \tanh^2 x)`.

    >>> tanh_backward(np.array([3.0]), np.array([0.0]))
    array([3.])
    """
    return _each(lambda d, v: d * (1 - math.tanh(v) ** 2), grad_out, x)


# ================================================================ softmax and losses


def softmax(x, dim=-1):
    r""":math:`\mathrm{softmax}(x)_i = e^{x_i - m} / \sum_j e^{x_j - m}` along `dim`, with :math:`m = \max_j x_j`.

    Subtracting m changes nothing mathematically and keeps exp from overflowing.

    >>> softmax(np.array([[1000.0, 1000.0], [0.0, np.log(3.0)]]))
    array([[0.5 , 0.5 ],
           [0.25, 0.75]])
    """
    rows = np.moveaxis(x, dim, -1)  # rows[idx] is one vector to normalize
    out = np.zeros_like(rows)
    for idx in np.ndindex(*rows.shape[:-1]):
        m = max(rows[idx])
        e = [math.exp(v - m) for v in rows[idx]]
        out[idx] = [e_i / sum(e) for e_i in e]
    return np.moveaxis(out, -1, dim)


def log_softmax(x, dim=-1):
    r""":math:`\log \mathrm{softmax}(x)_i = x_i - m - \log \sum_j e^{x_j - m}`, with :math:`m = \max_j x_j`.

    >>> log_softmax(np.array([[0.0, 0.0]]))
    array([[-0.69314718, -0.69314718]])
    """
    rows = np.moveaxis(x, dim, -1)
    out = np.zeros_like(rows)
    for idx in np.ndindex(*rows.shape[:-1]):
        m = max(rows[idx])
        log_total = math.log(sum(math.exp(v - m) for v in rows[idx]))
        out[idx] = [v - m - log_total for v in rows[idx]]
    return np.moveaxis(out, -1, dim)


def cross_entropy(scores, target):
    r"""Mean cross-entropy of softmax(scores) against class labels, a Python float:

    .. math::

        L = \frac{1}{N} \sum_n \Big(\log \sum_j e^{s_{nj}} - s_{n y_n}\Big)
          = -\frac1N \sum_n \log \mathrm{softmax}(s_n)_{y_n}

    scores has shape (N, n_classes), target N integer labels.

    >>> f"{cross_entropy(np.zeros((2, 10)), np.array([3, 7])):.4f}"   # log(10): a uniform guess
    '2.3026'
    """
    total = 0.0
    for n in range(len(target)):
        m = max(scores[n])
        log_sum_exp = m + math.log(sum(math.exp(s - m) for s in scores[n]))
        total += log_sum_exp - scores[n, target[n]]
    return float(total / len(target))


def cross_entropy_backward(scores, target):
    r"""Gradient of `cross_entropy`: :math:`\partial L / \partial s_{nj} = (\mathrm{softmax}(s_n)_j - [j = y_n]) / N`.

    >>> cross_entropy_backward(np.zeros((1, 4)), np.array([1]))
    array([[ 0.25, -0.75,  0.25,  0.25]])
    """
    p = softmax(scores)
    grad = np.zeros_like(scores)
    for n, j in np.ndindex(*scores.shape):
        grad[n, j] = (p[n, j] - (1.0 if j == target[n] else 0.0)) / len(target)
    return grad


def mse_loss(pred, target):
    r"""Mean squared error :math:`\frac1M \sum (\hat y - y)^2` over all M cells, a Python float.

    >>> mse_loss(np.array([1.0, 2.0]), np.array([1.0, 4.0]))
    2.0
    """
    total = 0.0
    for idx in np.ndindex(*pred.shape):
        total += (pred[idx] - target[idx]) ** 2
    return float(total / pred.size)


def mse_loss_backward(pred, target):
    r"""Gradient of `mse_loss`: :math:`2 (\hat y - y) / M`.

    >>> mse_loss_backward(np.array([1.0, 2.0]), np.array([1.0, 4.0]))
    array([ 0., -2.])
    """
    return _each(lambda p, t: 2 * (p - t) / pred.size, pred, target)


# ================================================================ optimizer steps


def sgd_step(w, grad, velocity, lr, momentum=0.0, weight_decay=0.0, nesterov=False):
    r"""One step of `minicnn.optim.SGD` (torch.optim.SGD, dampening 0), weight by weight:

    .. math::

        g &= \nabla_w L + \lambda w \\
        v &\leftarrow \mu v + g \qquad (v = g \text{ on the first step}) \\
        w &\leftarrow w - \eta v \qquad \text{or, with Nesterov,} \quad w \leftarrow w - \eta (g + \mu v)

    Parameters
    ----------
    w, grad : ndarray, one shape
    velocity : ndarray or None
        v as returned by the previous step; None on the first step.
    lr, momentum, weight_decay : float
        :math:`\eta`, :math:`\mu`, :math:`\lambda`.
    nesterov : bool

    Returns
    -------
    new_w, new_velocity (None without momentum)

    Examples
    --------
    >>> sgd_step(np.array([1.0]), np.array([0.5]), None, lr=0.1)
    (array([0.95]), None)
    >>> w, v = sgd_step(np.array([1.0]), np.array([1.0]), None, lr=0.5, momentum=0.5)
    >>> sgd_step(w, np.array([1.0]), v, lr=0.5, momentum=0.5)   # v = 0.5 * 1 + 1
    (array([-0.25]), array([1.5]))
    """
    new_w = np.zeros_like(w)
    new_velocity = None if momentum == 0 else np.zeros_like(w)
    for idx in np.ndindex(*w.shape):
        g = grad[idx] + weight_decay * w[idx]
        if momentum == 0:
            step = g
        else:
            v = g if velocity is None else momentum * velocity[idx] + g
            new_velocity[idx] = v
            step = g + momentum * v if nesterov else v
        new_w[idx] = w[idx] - lr * step
    return new_w, new_velocity


def adam_step(w, grad, m, v, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    r"""One step of `minicnn.optim.Adam` (torch.optim.Adam), weight by weight; ``step`` t counts from 1:

    .. math::

        g &= \nabla_w L + \lambda w \\
        m &\leftarrow \beta_1 m + (1 - \beta_1) g, \qquad v \leftarrow \beta_2 v + (1 - \beta_2) g^2 \\
        \hat m &= m / (1 - \beta_1^t), \qquad \hat v = v / (1 - \beta_2^t) \\
        w &\leftarrow w - \eta\, \hat m / (\sqrt{\hat v} + \epsilon)

    Parameters
    ----------
    w, grad : ndarray, one shape
    m, v : ndarray or None
        The running moments returned by the previous step; None (zeros) at t = 1.
    step : int
        t, 1 on the first step.
    lr, betas, eps, weight_decay : float, (float, float), float, float
        :math:`\eta`, :math:`(\beta_1, \beta_2)`, :math:`\epsilon`, :math:`\lambda`.

    Returns
    -------
    new_w, new_m, new_v

    Examples
    --------
    >>> w, m, v = adam_step(np.array([1.0, 1.0]), np.array([3.0, -0.5]), None, None, step=1, lr=0.1)
    >>> np.round(w, 6)   # the first step moves each weight by about lr, whatever the gradient's size
    array([0.9, 1.1])
    """
    beta1, beta2 = betas
    new_w, new_m, new_v = np.zeros_like(w), np.zeros_like(w), np.zeros_like(w)
    for idx in np.ndindex(*w.shape):
        g = grad[idx] + weight_decay * w[idx]
        new_m[idx] = beta1 * (0.0 if m is None else m[idx]) + (1 - beta1) * g
        new_v[idx] = beta2 * (0.0 if v is None else v[idx]) + (1 - beta2) * g * g
        m_hat = new_m[idx] / (1 - beta1 ** step)
        v_hat = new_v[idx] / (1 - beta2 ** step)
        new_w[idx] = w[idx] - lr * m_hat / (math.sqrt(v_hat) + eps)
    return new_w, new_m, new_v
