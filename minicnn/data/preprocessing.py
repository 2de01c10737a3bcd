r"""Preprocessing fitted on the training data and applied unchanged to the test data.

Statistics (means, standard deviations, covariances) come from the training set only: computing them on the
test set too would leak information about it into the model. So each transform here is an object that is
``fit`` once on the training data and then ``transform``\ s any data, like scikit-learn's; the functions
`standardize`, `pca_whiten` and `zca_whiten` fit and transform in one call and also return the fitted object:

>>> x_train = np.random.default_rng(0).normal(5.0, 2.0, (100, 3)).astype(np.float32)
>>> x_test = np.random.default_rng(1).normal(5.0, 2.0, (20, 3)).astype(np.float32)
>>> z_train, scaler = standardize(x_train)
>>> z_test = scaler.transform(x_test)           # the *training* mean and standard deviation
>>> bool(np.allclose(z_train.mean(axis=0), 0, atol=1e-6)), z_test.shape, z_test.dtype
(True, (20, 3), dtype('float32'))

Whitening (`PCAWhitening`, `ZCAWhitening`) works on flattened samples :math:`x_n \in \mathbb{R}^D`:

.. math::

    \mu = \frac{1}{N}\sum_n x_n, \qquad
    \Sigma = \frac{1}{N}\sum_n (x_n - \mu)(x_n - \mu)^\top = U \Lambda U^\top \quad \text{(eigendecomposition)}

    \text{PCA:}\quad z = (\Lambda + \epsilon I)^{-1/2}\, U^\top (x - \mu) \qquad
    \text{ZCA:}\quad z = U (\Lambda + \epsilon I)^{-1/2}\, U^\top (x - \mu)

PCA whitening rotates the data onto its principal axes and scales each axis to unit variance; its outputs are
coordinates along those axes (shape (N, k)), no longer pixels. ZCA rotates back with :math:`U`, which gives
the whitened data closest to the original (Bell and Sejnowski, 1997): still images, with edges enhanced.
:math:`\epsilon` keeps directions of (almost) zero variance from being blown up to unit variance; with
:math:`\epsilon > 0` the whitened covariance is :math:`\Lambda / (\Lambda + \epsilon)` (on the diagonal for PCA,
rotated by :math:`U` for ZCA): close to the identity where the variance is well above :math:`\epsilon`.

Determinism: statistics are computed in float64 with ``numpy.linalg.eigh`` (symmetric solver); eigenvalues are
sorted in decreasing order and each eigenvector's sign is fixed so that its largest-magnitude entry is positive
(LAPACK may return either sign, differently on different machines). ZCA does not depend on the signs at all;
PCA, like any PCA, is only unique where the eigenvalues are distinct.
"""
import numbers

import numpy as np

from minicnn.functional._checks import as_float_array

__all__ = ["PCAWhitening", "Standardizer", "ZCAWhitening", "pca_whiten", "standardize", "zca_whiten"]


