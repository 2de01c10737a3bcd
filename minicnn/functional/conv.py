r"""Convolution: forward and backward, batched (PyTorch layout) and single-signal.

Batched ops follow ``torch.nn.functional``: they compute the *cross-correlation*

.. math::

    Y[n, k, p, q] = b[k] + \sum_{c=0}^{C/g-1} \sum_{i,j} W[k, c, i, j]\,
                    X_{pad}[n, gC/g + c,\; pS_h + iD_h,\; qS_w + jD_w]

with x of shape (N, C, H, W), weight (K, C/groups, kH, kW), bias (K,), and
output size ``floor((H + 2P - D(kH - 1) - 1) / S) + 1`` per spatial dimension.

`convolve` and `correlate` work on one signal or one image (1-D or 2-D arrays)
and follow numpy.convolve / scipy.signal, with the three modes of the course:
narrow (``'valid'``), wide (``'full'``) and equal-width (``'same'``).
"""
from collections import namedtuple
import numbers

import numpy as np

from minicnn.functional._checks import as_float_array, check_bool, check_int, expect_ndim, int_tuple, same_dtype
from minicnn.functional._matmul import matmul_nt
from minicnn.functional._threads import threads_for
from minicnn.kernels import blas as _blas
from minicnn.kernels import conv as _kernels
from minicnn.kernels import gemm as _gemm
from minicnn.kernels.launch import run_parallel

__all__ = [
    "conv_output_size",
    "conv1d",
    "conv2d",
    "conv1d_backward",
    "conv2d_backward",
    "convolve",
    "correlate",
    "ConvPlan",
    "Convolution",
]

_Geometry = namedtuple("_Geometry", "stride dilation pad_before pad_after out_size")

_LAYOUTS = {1: ("(N, C, L)", "(K, C/groups, kL)", "(N, K, L_out)"),
            2: ("(N, C, H, W)", "(K, C/groups, kH, kW)", "(N, K, H_out, W_out)")}


def conv_output_size(input_size, kernel_size, stride=1, padding=0, dilation=1, *, exact=False):
    r"""Output length of a convolution (or a pooling) along one dimension.

    .. math:: O = \left\lfloor \frac{N - D(F - 1) - 1 + 2P}{S} \right\rfloor + 1

    With ``dilation=1`` this is the course's :math:`(N - F + 2P)/S + 1`. Every output size in
    minicnn comes from here: convolutions, pooling, the widgets and the figures.

    Parameters
    ----------
    input_size, kernel_size : int
        N and F.
    stride, padding, dilation : int
        S (>= 1), P (>= 0, zeros added on *each* side) and D (>= 1).
    exact : bool
        If False (the default, what `conv2d` and PyTorch do), round down: the
        filter simply never reaches the last few input cells. If True, refuse
        a stride that does not fit the input evenly and say why.

    Returns
    -------
    int

    Raises
    ------
    ValueError
        If the (dilated) kernel is larger than the padded input, or, with
        ``exact=True``, if the division leaves a remainder.

    Examples
    --------
    >>> conv_output_size(32, 5, stride=3)
    10
    >>> conv_output_size(32, 5, stride=2)
    14
    >>> conv_output_size(32, 5, stride=2, exact=True)
    Traceback (most recent call last):
    ...
    ValueError: stride 2 does not fit: (32 - 5 + 2*0)/2 + 1 = 14.5 is not an integer; ...
    """
    for name, value, minimum in (("input_size", input_size, 1), ("kernel_size", kernel_size, 1),
                                 ("stride", stride, 1), ("padding", padding, 0), ("dilation", dilation, 1)):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool):
            raise TypeError(f"conv_output_size: {name} must be an int, got {value!r}")
        if value < minimum:
            raise ValueError(f"conv_output_size: {name} must be >= {minimum}, got {value}")
    span = dilation * (kernel_size - 1) + 1
    padded = input_size + 2 * padding
    if span > padded:
        raise ValueError(
            f"conv_output_size: the kernel spans {span} cells (kernel_size={kernel_size}, dilation={dilation}) "
            f"but the padded input has only {padded} (input_size={input_size} + 2*padding={2 * padding})"
        )
    steps, remainder = divmod(padded - span, stride)
    if exact and remainder:
        f_text = str(kernel_size) if dilation == 1 else f"{span}"
        raise ValueError(
            f"stride {stride} does not fit: ({input_size} - {f_text} + 2*{padding})/{stride} + 1 = "
            f"{(padded - span) / stride + 1:g} is not an integer; choose a stride that divides "
            f"{padded - span}, or change the padding (conv2d itself rounds down to {steps + 1})"
        )
    return steps + 1


