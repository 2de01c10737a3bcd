r"""Numerical gradient checks by central differences, in float64.

.. math:: \frac{\partial L}{\partial x_i} \approx \frac{L(x + h e_i) - L(x - h e_i)}{2h}

with :math:`L = \sum y \odot g` for a fixed random upstream gradient g, so one scalar
checks the whole backward pass (dL/dx = the backward of g). The error is :math:`O(h^2)`.
"""
import numpy as np

__all__ = ["numerical_gradient", "gradcheck", "check_module"]


def numerical_gradient(f, x, h=1e-6):
    """Central-difference gradient of the scalar function ``f()`` with respect to the array ``x`` (changed in place
    and restored).

    >>> x = np.array([1.0, 2.0])
    >>> np.round(numerical_gradient(lambda: float(np.sum(x ** 2)), x), 6)
    array([2., 4.])
    """
    if x.dtype != np.float64:
        raise TypeError(f"numerical_gradient: use float64 (got {x.dtype}); float32 cannot resolve a step of {h}")
    grad = np.zeros_like(x)
    flat, flat_grad = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        saved = flat[i]
        flat[i] = saved + h
        plus = f()
        flat[i] = saved - h
        minus = f()
        flat[i] = saved
        flat_grad[i] = (plus - minus) / (2 * h)
    return grad


def _relative_error(analytic, numeric):
    # relative to the largest entry; a gradient that is (nearly) zero everywhere is judged against 1e-3, because
    # there central differences only see rounding noise of about 1e-10
    scale = max(np.abs(analytic).max(initial=0.0), np.abs(numeric).max(initial=0.0), 1e-3)
    return float(np.abs(analytic - numeric).max(initial=0.0) / scale)


def gradcheck(forward, backward, inputs, h=1e-6, tol=1e-6, seed=0):
    """Compare ``backward(grad_out, *inputs)`` with central differences of ``forward(*inputs)``.

    Parameters
    ----------
    forward : callable
        ``forward(*inputs) -> y``.
    backward : callable
        ``backward(grad_out, *inputs)`` -> dL/d(input) for each input (a tuple, or one array for one input).
    inputs : sequence of float64 arrays
    h, tol : float
        Step and the largest accepted relative error.

    Returns
    -------
    list of float
        The relative error for every input; raises AssertionError if one exceeds tol.

    Examples
    --------
    >>> from minicnn import functional as F
    >>> x = np.random.default_rng(0).standard_normal((2, 3))
    >>> errors = gradcheck(F.tanh, lambda g, x: F.tanh_backward(g, x), [x])
    >>> errors[0] < 1e-8
    True
    """
    inputs = [np.array(a, dtype=np.float64) for a in inputs]
    grad_out = np.random.default_rng(seed).standard_normal(np.shape(forward(*inputs)))
    analytic = backward(grad_out, *inputs)
    analytic = analytic if isinstance(analytic, (tuple, list)) else (analytic,)
    errors = []
    for index, (x, a) in enumerate(zip(inputs, analytic)):
        numeric = numerical_gradient(lambda: float(np.sum(forward(*inputs) * grad_out)), x, h)
        errors.append(_relative_error(np.asarray(a), numeric))
        if errors[-1] > tol:
            raise AssertionError(f"gradcheck: input {index} relative error {errors[-1]:.2e} > {tol:.0e}")
    return errors


def check_module(module, x, h=1e-6, tol=1e-6, seed=0):
    """Gradient check of a Module (cast to float64, in its current train/eval mode) for its input and every
    parameter. Dropout masks are drawn once and reused, so the function being differentiated is fixed.

    Returns
    -------
    dict
        name -> relative error, with ``'input'`` for dL/dx; raises AssertionError beyond tol.
    """
    module.double()
    x = np.array(x, dtype=np.float64)
    from minicnn.nn import Dropout

    for sub in module.modules():  # freeze randomness: every forward must compute the same function
        if isinstance(sub, Dropout):
            sub.rng = _FrozenRng(seed)
    buffers = {name: np.array(buf, copy=True) for name, buf in module.named_buffers()}

    def restore_buffers():
        for name, buf in module.named_buffers():
            np.copyto(buf, buffers[name])

    y = module(x)
    grad_out = np.random.default_rng(seed).standard_normal(np.shape(y))
    module.zero_grad()
    restore_buffers()
    module(x)
    analytic = {"input": module.backward(grad_out)}
    analytic.update({name: p.grad for name, p in module.named_parameters()})

    def loss():
        restore_buffers()
        return float(np.sum(module(x) * grad_out))

    errors = {"input": _relative_error(analytic["input"], numerical_gradient(loss, x, h))}
    for name, param in module.named_parameters():
        errors[name] = _relative_error(analytic[name], numerical_gradient(loss, param.data, h))
    restore_buffers()
    bad = {k: v for k, v in errors.items() if v > tol}
    if bad:
        raise AssertionError(f"check_module({type(module).__name__}): relative errors above {tol:.0e}: {bad}")
    return errors


class _FrozenRng:
    """Stands in for a Generator: every call of random(shape) returns the same numbers."""

    def __init__(self, seed):
        self.seed = seed

    def random(self, shape):
        return np.random.default_rng(self.seed).random(shape)
