"""Argument checks shared by minicnn's functions and modules: one place that names the rule a bad input broke.

Every helper takes ``(op, name, value, ...)``: the function or class being called, the argument's name and
its value, and returns the value normalized (an ndarray, a tuple of ints, a float) or raises an error that
names all three.
"""
import numbers

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_INDEX_LIMIT = 2 ** 62  # sizes, strides and paddings must fit the kernels' 64-bit integers with room to add


def as_float_array(op, name, value):
    """Return `value` as a float32/float64 ndarray, refusing integer, bool, complex and object data."""
    arr = np.asarray(value)
    if arr.dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"{op}: {name} must be float32 or float64 (the dtypes minicnn computes in), got {arr.dtype}; "
            f"convert it first, e.g. {name}.astype(np.float32)"
        )
    return arr


def float_dtype(op, name, value):
    """`value` (np.float32, "float64", ...) as a numpy dtype, refusing anything but float32 and float64."""
    try:
        dtype = np.dtype(value)
    except TypeError:
        dtype = None
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"{op}: {name} must be float32 or float64 (the dtypes minicnn computes in), got {value!r}")
    return dtype


def same_dtype(op, **arrays):
    """Refuse mixed float32/float64 inputs instead of silently promoting (PyTorch refuses too)."""
    dtypes = {name: arr.dtype for name, arr in arrays.items() if arr is not None}
    if len(set(dtypes.values())) > 1:
        listed = ", ".join(f"{name} is {dt}" for name, dt in dtypes.items())
        raise TypeError(f"{op}: all inputs must have the same dtype, but {listed}")


def same_shape(op, **arrays):
    """Refuse arrays that should match element by element but do not (no silent broadcasting)."""
    shapes = {name: arr.shape for name, arr in arrays.items()}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise ValueError(f"{op}: {' and '.join(shapes)} must have the same shape, got {listed}")


def expect_ndim(op, name, arr, ndim, layout):
    if arr.ndim != ndim:
        raise ValueError(f"{op}: expected {name} with {ndim} dimensions {layout}, got shape {arr.shape}")


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def check_int(op, name, value, minimum):
    """`value` as an int >= minimum (bools, floats and strings refused)."""
    if not _is_int(value):
        raise TypeError(f"{op}: {name} must be an int, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value}")
    if value >= _INDEX_LIMIT:
        raise ValueError(f"{op}: {name} must be below 2**62 (a 64-bit size), got {value}")
    return int(value)


def int_tuple(op, name, value, n, minimum):
    """Expand an int or a length-n sequence of ints into a tuple, each >= minimum (and small enough for 64 bits)."""
    if _is_int(value):
        values = (int(value),) * n
    else:
        try:
            values = tuple(value)
        except TypeError:
            raise TypeError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}") from None
        if len(values) != n or not all(_is_int(v) for v in values):
            raise TypeError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}")
        values = tuple(int(v) for v in values)
    if any(v < minimum for v in values):
        raise ValueError(f"{op}: {name} must be >= {minimum} in every dimension, got {value!r}")
    if any(v >= _INDEX_LIMIT for v in values):
        raise ValueError(f"{op}: {name} must be below 2**62 (a 64-bit size) in every dimension, got {value!r}")
    return values


def check_real(op, name, value, low=None, high=None, low_open=False, high_open=False):
    """`value` as a finite float in the interval given (open or closed at each end; None: unbounded)."""
    if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{op}: {name} must be a real number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{op}: {name} must be a finite number, got {value!r}")
    below = low is not None and (value <= low if low_open else value < low)
    above = high is not None and (value >= high if high_open else value > high)
    if below or above:
        if high is None:
            rule = f"{'>' if low_open else '>='} {low:g}"
        elif low is None:
            rule = f"{'<' if high_open else '<='} {high:g}"
        else:
            rule = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"{op}: {name} must be {rule}, got {value:g}")
    return value


def check_bool(op, name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{op}: {name} must be True or False, got {value!r}")
    return bool(value)


def check_rng(op, name, rng):
    """None (minicnn's global generator) or a numpy Generator."""
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise TypeError(f"{op}: {name} must be a numpy.random.Generator (e.g. np.random.default_rng(0)) or None "
                        f"for minicnn's global generator, got {rng!r}")
    return rng


def input_shape(op, value):
    """A model's full input shape, batch first, as a tuple of ints >= 1 (for `summary` and `onnx.export`)."""
    example = "e.g. (1, 3, 224, 224) for one 224x224 RGB image (batch, channels, height, width)"
    if not isinstance(value, (tuple, list)):
        raise TypeError(f"{op}: input_shape must be a tuple of positive ints with the batch first, {example}; "
                        f"got {value!r} ({type(value).__name__})")
    if len(value) == 0:
        raise ValueError(f"{op}: input_shape is empty; give the input's full shape with the batch first, {example}")
    for dim in value:
        if not _is_int(dim):
            raise TypeError(f"{op}: input_shape must hold ints, got {dim!r} ({type(dim).__name__}) in "
                            f"{tuple(value)!r}; {example}")
        if dim < 1:
            raise ValueError(f"{op}: every size in input_shape must be >= 1, got {tuple(value)!r}; {example}")
    return tuple(int(dim) for dim in value)
