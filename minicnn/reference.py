r"""Slow, obvious versions of minicnn's ops: plain loops you can read in one sitting.

The notebooks teach with these and the tests use them as oracles for the fast
numba kernels in `minicnn.functional`. They do little checking: pass arrays of
the shapes the docstrings give. Every function here mirrors one in
`minicnn.functional` with the same name and arguments.
"""
import numpy as np


def _pair(value):
    return (value, value) if np.isscalar(value) else tuple(value)


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