# ---------------------------------------------------------------------------------------------------- the plan
# Every route computes the same sums as `minicnn.reference.conv2d`; they differ in how memory is read.
# The thresholds were measured on LeNet-5, ResNet and VGG layers (benchmarks/run.py).
_SHIFTED_PRODUCTS_MIN_CHANNELS = 16  # stride-1 products per tap need this many channels to sum over
_FULL_CORRELATION_MIN_CHANNELS = 9  # the stride-1 input gradient by full correlation from this many channels
_DIRECT_MAX_TAPS = 64  # stride-1 filters with at most this many taps (C/groups*kH*kW) skip unfolding
_FULL_CORRELATION_WASTE = 2.0  # the input may have up to this many times the output's cells

FORWARD_ROUTES = {
    "matrix product": "the one window is the whole padded input (LeNet-5's C5), so Y = X W^T",
    "shifted planes": "stride 1 and few taps per filter (LeNet-5's C1): one multiply-add per tap over the "
                      "shifted input plane, no unfolding",
    "shifted products": "stride 1 and many channels: one BLAS product per tap, of the weights with the "
                        "shifted input planes read where they lie (implicit GEMM), no windows copied",
    "windows copied": "windows copied out in cache-sized slabs (im2col), shared by many filters, then one "
                      "matrix product per slab",
    "depthwise": "one filter per channel (groups = C = K > 1, MobileNet/EfficientNet): each output plane is "
                 "the kH*kW taps of its own input plane, added tap by tap; nothing to share, so nothing copied",
}
GRAD_INPUT_ROUTES = {
    "matrix product": "the one window is the whole padded input: dX = delta W",
    "full correlation": "stride 1: the wide correlation of delta with the flipped kernels, run by the forward "
                        "kernel (chapter 6's formula)",
    "folding": "any stride: each window's gradient W^T delta added back onto the cells it read (col2im)",
    "depthwise": "one filter per channel: each output cell's error times the filter added back onto its window, "
                 "plane by plane",
}


class ConvPlan(namedtuple("ConvPlan", "forward grad_input reason")):
    """Which route computes `conv2d`'s forward pass and its input gradient, and why.

    ``forward`` is a key of `FORWARD_ROUTES`, ``grad_input`` a key of `GRAD_INPUT_ROUTES`
    (None when the input gradient is not needed). The weight gradient unfolds columns of the
    input and multiplies them by delta, except on the "depthwise" route, which sums each tap's
    products plane by plane.
    """


def _plan(x_shape, w_shape, geo, groups):
    """Choose the routes from the shapes alone (never from the values: NaN and inf go every route's way)."""
    n_channels, height, width = x_shape[1:]
    n_out, c_per_group, k_h, k_w = w_shape
    taps = c_per_group * k_h * k_w
    padded = (height + geo.pad_before[0] + geo.pad_after[0], width + geo.pad_before[1] + geo.pad_after[1])
    if groups == 1 and geo.dilation == (1, 1) and padded == (k_h, k_w):
        return ConvPlan("matrix product", "matrix product", "one window covers the whole padded input")
    if groups > 1 and c_per_group == 1 and n_out == groups:
        # kH*kW taps per output and no filter shared between channels: unfolding copies each window to use
        # it once, and a (1 x taps) matrix product per channel is mostly overhead: on EfficientNet-Lite0's
        # stride-2 layers the other routes were 5-9x slower than this one, and 10-20x slower than the 1x1
        # convolutions around them
        return ConvPlan("depthwise", "depthwise", f"groups = C = K = {groups}: one {k_h}x{k_w} filter per channel")
    if geo.stride == (1, 1) and taps <= _DIRECT_MAX_TAPS:
        forward, why = "shifted planes", f"stride 1 and {taps} <= {_DIRECT_MAX_TAPS} taps per filter"
    elif geo.stride == (1, 1) and c_per_group >= _SHIFTED_PRODUCTS_MIN_CHANNELS and _blas.available():
        forward, why = "shifted products", f"stride 1 and {c_per_group} channels per group to sum over"
    else:
        forward, why = "windows copied", f"{n_out} filters share each copied window"
    grad_input, why_grad = "folding", "stride > 1" if geo.stride != (1, 1) else "the full correlation does not apply"
    if geo.stride == (1, 1) and _full_correlation_padding(w_shape, geo) is not None:
        if height * width > _FULL_CORRELATION_WASTE * geo.out_size[0] * geo.out_size[1]:
            why_grad = "the output is much smaller than the input (mostly products with zeros)"
        elif n_channels < _FULL_CORRELATION_MIN_CHANNELS:
            # the full correlation would be a convolution with only C filters: on LeNet-5's C3 (C = 6) the
            # folding route's one product per window was 25% faster
            why_grad = f"only {n_channels} input channels to correlate delta into"
        else:
            grad_input, why_grad = "full correlation", "stride 1 and an output about as large as the input"
    return ConvPlan(forward, grad_input, f"forward: {why}; input gradient: {why_grad}")


