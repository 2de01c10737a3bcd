import numpy as np
import pytest

from minicnn.data import PCAWhitening, Standardizer, ZCAWhitening, pca_whiten, standardize, zca_whiten


def correlated(n=400, d=6, seed=0, dtype=np.float64):
    """Samples with very different variances and strong correlations between features."""
    rng = np.random.default_rng(seed)
    mixing = rng.standard_normal((d, d)) * np.linspace(3.0, 0.2, d)[:, None]
    return (rng.standard_normal((n, d)) @ mixing + rng.standard_normal(d) * 5).astype(dtype)


def covariance(z):
    flat = z.reshape(len(z), -1).astype(np.float64)
    flat = flat - flat.mean(axis=0)
    return flat.T @ flat / len(flat)


# ---------------------------------------------------------------- standardization

def test_standardizer_per_feature_uses_training_statistics_on_new_data():
    x, x_test = correlated(seed=0), correlated(n=50, seed=1)
    z, s = standardize(x)
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=0), 1, rtol=1e-12)
    assert s.mean.shape == (1, 6) and s.std.shape == (1, 6)
    np.testing.assert_allclose(s.transform(x_test), (x_test - x.mean(axis=0)) / x.std(axis=0), rtol=1e-12)
    assert abs(s.transform(x_test).mean()) > 1e-3  # the test data is not re-centred on its own mean
    np.testing.assert_allclose(s.inverse_transform(z), x, rtol=1e-12)


def test_standardizer_per_channel_and_global_on_images():
    rng = np.random.default_rng(0)
    scale, shift = np.array([1.0, 2.0, 4.0])[:, None, None], np.array([0.0, 1.0, -3.0])[:, None, None]
    x = (rng.random((20, 3, 8, 8)) * scale + shift).astype(np.float32)
    per_channel = Standardizer(axis=(0, 2, 3)).fit(x)
    assert per_channel.mean.shape == (1, 3, 1, 1)
    z = per_channel.transform(x)
    assert z.dtype == np.float32 and z.shape == x.shape
    np.testing.assert_allclose(z.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=(0, 2, 3)), 1, rtol=1e-5)
    # the same per-channel statistics apply to images of another size
    assert per_channel.transform(x[:2, :, :4, :5]).shape == (2, 3, 4, 5)
    everything = Standardizer(axis=None).fit(x)
    assert everything.mean.shape == (1, 1, 1, 1)
    assert abs(float(everything.transform(x).std()) - 1) < 1e-5
    negative_axes = Standardizer(axis=(0, -2, -1)).fit(x)
    np.testing.assert_array_equal(negative_axes.mean, per_channel.mean)


def test_constant_features_are_centred_not_divided():
    x = np.array([[1.0, 7.0], [3.0, 7.0], [5.0, 7.0]])
    s = Standardizer().fit(x)
    assert s.std[0, 1] == 0.0
    np.testing.assert_array_equal(s.transform(np.array([[3.0, 9.0]])), [[0.0, 2.0]])


def test_standardizer_errors():
    x = np.zeros((4, 3, 2, 2))
    with pytest.raises(ValueError, match="must include the batch axis 0"):
        Standardizer(axis=(2, 3)).fit(x)
    with pytest.raises(ValueError, match="out of range"):
        Standardizer(axis=(0, 4)).fit(x)
    with pytest.raises(RuntimeError, match="call fit"):
        Standardizer().transform(x)
    s = Standardizer(axis=(0, 2, 3)).fit(x)
    with pytest.raises(ValueError, match=r"x of shape \(4, 2, 2, 2\) does not match .* \(4, 3, 2, 2\)"):
        s.transform(np.zeros((4, 2, 2, 2)))
    with pytest.raises(TypeError, match="must be float32 or float64"):
        Standardizer().fit(np.zeros((4, 3), np.uint8))
    with pytest.raises(ValueError, match="at least 2 samples"):
        Standardizer().fit(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="NaN or infinite"):
        Standardizer().fit(np.array([[0.0], [np.nan]]))
    with pytest.raises(ValueError, match="eps must be a number >= 0"):
        Standardizer(eps=-1)


# ---------------------------------------------------------------- whitening

def test_pca_whitening_gives_identity_covariance_and_decreasing_variances():
    x = correlated()
    z, pca = pca_whiten(x, eps=0.0)
    assert z.shape == (400, 6)
    np.testing.assert_allclose(covariance(z), np.eye(6), atol=1e-10)
    assert np.all(np.diff(pca.eigenvalues) <= 0)
    np.testing.assert_allclose(pca.eigenvalues.sum(), np.trace(covariance(x)), rtol=1e-12)


def test_pca_with_eps_is_diagonal_with_known_entries():
    x = correlated()
    z, pca = pca_whiten(x, eps=0.5)
    cov = covariance(z)
    np.testing.assert_allclose(cov, np.diag(np.diag(cov)), atol=1e-10)  # decorrelated
    np.testing.assert_allclose(np.diag(cov), pca.eigenvalues / (pca.eigenvalues + 0.5), rtol=1e-10)