def _axes(op, axis, ndim):
    """Normalize `axis` (None, an int or a tuple of ints) to a sorted tuple that contains the batch axis 0."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, numbers.Integral) else tuple(axis)
    if not all(isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in axes):
        raise TypeError(f"{op}: axis must be None, an int or a tuple of ints, got {axis!r}")
    if any(not -ndim <= a < ndim for a in axes):
        raise ValueError(f"{op}: axis {axis!r} is out of range for data of {ndim} dimensions")
    axes = tuple(sorted({int(a) % ndim for a in axes}))
    if 0 not in axes:
        raise ValueError(
            f"{op}: axis {axis!r} must include the batch axis 0 (statistics are taken over the training samples); "
            "e.g. axis=0 per feature (a mean image), axis=(0, 2, 3) per channel of (N, C, H, W) images, axis=None "
            "over everything"
        )
    return axes


def _check_eps(op, eps):
    if not isinstance(eps, numbers.Real) or not eps >= 0:
        raise ValueError(f"{op}: eps must be a number >= 0, got {eps!r}")
    return float(eps)


def _check_fit_data(op, x, min_ndim):
    x = as_float_array(op, "x", x)
    if x.ndim < min_ndim:
        raise ValueError(f"{op}: expected x with a batch axis first, shape (N, ...), got shape {x.shape}")
    if x.shape[0] < 2:
        raise ValueError(f"{op}: fitting needs at least 2 samples to estimate a spread, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{op}: x contains NaN or infinite values; statistics would be meaningless")
    return x


def _require_fitted(op, obj):
    if obj.mean is None:
        raise RuntimeError(f"{op}: call fit(x_train) first; this {type(obj).__name__} has not been fitted")


class Standardizer:
    r"""Mean subtraction and scaling to unit variance: :math:`z = (x - \mu) / \sigma`, statistics from `fit`.

    Parameters
    ----------
    axis : None, int or tuple of ints
        Axes the statistics are taken over; must include the batch axis 0. ``0`` (default): one mean and
        standard deviation per feature (for images, a mean image); ``(0, 2, 3)``: one per channel of (N, C, H, W)
        images, as ``torchvision.transforms.Normalize`` uses; ``None``: one for everything.
    eps : float
        Features whose standard deviation is <= `eps` (constant in the training data, such as MNIST's border
        pixels) are only centred, not divided, so they do not blow up on new data.

    Attributes
    ----------
    mean, std : ndarray (float64) or None
        Fitted statistics (population standard deviation, ``ddof=0``), shaped to broadcast against x
        (size 1 along the reduced axes). ``None`` before `fit`.

    Examples
    --------
    >>> x = np.array([[1.0, 10.0], [3.0, 10.0]])
    >>> s = Standardizer(axis=0).fit(x)
    >>> s.mean.tolist(), s.std.tolist()
    ([[2.0, 10.0]], [[1.0, 0.0]])
    >>> s.transform(np.array([[5.0, 12.0]])).tolist()   # the constant feature is centred only
    [[3.0, 2.0]]
    """

    def __init__(self, axis=0, eps=1e-8):
        self.axis, self.eps = axis, _check_eps("Standardizer", eps)
        self.mean = self.std = self._scale = self._axes = self._shape = None

    def fit(self, x):
        """Compute the mean and standard deviation of the training data `x` (float32/float64, batch first)."""
        x = _check_fit_data("Standardizer.fit", x, 1)
        self._axes = _axes("Standardizer", self.axis, x.ndim)
        self._shape = x.shape
        self.mean = np.mean(x, axis=self._axes, dtype=np.float64, keepdims=True)
        self.std = np.std(x, axis=self._axes, dtype=np.float64, keepdims=True)
        self._scale = np.where(self.std > self.eps, self.std, 1.0)
        return self

    def _check(self, op, x):
        _require_fitted(op, self)
        x = as_float_array(op, "x", x)
        kept = [a for a in range(len(self._shape)) if a not in self._axes]
        if x.ndim != len(self._shape) or any(x.shape[a] != self._shape[a] for a in kept):
            raise ValueError(
                f"{op}: x of shape {x.shape} does not match the data it was fitted on, of shape {self._shape} "
                f"(statistics over axes {self._axes}: the other axes must have the same sizes)"
            )
        return x

    def transform(self, x):
        """Return ``(x - mean) / std`` with the fitted statistics, in x's dtype."""
        x = self._check("Standardizer.transform", x)
        return (x - self.mean.astype(x.dtype)) / self._scale.astype(x.dtype)

    def inverse_transform(self, z):
        """Undo `transform`: ``z * std + mean``."""
        z = self._check("Standardizer.inverse_transform", z)
        return z * self._scale.astype(z.dtype) + self.mean.astype(z.dtype)

    def fit_transform(self, x):
        """`fit` on `x`, then `transform` it."""
        return self.fit(x).transform(x)


def _fixed_sign_eigh(cov):
    """Eigenvalues (decreasing, clipped at 0) and unit eigenvectors (columns) of a symmetric matrix, with each
    eigenvector's sign fixed so that its entry of largest magnitude (the first such one) is positive."""
    values, vectors = np.linalg.eigh(cov)
    values, vectors = values[::-1], vectors[:, ::-1]
    peak = vectors[np.argmax(np.abs(vectors), axis=0), np.arange(vectors.shape[1])]
    vectors = vectors * np.where(peak < 0, -1.0, 1.0)
    # a covariance has no negative eigenvalues; rounding can give -1e-17, which sqrt would turn into NaN
    return np.maximum(values, 0.0), np.ascontiguousarray(vectors)


