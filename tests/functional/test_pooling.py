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


# ------------------------------------------------------------------------------------------------ ceil_mode
# (H, W), kernel, stride, padding: windows that overhang by 1..S-1 cells, a last window dropped because it would
# start in the right padding, the 2x2 shortcut's sizes (odd: a -inf row or column added), GoogLeNet's pools
CEIL_CASES = [((7, 7), 3, 2, 0), ((6, 7), 2, 2, 0), ((5, 8), 2, 2, 0), ((112, 112), 3, 2, 0), ((14, 13), 2, 2, 0),
              ((5, 5), 2, 2, 1), ((6, 6), 3, 3, 1), ((4, 6), (3, 2), (2, 3), (1, 0)), ((3, 3), 3, 1, 1),
              ((2, 2), 3, 2, 0), ((8, 9), 4, 3, 2), ((1, 5), 1, 2, 0), ((10, 11), 5, 4, 2)]


def _ceil_x(hw, dtype, seed=0, nan=False):
    x = np.random.default_rng(seed).standard_normal((2, 3, *hw)).astype(dtype)
    if nan:
        x[1, 2, -1, :] = np.nan  # a nan in the last row: it wins the overhanging windows too
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("hw, k, s, p", CEIL_CASES)
def test_ceil_mode_matches_torch_with_indices(torch, hw, k, s, p, dtype):
    limit = 1e-6 if dtype == np.float32 else 1e-12
    for nan in (False, True):
        x = _ceil_x(hw, dtype, nan=nan)
        tx = torch.tensor(x, requires_grad=True)
        ty, tindices = torch.nn.functional.max_pool2d(tx, k, s, p, ceil_mode=True, return_indices=True)
        y, indices = F.max_pool2d(x, k, s, p, return_indices=True, ceil_mode=True)
        assert y.shape == tuple(ty.shape) and y.dtype == dtype
        np.testing.assert_array_equal(y, ty.detach().numpy())
        np.testing.assert_array_equal(indices, tindices.numpy())
        g = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
        ty.backward(torch.tensor(g))
        want = tx.grad.numpy()
        np.testing.assert_allclose(F.max_pool2d_backward(g, x, k, s, p, ceil_mode=True), want, rtol=limit, atol=limit)
        np.testing.assert_allclose(F.max_pool2d_backward(g, x, k, s, p, indices, ceil_mode=True), want,
                                   rtol=limit, atol=limit)
    x = _ceil_x(hw, dtype)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.avg_pool2d(tx, k, s, p, ceil_mode=True)
    y = F.avg_pool2d(x, k, s, p, ceil_mode=True)
    assert y.shape == tuple(ty.shape) and y.dtype == dtype
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=limit, atol=limit)
    g = np.random.default_rng(2).standard_normal(y.shape).astype(dtype)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(F.avg_pool2d_backward(g, x, k, s, p, True), tx.grad.numpy(), rtol=limit, atol=limit)


@pytest.mark.parametrize("hw, k, s, p", CEIL_CASES[:-1])  # the reference loops are slow on 112x112 ...
def test_ceil_mode_matches_reference(hw, k, s, p):
    from minicnn import reference as R

    if hw == (112, 112):
        hw = (13, 12)
    x = _ceil_x(hw, np.float64, seed=3, nan=True)
    y, indices = F.max_pool2d(x, k, s, p, return_indices=True, ceil_mode=True)
    want_y, want_indices = R.max_pool2d(x, k, s, p, return_indices=True, ceil_mode=True)
    np.testing.assert_array_equal(y, want_y)
    np.testing.assert_array_equal(indices, want_indices)
    g = np.random.default_rng(4).standard_normal(y.shape)
    np.testing.assert_allclose(F.max_pool2d_backward(g, x, k, s, p, ceil_mode=True),
                               R.max_pool2d_backward(g, x, k, s, p, ceil_mode=True), rtol=1e-14)
    x = _ceil_x(hw, np.float64, seed=5)
    np.testing.assert_allclose(F.avg_pool2d(x, k, s, p, True), R.avg_pool2d(x, k, s, p, True), rtol=1e-12)
    np.testing.assert_allclose(F.avg_pool2d_backward(g, x, k, s, p, True), R.avg_pool2d_backward(g, x, k, s, p, True),
                               rtol=1e-12)


def test_pool_output_size_is_pytorchs_rule(torch):
    """ceil((N + 2P - K)/S) + 1, minus 1 if the last window would start in the right padding; floor without ceil."""
    checked = 0
    for n in range(1, 12):
        for k in range(1, 6):
            for s in range(1, 5):
                for p in range(0, k // 2 + 1):
                    for ceil_mode in (False, True):
                        x = torch.zeros(1, 1, n, 1)
                        try:
                            want = torch.nn.functional.max_pool2d(x, (k, 1), (s, 1), (p, 0), ceil_mode=ceil_mode)
                            want = want.shape[2]
                        except RuntimeError:
                            with pytest.raises(ValueError):
                                F.pool_output_size(n, k, s, p, ceil_mode)
                            continue
                        assert F.pool_output_size(n, k, s, p, ceil_mode) == want, (n, k, s, p, ceil_mode)
                        checked += 1
    assert checked > 500
    assert F.pool_output_size(5, 2, 2, 1, ceil_mode=True) == 3  # ceil gives 4, but window 4 would start at 6 >= 5 + 1


def test_pool_window_keeps_the_extra_padding_after():
    from minicnn.functional.pooling import pool_window

    _, window = pool_window("test", np.zeros((1, 1, 7, 8)), 3, 2, 0, ceil_mode=True)
    assert window.out_shape == (1, 1, 3, 4) and window.padding == (0, 0) and window.pad_after == (0, 1)
    _, window = pool_window("test", np.zeros((1, 1, 7, 8)), 3, 2, 1)
    assert window.pad_after == window.padding == (1, 1)


def test_ceil_mode_gradcheck():
    from minicnn import gradcheck

    x = np.random.default_rng(6).permutation(2 * 7 * 6).reshape(1, 2, 7, 6).astype(np.float64)  # no ties
    gradcheck.gradcheck(lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True),
                        lambda g, x: F.max_pool2d_backward(g, x, 3, 2, 1, ceil_mode=True), [x])
    gradcheck.gradcheck(lambda x: F.avg_pool2d(x, 2, 2, 1, ceil_mode=True),
                        lambda g, x: F.avg_pool2d_backward(g, x, 2, 2, 1, ceil_mode=True), [x])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_maxpool2d_module_ceil_mode_matches_torch(torch, dtype):
    from minicnn import nn

    x = _ceil_x((9, 10), dtype, seed=7)
    ours, theirs = nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True), torch.nn.MaxPool2d(3, 2, 1, ceil_mode=True)
    assert repr(ours) == "MaxPool2d(kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), ceil_mode=True)"
    tx = torch.tensor(x, requires_grad=True)
    ty = theirs(tx)
    y = ours(x)
    np.testing.assert_array_equal(y, ty.detach().numpy())
    g = np.random.default_rng(8).standard_normal(y.shape).astype(dtype)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(ours.backward(g), tx.grad.numpy(), rtol=1e-6)
    assert nn.MaxPool2d(3, 2)(np.zeros((1, 1, 112, 112), dtype)).shape[2:] == (55, 55)
    assert nn.MaxPool2d(3, 2, ceil_mode=True)(np.zeros((1, 1, 112, 112), dtype)).shape[2:] == (56, 56)
    with pytest.raises(TypeError, match="positional"):
        nn.MaxPool2d(3, 2, 0, True)  # keyword only: PyTorch's fourth argument is dilation
