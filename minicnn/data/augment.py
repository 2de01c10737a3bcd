r"""Data augmentation for batches of images (N, C, H, W): new, label-preserving variants of each training image.

Every random transform draws from `rng`, a ``numpy.random.Generator`` (``None``: minicnn's global generator,
see `minicnn.random.manual_seed`), so a seeded generator repeats the same augmentation; the numbers are drawn
for the whole batch in a fixed order, one set per image. Inputs are never modified: each function returns a new
array of the input's dtype.

- `horizontal_flip`, `random_horizontal_flip`: mirror left-right (a cat facing left is still a cat);
- `random_crop`: zero-pad by `padding` pixels, then cut a window at a random place (the CIFAR-10 recipe of
  He et al., 2016: pad 4, crop 32x32); `random_shift`: the same thing seen as a translation by up to
  `max_shift` pixels;
- `color_jitter`: random brightness and contrast;
- `color_pca` + `pca_color_augment`: AlexNet's colour augmentation (Krizhevsky et al., 2012, section 4.1): add
  to every pixel of an image :math:`[p_1, p_2, p_3]\,[\alpha_1\lambda_1, \alpha_2\lambda_2, \alpha_3\lambda_3]^\top`,
  where :math:`p_i, \lambda_i` are the eigenvectors and eigenvalues of the covariance of the RGB values of all
  training pixels and :math:`\alpha_i \sim \mathcal{N}(0, 0.1^2)` is drawn once per image.

>>> rng = np.random.default_rng(0)
>>> x = rng.random((8, 3, 32, 32)).astype(np.float32)
>>> y = random_crop(random_horizontal_flip(x, rng=rng), padding=4, rng=rng)
>>> y.shape, y.dtype
((8, 3, 32, 32), dtype('float32'))
"""
import numbers

import numpy as np

from minicnn import random as _random
from minicnn.data.preprocessing import _fixed_sign_eigh
from minicnn.functional._checks import as_float_array, int_tuple

__all__ = [
    "color_jitter",
    "color_pca",
    "horizontal_flip",
    "pca_color_augment",
    "random_crop",
    "random_horizontal_flip",
    "random_shift",
]


def _images(op, x):
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a batch of images with 4 dimensions (N, C, H, W), got shape {x.shape}")
    return x


def _float_images(op, x):
    x = _images(op, x)
    return as_float_array(op, "x", x)


def _generator(op, rng):
    if rng is None:
        return _random.default_rng()
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"{op}: rng must be a numpy.random.Generator or None, got {type(rng).__name__}; "
            "e.g. rng=np.random.default_rng(0)"
        )
    return rng


def _probability(op, name, p):
    if not isinstance(p, numbers.Real) or isinstance(p, bool) or not 0 <= p <= 1:
        raise ValueError(f"{op}: {name} must be a probability in [0, 1], got {p!r}")
    return float(p)


def horizontal_flip(x):
    """Mirror every image left-right (reverse the W axis). Applying it twice gives back `x`.

    >>> horizontal_flip(np.arange(3).reshape(1, 1, 1, 3)).ravel().tolist()
    [2, 1, 0]
    """
    return _images("horizontal_flip", x)[..., ::-1].copy()


def random_horizontal_flip(x, p=0.5, rng=None):
    """Mirror each image left-right with probability `p`, independently.

    Parameters
    ----------
    x : ndarray (N, C, H, W)
    p : float
        Probability that an image is flipped.
    rng : numpy.random.Generator, optional

    Examples
    --------
    >>> x = np.arange(4).reshape(2, 1, 1, 2)
    >>> random_horizontal_flip(x, p=1.0, rng=np.random.default_rng(0)).reshape(2, 2).tolist()
    [[1, 0], [3, 2]]
    """
    x = _images("random_horizontal_flip", x)
    p = _probability("random_horizontal_flip", "p", p)
    flip = _generator("random_horizontal_flip", rng).random(len(x)) < p
    out = x.copy()
    out[flip] = x[flip, ..., ::-1]
    return out