def test_pca_formula_and_n_components():
    x, x_test = correlated(), correlated(n=30, seed=1)
    pca = PCAWhitening(eps=1e-3, n_components=2).fit(x)
    u, lam = pca.eigenvectors[:, :2], pca.eigenvalues[:2]
    expected = ((x_test - x.mean(axis=0)) @ u) / np.sqrt(lam + 1e-3)  # Lambda^-1/2 U^T (x - mu), row-wise
    np.testing.assert_allclose(pca.transform(x_test), expected, rtol=1e-10)
    assert pca.transform(x_test).shape == (30, 2)
    # the first two principal axes are the eigenvectors of the covariance with the largest eigenvalues
    cov = covariance(x)
    np.testing.assert_allclose(cov @ u, u * lam, atol=1e-9)
    # back-projection onto the first two axes, exact with all of them
    assert pca.inverse_transform(pca.transform(x_test)).shape == (30, 6)
    full = PCAWhitening(eps=0).fit(x)
    np.testing.assert_allclose(full.inverse_transform(full.transform(x_test)), x_test, rtol=1e-9, atol=1e-9)


def test_eigenvector_signs_are_fixed():
    x = correlated()
    for fitted in (PCAWhitening().fit(x), ZCAWhitening().fit(x), PCAWhitening().fit(-x)):
        u = fitted.eigenvectors
        peak = u[np.argmax(np.abs(u), axis=0), np.arange(u.shape[1])]
        assert np.all(peak > 0)
        np.testing.assert_allclose(u.T @ u, np.eye(6), atol=1e-12)


def test_whitening_is_deterministic_and_row_order_free():
    x = correlated()
    a, b = PCAWhitening().fit(x), PCAWhitening().fit(x)
    np.testing.assert_array_equal(a.matrix, b.matrix)
    shuffled = PCAWhitening().fit(x[np.random.default_rng(5).permutation(len(x))])
    np.testing.assert_allclose(shuffled.matrix, a.matrix, rtol=1e-8, atol=1e-12)  # same signs, not flipped


def test_zca_gives_identity_covariance_keeps_the_shape_and_is_pca_rotated_back():
    rng = np.random.default_rng(0)
    base = correlated(n=500, d=12).reshape(500, 3, 2, 2)
    z, zca = zca_whiten(base, eps=0.0)
    assert z.shape == (500, 3, 2, 2)
    np.testing.assert_allclose(covariance(z), np.eye(12), atol=1e-10)
    np.testing.assert_allclose(zca.matrix, zca.matrix.T, atol=1e-12)  # U L^-1/2 U^T is symmetric
    z_pca, pca = pca_whiten(base, eps=0.0)
    np.testing.assert_allclose(z.reshape(500, -1), z_pca @ pca.eigenvectors.T, atol=1e-9)
    new = rng.standard_normal((7, 3, 2, 2))
    np.testing.assert_allclose(zca.inverse_transform(zca.transform(new)), new, atol=1e-9)


def test_zca_is_the_whitening_closest_to_the_data():
    # among all whitenings z = W (x - mu) with identity covariance, ZCA keeps z closest to x - mu
    x = correlated(d=5)
    scaled = x / x.std()
    z_zca, _ = zca_whiten(scaled, eps=0.0)
    z_pca, _ = pca_whiten(scaled, eps=0.0)
    centred = scaled - scaled.mean(axis=0)
    assert np.sum((z_zca - centred) ** 2) < np.sum((z_pca - centred) ** 2)


def test_zca_on_rank_deficient_images_needs_eps():
    x = np.random.default_rng(0).random((50, 1, 4, 4))
    x[:, 0, 0, :] = 0.0  # a constant row of pixels: zero variance
    with pytest.raises(ValueError, match="zero variance and eps=0"):
        ZCAWhitening(eps=0).fit(x)
    z, zca = zca_whiten(x, eps=1e-2)
    assert np.all(np.isfinite(z)) and np.all(z[:, 0, 0, :] == 0)
    assert np.all(zca.eigenvalues >= 0)


def test_whitening_keeps_float32_and_checks_shapes():
    x = correlated(dtype=np.float32).reshape(400, 1, 2, 3)
    z, zca = zca_whiten(x, eps=1e-3)
    assert z.dtype == np.float32 and zca.transform(x[:3]).dtype == np.float32
    with pytest.raises(ValueError, match=r"x of shape \(3, 6\) does not match .* expected \(N, 1, 2, 3\)"):
        zca.transform(x[:3].reshape(3, 6))
    with pytest.raises(ValueError, match=r"n_components=7 exceeds the 6 features"):
        PCAWhitening(n_components=7).fit(x)
    with pytest.raises(ValueError, match="n_components must be None or an int >= 1"):
        PCAWhitening(n_components=0)
    with pytest.raises(RuntimeError, match="call fit"):
        PCAWhitening().transform(x)
    with pytest.raises(ValueError, match=r"batch axis first, shape \(N, ...\), got shape \(6,\)"):
        PCAWhitening().fit(np.zeros(6))
    pca = PCAWhitening(n_components=2).fit(x)
    with pytest.raises(ValueError, match=r"expected z of shape \(N, 2\), got shape \(3, 6\)"):
        pca.inverse_transform(np.zeros((3, 6), np.float32))
