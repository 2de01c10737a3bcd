"""Argument checks shared by the functional ops: one place that names the rule a bad input broke."""
import numbers

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def as_float_array(name, op, value):
    """Return `value` as a float32/float64 ndarray, refusing integer, bool and complex data."""
    arr = np.asarray(value)
    if arr.dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"{op}: {name} must be float32 or float64 (the dtypes minicnn computes in), got {arr.dtype}; "
            f"convert it first, e.g. {name}.astype(np.float32)"
        )
    return arr


def same_dtype(op, **arrays):
    """Refuse mixed float32/float64 inputs instead of silently promoting (PyTorch refuses too)."""
    dtypes = {name: arr.dtype for name, arr in arrays.items() if arr is not None}
    if len(set(dtypes.values())) > 1:
        listed = ", ".join(f"{name} is {dt}" for name, dt in dtypes.items())
        raise TypeError(f"{op}: all inputs must have the same dtype, but {listed}")


def expect_ndim(op, name, arr, ndim, layout):
    if arr.ndim != ndim:
        raise ValueError(f"{op}: expected {name} with {ndim} dimensions {layout}, got shape {arr.shape}")


def int_tuple(op, name, value, n, minimum):
    """Expand an int or a length-n sequence of ints into a tuple, each >= minimum."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        values = (int(value),) * n
    else:
        try:
            values = tuple(value)
        except TypeError:
            raise TypeError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}") from None
        if len(values) != n or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in values):
            raise TypeError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}")
        values = tuple(int(v) for v in values)
    if any(v < minimum for v in values):
        raise ValueError(f"{op}: {name} must be >= {minimum} in every dimension, got {value!r}")
    return values
