r"""Batch normalization and local response normalization, forward and backward.

Batch norm normalizes every channel c over the batch (and the spatial positions):

.. math::

    \hat x = \frac{x - \mu_c}{\sqrt{\sigma_c^2 + \epsilon}}, \qquad y = \gamma_c \hat x + \beta_c

In training :math:`\mu, \sigma^2` are the batch's (biased) statistics, and the running
estimates move towards them: ``running = (1 - momentum) * running + momentum * batch``
(the running variance uses the unbiased estimate, as in PyTorch). In evaluation the
running estimates are used instead.
"""
import numpy as np

from minicnn.functional._checks import as_float_array, check_bool, check_int, check_real, same_dtype, same_shape
from minicnn.functional._threads import threads_for
from minicnn.kernels import normalization as _kernels
from minicnn.kernels.launch import run_parallel

__all__ = ["batch_norm", "batch_norm_backward", "local_response_norm", "local_response_norm_backward"]


def _expect_channels(op, x):
    if x.ndim < 2:
        raise ValueError(f"{op}: expected x of shape (N, C), (N, C, L) or (N, C, H, W); got {x.shape}")


def _rows(a):
    """(N, C, ...) as a contiguous (N, C, S) view for the kernels."""
    return np.ascontiguousarray(a).reshape(a.shape[0], a.shape[1], int(np.prod(a.shape[2:])))


def _moments(x):
    """Per-channel mean and biased variance of x, in float64."""
    mean, var = np.empty(x.shape[1]), np.empty(x.shape[1])
    with threads_for(x.size):
        run_parallel(_kernels.channel_moments, _rows(x), mean, var)
    return mean, var


def _affine(x, centre, scale, shift):
    """(x - centre) * scale + shift per channel, in x's dtype."""
    y = np.empty(x.shape, dtype=x.dtype)
    cast = [np.ascontiguousarray(a, dtype=x.dtype) for a in (centre, scale, shift)]
    with threads_for(x.size):
        run_parallel(_kernels.affine, _rows(x), *cast, y.reshape(_rows(x).shape))
    return y


def _check_bn(op, x, running_mean, running_var, weight, bias):
    x = as_float_array(op, "x", x)
    _expect_channels(op, x)
    n_chan = x.shape[1]
    named = dict(running_mean=running_mean, running_var=running_var, weight=weight, bias=bias)
    for name, value in named.items():
        if value is not None:
            value = as_float_array(op, name, value)
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
        Normalize with the batch's statistics (and update the running ones), or with the running ones.
    momentum : float in [0, 1]
    eps : float > 0

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
    return batch_norm_with_stats("batch_norm", x, running_mean, running_var, weight, bias, training, momentum, eps)[0]


def batch_norm_with_stats(op, x, running_mean, running_var, weight, bias, training, momentum, eps):
    """`batch_norm`, also returning the (mean, inverse standard deviation) it normalized with, in float64:
    what `minicnn.nn.BatchNorm2d` keeps for its backward pass instead of computing them again."""
    training = check_bool(op, "training", training)
    momentum = check_real(op, "momentum", momentum, low=0, high=1)
    eps = check_real(op, "eps", eps, low=0)
    x = _check_bn(op, x, running_mean, running_var, weight, bias)
    if training:
        count = x.size // x.shape[1]
        if count < 2:
            raise ValueError(f"{op}: training needs more than 1 value per channel to estimate a variance, "
                             f"got x {x.shape}")
        mean, var = _moments(x)
        if running_mean is not None:
            running_mean *= 1 - momentum
            running_mean += (momentum * mean).astype(running_mean.dtype)
        if running_var is not None:
            running_var *= 1 - momentum
            running_var += (momentum * var * count / (count - 1)).astype(running_var.dtype)
    else:
        if running_mean is None or running_var is None:
            raise ValueError(f"{op}: evaluation (training=False) needs running_mean and running_var")
        mean, var = np.asarray(running_mean, np.float64), np.asarray(running_var, np.float64)
    inv_std = 1.0 / np.sqrt(var + eps)
    scale = inv_std if weight is None else inv_std * weight
    y = _affine(x, mean, scale, np.zeros_like(scale) if bias is None else bias)
    return y, (mean, inv_std)


