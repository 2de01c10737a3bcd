r"""Joining branches: the element-wise sum of ResNet's shortcut and the channel concatenation of Inception.

A chain of layers has one path; these two ops let a network branch and meet again. Their backward
passes follow from the chain rule on the whole graph: where a value feeds two branches, their
gradients add; where two branches meet, each gets its share of the gradient.

- ``add``: :math:`y = a + b`, so :math:`\partial L/\partial a = \partial L/\partial b = \partial L/\partial y`:
  the sum passes the gradient to both branches unchanged (a residual block's shortcut carries it
  to earlier layers without passing through any weight).
- ``cat``: :math:`y = [x_1, \dots, x_k]` along ``dim``, so :math:`\partial L/\partial x_i` is the slab of
  :math:`\partial L/\partial y` that :math:`x_i` became: the gradient splits.

Like every op here, inputs must be float32 or float64 arrays of one dtype, and shapes must match
exactly (no broadcasting). The readable loop versions are `minicnn.reference.add` and `minicnn.reference.cat`.
"""
import numbers

import numpy as np

from minicnn.functional._checks import as_float_array, check_int, same_dtype

__all__ = ["add", "add_backward", "cat", "cat_backward"]


def add(a, b):
    r"""Element-wise sum of two branches, :math:`y = a + b`: a residual block's :math:`F(x) + x`.

    Parameters
    ----------
    a, b : ndarray
        Float arrays of the same dtype and exactly the same shape (no broadcasting: a shortcut that
        changes the shape needs a projection, e.g. a strided 1x1 convolution).

    Returns
    -------
    ndarray, the shape of a

    Examples
    --------
    >>> add(np.array([[1.0, 2.0]]), np.array([[10.0, 20.0]]))
    array([[11., 22.]])
    """
    a, b = as_float_array("add", "a", a), as_float_array("add", "b", b)
    same_dtype("add", a=a, b=b)
    if a.shape != b.shape:
        raise ValueError(f"add: a and b must have the same shape (no broadcasting; a residual branch and its "
                         f"shortcut must match, so a shortcut that changes the shape needs a projection such as "
                         f"a 1x1 convolution with stride), got a {a.shape}, b {b.shape}")
    return a + b


def add_backward(grad_out):
    r"""Gradient of `add`: :math:`\partial y/\partial a = \partial y/\partial b = 1`, so both branches receive
    :math:`\partial L/\partial y` unchanged.

    Returns
    -------
    (grad_a, grad_b) : two new arrays equal to grad_out (separate, so a branch that changes its gradient
    in place does not change the other's)

    Examples
    --------
    >>> add_backward(np.array([1.0, -2.0]))
    (array([ 1., -2.]), array([ 1., -2.]))
    """
    grad_out = as_float_array("add_backward", "grad_out", grad_out)
    return grad_out.copy(), grad_out.copy()


def _dim(op, dim, ndim, name, shape):
    """dim as an axis in [0, ndim), negative counting from the end (as in PyTorch)."""
    if not isinstance(dim, numbers.Integral) or isinstance(dim, (bool, np.bool_)):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    if not -ndim <= dim < ndim:
        raise ValueError(f"{op}: dim={dim} is not an axis of {name} with shape {shape} "
                         f"(dimensions {-ndim} to {ndim - 1})")
    return int(dim) % ndim


def _sequence(op, name, value, what):
    if isinstance(value, np.ndarray) or not isinstance(value, (list, tuple)):
        raise TypeError(f"{op}: {name} must be a list or tuple of {what}, got {type(value).__name__}")
    if not value:
        raise ValueError(f"{op}: {name} is empty; give at least one of {what}")
    return list(value)


