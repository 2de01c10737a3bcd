r"""Weight initialisation, in place, with PyTorch's names (``torch.nn.init``).

fan_in / fan_out of a weight (K, C, kH, kW) are C*kH*kW and K*kH*kW; of a Linear weight (out, in), in and out.

- Xavier/Glorot keeps the variance of activations and gradients equal across layers for tanh/linear units:
  :math:`\mathrm{Var}(w) = 2 / (\mathrm{fan\_in} + \mathrm{fan\_out})`.
- He ("Xavier/2", used in ResNet) compensates for ReLU zeroing half its inputs:
  :math:`\mathrm{Var}(w) = 2 / \mathrm{fan\_in}`.

Each function takes an ndarray or a Parameter, fills it and returns it; ``rng`` defaults to
minicnn's global generator (`minicnn.random.manual_seed`).
"""
import math

import numpy as np

from minicnn import random as _random
from minicnn.functional._checks import check_real, check_rng

__all__ = ["calculate_gain", "uniform_", "normal_", "zeros_", "ones_", "xavier_uniform_", "xavier_normal_",
           "kaiming_uniform_", "kaiming_normal_"]


def _array(tensor):
    return tensor.data if hasattr(tensor, "data") and not isinstance(tensor, np.ndarray) else tensor


def _fans(array):
    if array.ndim < 2:
        raise ValueError(f"fan_in and fan_out need a weight with at least 2 dimensions, got shape {array.shape}")
    receptive = int(np.prod(array.shape[2:]))
    return array.shape[1] * receptive, array.shape[0] * receptive


def calculate_gain(nonlinearity, param=None):
    """The factor by which a non-linearity shrinks the standard deviation, as torch.nn.init.calculate_gain.

    >>> round(calculate_gain("relu"), 4), round(calculate_gain("tanh"), 4)
    (1.4142, 1.6667)
    """
    if nonlinearity in ("linear", "conv1d", "conv2d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope ** 2))
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _fill(tensor, values):
    array = _array(tensor)
    if not isinstance(array, np.ndarray) or array.dtype.kind != "f":
        raise TypeError(f"init: expected a float ndarray or a Parameter to fill in place, got {type(tensor).__name__}"
                        + (f" of dtype {array.dtype}" if isinstance(array, np.ndarray) else ""))
    array[...] = values
    return tensor


def _generator(op, rng):
    return _random.default_rng() if check_rng(op, "rng", rng) is None else rng


def _fan(op, array, mode):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"{op}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    return _fans(array)[0 if mode == "fan_in" else 1]


def uniform_(tensor, a=0.0, b=1.0, rng=None):
    """Fill with values drawn uniformly from [a, b).

    >>> w = uniform_(np.empty(3), -1.0, 1.0, rng=np.random.default_rng(0))
    >>> bool(np.all((-1 <= w) & (w < 1)))
    True
    """
    a, b = check_real("uniform_", "a", a), check_real("uniform_", "b", b)
    if a > b:
        raise ValueError(f"uniform_: the interval [a, b) needs a <= b, got a={a:g}, b={b:g}")
    return _fill(tensor, _generator("uniform_", rng).uniform(a, b, _array(tensor).shape))


def normal_(tensor, mean=0.0, std=1.0, rng=None):
    """Fill with values drawn from the normal distribution N(mean, std^2)."""
    mean, std = check_real("normal_", "mean", mean), check_real("normal_", "std", std, low=0)
    return _fill(tensor, _generator("normal_", rng).normal(mean, std, _array(tensor).shape))


def zeros_(tensor):
    """Fill with zeros (biases, and batch norm's beta)."""
    return _fill(tensor, 0)


def ones_(tensor):
    """Fill with ones (batch norm's gamma)."""
    return _fill(tensor, 1)


def xavier_uniform_(tensor, gain=1.0, rng=None):
    r"""U(-a, a) with :math:`a = \mathrm{gain}\sqrt{6 / (\mathrm{fan\_in} + \mathrm{fan\_out})}`."""
    fan_in, fan_out = _fans(_array(tensor))
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, rng)


def xavier_normal_(tensor, gain=1.0, rng=None):
    r"""N(0, std^2) with :math:`\mathrm{std} = \mathrm{gain}\sqrt{2 / (\mathrm{fan\_in} + \mathrm{fan\_out})}`."""
    fan_in, fan_out = _fans(_array(tensor))
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng)


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", rng=None):
    r"""He uniform: U(-b, b), :math:`b = \mathrm{gain}\sqrt{3/\mathrm{fan}}`; with ReLU, Var = 2/fan_in."""
    fan = _fan("kaiming_uniform_", _array(tensor), mode)
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    return uniform_(tensor, -bound, bound, rng)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", rng=None):
    r"""He normal: N(0, std^2), :math:`\mathrm{std} = \mathrm{gain}/\sqrt{\mathrm{fan}}` ("Xavier/2" for ReLU)."""
    fan = _fan("kaiming_normal_", _array(tensor), mode)
    return normal_(tensor, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan), rng)