def batch_norm_backward(grad_out, x, weight=None, running_mean=None, running_var=None, training=False, eps=1e-5):
    r"""Gradients of `batch_norm`: ``(grad_x, grad_weight, grad_bias)``.

    Pass the same ``training`` as to the forward call (the default is False in both, as in PyTorch).
    With :math:`M` values per channel and :math:`g = \gamma\,\partial L/\partial y`, in training

    .. math::

        \frac{\partial L}{\partial x} = \frac{1}{M\sqrt{\sigma^2 + \epsilon}}
        \Big(M g - \sum g - \hat x \sum g \hat x\Big)

    because the batch mean and variance depend on every x. In evaluation the
    statistics are constants and :math:`\partial L/\partial x = g / \sqrt{\sigma^2_{run} + \epsilon}`.
    :math:`\partial L/\partial\gamma = \sum \delta \hat x`, :math:`\partial L/\partial\beta = \sum \delta`.

    Examples
    --------
    >>> x = np.array([[1.0], [3.0]])
    >>> gx, gw, gb = batch_norm_backward(np.array([[1.0], [0.0]]), x, training=True)
    >>> np.round(gx.ravel(), 4) + 0.0, np.round(gw, 4), gb   # the mean and variance absorb this delta
    (array([0., 0.]), array([-1.]), array([1.]))
    """
    op = "batch_norm_backward"
    training = check_bool(op, "training", training)
    eps = check_real(op, "eps", eps, low=0)
    x = _check_bn(op, x, running_mean, running_var, weight, None)
    if training:
        if x.size // x.shape[1] < 2:
            raise ValueError(f"{op}: training needs more than 1 value per channel, got x {x.shape}")
        mean, var = _moments(x)
    else:
        if running_mean is None or running_var is None:
            raise ValueError(f"{op}: evaluation mode (training=False) needs running_mean and running_var; "
                             f"pass training=True for a forward pass that used the batch's statistics")
        mean, var = np.asarray(running_mean, np.float64), np.asarray(running_var, np.float64)
    return batch_norm_backward_with_stats(op, grad_out, x, weight, (mean, 1.0 / np.sqrt(var + eps)), training)


def batch_norm_backward_with_stats(op, grad_out, x, weight, stats, training):
    """`batch_norm_backward` given the forward pass's (mean, inverse standard deviation); x already checked."""
    grad_out = as_float_array(op, "grad_out", grad_out)
    same_dtype(op, grad_out=grad_out, x=x)
    if grad_out.shape != x.shape:
        raise ValueError(f"{op}: grad_out {grad_out.shape} must have the shape of x {x.shape}")
    mean, inv_std = stats
    scale = inv_std if weight is None else inv_std * weight
    grad_rows, x_rows = _rows(grad_out), _rows(x)
    sum_grad, sum_grad_x_hat = np.empty(x.shape[1]), np.empty(x.shape[1])
    with threads_for(x.size):
        run_parallel(_kernels.channel_grad_sums, grad_rows, x_rows, mean, inv_std, sum_grad, sum_grad_x_hat)
    dtype = x.dtype
    if training:
        count = x.size // x.shape[1]
        grad_x = np.empty(x.shape, dtype=dtype)
        cast = [np.asarray(a, dtype=dtype) for a in (mean, inv_std, scale, sum_grad / count, sum_grad_x_hat / count)]
        with threads_for(x.size):
            run_parallel(_kernels.batch_norm_grad_input, grad_rows, x_rows, *cast, grad_x.reshape(x_rows.shape))
    else:
        grad_x = _affine(grad_out, np.zeros_like(scale), scale, np.zeros_like(scale))
    return grad_x, sum_grad_x_hat.astype(dtype), sum_grad.astype(dtype)


def _lrn_setup(op, x, size, alpha, beta, k):
    x = as_float_array(op, "x", x)
    if x.ndim < 3:
        raise ValueError(f"{op}: expected x of shape (N, C, L) or (N, C, H, W), got {x.shape}")
    check_int(op, "size", size, 1)
    check_real(op, "alpha", alpha, low=0)
    check_real(op, "beta", beta, low=0)
    check_real(op, "k", k, low=0)
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
    x = _lrn_setup("local_response_norm", x, size, alpha, beta, k)
    denom = k + alpha / size * _channel_window_sum(x * x, size)
    return x * denom ** -beta


def local_response_norm_backward(grad_out, x, size, alpha=1e-4, beta=0.75, k=1.0):
    r"""Gradient of `local_response_norm`.

    .. math::

        \frac{\partial L}{\partial a_j} = \delta_j D_j^{-\beta}
        - \frac{2\alpha\beta}{n} a_j \sum_{c:\, j \in \mathrm{window}(c)} \delta_c a_c D_c^{-\beta-1}
    """
    op = "local_response_norm_backward"
    x = _lrn_setup(op, x, size, alpha, beta, k)
    grad_out = as_float_array(op, "grad_out", grad_out)
    same_dtype(op, grad_out=grad_out, x=x)
    same_shape(op, grad_out=grad_out, x=x)
    denom = k + alpha / size * _channel_window_sum(x * x, size)
    term = grad_out * x * denom ** (-beta - 1)
    # channel c's window covers j when j - (size-1)//2 <= c <= j + size//2: the mirrored window
    reach = _channel_window_sum(term[:, ::-1], size)[:, ::-1]
    return grad_out * denom ** -beta - 2 * alpha * beta / size * x * reach
