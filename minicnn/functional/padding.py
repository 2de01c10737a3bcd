r"""Zero padding with a different amount on each side: the asymmetric padding of TensorFlow's "SAME" convolutions.

`conv2d`'s ``padding`` adds the same number of zeros on both sides of a dimension (PyTorch's rule). Some
networks need more on one side: TensorFlow's ``padding="SAME"`` with stride 2 on an even-sized input puts
the odd extra zero at the right and the bottom (EfficientNet, MobileNet). Padding first, then convolving
without padding, gives exactly that convolution.

.. math::

    y[n, c, t + i, l + j] = x[n, c, i, j], \qquad y = 0 \text{ elsewhere}, \qquad
    y \text{ of shape } (N, C, t + H + b, l + W + r)

with ``pad = (l, r, t, b)``: left, right, top, bottom, PyTorch's order (the last dimension first).
Every output cell is either a copy of one input cell or a constant, so the gradient is the crop

.. math:: \frac{\partial L}{\partial x[n, c, i, j]} = \frac{\partial L}{\partial y[n, c, t + i, l + j]}

(the padded zeros are not inputs: their gradients are dropped). The readable loop versions are
`minicnn.reference.pad` and `minicnn.reference.pad_backward`.
"""
import numbers

import numpy as np

from minicnn.functional._checks import as_float_array, check_int, expect_ndim

__all__ = ["pad", "pad_backward"]

_LAYOUT = "(N, C, H, W)"


def _check_pad(op, pad):
    """pad as a tuple of 4 ints >= 0: (left, right, top, bottom)."""
    if isinstance(pad, numbers.Integral) and not isinstance(pad, (bool, np.bool_)):
        # PyTorch's F.pad refuses a single int too; nn.ZeroPad2d expands one itself
        raise TypeError(f"{op}: pad must be a tuple of 4 ints (left, right, top, bottom), got the int {pad!r}; "
                        f"for the same padding on every side write ({pad}, {pad}, {pad}, {pad})")
    if not isinstance(pad, (tuple, list)) or len(pad) != 4:
        raise TypeError(f"{op}: pad must be a tuple of 4 ints (left, right, top, bottom) for an (N, C, H, W) "
                        f"array (PyTorch's order: the last dimension first), got {pad!r}")
    values = tuple(check_int(op, f"pad[{i}] ({side})", v, 0)
                   for i, (v, side) in enumerate(zip(pad, ("left", "right", "top", "bottom"))))
    return values


def pad(x, pad):
    r"""Zeros around the spatial dimensions of an (N, C, H, W) batch, as ``torch.nn.functional.pad(x, pad)``.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), float32 or float64
    pad : tuple of 4 ints >= 0
        (left, right, top, bottom): zeros added before and after W, then before and after H
        (PyTorch's order: the last dimension first).

    Returns
    -------
    ndarray, shape (N, C, top + H + bottom, left + W + right), dtype of x
        A new array (x is never a view of it).

    Notes
    -----
    Only zero padding of 4-D arrays (PyTorch's ``mode='constant', value=0``), with no negative amounts
    (PyTorch crops for those; slice instead).

    Examples
    --------
    >>> pad(np.ones((1, 1, 2, 2)), (0, 1, 0, 1))[0, 0]   # TF "SAME", stride 2: the extra zero right and bottom
    array([[1., 1., 0.],
           [1., 1., 0.],
           [0., 0., 0.]])
    """
    x = as_float_array("pad", "x", x)
    expect_ndim("pad", "x", x, 4, _LAYOUT)
    left, right, top, bottom = _check_pad("pad", pad)
    n, c, h, w = x.shape
    y = np.zeros((n, c, top + h + bottom, left + w + right), dtype=x.dtype)
    y[:, :, top:top + h, left:left + w] = x
    return y


def pad_backward(grad_out, pad):
    r"""Gradient of `pad`: the crop of ``grad_out`` = dL/dy to the input's cells (the zeros had no input).

    Parameters
    ----------
    grad_out : ndarray, shape (N, C, top + H + bottom, left + W + right)
    pad : tuple of 4 ints >= 0
        The (left, right, top, bottom) given to `pad`.

    Returns
    -------
    ndarray, shape (N, C, H, W), a new contiguous array

    Examples
    --------
    >>> pad_backward(np.arange(9.0).reshape(1, 1, 3, 3), (0, 1, 0, 1))[0, 0]
    array([[0., 1.],
           [3., 4.]])
    """
    grad_out = as_float_array("pad_backward", "grad_out", grad_out)
    expect_ndim("pad_backward", "grad_out", grad_out, 4, _LAYOUT)
    left, right, top, bottom = _check_pad("pad_backward", pad)
    height, width = grad_out.shape[2] - top - bottom, grad_out.shape[3] - left - right
    if height < 0 or width < 0:
        raise ValueError(f"pad_backward: grad_out {grad_out.shape} is smaller than the padding "
                         f"(left, right, top, bottom) = {(left, right, top, bottom)} alone; it must have the "
                         f"padded output's shape (N, C, top + H + bottom, left + W + right)")
    return np.ascontiguousarray(grad_out[:, :, top:top + height, left:left + width])