def _pad_and_crop(op, x, size, padding, rng, fill):
    """Zero-pad (value `fill`) by padding = (ph, pw), then crop a size = (th, tw) window at a random offset."""
    n, c, h, w = x.shape
    (ph, pw), (th, tw) = padding, size
    if th > h + 2 * ph or tw > w + 2 * pw:
        raise ValueError(
            f"{op}: crop size {(th, tw)} is larger than the padded images ({h} + 2*{ph}, {w} + 2*{pw}) = "
            f"{(h + 2 * ph, w + 2 * pw)} (input shape {x.shape})"
        )
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    tops = rng.integers(0, h + 2 * ph - th + 1, size=n)
    lefts = rng.integers(0, w + 2 * pw - tw + 1, size=n)
    out = np.empty((n, c, th, tw), dtype=x.dtype)
    for i in range(n):
        out[i] = padded[i, :, tops[i]:tops[i] + th, lefts[i]:lefts[i] + tw]
    return out


def random_crop(x, size=None, padding=4, rng=None, fill=0):
    """Pad every image by `padding` pixels of value `fill` on each side, then crop a `size` window at a random
    position (one per image): the standard CIFAR-10 augmentation with ``padding=4`` and the original size.

    Parameters
    ----------
    x : ndarray (N, C, H, W)
    size : int, (int, int) or None
        Output height and width; ``None`` keeps (H, W).
    padding : int or (int, int)
        Pixels added above and below (and left and right), >= 0.
    rng : numpy.random.Generator, optional
    fill : number
        Value of the padding pixels.

    Returns
    -------
    ndarray (N, C, size_h, size_w), dtype of `x`

    Examples
    --------
    >>> x = np.ones((2, 3, 8, 8), np.float32)
    >>> random_crop(x, padding=2, rng=np.random.default_rng(0)).shape
    (2, 3, 8, 8)
    >>> random_crop(x, size=6, padding=0, rng=np.random.default_rng(0)).shape
    (2, 3, 6, 6)
    """
    op = "random_crop"
    x = _images(op, x)
    size = x.shape[2:] if size is None else int_tuple(op, "size", size, 2, 1)
    padding = int_tuple(op, "padding", padding, 2, 0)
    return _pad_and_crop(op, x, size, padding, _generator(op, rng), fill)


def random_shift(x, max_shift=2, rng=None, fill=0):
    """Translate each image by a random whole number of pixels, up to `max_shift` in each direction, filling the
    uncovered border with `fill`. The shape is kept.

    This is `random_crop` with ``padding=max_shift`` and the original size: cropping the padded image at offset
    (top, left) shifts its content by (max_shift - top, max_shift - left), each uniform in
    [-max_shift, max_shift].

    Parameters
    ----------
    x : ndarray (N, C, H, W)
    max_shift : int or (int, int)
        Largest shift (vertical, horizontal) in pixels, >= 0.
    rng : numpy.random.Generator, optional
    fill : number

    Examples
    --------
    >>> x = np.zeros((1, 1, 5, 5)); x[0, 0, 2, 2] = 1
    >>> y = random_shift(x, max_shift=1, rng=np.random.default_rng(3))
    >>> y.shape, float(y.sum())
    ((1, 1, 5, 5), 1.0)
    """
    op = "random_shift"
    x = _images(op, x)
    shift = int_tuple(op, "max_shift", max_shift, 2, 0)
    return _pad_and_crop(op, x, x.shape[2:], shift, _generator(op, rng), fill)


def _factor_range(op, name, amount):
    if not isinstance(amount, numbers.Real) or isinstance(amount, bool) or not amount >= 0:
        raise ValueError(f"{op}: {name} must be a number >= 0, got {amount!r}")
    return max(0.0, 1.0 - amount), 1.0 + amount


