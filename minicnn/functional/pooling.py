r"""Pooling (subsampling): max, average, L^p and adaptive/global average, forward and backward.

Every channel is pooled on its own and pooling has no parameters. With window
F, stride S and padding P the output size is :math:`\lfloor (W - F + 2P)/S \rfloor + 1`,
as for a convolution: pooling is a convolution whose "kernel" is a max or a mean.
With ``ceil_mode=True`` (PyTorch's option, GoogLeNet's pools) the division rounds up
instead, so the last window may overhang the input (`pool_output_size`).

Backward (the seeds' *upsampling* of the error term): max pooling routes each
output's error to the arg-max of its window, average pooling spreads it evenly
over the window, L^p pooling weights it by :math:`x^{p-1}/y^{p-1}`.
"""
from collections import namedtuple

import numpy as np

from minicnn.functional._checks import as_float_array, check_bool, check_real, expect_ndim, int_tuple
from minicnn.functional.conv import conv_output_size
from minicnn.functional._threads import threads_for
from minicnn.kernels import pool as _kernels
from minicnn.kernels.launch import run_parallel

__all__ = ["pool_output_size", "max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward", "lp_pool2d",
           "lp_pool2d_backward", "adaptive_avg_pool2d", "adaptive_avg_pool2d_backward", "global_avg_pool2d",
           "global_avg_pool2d_backward"]


class PoolWindow(namedtuple("PoolWindow", "x_shape dtype kernel stride padding out_shape pad_after")):
    """A pooling's checked geometry: what a module's forward keeps so its backward checks only grad_out.

    ``padding`` is the cells added before each of H and W, ``pad_after`` the cells added after them: the
    same, except with ``ceil_mode`` when the last window overhangs the input further (`pool_output_size`).
    """


def pool_output_size(input_size, kernel_size, stride=1, padding=0, ceil_mode=False):
    r"""Output length of a pooling along one dimension, as PyTorch computes it.

    Without ``ceil_mode`` it is `conv_output_size`: :math:`O = \lfloor (N - F + 2P)/S \rfloor + 1`.
    With ``ceil_mode`` the division rounds up, so one more window may start near the end and overhang
    the input (its missing cells count as padding):

    .. math:: O = \lceil (N - F + 2P)/S \rceil + 1, \quad\text{then } O - 1 \text{ if } (O - 1)S \ge N + P

    The correction (PyTorch's rule) drops a last window that would start in the right padding and so
    see no input cell. Rounding up is rounding down after adding S - 1 to the numerator, so the ceil
    formula is `conv_output_size` of an input S - 1 cells longer; a window may then be up to S - 1 cells
    larger than the padded input.

    >>> pool_output_size(112, 3, 2), pool_output_size(112, 3, 2, ceil_mode=True)
    (55, 56)
    >>> pool_output_size(5, 2, 2, padding=1, ceil_mode=True)  # ceil gives 4, but window 3 would start at 6 >= 5 + 1
    3
    """
    if not check_bool("pool_output_size", "ceil_mode", ceil_mode):
        return conv_output_size(input_size, kernel_size, stride, padding)
    conv_output_size(input_size, 1, stride, padding)  # refuses a bad input_size, stride or padding by its name
    try:
        out = conv_output_size(input_size + stride - 1, kernel_size, stride, padding)
    except ValueError:
        if kernel_size < 1:
            raise
        raise ValueError(f"pool_output_size: kernel_size {kernel_size} is larger than the padded input "
                         f"({input_size} + 2*{padding}) plus the stride - 1 = {stride - 1} cells that ceil_mode "
                         f"lets the last window overhang") from None
    if (out - 1) * stride >= input_size + padding:
        out -= 1
    return out


