r"""Fully connected (dense) layer: :math:`y = x W^T + b`, and its gradients.

Shapes follow torch.nn.functional.linear: x (N, in), weight (out, in), bias (out,).
The products run in minicnn's numba kernel rather than numpy's BLAS: the same
numbers for any thread count, and no second thread pool competing with numba's.
"""
import numpy as np

from minicnn.functional._checks import as_float_array, expect_ndim, same_dtype
from minicnn.functional._matmul import matmul_nt
from minicnn.functional._threads import threads_for

__all__ = ["linear", "linear_backward"]


def _check(op, x, weight, bias=None):
    x, weight = as_float_array(op, "x", x), as_float_array(op, "weight", weight)
    bias = None if bias is None else as_float_array(op, "bias", bias)
    same_dtype(op, x=x, weight=weight, bias=bias)
    expect_ndim(op, "x", x, 2, "(N, in_features)")
    expect_ndim(op, "weight", weight, 2, "(out_features, in_features)")
    if x.shape[1] != weight.shape[1]:
        raise ValueError(f"{op}: x {x.shape} has {x.shape[1]} features but weight {weight.shape} expects "
                         f"{weight.shape[1]} (did you forget to flatten, or is in_features wrong?)")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"{op}: bias must have shape ({weight.shape[0]},) for weight {weight.shape}; got {bias.shape}")
    return x, weight, bias


def linear(x, weight, bias=None):
    r""":math:`y = x W^T + b`.

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
    x, weight, bias = _check("linear", x, weight, bias)
    with threads_for(x.shape[0] * weight.size):
        y = matmul_nt(x, weight)
    return y if bias is None else y + bias


def linear_backward(grad_out, x, weight):
    r"""Gradients of `linear`: :math:`\partial L/\partial x = \delta W`, :math:`\partial L/\partial W = \delta^T x`,
    :math:`\partial L/\partial b = \sum_n \delta_n`.

    Returns
    -------
    grad_x, grad_weight, grad_bias
    """
    x, weight, _ = _check("linear_backward", x, weight)
    grad_out = as_float_array("linear_backward", "grad_out", grad_out)
    same_dtype("linear_backward", grad_out=grad_out, x=x)
    if grad_out.shape != (x.shape[0], weight.shape[0]):
        raise ValueError(f"linear_backward: grad_out must have shape {(x.shape[0], weight.shape[0])}, "
                         f"got {grad_out.shape}")
    with threads_for(x.shape[0] * weight.size):
        grad_x = matmul_nt(grad_out, weight.T)
        grad_w = matmul_nt(grad_out.T, x.T)
    return grad_x, grad_w, grad_out.sum(axis=0)
