r"""Batch normalization and local response normalization, forward and backward.

Batch norm normalizes every channel c over the batch (and the spatial positions):

.. math::

    \hat x = \frac{x - \mu_c}{\sqrt{\sigma_c^2 + \epsilon}}, \qquad y = \gamma_c \hat x + \beta_c

In training :math:`\mu, \sigma^2` are the batch's (biased) statistics, and the running
estimates move towards them: ``running = (1 - momentum) * running + momentum * batch``
(the running variance uses the unbiased estimate, as in PyTorch). In evaluation the
running estimates are used instead.
"""
import numbers

import numpy as np

from minicnn.functional._checks import as_float_array, same_dtype
from minicnn.functional._threads import threads_for
from minicnn.kernels import normalization as _kernels

__all__ = ["batch_norm", "batch_norm_backward", "local_response_norm", "local_response_norm_backward"]


def _expect_channels(op, x):
    if x.ndim < 2:
        raise ValueError(f"{op}: expected x of shape (N, C), (N, C, L) or (N, C, H, W); got {x.shape}")


def _rows(a):
    """(N, C, ...) as a contiguous (N, C, S) view for the kernels."""
    return np.ascontiguousarray(a).reshape(a.shape[0], a.shape[1], -1)


def _moments(x):
    """Per-channel mean and biased variance of x, in float64."""
    mean, var = np.empty(x.shape[1]), np.empty(x.shape[1])
    with threads_for(x.size):
        _kernels.channel_moments(_rows(x), mean, var)
    return mean, var


def _affine(x, centre, scale, shift):
    """(x - centre) * scale + shift per channel, in x's dtype."""
    y = np.empty(x.shape, dtype=x.dtype)
    cast = [np.ascontiguousarray(a, dtype=x.dtype) for a in (centre, scale, shift)]
    with threads_for(x.size):
        _kernels.affine(_rows(x), *cast, y.reshape(_rows(x).shape))
    return y