def pool_window(op, x, kernel_size, stride, padding, ceil_mode=False):
    """Check x and the window settings once; return x as an array and its `PoolWindow`."""
    x = as_float_array(op, "x", x)
    expect_ndim(op, "x", x, 4, "(N, C, H, W)")
    kernel = int_tuple(op, "kernel_size", kernel_size, 2, 1)
    stride = kernel if stride is None else int_tuple(op, "stride", stride, 2, 1)
    padding = int_tuple(op, "padding", padding, 2, 0)
    ceil_mode = check_bool(op, "ceil_mode", ceil_mode)
    if any(2 * p > k for p, k in zip(padding, kernel)):
        raise ValueError(f"{op}: padding {padding} must be at most half of kernel_size {kernel} (as in PyTorch)")
    overhang = tuple(s - 1 for s in stride) if ceil_mode else (0, 0)  # ceil_mode: how far the last window may hang out
    if 0 in x.shape[2:] or any(k > size + 2 * p + o for size, k, p, o in zip(x.shape[2:], kernel, padding, overhang)):
        raise ValueError(f"{op}: kernel_size {kernel} is larger than the padded input "
                         f"{tuple(n + 2 * q for n, q in zip(x.shape[2:], padding))} of x {x.shape}"
                         + (f" plus stride - 1 = {overhang} cells that ceil_mode lets a window overhang"
                            if ceil_mode else ""))
    out = [pool_output_size(size, k, s, p, ceil_mode) for size, k, s, p in zip(x.shape[2:], kernel, stride, padding)]
    # cells after the input: the padding, or more if the last (ceil_mode) window reaches further
    pad_after = tuple(max(p, (o - 1) * s + k - p - size)
                      for size, k, s, p, o in zip(x.shape[2:], kernel, stride, padding, out))
    return x, PoolWindow(x.shape, x.dtype, kernel, stride, padding, (x.shape[0], x.shape[1], *out), pad_after)


def _pad(x, window, value):
    """x with `value` in the window's padding cells (before and after each of H and W)."""
    (ph, pw), (ah, aw) = window.padding, window.pad_after
    if not (ph or pw or ah or aw):
        return np.ascontiguousarray(x)
    return np.pad(x, ((0, 0), (0, 0), (ph, ah), (pw, aw)), constant_values=value)


def _crop(grad_xp, window):
    """The input's cells of a padded gradient (the inverse of `_pad`)."""
    (ph, pw), (h, w) = window.padding, window.x_shape[2:]
    return np.ascontiguousarray(grad_xp[:, :, ph:ph + h, pw:pw + w])


def _check_grad(op, grad_out, window):
    grad_out = as_float_array(op, "grad_out", grad_out)
    if grad_out.dtype != window.dtype:
        raise TypeError(f"{op}: all inputs must have the same dtype, but grad_out is {grad_out.dtype}, "
                        f"x is {window.dtype}")
    if grad_out.shape != tuple(window.out_shape):
        raise ValueError(f"{op}: grad_out must have the forward output's shape {tuple(window.out_shape)} for x "
                         f"{window.x_shape}; got {grad_out.shape}")
    return np.ascontiguousarray(grad_out)


def max_pool2d(x, kernel_size, stride=None, padding=0, return_indices=False, *, ceil_mode=False):
    r"""Max pooling, as torch.nn.functional.max_pool2d: :math:`y = \max_{(i,j) \in R} x_{ij}` per window R.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    kernel_size : int or (int, int)
    stride : int or (int, int), optional
        Defaults to kernel_size (non-overlapping windows).
    padding : int or (int, int)
        Implicit -inf on each side, at most half the kernel.
    return_indices : bool
        Also return where each maximum came from, as PyTorch does: the flat
        index ``h * W + w`` into its input plane (int64). `max_pool2d_backward`
        accepts them and then skips searching the windows again.
    ceil_mode : bool, keyword only
        Round the output size up (`pool_output_size`): a last window that
        overhangs the input takes the maximum of the cells it covers.
        Keyword only because PyTorch's fifth argument is ``dilation``, which minicnn's pooling lacks.

    Returns
    -------
    ndarray, shape (N, C, H_out, W_out), and with ``return_indices`` the indices of the same shape

    Examples
    --------
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> max_pool2d(x, 2)
    array([[[[ 5.,  7.],
             [13., 15.]]]])
    >>> max_pool2d(x, 2, return_indices=True)[1]
    array([[[[ 5,  7],
             [13, 15]]]])
    >>> max_pool2d(x, 3, stride=2, ceil_mode=True)  # (4 - 3)/2 + 1 = 1.5 rounds up to 2 windows per side
    array([[[[10., 11.],
             [14., 15.]]]])
    """
    return_indices = check_bool("max_pool2d", "return_indices", return_indices)
    out, indices = max_pool2d_checked(*pool_window("max_pool2d", x, kernel_size, stride, padding, ceil_mode))
    return (out, indices) if return_indices else out


