"""Loss modules: ``loss = loss_fn(scores, target)`` returns a float; ``loss_fn.backward()`` returns dloss/dscores."""
from minicnn import functional as F
from minicnn.functional._checks import check_real
from minicnn.nn.module import Module

__all__ = ["CrossEntropyLoss", "MSELoss"]


class CrossEntropyLoss(Module):
    """Softmax + negative log-likelihood of the integer labels, averaged over the batch.

    >>> import numpy as np
    >>> loss_fn = CrossEntropyLoss()
    >>> f"{loss_fn(np.zeros((4, 10)), np.array([0, 1, 2, 3])):.4f}"
    '2.3026'
    >>> loss_fn.backward().shape
    (4, 10)
    """

    def forward(self, scores, target):
        self._save(scores=scores, target=target)
        return F.cross_entropy(scores, target)

    def backward(self, grad_out=1.0, input_grad=True):
        """dL/dscores, times ``grad_out`` (the gradient of whatever uses the loss; 1 for the loss itself)."""
        scores, target = self._saved("scores", "target")
        return check_real("CrossEntropyLoss.backward", "grad_out", grad_out) * F.cross_entropy_backward(scores, target)


class MSELoss(Module):
    """Mean squared error over all entries (targets of the scores' shape, e.g. one-hot)."""

    def forward(self, scores, target):
        self._save(scores=scores, target=target)
        return F.mse_loss(scores, target)

    def backward(self, grad_out=1.0, input_grad=True):
        """dL/dscores, times ``grad_out`` (1 for the loss itself)."""
        scores, target = self._saved("scores", "target")
        return check_real("MSELoss.backward", "grad_out", grad_out) * F.mse_loss_backward(scores, target)
