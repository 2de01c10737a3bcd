import random

import numpy as np
import pytest

from minicnn.data import load_mnist1d, load_sample_image, to_grayscale


def test_mnist1d_is_generated_deterministically_and_leaves_global_rngs_alone():
    np.random.seed(123)
    random.seed(123)
    before = np.random.random(), random.random()
    np.random.seed(123)
    random.seed(123)
    first = load_mnist1d()
    assert (np.random.random(), random.random()) == before
    second = load_mnist1d(dtype=np.float64)
    assert first["x"].shape == (4000, 40) and first["x_test"].shape == (1000, 40)
    assert first["x"].dtype == np.float32 and second["x"].dtype == np.float64
    np.testing.assert_array_equal(first["y"], second["y"])
    np.testing.assert_allclose(first["x"], second["x"], rtol=1e-6)
    counts = np.bincount(first["y"]) + np.bincount(first["y_test"])
    assert counts.tolist() == [500] * 10  # 500 per class, shuffled into 80% training / 20% test
    assert first["templates"].shape == (10, 12) and first["t"].shape == (40,)


def test_sample_image_and_grayscale():
    img = load_sample_image("grace_hopper")
    assert img.shape == (600, 512, 3) and img.dtype == np.uint8
    gray = to_grayscale(img)
    assert gray.shape == (600, 512) and 0.0 <= gray.min() and gray.max() <= 1.0
    assert to_grayscale(img, np.float32).dtype == np.float32


def test_bad_image_requests():
    with pytest.raises(ValueError, match="unknown image 'lena'"):
        load_sample_image("lena")
    with pytest.raises(ValueError, match=r"expected an \(H, W, 3\) RGB image, got shape \(4, 4\)"):
        to_grayscale(np.zeros((4, 4)))
