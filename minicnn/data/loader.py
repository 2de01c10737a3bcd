"""Mini-batch iteration."""

import numpy as np

from minicnn import random as _random
from minicnn.functional._checks import check_int

__all__ = ["batches"]


def _samples(func, name, value):
    """`value` as an array with the samples along its first axis."""
    arr = np.asarray(value)
    if arr.ndim == 0:
        raise ValueError(f"{func}: {name} must be an array with one sample per row (first axis), "
                         f"got a 0-d value {value!r}")
    return arr


def _check_pair(func, x, y, x_name="x", y_name="y"):
    x, y = _samples(func, x_name, x), _samples(func, y_name, y)
    if len(x) != len(y):
        raise ValueError(f"{func}: {x_name} has {len(x)} samples but {y_name} has {len(y)} "
                         f"(shapes {x.shape} and {y.shape}); they must have the same first dimension")
    return x, y


def batches(x, y, batch_size, shuffle=True, rng=None):
    """Yield (x_batch, y_batch) pairs covering the data once; the last batch may be smaller.

    The arguments are checked (and the order drawn) when `batches` is called, not at the first batch.

    Parameters
    ----------
    x, y : ndarray
        Same first dimension (no samples: nothing is yielded).
    batch_size : int >= 1
    shuffle : bool
        Visit the samples in a random order, from `rng` (a numpy Generator; seed it to repeat a run)
        or, without one, from minicnn's global generator (`minicnn.random.manual_seed`).

    Examples
    --------
    >>> [len(xb) for xb, _ in batches(np.zeros((10, 2)), np.zeros(10), 4, shuffle=False)]
    [4, 4, 2]
    """
    x, y = _check_pair("batches", x, y)
    batch_size = check_int("batches", "batch_size", batch_size, 1)
    if not isinstance(shuffle, (bool, np.bool_)):
        raise TypeError(f"batches: shuffle must be True or False, got {shuffle!r}")
    if rng is not None and not hasattr(rng, "permutation"):
        raise TypeError(f"batches: rng must be a numpy.random.Generator (e.g. np.random.default_rng(0)) or None, "
                        f"got {type(rng).__name__} {rng!r}")
    order = np.arange(len(x))
    if shuffle:
        order = (_random.default_rng() if rng is None else rng).permutation(len(x))
    return _iterate(x, y, order, batch_size)


def _iterate(x, y, order, batch_size):
    for start in range(0, len(order), batch_size):
        index = order[start:start + batch_size]
        yield x[index], y[index]
