import numpy as np
import pytest

from minicnn import random as minicnn_random
from minicnn.data import (
    color_jitter,
    color_pca,
    horizontal_flip,
    pca_color_augment,
    random_crop,
    random_horizontal_flip,
    random_shift,
)


def images(n=16, c=3, h=10, w=12, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).random((n, c, h, w)).astype(dtype)


def rng(seed=0):
    return np.random.default_rng(seed)


def test_horizontal_flip_is_its_own_inverse_and_mirrors_the_width():
    x = images()
    y = horizontal_flip(x)
    np.testing.assert_array_equal(horizontal_flip(y), x)
    np.testing.assert_array_equal(y[..., 0], x[..., -1])
    assert y.dtype == x.dtype and not np.shares_memory(x, y)


def test_random_horizontal_flip_flips_each_image_or_leaves_it():
    x = images(n=200)
    before = x.copy()
    y = random_horizontal_flip(x, p=0.5, rng=rng(1))
    np.testing.assert_array_equal(x, before)  # the input is not modified
    flipped = np.array([np.array_equal(y[i], x[i, ..., ::-1]) for i in range(len(x))])
    kept = np.array([np.array_equal(y[i], x[i]) for i in range(len(x))])
    assert np.all(flipped ^ kept)
    assert 70 < flipped.sum() < 130
    np.testing.assert_array_equal(random_horizontal_flip(x, p=0.5, rng=rng(1)), y)  # same seed, same flips
    np.testing.assert_array_equal(random_horizontal_flip(x, p=0.0, rng=rng(1)), x)
    np.testing.assert_array_equal(random_horizontal_flip(x, p=1.0, rng=rng(1)), horizontal_flip(x))


def test_random_crop_keeps_shape_and_takes_windows_of_the_padded_image():
    x = images(dtype=np.float64)
    y = random_crop(x, padding=4, rng=rng(2))
    assert y.shape == x.shape and y.dtype == x.dtype
    padded = np.pad(x, ((0, 0), (0, 0), (4, 4), (4, 4)))
    for i in range(len(x)):
        windows = [(t, l) for t in range(9) for l in range(9)
                   if np.array_equal(padded[i, :, t:t + 10, l:l + 12], y[i])]
        assert windows, f"image {i} is not a window of its padded image"
    np.testing.assert_array_equal(random_crop(x, padding=4, rng=rng(2)), y)
    np.testing.assert_array_equal(random_crop(x, padding=0, rng=rng(2)), x)  # nothing to choose
    assert random_crop(x, size=(6, 7), padding=0, rng=rng(2)).shape == (16, 3, 6, 7)
    assert random_crop(x.astype(np.uint8), padding=2, fill=9, rng=rng(2)).dtype == np.uint8


def test_random_crop_positions_are_uniform():
    x = np.zeros((4000, 1, 1, 1))
    x[:, 0, 0, 0] = 1.0
    y = random_crop(x, size=1, padding=1, rng=rng(3))  # 3x3 padded, the pixel in the middle
    assert 0.06 < y.mean() < 0.16  # the centre is chosen 1/9 of the time


def test_random_shift_moves_content_by_at_most_max_shift():
    x = np.zeros((300, 1, 9, 9))
    x[:, 0, 4, 4] = 1.0
    y = random_shift(x, max_shift=2, rng=rng(4))
    assert y.shape == x.shape and np.all(y.sum(axis=(1, 2, 3)) == 1)
    rows, cols = np.nonzero(y[:, 0])[1:]
    assert set((rows - 4).tolist()) == set(range(-2, 3)) and set((cols - 4).tolist()) == set(range(-2, 3))
    vertical_only = random_shift(x, max_shift=(2, 0), rng=rng(4))
    assert np.all(np.nonzero(vertical_only[:, 0])[2] == 4)
    # a shift equals a crop of the image padded by max_shift
    np.testing.assert_array_equal(random_shift(x, 2, rng=rng(7)), random_crop(x, padding=2, rng=rng(7)))


