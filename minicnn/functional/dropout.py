r"""Inverted dropout: in training, zero each unit with probability p and scale the survivors by 1/(1-p),
so that the expected activation is unchanged and nothing needs rescaling at test time.

`dropout2d` is spatial dropout (Tompson et al., 2015): one coin per example and channel, so a whole feature map
is kept or dropped; neighbouring pixels are correlated, and dropping single pixels would barely regularize.
"""
import numpy as np

from minicnn import random as _random
from minicnn.functional._checks import as_float_array, check_bool, check_real, check_rng, same_dtype, same_shape

__all__ = ["dropout", "dropout_backward", "dropout2d", "dropout2d_backward"]


def dropout(x, p=0.5, training=True, rng=None):
    r""":math:`y = x \odot m / (1 - p)` with :math:`m_i \sim \mathrm{Bernoulli}(1 - p)`; the identity when not training.

    Unlike torch.nn.functional.dropout (whose autograd keeps the mask), this returns the
    mask too, because the backward pass must drop exactly the same units.

    Parameters
    ----------
    x : ndarray
    p : float in [0, 1)
        Probability of dropping a unit.
    training : bool
    rng : numpy.random.Generator, optional
        Defaults to minicnn's global generator (`minicnn.random.manual_seed`).

    Returns
    -------
    y : ndarray, shape of x
    mask : ndarray of 0 and 1/(1-p), or None when not training (or p == 0)

    Examples
    --------
    >>> y, mask = dropout(np.ones(8), p=0.5, rng=np.random.default_rng(0))
    >>> sorted(set(y.tolist())) , bool(np.all(y == mask))
    ([0.0, 2.0], True)
    """
    x = as_float_array("dropout", "x", x)
    return _drop("dropout", x, p, training, rng, x.shape)


def _drop(op, x, p, training, rng, mask_shape):
    """Inverted dropout with one coin per entry of `mask_shape` (broadcast against x): the mask and x * mask."""
    p = check_real(op, "p", p, low=0, high=1, high_open=True)
    training = check_bool(op, "training", training)
    rng = check_rng(op, "rng", rng)
    if not training or p == 0:
        return x, None
    rng = _random.default_rng() if rng is None else rng
    mask = (rng.random(mask_shape) >= p).astype(x.dtype) / x.dtype.type(1 - p)
    return x * mask, mask


def dropout_backward(grad_out, mask):
    """Gradient of `dropout`: the error flows only through the units that were kept, with the same scale."""
    grad_out = as_float_array("dropout_backward", "grad_out", grad_out)
    if mask is None:
        return grad_out
    mask = as_float_array("dropout_backward", "mask", mask)
    same_dtype("dropout_backward", grad_out=grad_out, mask=mask)
    same_shape("dropout_backward", grad_out=grad_out, mask=mask)
    return grad_out * mask


def dropout2d(x, p=0.5, training=True, rng=None):
    r"""Spatial dropout: :math:`y_{n,c,h,w} = x_{n,c,h,w}\, m_{n,c} / (1 - p)` with :math:`m_{n,c} \sim
    \mathrm{Bernoulli}(1 - p)`, one draw per feature map; the identity when not training.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    p : float in [0, 1)
        Probability of dropping a whole channel of one example.
    training : bool
    rng : numpy.random.Generator, optional
        Defaults to minicnn's global generator (`minicnn.random.manual_seed`).

    Returns
    -------
    y : ndarray, shape of x
    mask : ndarray (N, C, 1, 1) of 0 and 1/(1-p), or None when not training (or p == 0)

    Examples
    --------
    >>> y, mask = dropout2d(np.ones((1, 4, 2, 2)), p=0.5, rng=np.random.default_rng(0))
    >>> mask.shape, bool(np.all(y == mask)), sorted(set(y.ravel().tolist()))
    ((1, 4, 1, 1), True, [0.0, 2.0])
    """
    x = as_float_array("dropout2d", "x", x)
    if x.ndim != 4:
        raise ValueError(f"dropout2d: x must have 4 dimensions (N, C, H, W), got shape {x.shape}; "
                         f"for (N, features) use dropout")
    return _drop("dropout2d", x, p, training, rng, x.shape[:2] + (1, 1))


def dropout2d_backward(grad_out, mask):
    """Gradient of `dropout2d`: a dropped feature map passes no error; a kept one passes it scaled by 1/(1-p)."""
    grad_out = as_float_array("dropout2d_backward", "grad_out", grad_out)
    if mask is None:
        return grad_out
    mask = as_float_array("dropout2d_backward", "mask", mask)
    same_dtype("dropout2d_backward", grad_out=grad_out, mask=mask)
    if grad_out.ndim != 4 or mask.shape != grad_out.shape[:2] + (1, 1):
        raise ValueError(f"dropout2d_backward: grad_out must be (N, C, H, W) and mask (N, C, 1, 1) with the same N "
                         f"and C, got grad_out {grad_out.shape} and mask {mask.shape}")
    return grad_out * mask