class _Whitening:
    """Shared by PCA and ZCA whitening: fit the mean and the eigendecomposition of the covariance."""

    _name = "_Whitening"

    def __init__(self, eps=1e-5):
        self.eps = _check_eps(self._name, eps)
        self.mean = self.eigenvalues = self.eigenvectors = self.matrix = self.inverse_matrix = None
        self.feature_shape = None

    def fit(self, x):
        """Fit on training data `x` of shape (N, ...) (float32/float64); each sample is flattened to D values."""
        x = _check_fit_data(f"{self._name}.fit", x, 2)
        self.feature_shape = x.shape[1:]
        flat = x.reshape(len(x), -1).astype(np.float64)
        self.mean = flat.mean(axis=0)
        centred = flat - self.mean
        cov = centred.T @ centred / len(flat)
        self.eigenvalues, self.eigenvectors = _fixed_sign_eigh(cov)
        self._set_matrices()
        return self

    def _flatten(self, op, x):
        _require_fitted(op, self)
        x = as_float_array(op, "x", x)
        if x.shape[1:] != self.feature_shape or x.ndim < 2:
            raise ValueError(
                f"{op}: x of shape {x.shape} does not match the data it was fitted on: expected (N, "
                f"{', '.join(map(str, self.feature_shape))})"
            )
        return x.reshape(len(x), -1).astype(np.float64)

    def transform(self, x):
        """Whiten `x` with the fitted mean and matrix: ``(x - mean) @ matrix``, in x's dtype."""
        op = f"{self._name}.transform"
        z = (self._flatten(op, x) - self.mean) @ self.matrix
        return self._shape_output(z, x).astype(np.asarray(x).dtype)

    def fit_transform(self, x):
        """`fit` on `x`, then `transform` it."""
        return self.fit(x).transform(x)


class PCAWhitening(_Whitening):
    r"""PCA whitening: :math:`z = (\Lambda + \epsilon I)^{-1/2} U^\top (x - \mu)`, fitted on training data.

    Parameters
    ----------
    eps : float
        Added to the eigenvalues before the inverse square root (regularisation; 0 allowed for full-rank data).
    n_components : int or None
        Keep only the first `n_components` principal axes (largest variance): whitening and dimension
        reduction in one. ``None`` keeps all D.

    Attributes
    ----------
    mean : (D,) ndarray; eigenvalues : (D,) decreasing; eigenvectors : (D, D), columns :math:`u_i`
    matrix : (D, k) ndarray
        :math:`U_k (\Lambda_k + \epsilon I)^{-1/2}`, so that ``transform(x) = (x - mean) @ matrix``.

    Examples
    --------
    >>> x = np.random.default_rng(0).standard_normal((500, 3)) @ np.array([[2.0, 0, 0], [1, 1, 0], [0, 0, 0.5]])
    >>> z, pca = pca_whiten(x, eps=0.0)
    >>> z.shape, bool(np.allclose(np.cov(z.T, bias=True), np.eye(3)))   # identity covariance
    ((500, 3), True)
    >>> pca.transform(x[:4]).shape, PCAWhitening(n_components=2).fit(x).transform(x).shape
    ((4, 3), (500, 2))
    """

    _name = "PCAWhitening"

    def __init__(self, eps=1e-5, n_components=None):
        super().__init__(eps)
        if n_components is not None and (
            not isinstance(n_components, numbers.Integral) or isinstance(n_components, bool) or n_components < 1
        ):
            raise ValueError(f"PCAWhitening: n_components must be None or an int >= 1, got {n_components!r}")
        self.n_components = n_components

    def _set_matrices(self):
        dim = self.eigenvectors.shape[0]
        if self.n_components is not None and self.n_components > dim:
            raise ValueError(
                f"PCAWhitening: n_components={self.n_components} exceeds the {dim} features of each sample "
                f"(shape {self.feature_shape})"
            )
        k = dim if self.n_components is None else self.n_components
        u, root = self.eigenvectors[:, :k], np.sqrt(self.eigenvalues[:k] + self.eps)
        if np.any(root == 0):
            raise ValueError(
                "PCAWhitening: a kept direction has zero variance and eps=0, so it cannot be scaled to unit "
                "variance; use eps > 0 or fewer n_components"
            )
        self.matrix = u / root
        self.inverse_matrix = (u * root).T

    def _shape_output(self, z, x):
        return z  # coordinates along the principal axes: (N, k)

    def inverse_transform(self, z):
        """Map whitened coordinates (N, k) back to data of shape (N, ...): ``z @ inverse_matrix + mean``
        (exact for k = D, the projection onto the first k principal axes otherwise)."""
        _require_fitted("PCAWhitening.inverse_transform", self)
        z = as_float_array("PCAWhitening.inverse_transform", "z", z)
        k = self.matrix.shape[1]
        if z.ndim != 2 or z.shape[1] != k:
            raise ValueError(f"PCAWhitening.inverse_transform: expected z of shape (N, {k}), got shape {z.shape}")
        x = z.astype(np.float64) @ self.inverse_matrix + self.mean
        return x.reshape((len(z),) + self.feature_shape).astype(z.dtype)


