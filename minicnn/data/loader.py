"""Mini-batch iteration."""
import numpy as np


def batches(x, y, batch_size, shuffle=True, rng=None):
    """Yield (x_batch, y_batch) pairs covering the data once; the last batch may be smaller.

    Parameters
    ----------
    x, y : ndarray
        Same first dimension.
    batch_size : int
    shuffle : bool
        Visit the samples in a random order (from `rng`, a numpy Generator; seed it to repeat a run).

    Examples
    --------
    >>> [len(xb) for xb, _ in batches(np.zeros((10, 2)), np.zeros(10), 4, shuffle=False)]
    [4, 4, 2]
    """
    if len(x) != len(y):
        raise ValueError(f"batches: x has {len(x)} samples but y has {len(y)}")
    if batch_size < 1:
        raise ValueError(f"batches: batch_size must be >= 1, got {batch_size}")
    order = np.arange(len(x))
    if shuffle:
        order = (np.random.default_rng() if rng is None else rng).permutation(len(x))
    for start in range(0, len(x), batch_size):
        index = order[start:start + batch_size]
        yield x[index], y[index]
