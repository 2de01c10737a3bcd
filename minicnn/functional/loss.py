r"""Softmax and the losses of the course, with their gradients with respect to the scores.

Losses average over the batch (PyTorch's ``reduction='mean'``) and return a Python float.
"""
import numpy as np

from minicnn.functional._checks import as_float_array, expect_ndim, same_dtype

__all__ = ["softmax", "log_softmax", "cross_entropy", "cross_entropy_backward", "mse_loss", "mse_loss_backward"]


def _class_axis(op, x, dim):
    """x as a float array whose axis `dim` exists and is not empty (the classes a softmax normalizes over)."""
    x = as_float_array(op, "x", x)
    if not isinstance(dim, int) or isinstance(dim, bool) or not -x.ndim <= dim < max(x.ndim, 1):
        raise ValueError(f"{op}: dim={dim!r} is not an axis of x with shape {x.shape}")
    if x.ndim == 0 or x.shape[dim] == 0:
        raise ValueError(f"{op}: x {x.shape} has no classes along dim={dim} to normalize over")
    return x


def softmax(x, dim=-1):
    r""":math:`\mathrm{softmax}(x)_i = e^{x_i - m} / \sum_j e^{x_j - m}` with :math:`m = \max_j x_j`.

    Subtracting the maximum changes nothing mathematically and keeps exp from overflowing.

    >>> softmax(np.array([[1000.0, 1000.0]]))
    array([[0.5, 0.5]])
    """
    x = _class_axis("softmax", x, dim)
    e = np.exp(x - x.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


def log_softmax(x, dim=-1):
    r""":math:`\log \mathrm{softmax}(x)_i = x_i - m - \log \sum_j e^{x_j - m}` (stable for any scores).

    >>> np.round(log_softmax(np.array([[0.0, 0.0, 0.0, 0.0]])), 4)
    array([[-1.3863, -1.3863, -1.3863, -1.3863]])
    """
    x = _class_axis("log_softmax", x, dim)
    shifted = x - x.max(axis=dim, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))


def _check_labels(op, scores, target):
    scores = as_float_array(op, "scores", scores)
    expect_ndim(op, "scores", scores, 2, "(N, n_classes)")
    if 0 in scores.shape:
        raise ValueError(f"{op}: scores {scores.shape} is empty; the mean loss needs at least one sample "
                         f"and one class")
    target = np.asarray(target)
    if target.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must hold integer class labels, got dtype {target.dtype}")
    if target.shape != (scores.shape[0],):
        raise ValueError(f"{op}: target must have shape ({scores.shape[0]},), one label per row of scores "
                         f"{scores.shape}; got {target.shape}")
    if target.size and (target.min() < 0 or target.max() >= scores.shape[1]):
        bad = target[(target < 0) | (target >= scores.shape[1])]
        raise ValueError(f"{op}: labels must be in [0, {scores.shape[1] - 1}] for {scores.shape[1]} classes; "
                         f"got {bad[:5].tolist()}")
    return scores, target


def cross_entropy(scores, target):
    r"""Mean cross-entropy of softmax(scores) against integer labels, as torch.nn.functional.cross_entropy.

    .. math:: L = -\frac{1}{N} \sum_n \log \mathrm{softmax}(s_n)_{y_n}

    >>> f"{cross_entropy(np.zeros((2, 10)), np.array([3, 7])):.4f}"   # log(10)
    '2.3026'
    """
    scores, target = _check_labels("cross_entropy", scores, target)
    return float(-log_softmax(scores)[np.arange(len(target)), target].mean())


def cross_entropy_backward(scores, target):
    r"""Gradient of `cross_entropy`: :math:`(\mathrm{softmax}(s) - \mathrm{onehot}(y)) / N`."""
    scores, target = _check_labels("cross_entropy_backward", scores, target)
    grad = softmax(scores)
    grad[np.arange(len(target)), target] -= 1
    return grad / len(target)


def _check_pair(op, pred, target):
    pred, target = as_float_array(op, "input", pred), as_float_array(op, "target", target)
    same_dtype(op, input=pred, target=target)
    if pred.shape != target.shape:
        raise ValueError(f"{op}: input {pred.shape} and target {target.shape} must have the same shape "
                         f"(for class labels use one-hot targets, or cross_entropy)")
    if pred.size == 0:
        raise ValueError(f"{op}: input {pred.shape} is empty; the mean of no squared errors is undefined")
    return pred, target


def mse_loss(pred, target):
    r"""Mean squared error :math:`\frac{1}{M}\sum (\hat y - y)^2` over all M entries, as torch's ``mse_loss``.

    >>> mse_loss(np.array([1.0, 2.0]), np.array([1.0, 4.0]))
    2.0
    """
    pred, target = _check_pair("mse_loss", pred, target)
    return float(np.mean((pred - target) ** 2))


def mse_loss_backward(pred, target):
    r"""Gradient of `mse_loss`: :math:`2(\hat y - y)/M`."""
    pred, target = _check_pair("mse_loss_backward", pred, target)
    return 2 * (pred - target) / pred.size
