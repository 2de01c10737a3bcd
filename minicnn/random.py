"""minicnn's global random generator, like ``torch.manual_seed``: seed once, and every initialisation,
dropout mask and shuffle that is not given its own generator draws from it.

>>> manual_seed(0); a = default_rng().random()
>>> manual_seed(0); b = default_rng().random()
>>> a == b
True
"""
import numpy as np

_rng = np.random.default_rng(0)


def manual_seed(seed):
    """Reset the global generator to `seed` (an int >= 0)."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"manual_seed: seed must be an int >= 0, got {seed!r}")
    global _rng
    _rng = np.random.default_rng(seed)


def default_rng():
    """The current global generator (a numpy.random.Generator)."""
    return _rng
