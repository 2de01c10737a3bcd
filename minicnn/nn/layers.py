"""Layers: thin stateful wrappers over `minicnn.functional`, with PyTorch's constructors and parameter names.

Every layer is written the same way: the constructor checks and normalizes its settings (as
``torch.nn`` does: a bad setting fails where it is written, not at the first forward), ``forward``
calls the functional op and saves what backward needs, ``backward`` calls the op's backward on what
was saved. Parameters are float32 by default (cast a whole network with ``.double()``) and are
initialised as PyTorch does, from minicnn's global generator (`minicnn.random.manual_seed`).
"""
import numpy as np

from minicnn import functional as F
from minicnn import init
from minicnn.functional import normalization as _normalization
from minicnn.functional import pooling as _pooling
from minicnn.functional._checks import check_bool, check_int, check_real, check_rng, int_tuple
from minicnn.functional.conv import Convolution
from minicnn.nn.module import Module, Parameter

__all__ = ["Conv1d", "Conv2d", "Linear", "MaxPool2d", "AvgPool2d", "LPPool2d", "AdaptiveAvgPool2d", "BatchNorm1d",
           "BatchNorm2d", "Dropout", "Dropout2d", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Flatten", "LocalResponseNorm",
           "ReLU6", "ZeroPad2d"]


def _default_init(weight, bias, fan_in):
    """PyTorch's default for Conv and Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias."""
    init.kaiming_uniform_(weight, a=np.sqrt(5))
    if bias is not None:
        bound = 1 / np.sqrt(fan_in) if fan_in > 0 else 0
        init.uniform_(bias, -bound, bound)


def _data(param):
    return None if param is None else param.data


