r"""Element-wise non-linearities and their derivatives.

Each backward takes the upstream gradient and the forward *input* x and
returns :math:`\partial L/\partial x = \partial L/\partial y \cdot f'(x)`.
"""
import numpy as np

from minicnn.functional._checks import as_float_array, check_real, same_dtype, same_shape
from minicnn.kernels import elementwise as _kernels

__all__ = ["relu", "relu_backward", "relu6", "relu6_backward", "leaky_relu", "leaky_relu_backward", "sigmoid",
           "sigmoid_backward", "tanh", "tanh_backward"]


def _grad_pair(op, grad_out, x):
    grad_out, x = as_float_array(op, "grad_out", grad_out), as_float_array(op, "x", x)
    same_dtype(op, grad_out=grad_out, x=x)
    same_shape(op, grad_out=grad_out, x=x)
    return grad_out, x


def relu(x):
    r"""Rectified linear unit :math:`\max(0, x)`.

    >>> relu(np.array([-2.0, 0.0, 3.0]))
    array([0., 0., 3.])
    """
    x = as_float_array("relu", "x", x)
    y = np.empty(x.shape, dtype=x.dtype)
    _kernels.relu(np.ascontiguousarray(x), y)
    return y


def relu_backward(grad_out, x):
    r""":math:`f'(x) = 1` for :math:`x > 0`, else 0 (a unit stuck below 0 passes no gradient: a "dead" unit)."""
    grad_out, x = _grad_pair("relu_backward", grad_out, x)
    grad_x = np.empty(x.shape, dtype=x.dtype)
    _kernels.relu_backward(np.ascontiguousarray(grad_out), np.ascontiguousarray(x), grad_x)
    return grad_x


def relu6(x):
    r"""ReLU capped at 6, :math:`\min(\max(0, x), 6)` (MobileNet, EfficientNet-Lite), as torch.nn.functional.relu6.

    The cap keeps activations in [0, 6], a range that 8-bit fixed point represents well: why the
    mobile networks use it. nan stays nan.

    Parameters
    ----------
    x : ndarray, float32 or float64, any shape

    Returns
    -------
    ndarray, shape and dtype of x

    Examples
    --------
    >>> relu6(np.array([-2.0, 0.0, 3.0, 6.0, 8.0]))
    array([0., 0., 3., 6., 6.])
    """
    x = as_float_array("relu6", "x", x)
    y = np.empty(x.shape, dtype=x.dtype)
    _kernels.relu6(np.ascontiguousarray(x), y)
    return y


def relu6_backward(grad_out, x):
    r""":math:`f'(x) = 1` for :math:`0 < x < 6`, else 0: the flat parts on both sides pass no gradient.

    At exactly 0 and exactly 6 the derivative is taken as 0, PyTorch's convention (its relu6 is
    hardtanh(x, 0, 6), whose backward passes the gradient only strictly inside the interval).

    Parameters
    ----------
    grad_out : ndarray
        dL/dy, the shape and dtype of x.
    x : ndarray
        The forward input.

    Returns
    -------
    ndarray, dL/dx

    Examples
    --------
    >>> relu6_backward(np.ones(5), np.array([-1.0, 0.0, 3.0, 6.0, 7.0]))
    array([0., 0., 1., 0., 0.])
    """
    grad_out, x = _grad_pair("relu6_backward", grad_out, x)
    grad_x = np.empty(x.shape, dtype=x.dtype)
    _kernels.relu6_backward(np.ascontiguousarray(grad_out), np.ascontiguousarray(x), grad_x)
    return grad_x


def leaky_relu(x, negative_slope=0.01):
    r""":math:`x` for :math:`x > 0`, else :math:`\alpha x`.

    >>> leaky_relu(np.array([-2.0, 3.0]), 0.1)
    array([-0.2,  3. ])
    """
    x = as_float_array("leaky_relu", "x", x)
    negative_slope = check_real("leaky_relu", "negative_slope", negative_slope)
    return np.where(x > 0, x, x * x.dtype.type(negative_slope))


def leaky_relu_backward(grad_out, x, negative_slope=0.01):
    r""":math:`f'(x) = 1` for :math:`x > 0`, else :math:`\alpha`."""
    grad_out, x = _grad_pair("leaky_relu_backward", grad_out, x)
    negative_slope = check_real("leaky_relu_backward", "negative_slope", negative_slope)
    return np.where(x > 0, grad_out, grad_out * x.dtype.type(negative_slope))


def sigmoid(x):
    r"""Logistic function :math:`\sigma(x) = 1 / (1 + e^{-x})`, computed without overflow.

    >>> sigmoid(np.array([0.0, 1000.0, -1000.0]))
    array([0.5, 1. , 0. ])
    """
    x = as_float_array("sigmoid", "x", x)
    z = np.exp(-np.abs(x))  # never overflows
    return np.where(x >= 0, 1 / (1 + z), z / (1 + z)).astype(x.dtype, copy=False)


def sigmoid_backward(grad_out, x):
    r""":math:`\sigma'(x) = \sigma(x)(1 - \sigma(x)) \le 1/4`, with the maximum 1/4 at x = 0.

    Backpropagation multiplies the error by this factor at every sigmoid layer, so the sigmoids alone
    contribute at most :math:`(1/4)^n` over n layers. That does not by itself bound how much the gradient
    shrinks per layer: the error is also multiplied by each layer's transposed weights, and weights whose
    (spectral) norm exceeds 4 could make up for the factor. In practice such weights push x into the flat tails,
    where :math:`\sigma'` is far below 1/4, which is why deep sigmoid stacks tend to lose their gradient.

    >>> sigmoid_backward(np.ones(3), np.array([0.0, 2.0, -2.0])).round(4)
    array([0.25 , 0.105, 0.105])
    """
    grad_out, x = _grad_pair("sigmoid_backward", grad_out, x)
    s = sigmoid(x)
    return grad_out * s * (1 - s)


def tanh(x):
    r""":math:`\tanh(x) = 2\sigma(2x) - 1`, zero-centred, in (-1, 1)."""
    return np.tanh(as_float_array("tanh", "x", x))


def tanh_backward(grad_out, x):
    r""":math:`\tanh'(x) = 1 - \tanh^2(x) \le 1`."""
    grad_out, x = _grad_pair("tanh_backward", grad_out, x)
    return grad_out * (1 - np.tanh(x) ** 2)