class ZCAWhitening(_Whitening):
    r"""ZCA whitening: :math:`z = U (\Lambda + \epsilon I)^{-1/2} U^\top (x - \mu)`, fitted on training data.

    The output has the shape of the input (whitened images are still images).

    Parameters
    ----------
    eps : float
        Added to the eigenvalues before the inverse square root. For images scaled to [0, 1], values around
        1e-2 to 1e-1 keep pixel noise from being amplified (Krizhevsky, 2009, used 0.1 on CIFAR-10).

    Attributes
    ----------
    mean : (D,) ndarray; eigenvalues : (D,) decreasing; eigenvectors : (D, D), columns :math:`u_i`
    matrix : (D, D) symmetric ndarray
        :math:`U (\Lambda + \epsilon I)^{-1/2} U^\top`, so that ``transform(x) = (x - mean) @ matrix``.

    Examples
    --------
    >>> x = np.random.default_rng(0).standard_normal((500, 2, 2)) * [[3.0, 1.0], [0.5, 2.0]]
    >>> z, zca = zca_whiten(x, eps=0.0)
    >>> z.shape, bool(np.allclose(np.cov(z.reshape(500, -1).T, bias=True), np.eye(4)))
    ((500, 2, 2), True)
    >>> bool(np.allclose(zca.inverse_transform(z), x))
    True
    """

    _name = "ZCAWhitening"

    def _set_matrices(self):
        root = np.sqrt(self.eigenvalues + self.eps)
        if np.any(root == 0):
            raise ValueError(
                "ZCAWhitening: the training data has a direction of zero variance and eps=0, so it cannot be "
                f"whitened (covariance rank {int(np.sum(self.eigenvalues > 0))} < {len(root)} features); use eps > 0"
            )
        u = self.eigenvectors
        self.matrix = (u / root) @ u.T
        self.inverse_matrix = (u * root) @ u.T

    def _shape_output(self, z, x):
        return z.reshape(np.shape(x))

    def inverse_transform(self, z):
        """Undo `transform`: ``z @ inverse_matrix + mean``, with :math:`U (\\Lambda + \\epsilon I)^{1/2} U^\\top`."""
        z_flat = self._flatten("ZCAWhitening.inverse_transform", z)
        x = z_flat @ self.inverse_matrix + self.mean
        return x.reshape(np.shape(z)).astype(np.asarray(z).dtype)


def standardize(x, axis=0, eps=1e-8):
    """Fit a `Standardizer` on `x` and return ``(standardized x, fitted Standardizer)``.

    Apply the same statistics to other data with ``fitted.transform(x_test)``.

    >>> z, s = standardize(np.array([[0.0], [2.0]]))
    >>> z.ravel().tolist(), s.transform(np.array([[4.0]])).item()
    ([-1.0, 1.0], 3.0)
    """
    fitted = Standardizer(axis=axis, eps=eps).fit(x)
    return fitted.transform(x), fitted


def pca_whiten(x, eps=1e-5, n_components=None):
    """Fit `PCAWhitening` on `x` and return ``(whitened x of shape (N, k), fitted PCAWhitening)``.

    >>> z, pca = pca_whiten(np.random.default_rng(0).standard_normal((50, 4)), n_components=2)
    >>> z.shape, pca.matrix.shape
    ((50, 2), (4, 2))
    """
    fitted = PCAWhitening(eps=eps, n_components=n_components).fit(x)
    return fitted.transform(x), fitted


def zca_whiten(x, eps=1e-5):
    """Fit `ZCAWhitening` on `x` and return ``(whitened x, same shape, fitted ZCAWhitening)``.

    >>> z, zca = zca_whiten(np.random.default_rng(0).standard_normal((50, 1, 2, 2)))
    >>> z.shape, zca.matrix.shape
    ((50, 1, 2, 2), (4, 4))
    """
    fitted = ZCAWhitening(eps=eps).fit(x)
    return fitted.transform(x), fitted