# ------------------------------------------------------------------------------------------------ convolution
class _ConvNd(Module):
    _spatial = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros"):
        super().__init__()
        name, n = type(self).__name__, self._spatial
        if padding_mode != "zeros":
            raise ValueError(f"{name}: padding_mode={padding_mode!r} is not implemented; minicnn pads with zeros "
                             f"(padding_mode='zeros', PyTorch's default)")
        in_channels = check_int(name, "in_channels", in_channels, 1)
        out_channels = check_int(name, "out_channels", out_channels, 1)
        groups = check_int(name, "groups", groups, 1)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: groups={groups} must divide in_channels={in_channels} and "
                             f"out_channels={out_channels}")
        self.kernel_size = int_tuple(name, "kernel_size", kernel_size, n, 1)
        self.stride = int_tuple(name, "stride", stride, n, 1)
        self.dilation = int_tuple(name, "dilation", dilation, n, 1)
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(f"{name}: padding must be an int, a tuple of ints, 'valid' or 'same'; got {padding!r}")
            if padding == "same" and self.stride != (1,) * n:
                raise ValueError(f"{name}: padding='same' needs stride 1 (as in PyTorch), got stride={self.stride}")
            self.padding = padding
        else:
            self.padding = int_tuple(name, "padding", padding, n, 0)
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        check_bool(name, "bias", bias)
        self.weight = Parameter(np.empty((out_channels, in_channels // groups) + self.kernel_size, np.float32))
        self.bias = Parameter(np.empty(out_channels, np.float32)) if bias else None
        _default_init(self.weight, self.bias, in_channels // groups * int(np.prod(self.kernel_size)))

    def forward(self, x):
        conv = Convolution(type(self).__name__, self._spatial, x, self.weight.data, _data(self.bias),
                           self.stride, self.padding, self.dilation, self.groups)
        self._save(conv=conv)
        return conv.forward()

    def backward(self, grad_out, input_grad=True):
        """Add dL/dW and dL/db to the parameters' gradients; return dL/dx, or None with ``input_grad=False``
        (saves time in a network's first layer, whose input gradient nobody uses)."""
        grad_x, grad_w, grad_b = self._saved("conv").backward(grad_out, input_grad)
        self.weight.accumulate(grad_w)
        if self.bias is not None:
            self.bias.accumulate(grad_b)
        return grad_x

    def extra_repr(self):
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        for name, default in (("padding", (0,) * self._spatial), ("dilation", (1,) * self._spatial), ("groups", 1)):
            if getattr(self, name) != default:
                text += f", {name}={getattr(self, name)}"
        return text + ("" if self.bias is not None else ", bias=False")


class Conv1d(_ConvNd):
    """1-D convolution layer: x (N, C_in, L) -> (N, C_out, L_out); weight (C_out, C_in/groups, k).

    >>> Conv1d(1, 4, 3, padding=1)
    Conv1d(1, 4, kernel_size=(3,), stride=(1,), padding=(1,))
    """

    _spatial = 1


class Conv2d(_ConvNd):
    """2-D convolution layer: x (N, C_in, H, W) -> (N, C_out, H_out, W_out); weight (C_out, C_in/groups, kH, kW).

    Parameters: out_channels * (in_channels/groups * kH * kW) + out_channels (with bias).

    >>> conv = Conv2d(3, 6, 5)
    >>> conv.weight.shape, sum(p.data.size for p in conv.parameters())
    ((6, 3, 5, 5), 456)
    """


class Linear(Module):
    """Fully connected layer: x (N, in_features) -> (N, out_features); weight (out_features, in_features).

    >>> Linear(400, 120)
    Linear(in_features=400, out_features=120, bias=True)
    """

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features = check_int("Linear", "in_features", in_features, 1)
        self.out_features = check_int("Linear", "out_features", out_features, 1)
        check_bool("Linear", "bias", bias)
        self.weight = Parameter(np.empty((out_features, in_features), np.float32))
        self.bias = Parameter(np.empty(out_features, np.float32)) if bias else None
        _default_init(self.weight, self.bias, in_features)

    def forward(self, x):
        self._save(x=x)
        return F.linear(x, self.weight.data, _data(self.bias))

    def backward(self, grad_out, input_grad=True):
        grad_x, grad_w, grad_b = F.linear_backward(grad_out, self._saved("x"), self.weight.data)
        self.weight.accumulate(grad_w)
        if self.bias is not None:
            self.bias.accumulate(grad_b)
        return grad_x

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


# ---------------------------------------------------------------------------------------------------- pooling
class _Pool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        name = type(self).__name__
        self.kernel_size = int_tuple(name, "kernel_size", kernel_size, 2, 1)
        self.stride = self.kernel_size if stride is None else int_tuple(name, "stride", stride, 2, 1)
        self.padding = int_tuple(name, "padding", padding, 2, 0)
        if any(2 * p > k for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(f"{name}: padding {self.padding} must be at most half of kernel_size "
                             f"{self.kernel_size} (as in PyTorch)")

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """Max pooling over F x F windows (default stride F): keeps the strongest response of each window.

    ``ceil_mode=True`` (keyword only; PyTorch's fourth argument is ``dilation``) rounds the output size up,
    as GoogLeNet's pools do: a last window may overhang the input (`functional.pooling.pool_output_size`).
    Forward remembers where each maximum was, so backward only routes the errors there.

    >>> MaxPool2d(2)
    MaxPool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))
    >>> MaxPool2d(3, stride=2, ceil_mode=True)(np.zeros((1, 1, 112, 112), np.float32)).shape  # floor gives 55
    (1, 1, 56, 56)
    """

    def __init__(self, kernel_size, stride=None, padding=0, *, ceil_mode=False):
        super().__init__(kernel_size, stride, padding)
        self.ceil_mode = check_bool("MaxPool2d", "ceil_mode", ceil_mode)

    def forward(self, x):
        x, window = _pooling.pool_window("MaxPool2d", x, self.kernel_size, self.stride, self.padding, self.ceil_mode)
        out, indices = _pooling.max_pool2d_checked(x, window)
        self._save(window=window, indices=indices)
        return out

    def backward(self, grad_out, input_grad=True):
        window, indices = self._saved("window", "indices")
        return _pooling.scatter_to_indices("MaxPool2d.backward", grad_out, indices, window)

    def extra_repr(self):
        return super().extra_repr() + (", ceil_mode=True" if self.ceil_mode else "")


class AvgPool2d(_Pool2d):
    """Average pooling over F x F windows (default stride F); padded zeros are counted, as in PyTorch."""

    def forward(self, x):
        x, window = _pooling.pool_window("AvgPool2d", x, self.kernel_size, self.stride, self.padding)
        self._save(window=window)
        return _pooling.avg_pool2d_checked(x, window)

    def backward(self, grad_out, input_grad=True):
        return _pooling.avg_pool2d_backward_checked("AvgPool2d.backward", grad_out, self._saved("window"))


class LPPool2d(Module):
    """Power-average pooling :math:`(\\sum x^p)^{1/p}`; ``norm_type=2`` is L2 pooling."""

    def __init__(self, norm_type, kernel_size, stride=None):
        super().__init__()
        self.norm_type = check_real("LPPool2d", "norm_type", norm_type, low=0, low_open=True)
        self.kernel_size = int_tuple("LPPool2d", "kernel_size", kernel_size, 2, 1)
        self.stride = self.kernel_size if stride is None else int_tuple("LPPool2d", "stride", stride, 2, 1)

    def forward(self, x):
        x, window = _pooling.pool_window("LPPool2d", x, self.kernel_size, self.stride, 0)
        y = _pooling.lp_pool2d_checked(x, window, self.norm_type)
        self._save(x=x, y=y, window=window)
        return y

    def backward(self, grad_out, input_grad=True):
        x, y, window = self._saved("x", "y", "window")
        return _pooling.lp_pool2d_backward_checked("LPPool2d.backward", grad_out, x, y, window, self.norm_type)

    def extra_repr(self):
        return f"norm_type={self.norm_type:g}, kernel_size={self.kernel_size}, stride={self.stride}"


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size; ``AdaptiveAvgPool2d(1)`` is global average pooling."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = int_tuple("AdaptiveAvgPool2d", "output_size", output_size, 2, 1)

    def forward(self, x):
        self._save(x=x)
        return F.adaptive_avg_pool2d(x, self.output_size)

    def backward(self, grad_out, input_grad=True):
        return F.adaptive_avg_pool2d_backward(grad_out, self._saved("x"), self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


# ------------------------------------------------------------------------------------------- normalization
class _BatchNorm(Module):
    _ndims = (2, 4)

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
        super().__init__()
        name = type(self).__name__
        self.num_features = check_int(name, "num_features", num_features, 1)
        self.eps = check_real(name, "eps", eps, low=0)
        # momentum=None: running statistics are the cumulative average of every batch so far (PyTorch's rule)
        self.momentum = None if momentum is None else check_real(name, "momentum", momentum, low=0, high=1)
        self.affine = check_bool(name, "affine", affine)
        self.track_running_stats = check_bool(name, "track_running_stats", track_running_stats)
        self.weight = Parameter(np.ones(num_features, np.float32)) if affine else None
        self.bias = Parameter(np.zeros(num_features, np.float32)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, np.float32))
            self.register_buffer("running_var", np.ones(num_features, np.float32))
            self.register_buffer("num_batches_tracked", np.array(0, np.int64))
        else:
            self.running_mean = self.running_var = None

    def forward(self, x):
        name = type(self).__name__
        x = np.asarray(x)
        if x.ndim not in self._ndims:
            raise ValueError(f"{name}: expected x with {' or '.join(map(str, self._ndims))} "
                             f"dimensions, got shape {x.shape}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{name}({self.num_features}): x {x.shape} has {x.shape[1]} channels")
        use_batch_stats = self.training or self.running_mean is None
        momentum = self.momentum
        if self.training and self.running_mean is not None:
            self.num_batches_tracked += 1
            if momentum is None:
                momentum = 1.0 / float(self.num_batches_tracked)
        y, stats = _normalization.batch_norm_with_stats(name, x, self.running_mean, self.running_var,
                                                        _data(self.weight), _data(self.bias), use_batch_stats,
                                                        0.0 if momentum is None else momentum, self.eps)
        self._save(x=x, stats=stats, use_batch_stats=use_batch_stats)
        return y

    def backward(self, grad_out, input_grad=True):
        x, stats, use_batch_stats = self._saved("x", "stats", "use_batch_stats")
        grad_x, grad_w, grad_b = _normalization.batch_norm_backward_with_stats(
            f"{type(self).__name__}.backward", grad_out, x, _data(self.weight), stats, use_batch_stats)
        if self.weight is not None:
            self.weight.accumulate(grad_w)
            self.bias.accumulate(grad_b)
        return grad_x

    def extra_repr(self):
        text = f"{self.num_features}, eps={self.eps:g}, momentum={self.momentum}"
        if not self.affine:
            text += ", affine=False"
        return text + ("" if self.track_running_stats else ", track_running_stats=False")


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L): statistics per feature/channel over the batch (and length)."""

    _ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W): statistics per channel over the batch and all positions."""

    _ndims = (4,)


class LocalResponseNorm(Module):
    """AlexNet's normalization across `size` neighbouring channels (see `functional.local_response_norm`)."""

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.size = check_int("LocalResponseNorm", "size", size, 1)
        self.alpha = check_real("LocalResponseNorm", "alpha", alpha, low=0)
        self.beta = check_real("LocalResponseNorm", "beta", beta, low=0)
        self.k = check_real("LocalResponseNorm", "k", k, low=0)

    def forward(self, x):
        self._save(x=x)
        return F.local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def backward(self, grad_out, input_grad=True):
        return F.local_response_norm_backward(grad_out, self._saved("x"), self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha:g}, beta={self.beta:g}, k={self.k:g}"


class Dropout(Module):
    """Inverted dropout: in training drop units with probability p and scale the rest by 1/(1-p); identity in eval.

    ``rng``: a numpy Generator for the masks, or None for minicnn's global generator.

    >>> Dropout(0.5)
    Dropout(p=0.5)
    """

    _dropout, _dropout_backward = staticmethod(F.dropout), staticmethod(F.dropout_backward)  # Dropout2d: its pair

    def __init__(self, p=0.5, rng=None):
        super().__init__()
        self.p = check_real(type(self).__name__, "p", p, low=0, high=1, high_open=True)
        self.rng = check_rng(type(self).__name__, "rng", rng)

    def forward(self, x):
        y, mask = self._dropout(x, self.p, self.training, self.rng)
        self._save(mask=mask, shape=np.shape(x))
        return y

    def backward(self, grad_out, input_grad=True):
        mask, shape = self._saved("mask", "shape")
        if np.shape(grad_out) != shape:
            raise ValueError(f"{type(self).__name__}.backward: grad_out {np.shape(grad_out)} must have the "
                             f"input's shape {shape}")
        return self._dropout_backward(grad_out, mask)

    def extra_repr(self):
        return f"p={self.p:g}"


class Dropout2d(Dropout):
    """Spatial dropout: in training drop whole feature maps (one coin per example and channel) with probability p
    and scale the kept maps by 1/(1-p); identity in eval. Input (N, C, H, W).

    ``rng``: a numpy Generator for the masks, or None for minicnn's global generator.

    >>> Dropout2d(0.2)
    Dropout2d(p=0.2)
    """

    _dropout, _dropout_backward = staticmethod(F.dropout2d), staticmethod(F.dropout2d_backward)


# ------------------------------------------------------------------------------------------------ activations
class ReLU(Module):
    """max(0, x), element by element (`functional.relu`)."""

    def forward(self, x):
        self._save(x=x)
        return F.relu(x)

    def backward(self, grad_out, input_grad=True):
        return F.relu_backward(grad_out, self._saved("x"))


class ReLU6(Module):
    """min(max(0, x), 6), element by element (`functional.relu6`): MobileNet's and EfficientNet-Lite's activation.

    >>> ReLU6()(np.array([-1.0, 3.0, 9.0]))
    array([0., 3., 6.])
    """

    def forward(self, x):
        self._save(x=x)
        return F.relu6(x)

    def backward(self, grad_out, input_grad=True):
        return F.relu6_backward(grad_out, self._saved("x"))


class LeakyReLU(Module):
    """x for x > 0, else negative_slope * x (`functional.leaky_relu`)."""

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = check_real("LeakyReLU", "negative_slope", negative_slope)

    def forward(self, x):
        self._save(x=x)
        return F.leaky_relu(x, self.negative_slope)

    def backward(self, grad_out, input_grad=True):
        return F.leaky_relu_backward(grad_out, self._saved("x"), self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope:g}"


class Sigmoid(Module):
    """The logistic function 1 / (1 + exp(-x)) (`functional.sigmoid`)."""

    def forward(self, x):
        self._save(x=x)
        return F.sigmoid(x)

    def backward(self, grad_out, input_grad=True):
        return F.sigmoid_backward(grad_out, self._saved("x"))


class Tanh(Module):
    """tanh(x), zero-centred in (-1, 1) (`functional.tanh`)."""

    def forward(self, x):
        self._save(x=x)
        return F.tanh(x)

    def backward(self, grad_out, input_grad=True):
        return F.tanh_backward(grad_out, self._saved("x"))


# ------------------------------------------------------------------------------------------------------ padding
class ZeroPad2d(Module):
    """Zeros around (N, C, H, W) maps, a different number on each side allowed (`functional.pad`).

    ``padding``: an int (the same on all four sides) or a tuple of 4 ints (left, right, top, bottom),
    as in torch.nn.ZeroPad2d. TensorFlow's "SAME" convolution with stride 2 on an even input is
    ``ZeroPad2d((k//2 - 1, k//2, k//2 - 1, k//2))`` followed by an unpadded convolution (odd k).

    >>> ZeroPad2d((0, 1, 0, 1))(np.ones((1, 1, 2, 2), np.float32)).shape
    (1, 1, 3, 3)
    >>> ZeroPad2d(2)
    ZeroPad2d((2, 2, 2, 2))
    """

    def __init__(self, padding):
        super().__init__()
        self.padding = int_tuple("ZeroPad2d", "padding (left, right, top, bottom)", padding, 4, 0)

    def forward(self, x):
        y = F.pad(x, self.padding)
        self._save(shape=y.shape)
        return y

    def backward(self, grad_out, input_grad=True):
        shape = self._saved("shape")
        if np.shape(grad_out) != shape:
            raise ValueError(f"ZeroPad2d.backward: grad_out {np.shape(grad_out)} must have the padded output's "
                             f"shape {shape}")
        return F.pad_backward(grad_out, self.padding)

    def extra_repr(self):
        return f"{self.padding}"


class Flatten(Module):
    """(N, d1, d2, ...) -> (N, d1*d2*...): the feature maps W2*H2*D2 become one vector for the FC layers.

    Dimensions ``start_dim`` to ``end_dim`` (negative counts from the end) become one, as in torch.nn.Flatten.

    >>> Flatten()(np.zeros((2, 16, 5, 5))).shape
    (2, 400)
    """

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        if not isinstance(start_dim, int) or isinstance(start_dim, bool):
            raise TypeError(f"Flatten: start_dim must be an int, got {start_dim!r}")
        if not isinstance(end_dim, int) or isinstance(end_dim, bool):
            raise TypeError(f"Flatten: end_dim must be an int, got {end_dim!r}")
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        shape = np.shape(x)
        ndim = max(len(shape), 1)
        start, end = self.start_dim, self.end_dim
        for name, dim in (("start_dim", start), ("end_dim", end)):
            if not -ndim <= dim < ndim:
                raise ValueError(f"Flatten: {name}={dim} is out of range for x of shape {shape} "
                                 f"(dimensions {-ndim} to {ndim - 1})")
        start, end = start % ndim, end % ndim
        if start > end:
            raise ValueError(f"Flatten: start_dim={self.start_dim} comes after end_dim={self.end_dim} "
                             f"for x of shape {shape}")
        self._save(shape=shape)
        return np.reshape(x, shape[:start] + (-1,) + shape[end + 1:])

    def backward(self, grad_out, input_grad=True):
        shape = self._saved("shape")
        if np.size(grad_out) != int(np.prod(shape)):
            raise ValueError(f"Flatten.backward: grad_out {np.shape(grad_out)} does not hold the "
                             f"{int(np.prod(shape))} values of the input {shape}")
        return np.reshape(grad_out, shape)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