def cat(xs, dim=1):
    r"""Concatenation along ``dim``, as torch.cat: the output channels of Inception's branches side by side.

    .. math:: y[\dots, o_i + j, \dots] = x_i[\dots, j, \dots], \qquad o_i = \sum_{k<i} \mathrm{size}_k

    Parameters
    ----------
    xs : list or tuple of ndarray
        Float arrays of one dtype and the same number of dimensions, equal in every dimension but dim.
    dim : int
        The axis to join along (default 1, the channels of (N, C, H, W)); negative counts from the end.

    Returns
    -------
    ndarray, with size along dim the sum of the inputs' sizes

    Examples
    --------
    >>> branches = [np.zeros((2, 64, 28, 28)), np.zeros((2, 128, 28, 28)), np.zeros((2, 32, 28, 28))]
    >>> cat(branches).shape
    (2, 224, 28, 28)
    """
    xs = _sequence("cat", "xs", xs, "arrays")
    xs = [as_float_array("cat", f"xs[{i}]", x) for i, x in enumerate(xs)]
    same_dtype("cat", **{f"xs[{i}]": x for i, x in enumerate(xs)})
    first = xs[0]
    if first.ndim == 0:
        raise ValueError("cat: xs[0] is a scalar (shape ()); concatenation needs arrays with at least 1 dimension")
    axis = _dim("cat", dim, first.ndim, "xs[0]", first.shape)
    for i, x in enumerate(xs[1:], start=1):
        if x.ndim != first.ndim or any(n != m for d, (n, m) in enumerate(zip(x.shape, first.shape)) if d != axis):
            raise ValueError(f"cat: every input must match xs[0] {first.shape} in every dimension except dim={dim}, "
                             f"got xs[{i}] {x.shape} (in Inception every branch must keep the input's height "
                             f"and width)")
    return np.concatenate(xs, axis=axis)


def cat_backward(grad_out, sizes_or_shapes, dim=1):
    r"""Gradient of `cat`: :math:`\partial L/\partial x_i` is the slab :math:`[o_i, o_i + \mathrm{size}_i)` of
    grad_out along dim; the gradient splits between the inputs.

    Parameters
    ----------
    grad_out : ndarray
        dL/dy, the shape of cat's output.
    sizes_or_shapes : list or tuple
        Each input's length along dim (ints), or each input's shape.
    dim : int
        The dim given to `cat`.

    Returns
    -------
    list of ndarray, one per input, in order

    Examples
    --------
    >>> grads = cat_backward(np.arange(6.0).reshape(1, 3, 2), [1, 2])
    >>> [g.shape for g in grads], grads[0]
    ([(1, 1, 2), (1, 2, 2)], array([[[0., 1.]]]))
    """
    grad_out = as_float_array("cat_backward", "grad_out", grad_out)
    if grad_out.ndim == 0:
        raise ValueError("cat_backward: grad_out is a scalar (shape ()); it must have cat's output shape")
    axis = _dim("cat_backward", dim, grad_out.ndim, "grad_out", grad_out.shape)
    items = _sequence("cat_backward", "sizes_or_shapes", sizes_or_shapes, "sizes (ints) or shapes (tuples)")
    sizes = []
    for i, item in enumerate(items):
        if isinstance(item, numbers.Integral) and not isinstance(item, (bool, np.bool_)):
            sizes.append(check_int("cat_backward", f"sizes_or_shapes[{i}]", item, 0))
            continue
        try:
            shape = tuple(check_int("cat_backward", f"sizes_or_shapes[{i}]", n, 0) for n in item)
        except TypeError:
            raise TypeError(f"cat_backward: sizes_or_shapes[{i}] must be an int (the input's size along dim) or a "
                            f"shape (a tuple of ints), got {item!r}") from None
        if len(shape) != grad_out.ndim or any(n != m for d, (n, m) in enumerate(zip(shape, grad_out.shape))
                                              if d != axis):
            raise ValueError(f"cat_backward: sizes_or_shapes[{i}] {shape} must match grad_out {grad_out.shape} in "
                             f"every dimension except dim={dim}")
        sizes.append(shape[axis])
    if sum(sizes) != grad_out.shape[axis]:
        raise ValueError(f"cat_backward: the sizes {sizes} add up to {sum(sizes)}, but grad_out {grad_out.shape} "
                         f"has {grad_out.shape[axis]} along dim={dim}; give the inputs' sizes along dim, in order")
    bounds = np.cumsum([0] + sizes)
    index = [slice(None)] * grad_out.ndim
    grads = []
    for start, stop in zip(bounds[:-1], bounds[1:]):
        index[axis] = slice(int(start), int(stop))
        grads.append(np.ascontiguousarray(grad_out[tuple(index)]))
    return grads
