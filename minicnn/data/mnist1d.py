"""MNIST-1D (Greydanus, 2020): ten 1-D digit templates, shifted, scaled, sheared and noised into length-40 signals.

The `mnist1d` package generates it locally from its templates with a fixed seed;
its downloader is never used, so this works offline and gives the same arrays everywhere.
"""
import random

import numpy as np

from minicnn.functional._checks import float_dtype


def load_mnist1d(dtype=np.float32):
    """Generate MNIST-1D with the package's default arguments (4,000 train + 1,000 test signals).

    Parameters
    ----------
    dtype : numpy dtype
        Dtype of the signals.

    Returns
    -------
    dict
        ``x`` (4000, 40), ``y`` (4000,) int64, ``x_test`` (1000, 40), ``y_test`` (1000,),
        ``t`` (40,) the sample positions, ``templates`` (10, 12) the clean digit shapes.

    Examples
    --------
    >>> d = load_mnist1d()
    >>> d["x"].shape, d["x_test"].shape, sorted(set(d["y"].tolist())) == list(range(10))
    ((4000, 40), (1000, 40), True)
    """
    dtype = float_dtype("load_mnist1d", "dtype", dtype)
    from mnist1d.data import get_dataset_args, make_dataset

    # make_dataset seeds the global RNGs; put them back so a learner's own random numbers are not disturbed.
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return {
        "x": data["x"].astype(dtype),
        "y": data["y"].astype(np.int64),
        "x_test": data["x_test"].astype(dtype),
        "y_test": data["y_test"].astype(np.int64),
        "t": np.asarray(data["t"]),
        "templates": np.asarray(data["templates"]["x"]),
    }
