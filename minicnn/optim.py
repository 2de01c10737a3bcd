r"""Optimizers and learning-rate schedules with PyTorch's names and update rules.

SGD with momentum :math:`\mu`, weight decay :math:`\lambda` (L2 regularisation) and learning rate :math:`\eta`:

.. math::

    g \leftarrow \nabla_w L + \lambda w, \qquad v \leftarrow \mu v + g, \qquad w \leftarrow w - \eta v

(Nesterov uses :math:`g + \mu v` in the last step.) Adam keeps running averages of g and g^2
with bias correction.
"""
import math

import numpy as np

__all__ = ["Optimizer", "SGD", "Adam", "StepLR", "ReduceLROnPlateau"]


class Optimizer:
    """Holds the parameters and the hyper-parameters (``lr`` can be changed by a scheduler)."""

    def __init__(self, params, lr):
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if not lr > 0:
            raise ValueError(f"{type(self).__name__}: learning rate must be > 0, got {lr}")
        self.lr = lr
        self.state = [dict() for _ in self.params]

    def zero_grad(self):
        for param in self.params:
            param.grad = None

    def step(self):
        for param, state in zip(self.params, self.state):
            if param.grad is not None:
                self._update(param, param.grad, state)

    def _update(self, param, grad, state):
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent, as torch.optim.SGD (dampening 0)."""

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params, lr)
        if nesterov and momentum <= 0:
            raise ValueError("SGD: Nesterov momentum needs momentum > 0")
        self.momentum, self.weight_decay, self.nesterov = momentum, weight_decay, nesterov

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
    """Adam (Kingma & Ba), as torch.optim.Adam: per-weight step sizes from running moments of the gradient."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
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


class StepLR:
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs (call ``step()`` once per epoch)."""

    def __init__(self, optimizer, step_size, gamma=0.1):
        self.optimizer, self.step_size, self.gamma = optimizer, step_size, gamma
        self.base_lr, self.last_epoch = optimizer.lr, 0

    def step(self):
        self.last_epoch += 1
        self.optimizer.lr = self.base_lr * self.gamma ** (self.last_epoch // self.step_size)


class ReduceLROnPlateau:
    """Divide the learning rate (x ``factor``, 0.1 as in AlexNet/ResNet) when a metric stops improving.

    Call ``step(metric)`` once per epoch with e.g. the validation loss (``mode='min'``).
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4, min_lr=0.0):
        if mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau: mode must be 'min' or 'max', got {mode!r}")
        if not 0 < factor < 1:
            raise ValueError(f"ReduceLROnPlateau: factor must be in (0, 1), got {factor}")
        self.optimizer, self.mode, self.factor = optimizer, mode, factor
        self.patience, self.threshold, self.min_lr = patience, threshold, min_lr
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0

    def _improved(self, metric):
        # PyTorch's default threshold_mode='rel'
        if self.mode == "min":
            return metric < self.best * (1 - self.threshold)
        return metric > self.best * (1 + self.threshold)

    def step(self, metric):
        metric = float(metric)
        if self._improved(metric):
            self.best, self.num_bad_epochs = metric, 0
        else:
            self.num_bad_epochs += 1
        if self.num_bad_epochs > self.patience:
            self.optimizer.lr = max(self.optimizer.lr * self.factor, self.min_lr)
            self.num_bad_epochs = 0