def max_pool2d_checked(x, window):
    """(output, indices) of `max_pool2d` for an x that `pool_window` checked (what `minicnn.nn.MaxPool2d` calls)."""
    out = np.empty(window.out_shape, dtype=x.dtype)
    indices = np.empty(window.out_shape, dtype=np.int64)
    with threads_for(x.size * window.kernel[0] * window.kernel[1]):
        run_parallel(_kernels.max_pool2d_forward_indices, _pad(x, window, -np.inf), out, indices, *window.kernel,
                                            *window.stride, *window.padding, x.shape[3])
    return out, indices


def max_pool2d_backward(grad_out, x, kernel_size, stride=None, padding=0, indices=None, *, ceil_mode=False):
    """Gradient of `max_pool2d`: each window's error goes to its (first) maximum.

    Pass the ``indices`` from ``max_pool2d(..., return_indices=True)`` to skip
    finding each window's maximum again (what `minicnn.nn.MaxPool2d` does), and
    the forward's ``ceil_mode``.

    >>> x = np.array([[[[1.0, 3.0], [2.0, 0.0]]]])
    >>> max_pool2d_backward(np.array([[[[10.0]]]]), x, 2)
    array([[[[ 0., 10.],
             [ 0.,  0.]]]])
    """
    x, window = pool_window("max_pool2d_backward", x, kernel_size, stride, padding, ceil_mode)
    grad_out = _check_grad("max_pool2d_backward", grad_out, window)
    if indices is None:
        return scatter_to_indices("max_pool2d_backward", grad_out, max_pool2d_checked(x, window)[1], window)
    indices = np.asarray(indices)
    plane = x.shape[2] * x.shape[3]
    if indices.shape != grad_out.shape or indices.dtype.kind not in "iu":
        raise ValueError(f"max_pool2d_backward: indices must be integers of grad_out's shape {grad_out.shape} "
                         f"(from max_pool2d(..., return_indices=True)); got {indices.dtype} {indices.shape}")
    if indices.size and (indices.min() < 0 or indices.max() >= plane):
        raise ValueError(f"max_pool2d_backward: indices must lie in [0, H*W) = [0, {plane}) for x {x.shape}; "
                         f"got values from {indices.min()} to {indices.max()}")
    return scatter_to_indices("max_pool2d_backward", grad_out, indices, window)


def scatter_to_indices(op, grad_out, indices, window):
    """grad_x with every grad_out[n, c, p, q] added at the flat position indices[n, c, p, q] of its plane:
    max pooling's backward given the arg-max positions its forward found, and its `PoolWindow`."""
    grad_out = _check_grad(op, grad_out, window)
    grad_x = np.zeros(window.x_shape, dtype=window.dtype)
    with threads_for(grad_out.size):
        run_parallel(_kernels.max_pool2d_backward_indices, np.ascontiguousarray(grad_out),
                                             np.ascontiguousarray(indices, dtype=np.int64), grad_x)
    return grad_x


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    r"""Average pooling, as torch.nn.functional.avg_pool2d (padded zeros count: ``count_include_pad=True``).

    .. math:: y = \frac{1}{|R|} \sum_{(i,j) \in R} x_{ij}

    :math:`|R| = F_h F_w`, except for a last window that ``ceil_mode`` lets overhang the padded input:
    as in PyTorch, it averages only the cells it covers of the input and its padding.

    >>> avg_pool2d(np.arange(16.0).reshape(1, 1, 4, 4), 2)
    array([[[[ 2.5,  4.5],
             [10.5, 12.5]]]])
    >>> avg_pool2d(np.arange(9.0).reshape(1, 1, 3, 3), 2, ceil_mode=True)  # right windows: 2x1, 1x2 and 1x1 cells
    array([[[[2. , 3.5],
             [6.5, 8. ]]]])
    """
    return avg_pool2d_checked(*pool_window("avg_pool2d", x, kernel_size, stride, padding, ceil_mode))


