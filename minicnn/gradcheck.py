r"""Numerical gradient checks by central differences, in float64.

.. math:: \frac{\partial L}{\partial x_i} \approx \frac{L(x + h e_i) - L(x - h e_i)}{2h}

with :math:`L = \sum y \odot g` for a fixed random upstream gradient g, so one scalar
checks the whole backward pass (dL/dx = the backward of g). The error is :math:`O(h^2)`.

The analytic gradient :math:`a` and the numerical one :math:`n` are compared entry by entry:

.. math::

    \mathrm{err} = \max_i \frac{\max(|a_i - n_i| - \delta,\ 0)}{\max(|a_i|,\ |n_i|,\ \mathrm{floor})},
    \qquad \mathrm{floor} = \max\big(10^{-3} \max_j \max(|a_j|, |n_j|),\ 10^{-9}\big),
    \qquad \delta = 10\, \epsilon \sum |y \odot g| \,/\, h

(:math:`\epsilon` = 2.2e-16, float64's machine epsilon). Every entry must be right relative to its own size,
so one small entry that is completely wrong fails even when the large ones are right; entries below a thousandth
of the largest are judged against that thousandth, and differences below :math:`\delta`, which bounds the
rounding error of the two sums in the central difference, are not counted (a correct backward usually scores
exactly 0, and an all-zero gradient passes).
"""
import numbers

import numpy as np

__all__ = ["numerical_gradient", "gradcheck", "check_module"]

REL_FLOOR = 1e-3   # entries smaller than this fraction of the largest one are judged against it
ABS_FLOOR = 1e-9   # ... and never against less than this (all-zero gradients)
NOISE_FACTOR = 10.0  # differences below NOISE_FACTOR * eps * sum|y * g| / h are rounding noise


def numerical_gradient(f, x, h=1e-6):
    """Central-difference gradient of the scalar function ``f()`` with respect to the array ``x`` (changed in place
    and restored).

    >>> x = np.array([1.0, 2.0])
    >>> np.round(numerical_gradient(lambda: float(np.sum(x ** 2)), x), 6)
    array([2., 4.])
    """
    if not callable(f):
        raise TypeError(f"numerical_gradient: f must be a function of no arguments returning a number, "
                        f"got {type(f).__name__}")
    if not isinstance(x, np.ndarray):
        raise TypeError(f"numerical_gradient: x must be the float64 ndarray that f reads (it is changed in place), "
                        f"got {type(x).__name__}")
    if x.dtype != np.float64:
        raise TypeError(f"numerical_gradient: use float64 (got {x.dtype}); float32 cannot resolve a step of {h}")
    if not x.flags.writeable:
        raise ValueError("numerical_gradient: x must be writeable (it is changed in place and restored), "
                         "got a read-only array")
    h = _positive("numerical_gradient", "h", h)
    grad = np.zeros(x.shape)
    for index in np.ndindex(x.shape):  # works for any strides (x.T, slices): x itself is changed, never a copy
        saved = x[index]
        x[index] = saved + h
        plus = f()
        x[index] = saved - h
        minus = f()
        x[index] = saved
        grad[index] = (plus - minus) / (2 * h)
    return grad


def _positive(func, name, value, allow_inf=False):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{func}: {name} must be a real number, got {value!r} ({type(value).__name__})")
    if not value > 0 or (not allow_inf and not np.isfinite(value)):
        raise ValueError(f"{func}: {name} must be a positive{'' if allow_inf else ' finite'} number, got {value!r}")
    return float(value)


def _compare(analytic, numeric, noise=0.0):
    """(error, index of the worst entry) with the entry-by-entry measure of the module docstring; differences up to
    `noise` (the rounding noise of the central differences) are not counted."""
    a, n = np.asarray(analytic, dtype=np.float64), np.asarray(numeric, dtype=np.float64)
    if a.size == 0:
        return 0.0, None
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(n))):
        bad = np.argwhere(~(np.isfinite(a) & np.isfinite(n)))[0]
        return np.inf, tuple(int(i) for i in bad)
    magnitude = np.maximum(np.abs(a), np.abs(n))
    floor = max(REL_FLOOR * float(magnitude.max()), ABS_FLOOR)
    err = np.maximum(np.abs(a - n) - noise, 0.0) / np.maximum(magnitude, floor)
    worst = np.unravel_index(int(np.argmax(err)), err.shape)
    return float(err[worst]), tuple(int(i) for i in worst)