def _full_correlation_padding(w_shape, geo):
    """Padding of delta for dX as a full correlation: D(F - 1) minus the forward padding, per side (None if < 0)."""
    (k_h, k_w), (d_h, d_w) = w_shape[2:], geo.dilation
    (top, left), (bottom, right) = geo.pad_before, geo.pad_after
    before = ((k_h - 1) * d_h - top, (k_w - 1) * d_w - left)
    after = ((k_h - 1) * d_h - bottom, (k_w - 1) * d_w - right)
    return None if min(before + after) < 0 else (before, after)


# ---------------------------------------------------------------------------------------------- checking once
class Convolution:
    """One convolution's inputs, checked once, with its geometry and its `ConvPlan`.

    `conv2d` and `conv2d_backward` build one and call `forward` or `backward`; `minicnn.nn.Conv2d`
    keeps the one its forward built, so its backward neither checks nor plans again (CS231n's cache).

    Parameters
    ----------
    op : str
        The name errors are reported under.
    spatial : {1, 2}
        conv1d or conv2d (1-D runs through the 2-D kernels with H = 1).
    x, weight, bias, stride, padding, dilation, groups
        As in `conv2d`.

    Examples
    --------
    >>> conv = Convolution("conv2d", 2, np.ones((1, 1, 28, 28)), np.ones((6, 1, 5, 5)))
    >>> conv.plan.forward, conv.out_shape
    ('shifted planes', (1, 6, 24, 24))
    """

    def __init__(self, op, spatial, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        self.op, self.spatial = op, spatial
        x_layout, w_layout, _ = _LAYOUTS[spatial]
        x = as_float_array(op, "x", x)
        weight = as_float_array(op, "weight", weight)
        if bias is not None:
            bias = as_float_array(op, "bias", bias)
        same_dtype(op, x=x, weight=weight, bias=bias)
        expect_ndim(op, "x", x, spatial + 2, x_layout)
        expect_ndim(op, "weight", weight, spatial + 2, w_layout)
        groups = check_int(op, "groups", groups, 1)
        n_in, n_out, c_per_group = x.shape[1], weight.shape[0], weight.shape[1]
        kernel = weight.shape[2:]
        if n_out == 0 or c_per_group == 0 or 0 in kernel:
            raise ValueError(f"{op}: weight {weight.shape} {w_layout} has a dimension of size 0; every filter "
                             f"needs at least one channel and one tap, and there must be at least one filter")
        if n_in % groups or n_out % groups:
            raise ValueError(
                f"{op}: groups={groups} must divide both the input channels ({n_in}, from x {x.shape}) "
                f"and the output channels ({n_out}, from weight {weight.shape})"
            )
        if c_per_group * groups != n_in:
            raise ValueError(
                f"{op}: x {x.shape} has {n_in} channels, but weight {weight.shape} with groups={groups} "
                f"expects {c_per_group} per group, i.e. {c_per_group * groups} input channels "
                f"(the filter depth must equal the input depth)"
            )
        if bias is not None and bias.shape != (n_out,):
            raise ValueError(f"{op}: bias must have shape ({n_out},), one per filter of weight {weight.shape}; "
                             f"got {bias.shape}")
        if 0 in x.shape[2:]:
            raise ValueError(f"{op}: x {x.shape} {x_layout} has a spatial dimension of size 0")
        self.geometry = _geometry(op, spatial, x.shape, weight.shape, stride, padding, dilation)
        self.out_shape = (x.shape[0], n_out) + self.geometry.out_size[2 - spatial:]
        if spatial == 1:  # run 1-D through the 2-D kernels with H = 1
            x, weight = x[:, :, None, :], weight[:, :, None, :]
        self.x, self.weight, self.bias, self.groups = np.ascontiguousarray(x), np.ascontiguousarray(weight), bias, groups
        self.plan = _plan(self.x.shape, self.weight.shape, self.geometry, groups)

    def forward(self):
        """The output, shape (N, K, H_out, W_out) (or (N, K, L_out) for conv1d)."""
        x4, w4, geo = self.x, self.weight, self.geometry
        n_batch, n_out = x4.shape[0], w4.shape[0]
        bias = np.zeros(n_out, x4.dtype) if self.bias is None else np.ascontiguousarray(self.bias)
        with threads_for(n_batch * n_out * geo.out_size[0] * geo.out_size[1] * w4[0].size):
            out = _FORWARD[self.plan.forward](x4, w4, bias, geo, self.groups)
        out = out.reshape((n_batch, n_out) + geo.out_size)
        return out[:, :, 0, :] if self.spatial == 1 else out

    def backward(self, grad_out, input_grad=True):
        """(dL/dx or None, dL/dweight, dL/dbias) for the upstream gradient ``grad_out`` of the output's shape."""
        op, x4, w4, geo = self.op, self.x, self.weight, self.geometry
        input_grad = check_bool(op, "input_grad", input_grad)
        grad_out = as_float_array(op, "grad_out", grad_out)
        same_dtype(op, grad_out=grad_out, x=x4)
        if grad_out.shape != self.out_shape:
            x_shape = x4.shape[:2] + x4.shape[4 - self.spatial:]
            raise ValueError(
                f"{op}: grad_out must have the forward output's shape {_LAYOUTS[self.spatial][2]} = "
                f"{self.out_shape} for x {x_shape} and weight {w4.shape[:2] + w4.shape[4 - self.spatial:]}; "
                f"got {grad_out.shape}"
            )
        n_batch, n_out = x4.shape[0], w4.shape[0]
        grad = np.ascontiguousarray(grad_out).reshape(n_batch, n_out, geo.out_size[0] * geo.out_size[1])
        grad_b = grad.sum(axis=(0, 2), dtype=np.float64).astype(x4.dtype)
        with threads_for(grad.size * w4[0].size):
            grad_x = _GRAD_INPUT[self.plan.grad_input](grad, w4, x4.shape, geo, self.groups) if input_grad else None
            if self.plan.forward == "matrix product":
                grad_w = matmul_nt(grad.reshape(n_batch, n_out).T, _pad(x4, geo).reshape(n_batch, w4[0].size).T)
            elif self.plan.forward == "depthwise":
                grad_w = np.empty(w4.shape, dtype=x4.dtype)
                run_parallel(_kernels.depthwise_backward_weight, grad.reshape((n_batch, n_out) + geo.out_size),
                             _pad(x4, geo), grad_w, *geo.stride, *geo.dilation)
            else:
                grad_w = _kernels.conv2d_backward_weight(_blas.gemm_for(x4.dtype), grad, _pad(x4, geo), w4.shape[2:],
                                                         geo.out_size, geo.stride, geo.dilation, self.groups)
        grad_w = grad_w.reshape(w4.shape)
        if self.spatial == 1:
            grad_w = grad_w[:, :, 0, :]
            grad_x = None if grad_x is None else grad_x[:, :, 0, :]
        return None if grad_x is None else np.ascontiguousarray(grad_x), grad_w, grad_b


def _geometry(op, spatial, x_shape, w_shape, stride, padding, dilation):
    """Strides, dilations, padding before/after and output size, as 2-D tuples (1-D gets H = 1)."""
    stride = int_tuple(op, "stride", stride, spatial, 1)
    dilation = int_tuple(op, "dilation", dilation, spatial, 1)
    kernel = w_shape[2:]
    if isinstance(padding, str):
        if padding == "valid":
            before = after = (0,) * spatial
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{op}: padding='same' needs stride 1 (as in PyTorch), got stride={stride}")
            total = [d * (k - 1) for d, k in zip(dilation, kernel)]
            # PyTorch puts the odd extra zero of an even kernel at the end.
            before = tuple(t // 2 for t in total)
            after = tuple(t - t // 2 for t in total)
        else:
            raise ValueError(f"{op}: padding must be an int, a tuple of ints, 'valid' or 'same'; got {padding!r}")
    else:
        before = after = int_tuple(op, "padding", padding, spatial, 0)
    out_size = []
    for dim, (size, k, s, d, pb, pa) in enumerate(zip(x_shape[2:], kernel, stride, dilation, before, after)):
        span = d * (k - 1) + 1
        if span > size + pb + pa:
            raise ValueError(
                f"{op}: kernel {tuple(kernel)} with dilation {dilation} spans {span} cells in spatial dimension "
                f"{dim}, larger than the padded input ({size} + {pb + pa} padding = {size + pb + pa}); "
                f"x {x_shape}, weight {w_shape}"
            )
        out_size.append(conv_output_size(size + pb + pa, k, s, 0, d))
    if spatial == 1:
        stride, dilation = (1,) + stride, (1,) + dilation
        before, after, out_size = (0,) + before, (0,) + after, [1] + out_size
    return _Geometry(stride, dilation, before, after, tuple(out_size))


# --------------------------------------------------------------------------- memory layouts the kernels read
def _pad(x, geometry):
    """x with zeros around its spatial dimensions (np.pad does the same, several times slower for small arrays)."""
    if not any(geometry.pad_before + geometry.pad_after):
        return x
    (top, left), (bottom, right) = geometry.pad_before, geometry.pad_after
    n, c, h, w = x.shape
    xp = np.zeros((n, c, h + top + bottom, w + left + right), dtype=x.dtype)
    xp[:, :, top:top + h, left:left + w] = x
    return xp


def _channels_last(x4, before, after):
    """x4 (N, C, H, W) zero-padded and laid out as (N, Hp, Wp*C): a pixel's C channels side by side."""
    (top, left), (bottom, right) = before, after
    n, c, h, w = x4.shape
    xh = np.zeros((n, h + top + bottom, (w + left + right) * c), dtype=x4.dtype)
    run_parallel(_kernels.to_channels_last, x4, top, left, xh)
    return xh


def _filters_as_tap_rows(w4):
    """Weights (K, Cg, kH, kW) as rows (K, Q') in the windows' tap order (i, j, c), zero-padded and aligned."""
    n_out, q_len = w4.shape[0], w4[0].size
    rows = _gemm.aligned_rows(n_out, q_len, w4.dtype)
    rows[:, :q_len] = w4.transpose(0, 2, 3, 1).reshape(n_out, q_len)
    return rows


def _flipped_filters_per_input_channel(w4, groups):
    """rot180 of every kernel, with filters and channels swapped within each group: (C, K/groups, kH, kW).

    Correlating delta with these is the wide convolution of delta with W (dL/dX for stride 1)."""
    n_out, c_per_group, k_h, k_w = w4.shape
    k_per_group = n_out // groups
    return np.ascontiguousarray(w4[:, :, ::-1, ::-1].reshape(groups, k_per_group, c_per_group, k_h, k_w)
                                .transpose(0, 2, 1, 3, 4).reshape(groups * c_per_group, k_per_group, k_h, k_w))


def _filters_as_tap_columns(w4, groups):
    """Per group, the weights transposed to (taps, filters) = (groups, Q, Kg'), zero-padded along Kg: W^T."""
    n_out, c_per_group, k_h, k_w = w4.shape
    k_per_group, q_len = n_out // groups, c_per_group * k_h * k_w
    w_t = _gemm.aligned_rows(groups * q_len, k_per_group, w4.dtype).reshape(groups, q_len, -1)
    w_t[:, :, :k_per_group] = (w4.reshape(groups, k_per_group, c_per_group, k_h, k_w).transpose(0, 3, 4, 2, 1)
                               .reshape(groups, q_len, k_per_group))
    return w_t


# -------------------------------------------------------------------------------------------------- the routes
def _forward_matrix_product(x4, w4, bias, geo, groups):
    n_batch, n_out = x4.shape[0], w4.shape[0]
    out = matmul_nt(_pad(x4, geo).reshape(n_batch, w4[0].size), w4.reshape(n_out, -1)) + bias
    return out.reshape(n_batch, n_out, 1)


def _forward_shifted_planes(x4, w4, bias, geo, groups):
    out = np.empty((x4.shape[0], w4.shape[0], geo.out_size[0] * geo.out_size[1]), dtype=x4.dtype)
    run_parallel(_kernels.conv2d_forward_direct, _pad(x4, geo), w4, bias, out, *geo.out_size, *geo.dilation, groups)
    return out


def _forward_shifted_products(x4, w4, bias, geo, groups):
    """Per tap (i, j), the (K/g, C/g) weight slice times the input planes shifted by (i*dh, j*dw)."""
    n_out, c_per_group, k_h, k_w = w4.shape
    out = np.empty((x4.shape[0], n_out, geo.out_size[0] * geo.out_size[1]), dtype=x4.dtype)
    w_taps = np.ascontiguousarray(w4.transpose(2, 3, 0, 1)).reshape(k_h * k_w, n_out, c_per_group)
    run_parallel(_kernels.conv2d_forward_shifted_products, _blas.gemm_for(x4.dtype), _pad(x4, geo), w_taps,
                 bias, out, k_h, k_w, *geo.out_size, *geo.dilation, groups)
    return out


def _forward_windows_copied(x4, w4, bias, geo, groups):
    n_out, _, k_h, k_w = w4.shape
    out = np.empty((x4.shape[0], n_out, geo.out_size[0] * geo.out_size[1]), dtype=x4.dtype)
    xh = _channels_last(x4, geo.pad_before, geo.pad_after)
    run_parallel(_kernels.conv2d_forward, _blas.gemm_for(x4.dtype), xh, x4.shape[1], _filters_as_tap_rows(w4), bias,
                 out, k_h, k_w, *geo.out_size, *geo.stride, *geo.dilation, groups)
    return out


def _forward_depthwise(x4, w4, bias, geo, groups):
    if geo.stride == (1, 1):  # one filter per group: the shifted planes, plane by plane
        return _forward_shifted_planes(x4, w4, bias, geo, groups)
    out = np.empty((x4.shape[0], w4.shape[0]) + geo.out_size, dtype=x4.dtype)
    run_parallel(_kernels.depthwise_forward, _pad(x4, geo), w4, bias, out, *geo.stride, *geo.dilation)
    return out


def _grad_input_matrix_product(grad, w4, x_shape, geo, groups):
    n_batch, n_out = grad.shape[:2]
    (top, left), (bottom, right) = geo.pad_before, geo.pad_after
    grad_xp = matmul_nt(grad.reshape(n_batch, n_out), w4.reshape(n_out, -1).T)
    grad_xp = grad_xp.reshape((n_batch, x_shape[1], x_shape[2] + top + bottom, x_shape[3] + left + right))
    return grad_xp[:, :, top:top + x_shape[2], left:left + x_shape[3]]


def _grad_input_full_correlation(grad, w4, x_shape, geo, groups):
    """dX[n, c] = sum_k delta~[n, k] (x) rot180(W[k, c]), where delta~ is delta padded by D(F - 1) minus the
    forward padding on each side, so the result has the input's size: the forward pass with other arrays."""
    before, after = _full_correlation_padding(w4.shape, geo)
    n_batch, n_out = grad.shape[:2]
    n_channels, height, width = x_shape[1:]
    delta = _Geometry((1, 1), geo.dilation, before, after, (height, width))
    w_flipped = _flipped_filters_per_input_channel(w4, groups)
    route = _plan((n_batch, n_out) + geo.out_size, w_flipped.shape, delta, groups).forward
    grad_x = _FORWARD[route](grad.reshape((n_batch, n_out) + geo.out_size), w_flipped,
                             np.zeros(n_channels, grad.dtype), delta, groups)
    return grad_x.reshape(x_shape)


def _grad_input_folding(grad, w4, x_shape, geo, groups):
    """Per window, dwin = W^T delta, added back onto the cells the window read (col2im)."""
    k_h, k_w = w4.shape[2:]
    n_batch, n_channels, height, width = x_shape
    (top, left), (bottom, right) = geo.pad_before, geo.pad_after
    grad_xh = np.zeros((n_batch, height + top + bottom, (width + left + right) * n_channels), dtype=grad.dtype)
    run_parallel(_kernels.conv2d_backward_input, _blas.gemm_for(grad.dtype), grad, _filters_as_tap_columns(w4, groups),
                 n_channels, grad_xh, k_h, k_w, *geo.out_size, *geo.stride, *geo.dilation, groups)
    grad_xh = grad_xh.reshape(n_batch, height + top + bottom, width + left + right, n_channels)
    return grad_xh[:, top:top + height, left:left + width].transpose(0, 3, 1, 2)


def _grad_input_depthwise(grad, w4, x_shape, geo, groups):
    """Per plane, each error times the filter added onto the window it came from, then the padding cut off."""
    n_batch, n_channels, height, width = x_shape
    (top, left), (bottom, right) = geo.pad_before, geo.pad_after
    grad_xp = np.zeros((n_batch, n_channels, height + top + bottom, width + left + right), dtype=grad.dtype)
    run_parallel(_kernels.depthwise_backward_input, grad.reshape((n_batch, n_channels) + geo.out_size), w4, grad_xp,
                                      *geo.stride, *geo.dilation)
    return grad_xp[:, :, top:top + height, left:left + width]


_FORWARD = {"matrix product": _forward_matrix_product, "shifted planes": _forward_shifted_planes,
            "windows copied": _forward_windows_copied, "shifted products": _forward_shifted_products,
            "depthwise": _forward_depthwise}
_GRAD_INPUT = {"matrix product": _grad_input_matrix_product, "full correlation": _grad_input_full_correlation,
               "folding": _grad_input_folding, "depthwise": _grad_input_depthwise}


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    r"""2-D convolution (cross-correlation) over a batch of multi-channel images, as torch.nn.functional.conv2d.

    .. math::

        Y[n, k] = b_k + \sum_{c} W[k, c] \otimes X[n, c]

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), float32 or float64
    weight : ndarray, shape (K, C/groups, kH, kW), same dtype as x
    bias : ndarray, shape (K,), optional
    stride, dilation : int or (int, int), >= 1
    padding : int, (int, int), 'valid' or 'same'
        Zeros added on each side. 'same' (stride 1 only) keeps H and W; for an
        even kernel the extra zero goes at the bottom/right, as in PyTorch.
    groups : int
        Split the channels into `groups` independent convolutions (AlexNet's two GPUs).

    Returns
    -------
    ndarray, shape (N, K, H_out, W_out), dtype of x
        ``H_out = floor((H + 2P - D(kH - 1) - 1) / S) + 1``, see `conv_output_size`.

    Notes
    -----
    `minicnn.reference.conv2d` computes the formula above with four plain loops; read it first.
    This function computes the same sums by one of five routes, chosen from the shapes alone
    (`ConvPlan`, see `FORWARD_ROUTES`): a matrix product when one window covers the whole input,
    shifted planes for stride 1 with few taps, one BLAS product per tap on the shifted input
    ("shifted products") for stride 1 with many channels, a plane-by-plane loop for depthwise
    filters, windows copied out (im2col) otherwise. ``Convolution("conv2d", 2, x, weight, ...).plan``
    tells which runs and why; the tests force each route and compare it with the reference.

    Examples
    --------
    >>> x = np.ones((1, 3, 32, 32), np.float32)
    >>> w = np.ones((6, 3, 5, 5), np.float32)
    >>> conv2d(x, w).shape
    (1, 6, 28, 28)
    >>> float(conv2d(x, w)[0, 0, 0, 0])   # 5*5*3 ones
    75.0
    """
    return Convolution("conv2d", 2, x, weight, bias, stride, padding, dilation, groups).forward()


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    r"""1-D convolution (cross-correlation) over a batch of multi-channel signals, as torch.nn.functional.conv1d.

    .. math::

        Y[n, k, t] = b_k + \sum_{c} \sum_{i} W[k, c, i]\, X_{pad}[n, c, tS + iD]

    Parameters
    ----------
    x : ndarray, shape (N, C, L), float32 or float64
    weight : ndarray, shape (K, C/groups, kL), same dtype as x
    bias : ndarray, shape (K,), optional
    stride, padding, dilation, groups
        As in `conv2d`, with ints or 1-tuples.

    Returns
    -------
    ndarray, shape (N, K, L_out)

    Examples
    --------
    >>> x = np.arange(5.0).reshape(1, 1, 5)
    >>> conv1d(x, np.array([[[1.0, 0.0, -1.0]]]))
    array([[[-2., -2., -2.]]])
    """
    return Convolution("conv1d", 1, x, weight, bias, stride, padding, dilation, groups).forward()


def conv2d_backward(grad_out, x, weight, stride=1, padding=0, dilation=1, groups=1, input_grad=True):
    r"""Gradients of `conv2d` given the upstream gradient ``grad_out`` = dL/dY (the error term delta).

    .. math::

        \frac{\partial L}{\partial W[k, c]} = \sum_n X[n, c] \otimes \delta[n, k], \qquad
        \frac{\partial L}{\partial X[n, c]} = \sum_k \operatorname{rot180}(W[k, c]) \,\tilde{\otimes}\, \delta[n, k],
        \qquad \frac{\partial L}{\partial b_k} = \sum_{n,p,q} \delta[n, k, p, q]

    where :math:`\otimes` is cross-correlation and :math:`\tilde{\otimes}` its wide (fully zero-padded)
    version, which with the rotated kernel is the wide *convolution* of delta with W; strides and
    dilations spread delta out before it is applied.

    Parameters
    ----------
    grad_out : ndarray, shape (N, K, H_out, W_out)
    x, weight, stride, padding, dilation, groups
        Exactly as passed to `conv2d`.
    input_grad : bool
        If False, skip dL/dX and return None in its place: a network's first
        layer does not need it (PyTorch skips it when the input does not require grad).

    Returns
    -------
    grad_x : ndarray, shape of x (None if ``input_grad`` is False)
    grad_weight : ndarray, shape of weight
    grad_bias : ndarray, shape (K,)

    Examples
    --------
    >>> x = np.ones((2, 1, 4, 4)); w = np.ones((1, 1, 3, 3))
    >>> gx, gw, gb = conv2d_backward(np.ones((2, 1, 2, 2)), x, w)
    >>> gb, gw[0, 0, 0, 0], gx[0, 0, 0, 0], gx[0, 0, 1, 1]
    (array([8.]), np.float64(8.0), np.float64(1.0), np.float64(4.0))
    """
    conv = Convolution("conv2d_backward", 2, x, weight, None, stride, padding, dilation, groups)
    return conv.backward(grad_out, input_grad)


def conv1d_backward(grad_out, x, weight, stride=1, padding=0, dilation=1, groups=1, input_grad=True):
    r"""Gradients of `conv1d`: ``(grad_x, grad_weight, grad_bias)``; see `conv2d_backward` for the formulas.

    Parameters
    ----------
    grad_out : ndarray, shape (N, K, L_out)
    x, weight, stride, padding, dilation, groups
        Exactly as passed to `conv1d`.
    input_grad : bool
        If False, skip dL/dX and return None in its place.

    Examples
    --------
    >>> gx, gw, gb = conv1d_backward(np.ones((1, 1, 3)), np.arange(5.0).reshape(1, 1, 5), np.ones((1, 1, 3)))
    >>> gx, gw, gb
    (array([[[1., 2., 3., 2., 1.]]]), array([[[3., 6., 9.]]]), array([3.]))
    """
    conv = Convolution("conv1d_backward", 1, x, weight, None, stride, padding, dilation, groups)
    return conv.backward(grad_out, input_grad)


_MODES = {"valid": "valid", "narrow": "valid", "full": "full", "wide": "full", "same": "same", "equal-width": "same"}


def _single(op, x, kernel, mode, flip):
    x = as_float_array(op, "x", x)
    kernel = as_float_array(op, "kernel", kernel)
    if x.ndim not in (1, 2) or kernel.ndim != x.ndim:
        raise ValueError(
            f"{op}: expects one signal and a 1-D kernel, or one image and a 2-D kernel; "
            f"got x {x.shape} and kernel {kernel.shape} (use conv1d/conv2d for batches with channels)"
        )
    if mode not in _MODES:
        raise ValueError(f"{op}: mode must be one of {sorted(_MODES)}, got {mode!r}")
    mode = _MODES[mode]
    same_dtype(op, x=x, kernel=kernel)
    if flip:  # a true convolution is a cross-correlation with the kernel turned by 180 degrees
        kernel = kernel[(slice(None, None, -1),) * kernel.ndim]
    if mode == "valid":
        if any(k > n for k, n in zip(kernel.shape, x.shape)):
            raise ValueError(f"{op}: mode 'valid' (narrow) needs a kernel no larger than x; got x {x.shape}, kernel {kernel.shape}")
        pads = [(0, 0)] * x.ndim
    elif mode == "full":
        pads = [(k - 1, k - 1) for k in kernel.shape]
    else:  # scipy.signal's centring: the output is the middle len(x) samples of 'full'
        pads = [(k // 2, (k - 1) // 2) for k in kernel.shape]
    xp = np.pad(x, pads)
    expand = (None, None) + (None,) * (2 - x.ndim)
    out = Convolution(op, 2, xp[expand], kernel[expand]).forward()
    return out.reshape(out.shape[4 - x.ndim:])


def convolve(x, kernel, mode="full"):
    r"""True convolution of one signal (1-D) or one image (2-D): the kernel is flipped.

    .. math::

        y_t = \sum_{k} w_k\, x_{t-k} \quad\text{(1-D)}, \qquad
        Y_{ij} = \sum_{u,v} W_{uv}\, X_{i-u,\, j-v} \quad\text{(2-D)}

    Parameters
    ----------
    x : ndarray, 1-D or 2-D, float
    kernel : ndarray, same ndim as x
    mode : {'full', 'valid', 'same'}
        Wide (every overlap, length N + F - 1), narrow (only full overlaps,
        N - F + 1) or equal-width (length N, centred as scipy.signal does).
        The course's names 'wide', 'narrow' and 'equal-width' are accepted too.

    Returns
    -------
    ndarray
        Agrees with ``numpy.convolve`` (1-D) and ``scipy.signal.convolve2d`` (2-D).

    Examples
    --------
    >>> convolve(np.array([1.0, 1, 1, 1, 1]), np.array([1.0, -1/2, 1/4]), mode="valid")
    array([0.75, 0.75, 0.75])
    """
    return _single("convolve", x, kernel, mode, flip=True)


def correlate(x, kernel, mode="full"):
    r"""Cross-correlation of one signal or image: the kernel slides *without* flipping.

    .. math::

        Y_{ij} = \sum_{u,v} W_{uv}\, X_{i+u,\, j+v}

    This is what deep-learning libraries call convolution. Modes as in `convolve`;
    agrees with ``scipy.signal.correlate`` in every mode, and with ``scipy.signal.correlate2d`` except
    in mode 'same' with an even kernel size, where correlate2d centres the window differently.

    Examples
    --------
    >>> correlate(np.array([1.0, 2, 3, 4]), np.array([1.0, 0, -1]), mode="valid")
    array([-2., -2.])
    """
    return _single("correlate", x, kernel, mode, flip=False)
