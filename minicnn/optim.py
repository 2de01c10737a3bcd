r"""Optimizers and learning-rate schedules with PyTorch's names and update rules.

SGD with momentum :math:`\mu`, weight decay :math:`\lambda` (L2 regularisation) and learning rate :math:`\eta`:

.. math::

    g \leftarrow \nabla_w L + \lambda w, \qquad v \leftarrow \mu v + g, \qquad w \leftarrow w - \eta v

(Nesterov uses :math:`g + \mu v` in the last step.) Adam keeps running averages of g and g^2
with bias correction.

The settings are checked where PyTorch checks them, in the constructors: a negative momentum, a beta
outside [0, 1) or the model itself instead of ``model.parameters()`` raise an error naming the rule.
"""
import math
import numbers

import numpy as np

from minicnn.functional._checks import check_int, check_real

__all__ = ["Optimizer", "SGD", "Adam", "StepLR", "ReduceLROnPlateau"]


def _parameter_list(owner, params):
    """``list(params)`` with the checks PyTorch makes (and a few it does not): an iterable of distinct Parameters."""
    from minicnn.nn.module import Module, Parameter

    hint = "pass model.parameters()"
    if isinstance(params, Module):
        raise TypeError(f"{owner}: params is the model ({type(params).__name__}) itself, not its parameters; "
                        f"{hint}")
    if isinstance(params, Parameter):
        raise TypeError(f"{owner}: params must be an iterable of Parameters, got a single Parameter; "
                        f"pass a list, e.g. [weight], or model.parameters()")
    if isinstance(params, np.ndarray):
        raise TypeError(f"{owner}: params must be an iterable of minicnn.nn.Parameter, got an ndarray of shape "
                        f"{params.shape} (an optimizer updates Parameters, whose .grad a backward pass fills); "
                        f"{hint}")
    if isinstance(params, (set, frozenset)):
        raise TypeError(f"{owner}: params must be an ordered collection (a list), got a {type(params).__name__}, "
                        f"whose order changes between runs; {hint}")
    if isinstance(params, dict):
        raise TypeError(f"{owner}: params must be an iterable of Parameters, got a dict (its keys would be "
                        f"used); {hint}")
    try:
        iterator = iter(params)
    except TypeError:
        raise TypeError(f"{owner}: params must be an iterable of Parameters, got {type(params).__name__}; "
                        f"{hint}") from None
    was_iterator = iterator is params
    params = list(iterator)
    if not params:
        if was_iterator:
            raise ValueError(f"{owner}: got an empty parameter list: params is an iterator that yielded nothing "
                             f"(already used up, e.g. by another optimizer?); {hint} again")
        raise ValueError(f"{owner}: got an empty parameter list; {hint} of a model that has parameters")
    seen = {}
    for index, param in enumerate(params):
        if not isinstance(param, Parameter):
            extra = f" of shape {param.shape}" if isinstance(param, np.ndarray) else ""
            raise TypeError(f"{owner}: params[{index}] has type {type(param).__name__}{extra}, not "
                            f"minicnn.nn.Parameter; {hint}")
        if id(param) in seen:
            raise ValueError(f"{owner}: params[{seen[id(param)]}] and params[{index}] are the same Parameter "
                             f"of shape {param.shape}; each parameter must appear once, or it would be updated "
                             f"twice per step")
        seen[id(param)] = index
    return params


class Optimizer:
    """Holds the parameters and the hyper-parameters (``lr`` can be changed by a scheduler).

    Parameters
    ----------
    params : iterable of minicnn.nn.Parameter
        Usually ``model.parameters()``; each parameter once.
    lr : float > 0
    """

    def __init__(self, params, lr):
        name = type(self).__name__
        self.params = _parameter_list(name, params)
        self.lr = check_real(name, "lr", lr, low=0, low_open=True)
        self.state = [dict() for _ in self.params]

    def zero_grad(self):
        """Forget every parameter's gradient (set ``grad`` to None) before the next backward pass."""
        for param in self.params:
            param.grad = None

    def step(self):
        """Update every parameter that has a gradient (parameters whose ``grad`` is None are skipped)."""
        for index, (param, state) in enumerate(zip(self.params, self.state)):
            if param.grad is not None:
                if np.shape(param.grad) != param.data.shape:
                    raise ValueError(f"{type(self).__name__}.step: params[{index}].grad has shape "
                                     f"{np.shape(param.grad)} but the parameter has shape {param.data.shape}")
                self._update(param, param.grad, state)

    def _update(self, param, grad, state):
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent, as torch.optim.SGD (dampening 0).

    Parameters
    ----------
    params : iterable of Parameter
    lr : float > 0
    momentum : float >= 0
    weight_decay : float >= 0
        L2 penalty added to the gradient.
    nesterov : bool
        Nesterov momentum (needs momentum > 0).

    >>> from minicnn import nn
    >>> SGD(nn.Linear(2, 2).parameters(), lr=0.1, momentum=-0.9)
    Traceback (most recent call last):
    ...
    ValueError: SGD: momentum must be >= 0, got -0.9
    """

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params, lr)
        momentum = check_real("SGD", "momentum", momentum, low=0)
        weight_decay = check_real("SGD", "weight_decay", weight_decay, low=0)
        if not isinstance(nesterov, (bool, np.bool_)):
            raise TypeError(f"SGD: nesterov must be True or False, got {nesterov!r}")
        if nesterov and momentum <= 0:
            raise ValueError(f"SGD: Nesterov momentum needs momentum > 0, got momentum={momentum:g}")
        self.momentum, self.weight_decay, self.nesterov = momentum, weight_decay, bool(nesterov)

    def _update(self, param, grad, state):
        if self.weight_decay:
            grad = grad + self.weight_decay * param.data
        if self.momentum:
            if "velocity" not in state:
                state["velocity"] = np.array(grad, copy=True)
            else:
                state["velocity"] *= self.momentum
                state["velocity"] += grad
            grad = grad + self.momentum * state["velocity"] if self.nesterov else state["velocity"]
        param.data -= (self.lr * grad).astype(param.data.dtype, copy=False)


class Adam(Optimizer):
    """Adam (Kingma & Ba), as torch.optim.Adam: per-weight step sizes from running moments of the gradient.

    Parameters
    ----------
    params : iterable of Parameter
    lr : float > 0
    betas : (float, float), each in [0, 1)
        Decay rates of the running mean of g and of g^2.
    eps : float >= 0
        Added to the denominator.
    weight_decay : float >= 0
        L2 penalty added to the gradient.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__") or len(betas) != 2:
            raise TypeError(f"Adam: betas must be a pair (beta1, beta2), e.g. (0.9, 0.999), got {betas!r}")
        betas = tuple(check_real("Adam", f"betas[{i}]", beta, low=0, high=1, high_open=True)
                      for i, beta in enumerate(betas))
        eps = check_real("Adam", "eps", eps, low=0)
        weight_decay = check_real("Adam", "weight_decay", weight_decay, low=0)
        self.betas, self.eps, self.weight_decay = betas, eps, weight_decay

    def _update(self, param, grad, state):
        beta1, beta2 = self.betas
        if self.weight_decay:
            grad = grad + self.weight_decay * param.data
        if not state:
            state.update(step=0, m=np.zeros_like(param.data), v=np.zeros_like(param.data))
        state["step"] += 1
        m, v, t = state["m"], state["v"], state["step"]
        m *= beta1
        m += (1 - beta1) * grad
        v *= beta2
        v += (1 - beta2) * grad * grad
        step_size = self.lr / (1 - beta1 ** t)
        denom = np.sqrt(v) / math.sqrt(1 - beta2 ** t) + self.eps
        param.data -= (step_size * m / denom).astype(param.data.dtype, copy=False)