def avg_pool2d_backward(grad_out, x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Gradient of `avg_pool2d`: each window's error is shared equally by its |R| cells.

    >>> avg_pool2d_backward(np.array([[[[4.0]]]]), np.zeros((1, 1, 2, 2)), 2)
    array([[[[1., 1.],
             [1., 1.]]]])
    """
    _, window = pool_window("avg_pool2d_backward", x, kernel_size, stride, padding, ceil_mode)
    return avg_pool2d_backward_checked("avg_pool2d_backward", grad_out, window)


def _window_cells(window):
    """|R| of every window: F_h F_w, or with ceil_mode an (H_out, W_out) array whose overhanging windows count
    only the cells inside the input and its padding (PyTorch's divisor with ``count_include_pad=True``)."""
    (kh, kw), (h, w) = window.kernel, window.x_shape[2:]
    if window.pad_after == window.padding:
        return kh * kw
    rows, cols = [np.minimum(np.arange(out) * s + k, size + 2 * p) - np.arange(out) * s  # window clipped to the end
                  for out, s, k, size, p in zip(window.out_shape[2:], window.stride, window.kernel, (h, w),
                                                window.padding)]
    return np.outer(rows, cols).astype(window.dtype)


def avg_pool2d_checked(x, window):
    """`avg_pool2d` of an x that `pool_window` checked (what `minicnn.nn.AvgPool2d` calls)."""
    out = np.empty(window.out_shape, dtype=x.dtype)
    with threads_for(x.size):
        run_parallel(_kernels.sum_pool2d_forward, _pad(x, window, 0.0), out, *window.kernel, *window.stride)
    out /= _window_cells(window)
    return out


def avg_pool2d_backward_checked(op, grad_out, window):
    """`avg_pool2d_backward` given the forward pass's `PoolWindow`: only grad_out is checked."""
    grad_out = _check_grad(op, grad_out, window)
    (n, c, h, w), (ph, pw), (ah, aw) = window.x_shape, window.padding, window.pad_after
    grad_xp = np.empty((n, c, ph + h + ah, pw + w + aw), window.dtype)
    with threads_for(grad_xp.size):
        run_parallel(_kernels.sum_pool2d_backward, grad_out / _window_cells(window), grad_xp, *window.kernel,
                     *window.stride)
    return _crop(grad_xp, window)


def lp_pool2d(x, norm_type, kernel_size, stride=None):
    r"""Power-average pooling, as torch.nn.functional.lp_pool2d: :math:`y = (\sum_{R} x^p)^{1/p}`.

    ``norm_type=2`` is L2 pooling; p -> inf approaches max pooling, p = 1 is sum pooling.
    p must be a finite number > 0 (p = 0 would make every window's power sum its size).

    >>> lp_pool2d(np.array([[[[3.0, 4.0]]]]), 2, (1, 2))
    array([[[[5.]]]])
    """
    check_real("lp_pool2d", "norm_type", norm_type, low=0, low_open=True)
    return lp_pool2d_checked(*pool_window("lp_pool2d", x, kernel_size, stride, 0), norm_type)


def lp_pool2d_backward(grad_out, x, norm_type, kernel_size, stride=None):
    r"""Gradient of `lp_pool2d`: :math:`\partial y/\partial x = x^{p-1} / y^{p-1}` (0 where y = 0)."""
    check_real("lp_pool2d_backward", "norm_type", norm_type, low=0, low_open=True)
    x, window = pool_window("lp_pool2d_backward", x, kernel_size, stride, 0)
    y = lp_pool2d_checked(x, window, norm_type)
    return lp_pool2d_backward_checked("lp_pool2d_backward", grad_out, x, y, window, norm_type)


def lp_pool2d_checked(x, window, norm_type):
    """`lp_pool2d` of an x that `pool_window` checked, for a checked norm_type."""
    sums = np.empty(window.out_shape, dtype=x.dtype)
    with threads_for(x.size):
        run_parallel(_kernels.sum_pool2d_forward, np.ascontiguousarray(x ** norm_type), sums, *window.kernel,
                     *window.stride)
    return np.sign(sums) * np.abs(sums) ** (1.0 / norm_type)


def lp_pool2d_backward_checked(op, grad_out, x, y, window, norm_type):
    """`lp_pool2d_backward` given the forward pass's input x, output y and `PoolWindow`."""
    grad_out = _check_grad(op, grad_out, window)
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = np.where(y != 0, grad_out / y ** (norm_type - 1), 0).astype(x.dtype, copy=False)
    spread = np.empty_like(x)
    with threads_for(x.size):
        run_parallel(_kernels.sum_pool2d_backward, np.ascontiguousarray(scaled), spread, *window.kernel, *window.stride)
    return spread * x ** (norm_type - 1)


def _adaptive_bins(size, out):
    """PyTorch's bins: cell i pools [floor(i*size/out), ceil((i+1)*size/out))."""
    return [(i * size // out, -(-(i + 1) * size // out)) for i in range(out)]


def _nonempty_maps(op, x):
    x = as_float_array(op, "x", x)
    expect_ndim(op, "x", x, 4, "(N, C, H, W)")
    if 0 in x.shape[2:]:
        raise ValueError(f"{op}: x {x.shape} has empty feature maps; there is nothing to average")
    return x


def _adaptive_setup(op, x, output_size):
    x = _nonempty_maps(op, x)
    out_h, out_w = int_tuple(op, "output_size", output_size, 2, 1)
    return x, _adaptive_bins(x.shape[2], out_h), _adaptive_bins(x.shape[3], out_w)


def adaptive_avg_pool2d(x, output_size):
    """Average pooling to a fixed output size, as torch.nn.functional.adaptive_avg_pool2d.

    ``output_size=1`` is global average pooling (GoogLeNet and ResNet use it instead of big FC layers).

    >>> adaptive_avg_pool2d(np.arange(8.0).reshape(1, 2, 2, 2), 1)[:, :, 0, 0]
    array([[1.5, 5.5]])
    """
    x, rows, cols = _adaptive_setup("adaptive_avg_pool2d", x, output_size)
    out = np.empty(x.shape[:2] + (len(rows), len(cols)), dtype=x.dtype)
    for p, (r0, r1) in enumerate(rows):
        for q, (c0, c1) in enumerate(cols):
            out[:, :, p, q] = x[:, :, r0:r1, c0:c1].mean(axis=(2, 3))
    return out


def adaptive_avg_pool2d_backward(grad_out, x, output_size):
    """Gradient of `adaptive_avg_pool2d`: each bin's error spread evenly over the bin."""
    x, rows, cols = _adaptive_setup("adaptive_avg_pool2d_backward", x, output_size)
    grad_out = _check_grad("adaptive_avg_pool2d_backward", grad_out,
                           PoolWindow(x.shape, x.dtype, None, None, None, x.shape[:2] + (len(rows), len(cols)), None))
    grad_x = np.zeros_like(x)
    for p, (r0, r1) in enumerate(rows):
        for q, (c0, c1) in enumerate(cols):
            grad_x[:, :, r0:r1, c0:c1] += grad_out[:, :, p, q, None, None] / ((r1 - r0) * (c1 - c0))
    return grad_x


def global_avg_pool2d(x):
    """Mean of every feature map: (N, C, H, W) -> (N, C), ready for a classifier without big FC layers."""
    x = _nonempty_maps("global_avg_pool2d", x)
    return x.mean(axis=(2, 3))


def global_avg_pool2d_backward(grad_out, x):
    """Gradient of `global_avg_pool2d`: grad_out[n, c] / (H*W) on every cell of map (n, c)."""
    x = _nonempty_maps("global_avg_pool2d_backward", x)
    grad_out = _check_grad("global_avg_pool2d_backward", grad_out, PoolWindow(x.shape, x.dtype, None, None, None,
                                                                               x.shape[:2], None))
    return np.broadcast_to(grad_out[:, :, None, None] / (x.shape[2] * x.shape[3]), x.shape).copy()