def _check_bn(op, x, running_mean, running_var, weight, bias):
    x = as_float_array("x", op, x)
    _expect_channels(op, x)
    n_chan = x.shape[1]
    named = dict(running_mean=running_mean, running_var=running_var, weight=weight, bias=bias)
    for name, value in named.items():
        if value is not None:
            value = as_float_array(name, op, value)
            if value.shape != (n_chan,):
                raise ValueError(f"{op}: {name} must have shape ({n_chan},), one per channel of x {x.shape}; "
                                 f"got {value.shape}")
    same_dtype(op, x=x, **{k: v for k, v in named.items() if v is not None})
    return x


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Batch normalization, as torch.nn.functional.batch_norm (running statistics are updated in place).

    Parameters
    ----------
    x : ndarray, shape (N, C), (N, C, L) or (N, C, H, W)
    running_mean, running_var : ndarray, shape (C,), or None
        Updated in place when training; required when not training.
    weight, bias : ndarray, shape (C,), optional
        gamma and beta (scale and shift).
    training : bool
    momentum, eps : float

    Returns
    -------
    ndarray, shape of x

    Examples
    --------
    >>> x = np.array([[1.0], [3.0]])
    >>> rm, rv = np.zeros(1), np.ones(1)
    >>> np.round(batch_norm(x, rm, rv, training=True), 4)
    array([[-1.],
           [ 1.]])
    >>> rm, rv   # moved 10% of the way to mean 2 and unbiased variance 2
    (array([0.2]), array([1.1]))
    """
    x = _check_bn("batch_norm", x, running_mean, running_var, weight, bias)
    if training:
        count = x.size // x.shape[1]
        if count < 2:
            raise ValueError(f"batch_norm: training needs more than 1 value per channel, got x {x.shape}")
        mean, var = _moments(x)
        if running_mean is not None:
            running_mean *= 1 - momentum
            running_mean += (momentum * mean).astype(running_mean.dtype)
        if running_var is not None:
            running_var *= 1 - momentum
            running_var += (momentum * var * count / (count - 1)).astype(running_var.dtype)
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: evaluation (training=False) needs running_mean and running_var")
        mean, var = np.asarray(running_mean, np.float64), np.asarray(running_var, np.float64)
    scale = 1.0 / np.sqrt(var + eps)
    if weight is not None:
        scale = scale * weight
    return _affine(x, mean, scale, np.zeros_like(scale) if bias is None else bias)


def batch_norm_backward(grad_out, x, weight=None, running_mean=None, running_var=None, training=True, eps=1e-5):
    r"""Gradients of `batch_norm`: ``(grad_x, grad_weight, grad_bias)``.

    With :math:`M` values per channel and :math:`g = \gamma\,\partial L/\partial y`, in training

    .. math::

        \frac{\partial L}{\partial x} = \frac{1}{M\sqrt{\sigma^2 + \epsilon}}
        \Big(M g - \sum g - \hat x \sum g \hat x\Big)

    because the batch mean and variance depend on every x. In evaluation the
    statistics are constants and :math:`\partial L/\partial x = g / \sqrt{\sigma^2_{run} + \epsilon}`.
    :math:`\partial L/\partial\gamma = \sum \delta \hat x`, :math:`\partial L/\partial\beta = \sum \delta`.
    """
    x = _check_bn("batch_norm_backward", x, running_mean, running_var, weight, None)
    grad_out = as_float_array("grad_out", "batch_norm_backward", grad_out)
    same_dtype("batch_norm_backward", grad_out=grad_out, x=x)
    if grad_out.shape != x.shape:
        raise ValueError(f"batch_norm_backward: grad_out {grad_out.shape} must have the shape of x {x.shape}")
    if training:
        mean, var = _moments(x)
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm_backward: evaluation mode needs running_mean and running_var")
        mean, var = np.asarray(running_mean, np.float64), np.asarray(running_var, np.float64)
    inv_std = 1.0 / np.sqrt(var + eps)
    scale = inv_std if weight is None else inv_std * weight
    grad_rows, x_rows = _rows(grad_out), _rows(x)
    sum_grad, sum_grad_x_hat = np.empty(x.shape[1]), np.empty(x.shape[1])
    with threads_for(x.size):
        _kernels.channel_grad_sums(grad_rows, x_rows, mean, inv_std, sum_grad, sum_grad_x_hat)
    dtype = x.dtype
    if training:
        count = x.size // x.shape[1]
        grad_x = np.empty(x.shape, dtype=dtype)
        cast = [np.asarray(a, dtype=dtype) for a in (mean, inv_std, scale, sum_grad / count, sum_grad_x_hat / count)]
        with threads_for(x.size):
            _kernels.batch_norm_grad_input(grad_rows, x_rows, *cast, grad_x.reshape(x_rows.shape))
    else:
        grad_x = _affine(grad_out, np.zeros_like(scale), scale, np.zeros_like(scale))
    return grad_x, sum_grad_x_hat.astype(dtype), sum_grad.astype(dtype)


def _lrn_setup(op, x, size):
    x = as_float_array("x", op, x)
    if x.ndim < 3:
        raise ValueError(f"{op}: expected x of shape (N, C, L) or (N, C, H, W), got {x.shape}")
    if not isinstance(size, numbers.Integral) or size < 1:
        raise ValueError(f"{op}: size must be an int >= 1 (channels per window), got {size!r}")
    return x


def _channel_window_sum(a, size):
    """s[:, c] = sum of a[:, c'] for c' in [c - size//2, c + (size-1)//2] (zeros outside), PyTorch's window."""
    out = np.zeros_like(a)
    n_chan = a.shape[1]
    for offset in range(-(size // 2), (size - 1) // 2 + 1):
        lo, hi = max(0, -offset), min(n_chan, n_chan - offset)
        out[:, lo:hi] += a[:, lo + offset:hi + offset]
    return out


def local_response_norm(x, size, alpha=1e-4, beta=0.75, k=1.0):
    r"""AlexNet's local response normalization across channels, as torch.nn.functional.local_response_norm.

    .. math:: b_c = a_c \Big/ \Big(k + \frac{\alpha}{n} \sum_{c' \in \mathrm{window}(c)} a_{c'}^2\Big)^{\beta}

    with n = `size` neighbouring channels. Later networks dropped it for batch norm.

    >>> np.round(local_response_norm(np.ones((1, 3, 1, 1)), size=3, alpha=3.0, beta=1.0, k=0.0)[0, :, 0, 0], 4)
    array([0.5   , 0.3333, 0.5   ])
    """
    x = _lrn_setup("local_response_norm", x, size)
    denom = k + alpha / size * _channel_window_sum(x * x, size)
    return x * denom ** -beta


def local_response_norm_backward(grad_out, x, size, alpha=1e-4, beta=0.75, k=1.0):
    r"""Gradient of `local_response_norm`.

    .. math::

        \frac{\partial L}{\partial a_j} = \delta_j D_j^{-\beta}
        - \frac{2\alpha\beta}{n} a_j \sum_{c:\, j \in \mathrm{window}(c)} \delta_c a_c D_c^{-\beta-1}
    """
    x = _lrn_setup("local_response_norm_backward", x, size)
    grad_out = as_float_array("grad_out", "local_response_norm_backward", grad_out)
    if grad_out.shape != x.shape:
        raise ValueError(f"local_response_norm_backward: grad_out {grad_out.shape} must have the shape of x {x.shape}")
    denom = k + alpha / size * _channel_window_sum(x * x, size)
    term = grad_out * x * denom ** (-beta - 1)
    # channel c's window covers j when j - (size-1)//2 <= c <= j + size//2: the mirrored window
    reach = _channel_window_sum(term[:, ::-1], size)[:, ::-1]
    return grad_out * denom ** -beta - 2 * alpha * beta / size * x * reach
