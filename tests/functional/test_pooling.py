import numpy as np
import pytest

import minicnn.functional as F


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


CASES = [((2, 3, 8, 8), 2, None, 0), ((2, 2, 7, 9), 3, 2, 1), ((1, 4, 6, 5), (2, 3), (1, 2), (1, 1)), ((3, 1, 5, 5), 5, 1, 2)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, k, s, p", CASES)
def test_max_and_avg_pool_match_torch(torch, shape, k, s, p, dtype):
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    limit = 1e-6 if dtype == np.float32 else 1e-12
    for ours, ours_back, theirs in ((F.max_pool2d, F.max_pool2d_backward, torch.nn.functional.max_pool2d),
                                    (F.avg_pool2d, F.avg_pool2d_backward, torch.nn.functional.avg_pool2d)):
        tx = torch.tensor(x, requires_grad=True)
        ty = theirs(tx, k, s, p)
        g = np.random.default_rng(1).standard_normal(tuple(ty.shape)).astype(dtype)
        ty.backward(torch.tensor(g))
        y = ours(x, k, s, p)
        assert y.dtype == dtype
        np.testing.assert_allclose(y, ty.detach().numpy(), rtol=limit, atol=limit)
        np.testing.assert_allclose(ours_back(g, x, k, s, p), tx.grad.numpy(), rtol=limit, atol=limit)


@pytest.mark.parametrize("shape, k, s, p", CASES)
def test_max_pool_indices_match_torch(torch, shape, k, s, p):
    """return_indices gives PyTorch's flat indices into each input plane, and backward given them agrees."""
    x = np.random.default_rng(2).standard_normal(shape)
    x[0, 0, 1, :] = np.nan  # a nan wins its windows; PyTorch routes the error to the last nan
    y, indices = F.max_pool2d(x, k, s, p, return_indices=True)
    tx = torch.tensor(x, requires_grad=True)
    ty, tindices = torch.nn.functional.max_pool2d(tx, k, s, p, return_indices=True)
    np.testing.assert_array_equal(indices, tindices.numpy())
    np.testing.assert_array_equal(y, ty.detach().numpy())
    g = np.random.default_rng(3).standard_normal(y.shape)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(F.max_pool2d_backward(g, x, k, s, p, indices=indices), tx.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(F.max_pool2d_backward(g, x, k, s, p), tx.grad.numpy(), rtol=1e-12)


def test_max_pool_routes_error_to_argmax_and_first_max_wins_ties():
    x = np.array([[[[1.0, 1.0], [0.0, 1.0]]]])
    np.testing.assert_array_equal(F.max_pool2d_backward(np.array([[[[5.0]]]]), x, 2), [[[[5.0, 0.0], [0.0, 0.0]]]])


def test_overlapping_windows_accumulate():
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 9.0  # the maximum of all four overlapping windows
    grad = F.max_pool2d_backward(np.ones((1, 1, 2, 2)), x, 2, stride=1)
    assert grad[0, 0, 1, 1] == 4 and grad.sum() == 4
    grad = F.avg_pool2d_backward(np.ones((1, 1, 2, 2)), x, 2, stride=1)
    np.testing.assert_allclose(grad[0, 0], [[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]])


def test_pooling_is_a_special_convolution():
    """Average pooling = conv2d with a constant kernel 1/F^2, stride F, one filter per channel (groups=C)."""
    x = np.random.default_rng(2).standard_normal((2, 3, 6, 6))
    kernel = np.full((3, 1, 2, 2), 0.25)
    np.testing.assert_allclose(F.avg_pool2d(x, 2), F.conv2d(x, kernel, stride=2, groups=3), rtol=1e-12)


def test_global_average_pool():
    x = np.random.default_rng(3).standard_normal((2, 3, 4, 5))
    np.testing.assert_allclose(F.global_avg_pool2d(x), F.adaptive_avg_pool2d(x, 1)[:, :, 0, 0])
    g = F.global_avg_pool2d_backward(np.ones((2, 3)), x)
    np.testing.assert_allclose(g, np.full(x.shape, 1 / 20))


@pytest.mark.parametrize("call, error, message", [
    (lambda: F.max_pool2d(np.zeros((3, 4, 4)), 2), ValueError, r"expected x with 4 dimensions \(N, C, H, W\)"),
    (lambda: F.max_pool2d(np.zeros((1, 1, 4, 4)), 2, padding=2), ValueError, "at most half of kernel_size"),
    (lambda: F.avg_pool2d(np.zeros((1, 1, 2, 2)), 3), ValueError, r"kernel_size \(3, 3\) is larger than the padded input"),
    (lambda: F.max_pool2d(np.zeros((1, 1, 4, 4), int), 2), TypeError, "float32 or float64"),
    (lambda: F.max_pool2d(np.zeros((1, 1, 4, 4)), 0), ValueError, "kernel_size must be >= 1"),
    (lambda: F.max_pool2d_backward(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 4, 4)), 2), ValueError,
     r"grad_out must have the forward output's shape \(1, 1, 2, 2\)"),
    (lambda: F.max_pool2d_backward(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 4, 4)), 2, indices=np.zeros((1, 1, 2, 2))),
     ValueError, r"indices must be integers of grad_out's shape \(1, 1, 2, 2\)"),
    (lambda: F.max_pool2d_backward(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 4, 4)), 2,
                                   indices=np.full((1, 1, 2, 2), 16)), ValueError, r"indices must lie in \[0, H\*W\) = \[0, 16\)"),
])
def test_pooling_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()