def test_color_jitter_brightness_and_contrast():
    x = images(n=64, dtype=np.float64)
    bright = color_jitter(x, brightness=0.3, contrast=0.0, rng=rng(5))
    ratio = bright / x
    np.testing.assert_allclose(ratio, ratio[:, :1, :1, :1] * np.ones_like(ratio), rtol=1e-12)  # one factor each
    assert 0.7 <= ratio.min() and ratio.max() <= 1.3
    contrast = color_jitter(x, brightness=0.0, contrast=0.5, rng=rng(5))
    np.testing.assert_allclose(contrast.mean(axis=(1, 2, 3)), x.mean(axis=(1, 2, 3)), rtol=1e-12)  # mean kept
    spread = contrast.std(axis=(1, 2, 3)) / x.std(axis=(1, 2, 3))
    assert 0.5 <= spread.min() and spread.max() <= 1.5 and spread.std() > 0.1
    np.testing.assert_array_equal(color_jitter(x, rng=rng(6)), color_jitter(x, rng=rng(6)))
    np.testing.assert_array_equal(color_jitter(x, brightness=0, contrast=0, rng=rng(6)), x)
    clipped = color_jitter(x, brightness=0.9, contrast=0.9, rng=rng(6), clip=(0.0, 1.0))
    assert clipped.min() >= 0.0 and clipped.max() <= 1.0
    assert color_jitter(x.astype(np.float32), rng=rng(6)).dtype == np.float32


def test_pca_color_augmentation_follows_the_colour_covariance():
    # colours that vary mostly along (1, 1, 1)/sqrt(3): brightness
    rng_ = rng(8)
    gray = rng_.random((40, 1, 6, 6))
    x = (gray + 0.02 * rng_.standard_normal((40, 3, 6, 6))).astype(np.float32)
    values, vectors = color_pca(x)
    assert values.shape == (3,) and vectors.shape == (3, 3) and values[0] > 10 * values[1]
    np.testing.assert_allclose(np.abs(vectors[:, 0]), np.full(3, 3 ** -0.5), atol=0.02)
    np.testing.assert_allclose(vectors.T @ vectors, np.eye(3), atol=1e-12)
    y = pca_color_augment(x, values, vectors, std=0.1, rng=rng(9))
    assert y.shape == x.shape and y.dtype == np.float32
    shift = (y - x)[:, :, 0, 0]
    np.testing.assert_allclose(y - x, shift[:, :, None, None] * np.ones_like(x), atol=1e-6)  # same at every pixel
    # the shift is sum_i alpha_i lambda_i p_i with alpha ~ N(0, 0.1^2)
    alpha = rng(9).normal(0.0, 0.1, size=(40, 3))
    np.testing.assert_allclose(shift, (alpha * values) @ vectors.T, rtol=1e-4, atol=1e-7)
    np.testing.assert_array_equal(pca_color_augment(x, values, vectors, rng=rng(9)), y)


def test_default_generator_is_minicnns_global_one():
    x = images(n=50)
    minicnn_random.manual_seed(3)
    a = random_crop(random_horizontal_flip(x), padding=2)
    minicnn_random.manual_seed(3)
    b = random_crop(random_horizontal_flip(x), padding=2)
    np.testing.assert_array_equal(a, b)


def test_errors_name_the_rule_and_shape():
    x = images()
    with pytest.raises(ValueError, match=r"4 dimensions \(N, C, H, W\), got shape \(10, 12\)"):
        random_horizontal_flip(x[0, 0], rng=rng())
    with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\], got 1.5"):
        random_horizontal_flip(x, p=1.5, rng=rng())
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator or None, got int"):
        random_crop(x, rng=0)
    with pytest.raises(ValueError, match=r"crop size \(20, 12\) is larger than the padded images"):
        random_crop(x, size=(20, 12), padding=1, rng=rng())
    with pytest.raises(ValueError, match="padding must be >= 0"):
        random_crop(x, padding=-1, rng=rng())
    with pytest.raises(TypeError, match="must be float32 or float64"):
        color_jitter(x.astype(np.uint8), rng=rng())
    with pytest.raises(ValueError, match="brightness must be a number >= 0"):
        color_jitter(x, brightness=-0.1, rng=rng())
    values, vectors = color_pca(x)
    with pytest.raises(ValueError, match=r"3 channels .* expected eigenvalues \(3,\) and eigenvectors \(3, 3\)"):
        pca_color_augment(x, values[:2], vectors, rng=rng())