def _check_optimizer(owner, optimizer):
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{owner}: optimizer must be a minicnn.optim optimizer (SGD, Adam), "
                        f"got {type(optimizer).__name__}")


class StepLR:
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs (call ``step()`` once per epoch).

    Parameters
    ----------
    optimizer : Optimizer
    step_size : int >= 1
        Epochs between two decays.
    gamma : float > 0
        Factor applied at every decay.
    """

    def __init__(self, optimizer, step_size, gamma=0.1):
        _check_optimizer("StepLR", optimizer)
        step_size = check_int("StepLR", "step_size", step_size, 1)
        gamma = check_real("StepLR", "gamma", gamma, low=0, low_open=True)
        self.optimizer, self.step_size, self.gamma = optimizer, step_size, gamma
        self.base_lr, self.last_epoch = optimizer.lr, 0

    def step(self):
        self.last_epoch += 1
        self.optimizer.lr = self.base_lr * self.gamma ** (self.last_epoch // self.step_size)


class ReduceLROnPlateau:
    """Divide the learning rate (x ``factor``, 0.1 as in AlexNet/ResNet) when a metric stops improving.

    Call ``step(metric)`` once per epoch with e.g. the validation loss (``mode='min'``).

    Parameters
    ----------
    optimizer : Optimizer
    mode : 'min' or 'max'
        Whether a smaller (a loss) or a larger (an accuracy) metric is better.
    factor : float in (0, 1)
    patience : int >= 0
        Epochs without improvement tolerated before the rate is reduced.
    threshold : float >= 0
        Relative improvement that counts (PyTorch's ``threshold_mode='rel'``).
    min_lr : float >= 0
        The rate is never reduced below this.

    A NaN metric counts as "not improved", as in PyTorch.
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4, min_lr=0.0):
        name = "ReduceLROnPlateau"
        _check_optimizer(name, optimizer)
        if mode not in ("min", "max"):
            raise ValueError(f"{name}: mode must be 'min' or 'max', got {mode!r}")
        factor = check_real(name, "factor", factor, low=0, low_open=True, high=1, high_open=True)
        patience = check_int(name, "patience", patience, 0)
        threshold = check_real(name, "threshold", threshold, low=0)
        min_lr = check_real(name, "min_lr", min_lr, low=0)
        self.optimizer, self.mode, self.factor = optimizer, mode, factor
        self.patience, self.threshold, self.min_lr = patience, threshold, min_lr
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0

    def _improved(self, metric):
        # PyTorch's default threshold_mode='rel'; a NaN metric compares False: not improved
        if self.mode == "min":
            return metric < self.best * (1 - self.threshold)
        return metric > self.best * (1 + self.threshold)

    def step(self, metric):
        """Record this epoch's metric (a number, e.g. the validation loss) and reduce the rate after a plateau."""
        if isinstance(metric, np.ndarray) and metric.size == 1:
            metric = metric.reshape(()).item()
        if isinstance(metric, (bool, np.bool_)) or not isinstance(metric, numbers.Real):
            hint = (" (evaluate() returns (loss, accuracy): pass its loss)"
                    if isinstance(metric, (tuple, list)) else "")
            raise TypeError(f"ReduceLROnPlateau.step: metric must be a number, e.g. the validation loss, got "
                            f"{type(metric).__name__} {metric!r}{hint}")
        metric = float(metric)
        if self._improved(metric):
            self.best, self.num_bad_epochs = metric, 0
        else:
            self.num_bad_epochs += 1
        if self.num_bad_epochs > self.patience:
            self.optimizer.lr = max(self.optimizer.lr * self.factor, self.min_lr)
            self.num_bad_epochs = 0