def _noise(y, grad_out, h):
    """Rounding noise of a central difference of L = sum(y * g): about eps * sum|y * g| / h."""
    return NOISE_FACTOR * np.finfo(np.float64).eps * float(np.sum(np.abs(y * grad_out))) / h


def _describe(analytic, numeric, index):
    if index is None:
        return ""
    a, n = np.asarray(analytic, dtype=np.float64), np.asarray(numeric, dtype=np.float64)
    return f" (worst entry {index}: analytic {a[index]:.6g}, numerical {n[index]:.6g})"


def _float_input(func, name, value):
    """A float64 copy of a float32/float64 input; integer, bool, complex or object data is refused."""
    arr = np.asarray(value)
    if arr.dtype.kind != "f":
        raise TypeError(f"{func}: {name} must hold floating-point numbers (gradients need real-valued inputs), "
                        f"got dtype {arr.dtype}; convert it first, e.g. x.astype(np.float64)")
    return np.array(arr, dtype=np.float64)


def _float_output(func, what, value):
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        value = np.asarray(value, dtype=np.float64)
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{func}: {what} must return an array (or a number), got {type(value).__name__}")
    if value.dtype.kind != "f":
        raise TypeError(f"{func}: {what} must return floating-point values, got dtype {value.dtype}")
    if not np.all(np.isfinite(value)):
        raise ValueError(f"{func}: {what} returned NaN or inf at the given inputs; check them where the function "
                         f"is finite")
    return value


def gradcheck(forward, backward, inputs, h=1e-6, tol=1e-6, seed=0):
    """Compare ``backward(grad_out, *inputs)`` with central differences of ``forward(*inputs)``.

    Parameters
    ----------
    forward : callable
        ``forward(*inputs) -> y``, a floating-point array (or number).
    backward : callable
        ``backward(grad_out, *inputs)`` -> dL/d(input) for each input (a tuple with one array per input, each of
        its input's shape, or one array for one input).
    inputs : list of float arrays
        Cast to float64 copies; integer data is refused.
    h : float > 0
        The step of the central differences.
    tol : float >= 0
        The largest accepted error (the entry-by-entry relative error of the module docstring).

    Returns
    -------
    list of float
        The error for every input; raises AssertionError if one exceeds tol (naming the worst entry).

    Examples
    --------
    >>> from minicnn import functional as F
    >>> x = np.random.default_rng(0).standard_normal((2, 3))
    >>> errors = gradcheck(F.tanh, lambda g, x: F.tanh_backward(g, x), [x])
    >>> errors[0] < 1e-8
    True
    """
    for name, function in (("forward", forward), ("backward", backward)):
        if not callable(function):
            raise TypeError(f"gradcheck: {name} must be a function, got {type(function).__name__}")
    if isinstance(inputs, np.ndarray) or not isinstance(inputs, (list, tuple)):
        described = (f"a single ndarray of shape {inputs.shape}" if isinstance(inputs, np.ndarray)
                     else type(inputs).__name__)
        raise TypeError(f"gradcheck: inputs must be a list of arrays, one per argument of forward (e.g. [x]), "
                        f"got {described}")
    if not inputs:
        raise ValueError("gradcheck: inputs is empty; give at least one array to differentiate with respect to")
    h = _positive("gradcheck", "h", h)
    tol = _tolerance("gradcheck", tol)
    inputs = [_float_input("gradcheck", f"inputs[{i}]", a) for i, a in enumerate(inputs)]
    y = _float_output("gradcheck", "forward", forward(*inputs))
    grad_out = np.random.default_rng(seed).standard_normal(y.shape)
    noise = _noise(y, grad_out, h)
    analytic = backward(grad_out, *inputs)
    analytic = list(analytic) if isinstance(analytic, (tuple, list)) else [analytic]
    if len(analytic) != len(inputs):
        raise ValueError(f"gradcheck: backward returned {len(analytic)} gradient(s) for {len(inputs)} input(s); "
                         f"it must return one per input, in order")
    for index, (x, a) in enumerate(zip(inputs, analytic)):
        if not isinstance(a, np.ndarray) and not (isinstance(a, numbers.Real) and x.ndim == 0):
            raise TypeError(f"gradcheck: backward's gradient for input {index} must be an array of shape {x.shape}, "
                            f"got {type(a).__name__}")
        a = np.asarray(a)
        if a.dtype.kind not in "biuf":
            raise TypeError(f"gradcheck: backward's gradient for input {index} must hold real numbers, "
                            f"got dtype {a.dtype}")
        if a.shape != x.shape:
            raise ValueError(f"gradcheck: backward's gradient for input {index} has shape {a.shape} but input "
                             f"{index} has shape {x.shape}; each gradient must have its input's shape")
        analytic[index] = a
    errors = []
    for index, (x, a) in enumerate(zip(inputs, analytic)):
        numeric = numerical_gradient(lambda: float(np.sum(forward(*inputs) * grad_out)), x, h)
        error, worst = _compare(a, numeric, noise)
        errors.append(error)
        if not error <= tol:
            raise AssertionError(f"gradcheck: input {index} relative error {error:.2e} > {tol:.0e}"
                                 + _describe(a, numeric, worst))
    return errors


