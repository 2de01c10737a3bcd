"""Loss modules: ``loss = loss_fn(scores, target)`` returns a float; ``loss_fn.backward()`` returns dloss/dscores."""
from minicnn import functional as F
from minicnn.nn.module import Module

__all__ = ["CrossEntropyLoss", "MSELoss"]


class _Loss(Module):
    def forward(self, scores, target):
        self._save(scores=scores, target=target)
        return self._loss(scores, target)

    def backward(self, grad_out=1.0):
        cache = self._saved()
        return grad_out * self._grad(cache["scores"], cache["target"])


class CrossEntropyLoss(_Loss):
    """Softmax + negative log-likelihood of the integer labels, averaged over the batch.

    >>> import numpy as np
    >>> loss_fn = CrossEntropyLoss()
    >>> f"{loss_fn(np.zeros((4, 10)), np.array([0, 1, 2, 3])):.4f}"
    '2.3026'
    >>> loss_fn.backward().shape
    (4, 10)
    """

    _loss = staticmethod(F.cross_entropy)
    _grad = staticmethod(F.cross_entropy_backward)


class MSELoss(_Loss):
    """Mean squared error over all entries (targets of the scores' shape, e.g. one-hot)."""

    _loss = staticmethod(F.mse_loss)
    _grad = staticmethod(F.mse_loss_backward)