def color_jitter(x, brightness=0.2, contrast=0.2, rng=None, clip=None):
    r"""Random brightness, then random contrast, each image with its own factors.

    Brightness multiplies the image by :math:`b \sim U[\max(0, 1 - \text{brightness}), 1 + \text{brightness}]`;
    contrast moves it away from (or towards) its mean :math:`m` (over channels and pixels):
    :math:`m + c\,(x - m)` with :math:`c` drawn the same way (the factors of ``torchvision``'s ``ColorJitter``).

    Parameters
    ----------
    x : ndarray (N, C, H, W), float32 or float64
    brightness, contrast : float
        Largest relative change, >= 0 (0 turns that part off).
    rng : numpy.random.Generator, optional
    clip : (float, float) or None
        Clip the result to this range, e.g. ``(0, 1)`` for images in [0, 1]. ``None`` (default) does not clip,
        so it also works on standardized data.

    Examples
    --------
    >>> x = np.full((2, 1, 2, 2), 0.5)
    >>> y = color_jitter(x, brightness=0.5, contrast=0.0, rng=np.random.default_rng(0))
    >>> y.shape, bool(np.all(y == y[:, :, :1, :1]))   # brightness scales the whole image
    ((2, 1, 2, 2), True)
    """
    op = "color_jitter"
    x = _float_images(op, x)
    b_lo, b_hi = _factor_range(op, "brightness", brightness)
    c_lo, c_hi = _factor_range(op, "contrast", contrast)
    rng = _generator(op, rng)
    shape = (len(x), 1, 1, 1)
    b = rng.uniform(b_lo, b_hi, size=shape).astype(x.dtype)
    c = rng.uniform(c_lo, c_hi, size=shape).astype(x.dtype)
    out = x * b
    if contrast > 0:  # skipped at 0, where it would only add rounding
        mean = out.mean(axis=(1, 2, 3), keepdims=True)
        out = mean + c * (out - mean)
    if clip is not None:
        lo, hi = clip
        out = np.clip(out, lo, hi)
    return out.astype(x.dtype, copy=False)


def color_pca(x):
    """Principal components of the colours of all pixels of training images x (N, C, H, W).

    Returns ``(eigenvalues (C,), eigenvectors (C, C))``: the eigendecomposition of the C x C covariance of the
    pixel colour vectors (float64, eigenvalues decreasing, eigenvectors as columns with fixed signs).
    Pass them to `pca_color_augment`.

    >>> values, vectors = color_pca(np.random.default_rng(0).random((4, 3, 8, 8)))
    >>> values.shape, vectors.shape, bool(values[0] >= values[1] >= values[2] >= 0)
    ((3,), (3, 3), True)
    """
    x = _float_images("color_pca", x)
    if x.shape[0] * x.shape[2] * x.shape[3] < 2:
        raise ValueError(f"color_pca: need at least 2 pixels to estimate a covariance, got shape {x.shape}")
    pixels = x.transpose(0, 2, 3, 1).reshape(-1, x.shape[1]).astype(np.float64)
    centred = pixels - pixels.mean(axis=0)
    return _fixed_sign_eigh(centred.T @ centred / len(pixels))


def pca_color_augment(x, eigenvalues, eigenvectors, std=0.1, rng=None):
    r"""AlexNet's colour augmentation: add :math:`P\,(\alpha \odot \lambda)` to every pixel of each image, with
    :math:`\alpha \sim \mathcal{N}(0, \text{std}^2)` drawn per image and colour component.

    The shift follows the directions in which the training colours vary (for photos mostly overall brightness,
    then warm-cool), so it mimics changes of illumination intensity and colour.

    Parameters
    ----------
    x : ndarray (N, C, H, W), float32 or float64
    eigenvalues : ndarray (C,)
    eigenvectors : ndarray (C, C), columns
        From `color_pca` on the training images.
    std : float
        Standard deviation of the :math:`\alpha_i` (0.1 in the paper).
    rng : numpy.random.Generator, optional

    Examples
    --------
    >>> x = np.random.default_rng(0).random((4, 3, 8, 8))
    >>> values, vectors = color_pca(x)
    >>> y = pca_color_augment(x, values, vectors, rng=np.random.default_rng(1))
    >>> d = y - x                        # one colour shift per image, the same at every pixel
    >>> y.shape, bool(np.allclose(d, d[:, :, :1, :1]))
    ((4, 3, 8, 8), True)
    """
    op = "pca_color_augment"
    x = _float_images(op, x)
    c = x.shape[1]
    eigenvalues, eigenvectors = np.asarray(eigenvalues, np.float64), np.asarray(eigenvectors, np.float64)
    if eigenvalues.shape != (c,) or eigenvectors.shape != (c, c):
        raise ValueError(
            f"{op}: for images with {c} channels (shape {x.shape}) expected eigenvalues ({c},) and eigenvectors "
            f"({c}, {c}), got {eigenvalues.shape} and {eigenvectors.shape}; compute them with color_pca(x_train)"
        )
    if not isinstance(std, numbers.Real) or not std >= 0:
        raise ValueError(f"{op}: std must be a number >= 0, got {std!r}")
    alpha = _generator(op, rng).normal(0.0, std, size=(len(x), c))
    shift = (alpha * eigenvalues) @ eigenvectors.T  # row n: sum_i alpha_ni lambda_i p_i
    return x + shift.astype(x.dtype)[:, :, None, None]