def _tolerance(func, tol):
    if isinstance(tol, (bool, np.bool_)) or not isinstance(tol, numbers.Real):
        raise TypeError(f"{func}: tol must be a real number, got {tol!r} ({type(tol).__name__})")
    if not tol >= 0:
        raise ValueError(f"{func}: tol must be >= 0 (np.inf to only measure), got {tol!r}")
    return float(tol)


def check_module(module, x, h=1e-6, tol=1e-6, seed=0):
    """Gradient check of a Module (in float64, in its current train/eval mode) for its input and every
    parameter. Dropout masks are drawn once and reused, so the function being differentiated is fixed.

    The module is left as it was: its parameters, gradients and buffers (with their dtypes) and its
    Dropout layers' ``rng`` are restored afterwards, even if the check fails.

    Returns
    -------
    dict
        name -> relative error (see the module docstring), with ``'input'`` for dL/dx; raises AssertionError
        beyond tol.
    """
    from minicnn.nn import Dropout, Module

    if not isinstance(module, Module):
        raise TypeError(f"check_module: module must be a minicnn.nn.Module, got {type(module).__name__}")
    h = _positive("check_module", "h", h)
    tol = _tolerance("check_module", tol)
    x = _float_input("check_module", "x", x)
    name = type(module).__name__
    saved_params = [(param, param.data, param.grad) for _, param in module.named_parameters()]
    saved_buffers = [(sub, key, buf, np.array(buf, copy=True))
                     for sub in module.modules() for key, buf in list(sub._buffers.items())]
    saved_rngs = [(sub, sub.rng) for sub in module.modules() if isinstance(sub, Dropout)]
    try:
        module.double()
        buffers = {key: np.array(buf, copy=True) for key, buf in module.named_buffers()}

        def restore_buffers():
            # every forward must compute the same function: the same running statistics, and each Dropout
            # given a generator seeded alike, so it draws the same mask
            for key, buf in module.named_buffers():
                np.copyto(buf, buffers[key])
            for sub, _ in saved_rngs:
                sub.rng = np.random.default_rng(seed)

        restore_buffers()

        y = _float_output("check_module", f"{name}.forward", module(x))
        grad_out = np.random.default_rng(seed).standard_normal(y.shape)
        module.zero_grad()
        restore_buffers()
        module(x)
        grad_x = module.backward(grad_out)
        if not isinstance(grad_x, np.ndarray) or grad_x.shape != x.shape:
            got = f"shape {grad_x.shape}" if isinstance(grad_x, np.ndarray) else type(grad_x).__name__
            raise ValueError(f"check_module: {name}.backward must return dL/dx of x's shape {x.shape}, got {got}")
        analytic = {"input": grad_x}
        for key, param in module.named_parameters():  # a parameter backward did not reach has gradient 0
            analytic[key] = np.zeros(param.data.shape) if param.grad is None else param.grad

        def loss():
            restore_buffers()
            return float(np.sum(module(x) * grad_out))

        numeric = {"input": numerical_gradient(loss, x, h)}
        for key, param in module.named_parameters():
            numeric[key] = numerical_gradient(loss, param.data, h)
        noise = _noise(y, grad_out, h)
        compared = {key: _compare(analytic[key], numeric[key], noise) for key in analytic}
    finally:
        for param, data, grad in saved_params:
            param.data, param.grad = data, grad
        for sub, key, buf, values in saved_buffers:
            np.copyto(buf, values)
            sub.register_buffer(key, buf)
        for sub, rng in saved_rngs:
            sub.rng = rng
    errors = {key: error for key, (error, _) in compared.items()}
    bad = {key: error for key, error in errors.items() if not error <= tol}
    if bad:
        worst = max(bad, key=bad.get)
        raise AssertionError(f"check_module({name}): relative errors above {tol:.0e}: {bad}; worst is {worst}"
                             + _describe(analytic[worst], numeric[worst], compared[worst][1]))
    return errors
