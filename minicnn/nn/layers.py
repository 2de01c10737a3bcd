"""Layers: thin stateful wrappers over `minicnn.functional`, with PyTorch's constructors and parameter names.

Parameters are float32 by default (cast a whole network with ``.double()``) and are
initialised as PyTorch does, from minicnn's global generator (`minicnn.random.manual_seed`).
"""
import numpy as np

from minicnn import functional as F
from minicnn import init
from minicnn.functional._checks import int_tuple
from minicnn.nn.module import Module, Parameter

__all__ = ["Conv1d", "Conv2d", "Linear", "MaxPool2d", "AvgPool2d", "LPPool2d", "AdaptiveAvgPool2d", "BatchNorm1d",
           "BatchNorm2d", "Dropout", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Flatten", "LocalResponseNorm"]


def _default_init(weight, bias, fan_in):
    """PyTorch's default for Conv and Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias."""
    init.kaiming_uniform_(weight, a=np.sqrt(5))
    if bias is not None:
        bound = 1 / np.sqrt(fan_in) if fan_in > 0 else 0
        init.uniform_(bias, -bound, bound)


class _ConvNd(Module):
    _spatial = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True):
        super().__init__()
        name = type(self).__name__
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: groups={groups} must divide in_channels={in_channels} and "
                             f"out_channels={out_channels}")
        kernel = int_tuple(name, "kernel_size", kernel_size, self._spatial, 1)
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups
        self.weight = Parameter(np.empty((out_channels, in_channels // groups) + kernel, np.float32))
        self.bias = Parameter(np.empty(out_channels, np.float32)) if bias else None
        _default_init(self.weight, self.bias, in_channels // groups * int(np.prod(kernel)))

    def _args(self):
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation, groups=self.groups)

    def forward(self, x):
        self._save(x=x)
        op = F.conv1d if self._spatial == 1 else F.conv2d
        return op(x, self.weight.data, None if self.bias is None else self.bias.data, **self._args())

    def backward(self, grad_out, input_grad=True):
        """Accumulate the parameter gradients; return dL/dx, or None with ``input_grad=False`` (saves time
        in a network's first layer, whose input gradient nobody uses)."""
        x = self._saved("x")
        op = F.conv1d_backward if self._spatial == 1 else F.conv2d_backward
        grad_x, grad_w, grad_b = op(grad_out, x, self.weight.data, **self._args(), input_grad=input_grad)
        self.weight.accumulate(grad_w)
        if self.bias is not None:
            self.bias.accumulate(grad_b)
        return grad_x

    def extra_repr(self):
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        for name, default in (("padding", 0), ("dilation", 1), ("groups", 1)):
            if getattr(self, name) != default:
                text += f", {name}={getattr(self, name)}"
        return text + ("" if self.bias is not None else ", bias=False")


class Conv1d(_ConvNd):
    """1-D convolution layer: x (N, C_in, L) -> (N, C_out, L_out); weight (C_out, C_in/groups, k)."""

    _spatial = 1


class Conv2d(_ConvNd):
    """2-D convolution layer: x (N, C_in, H, W) -> (N, C_out, H_out, W_out); weight (C_out, C_in/groups, kH, kW).

    Parameters: out_channels * (in_channels/groups * kH * kW) + out_channels (with bias).

    >>> conv = Conv2d(3, 6, 5)
    >>> conv.weight.shape, sum(p.data.size for p in conv.parameters())
    ((6, 3, 5, 5), 456)
    """


class Linear(Module):
    """Fully connected layer: x (N, in_features) -> (N, out_features); weight (out_features, in_features)."""

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(np.empty((out_features, in_features), np.float32))
        self.bias = Parameter(np.empty(out_features, np.float32)) if bias else None
        _default_init(self.weight, self.bias, in_features)

    def forward(self, x):
        self._save(x=x)
        return F.linear(x, self.weight.data, None if self.bias is None else self.bias.data)

    def backward(self, grad_out):
        grad_x, grad_w, grad_b = F.linear_backward(grad_out, self._saved("x"), self.weight.data)
        self.weight.accumulate(grad_w)
        if self.bias is not None:
            self.bias.accumulate(grad_b)
        return grad_x

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class _Pool(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        self._save(x=x)
        return self._forward(x, self.kernel_size, self.stride, self.padding)

    def backward(self, grad_out):
        return self._backward(grad_out, self._saved("x"), self.kernel_size, self.stride, self.padding)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride or self.kernel_size}, padding={self.padding}"


class MaxPool2d(_Pool):
    """Max pooling over F x F windows (default stride F): keeps the strongest response of each window.

    Forward remembers where each maximum was, so backward only routes the errors there.
    """

    def forward(self, x):
        out, indices = F.max_pool2d(x, self.kernel_size, self.stride, self.padding, return_indices=True)
        self._save(x=x, indices=indices)
        return out

    def backward(self, grad_out):
        x, indices = self._saved("x", "indices")
        return F.max_pool2d_backward(grad_out, x, self.kernel_size, self.stride, self.padding, indices=indices)


class AvgPool2d(_Pool):
    """Average pooling over F x F windows (default stride F); padded zeros are counted, as in PyTorch."""

    _forward = staticmethod(F.avg_pool2d)
    _backward = staticmethod(F.avg_pool2d_backward)


class LPPool2d(Module):
    """Power-average pooling :math:`(\\sum x^p)^{1/p}`; ``norm_type=2`` is L2 pooling."""

    def __init__(self, norm_type, kernel_size, stride=None):
        super().__init__()
        self.norm_type, self.kernel_size, self.stride = norm_type, kernel_size, stride

    def forward(self, x):
        self._save(x=x)
        return F.lp_pool2d(x, self.norm_type, self.kernel_size, self.stride)

    def backward(self, grad_out):
        return F.lp_pool2d_backward(grad_out, self._saved("x"), self.norm_type, self.kernel_size, self.stride)

    def extra_repr(self):
        return f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, stride={self.stride}"


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size; ``AdaptiveAvgPool2d(1)`` is global average pooling."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        self._save(x=x)
        return F.adaptive_avg_pool2d(x, self.output_size)

    def backward(self, grad_out):
        return F.adaptive_avg_pool2d_backward(grad_out, self._saved("x"), self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class _BatchNorm(Module):
    _ndims = (2, 4)

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = Parameter(np.ones(num_features, np.float32)) if affine else None
        self.bias = Parameter(np.zeros(num_features, np.float32)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, np.float32))
            self.register_buffer("running_var", np.ones(num_features, np.float32))
            self.register_buffer("num_batches_tracked", np.array(0, np.int64))
        else:
            self.running_mean = self.running_var = None

    def forward(self, x):
        x = np.asarray(x)
        if x.ndim not in self._ndims:
            raise ValueError(f"{type(self).__name__}: expected x with {' or '.join(map(str, self._ndims))} "
                             f"dimensions, got shape {x.shape}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.num_features}): x {x.shape} has {x.shape[1]} channels")
        use_batch_stats = self.training or self.running_mean is None
        if self.training and self.running_mean is not None:
            self.num_batches_tracked += 1
        self._save(x=x, use_batch_stats=use_batch_stats)
        return F.batch_norm(x, self.running_mean, self.running_var, self._data(self.weight), self._data(self.bias),
                            training=use_batch_stats, momentum=self.momentum, eps=self.eps)

    def backward(self, grad_out):
        x, use_batch_stats = self._saved("x", "use_batch_stats")
        grad_x, grad_w, grad_b = F.batch_norm_backward(grad_out, x, self._data(self.weight), self.running_mean,
                                                       self.running_var, training=use_batch_stats, eps=self.eps)
        if self.weight is not None:
            self.weight.accumulate(grad_w)
            self.bias.accumulate(grad_b)
        return grad_x

    @staticmethod
    def _data(param):
        return None if param is None else param.data

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L): statistics per feature/channel over the batch (and length)."""

    _ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W): statistics per channel over the batch and all positions."""

    _ndims = (4,)


class Dropout(Module):
    """Inverted dropout: in training drop units with probability p and scale the rest by 1/(1-p); identity in eval."""

    def __init__(self, p=0.5, rng=None):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p}")
        self.p, self.rng = p, rng

    def forward(self, x):
        y, mask = F.dropout(x, self.p, self.training, self.rng)
        self._save(mask=mask)
        return y

    def backward(self, grad_out):
        return F.dropout_backward(grad_out, self._saved("mask"))

    def extra_repr(self):
        return f"p={self.p}"


class _Elementwise(Module):
    def forward(self, x):
        self._save(x=x)
        return type(self)._f(x)

    def backward(self, grad_out):
        return type(self)._df(grad_out, self._saved("x"))


class ReLU(_Elementwise):
    _f, _df = staticmethod(F.relu), staticmethod(F.relu_backward)


class Sigmoid(_Elementwise):
    _f, _df = staticmethod(F.sigmoid), staticmethod(F.sigmoid_backward)


class Tanh(_Elementwise):
    _f, _df = staticmethod(F.tanh), staticmethod(F.tanh_backward)


class LeakyReLU(Module):
    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        self._save(x=x)
        return F.leaky_relu(x, self.negative_slope)

    def backward(self, grad_out):
        return F.leaky_relu_backward(grad_out, self._saved("x"), self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Flatten(Module):
    """(N, d1, d2, ...) -> (N, d1*d2*...): the feature maps W2*H2*D2 become one vector for the FC layers."""

    def __init__(self, start_dim=1):
        super().__init__()
        self.start_dim = start_dim

    def forward(self, x):
        self._save(shape=np.shape(x))
        return np.reshape(x, np.shape(x)[:self.start_dim] + (-1,))

    def backward(self, grad_out):
        return np.reshape(grad_out, self._saved("shape"))


class LocalResponseNorm(Module):
    """AlexNet's normalization across `size` neighbouring channels (see `functional.local_response_norm`)."""

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x):
        self._save(x=x)
        return F.local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def backward(self, grad_out):
        return F.local_response_norm_backward(grad_out, self._saved("x"), self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
