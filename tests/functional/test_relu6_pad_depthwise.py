"""The building blocks of EfficientNet-Lite: ReLU6, asymmetric zero padding (F.pad, nn.ZeroPad2d) and the
"depthwise" convolution route, against the reference loops, central differences and PyTorch."""
import os
import subprocess
import sys

import numpy as np
import pytest

import minicnn.functional as F
import minicnn.reference as R
from minicnn import gradcheck, nn

TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


# ---------------------------------------------------------------------------------------------------- relu6
SPECIAL = np.array([-np.inf, -2.0, -0.0, 0.0, 1e-30, 3.0, 5.999, 6.0, 6.001, 9.0, np.inf, np.nan])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu6_matches_reference_at_the_kinks(dtype):
    """At exactly 0 and 6 the gradient is 0 (PyTorch's hardtanh_backward); nan stays nan and passes its gradient
    on, as in PyTorch; inf is capped at 6."""
    x = SPECIAL.astype(dtype)
    g = np.arange(1.0, x.size + 1).astype(dtype)
    y, grad_x = F.relu6(x), F.relu6_backward(g, x)
    assert y.dtype == grad_x.dtype == dtype
    np.testing.assert_array_equal(y, R.relu6(x))
    np.testing.assert_array_equal(grad_x, R.relu6_backward(g, x))
    np.testing.assert_array_equal(y, [0, 0, 0, 0, 1e-30, 3, 5.999, 6, 6, 6, 6, np.nan] if dtype == np.float64 else
                                  np.array([0, 0, 0, 0, 1e-30, 3, 5.999, 6, 6, 6, 6, np.nan], dtype))
    np.testing.assert_array_equal(grad_x, [0, 0, 0, 0, 5, 6, 7, 0, 0, 0, 0, 12])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu6_matches_torch_at_the_kinks(torch, dtype):
    x = SPECIAL.astype(dtype)
    g = np.arange(1.0, x.size + 1).astype(dtype)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.relu6(tx)
    ty.backward(torch.tensor(g))
    np.testing.assert_array_equal(F.relu6(x), ty.detach().numpy())
    np.testing.assert_array_equal(F.relu6_backward(g, x), tx.grad.numpy())


def test_relu6_gradcheck_and_shape_kept():
    x = np.random.default_rng(0).uniform(-3, 9, (2, 3, 4, 5))
    x[np.abs(x) < 0.01] = 0.5  # away from the kinks, where the derivative jumps
    x[np.abs(x - 6) < 0.01] = 5.5
    gradcheck.gradcheck(F.relu6, F.relu6_backward, [x])
    assert F.relu6(x[:, :, ::2]).shape == (2, 3, 2, 5)  # non-contiguous input


# ------------------------------------------------------------------------------------------------------ pad
PADS = [(0, 1, 0, 1), (1, 2, 3, 0), (0, 0, 0, 0), (2, 2, 2, 2)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("pad", PADS)
def test_pad_matches_reference(dtype, pad):
    x = np.random.default_rng(1).standard_normal((2, 3, 4, 5)).astype(dtype)
    y = F.pad(x, pad)
    assert y.dtype == dtype and not np.shares_memory(y, x)
    assert y.shape == (2, 3, 4 + pad[2] + pad[3], 5 + pad[0] + pad[1])
    np.testing.assert_array_equal(y, R.pad(x, pad))
    g = np.random.default_rng(2).standard_normal(y.shape).astype(dtype)
    grad_x = F.pad_backward(g, pad)
    assert grad_x.shape == x.shape and grad_x.dtype == dtype and grad_x.flags.c_contiguous
    np.testing.assert_array_equal(grad_x, R.pad_backward(g, pad))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("pad", PADS)
def test_pad_matches_torch(torch, dtype, pad):
    x = np.random.default_rng(1).standard_normal((2, 3, 4, 5)).astype(dtype)
    y = F.pad(x, pad)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.pad(tx, pad)
    np.testing.assert_array_equal(y, ty.detach().numpy())
    g = np.random.default_rng(2).standard_normal(y.shape).astype(dtype)
    ty.backward(torch.tensor(g))
    np.testing.assert_array_equal(F.pad_backward(g, pad), tx.grad.numpy())


def test_pad_gradcheck_and_list_accepted():
    x = np.random.default_rng(3).standard_normal((1, 2, 3, 3))
    gradcheck.gradcheck(lambda v: F.pad(v, (1, 0, 2, 1)), lambda g, v: F.pad_backward(g, (1, 0, 2, 1)), [x])
    np.testing.assert_array_equal(F.pad(x, [1, 0, 2, 1]), F.pad(x, (1, 0, 2, 1)))


def test_zero_pad_2d_module(torch):
    layer = nn.ZeroPad2d((0, 1, 0, 1))
    assert repr(layer) == repr(torch.nn.ZeroPad2d((0, 1, 0, 1))) == "ZeroPad2d((0, 1, 0, 1))"
    assert nn.ZeroPad2d(2).padding == (2, 2, 2, 2) and repr(nn.ZeroPad2d(2)) == repr(torch.nn.ZeroPad2d(2))
    x = np.ones((1, 1, 2, 2), np.float32)
    assert layer(x).shape == (1, 1, 3, 3) and layer.state_dict() == {}
    assert layer.backward(np.ones((1, 1, 3, 3), np.float32)).shape == (1, 1, 2, 2)
    with pytest.raises(RuntimeError, match="called twice"):
        layer.backward(np.ones((1, 1, 3, 3), np.float32))


def test_tensorflow_same_convolution_is_pad_then_unpadded_conv(torch):
    """TF "SAME", 3x3 stride 2 on an even size: (0, 1) zeros; torch needs the explicit pad too."""
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((2, 3, 8, 8)), rng.standard_normal((4, 3, 3, 3))
    y = F.conv2d(F.pad(x, (0, 1, 0, 1)), w, stride=2)
    want = torch.nn.functional.conv2d(torch.nn.functional.pad(torch.tensor(x), (0, 1, 0, 1)), torch.tensor(w),
                                      stride=2)
    np.testing.assert_allclose(y, want.numpy(), rtol=1e-12, atol=1e-12)
    assert y.shape == (2, 4, 4, 4)  # ceil(8 / 2)


# ------------------------------------------------------------------------------------------ depthwise route
DEPTHWISE = [  # x shape, kernel, stride, padding, dilation
    ((2, 5, 9, 8), 3, 1, 1, 1), ((2, 5, 9, 8), 3, 2, 1, 1), ((1, 4, 11, 10), 5, 2, 2, 1), ((1, 3, 7, 7), 5, 1, 0, 1),
    ((2, 4, 10, 9), 3, (2, 1), (0, 2), (1, 2)), ((1, 2, 6, 7), 2, 3, 0, 1), ((3, 2, 5, 5), (1, 3), 1, (0, 1), 1),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, k, stride, padding, dilation", DEPTHWISE)
def test_depthwise_route_matches_reference(dtype, shape, k, stride, padding, dilation):
    rng = np.random.default_rng(5)
    c = shape[1]
    kh, kw = (k, k) if np.isscalar(k) else k
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in (shape, (c, 1, kh, kw), (c,)))
    args = dict(stride=stride, padding=padding, dilation=dilation, groups=c)
    assert F.conv.Convolution("t", 2, x, w, b, **args).plan.forward == "depthwise"
    y = F.conv2d(x, w, b, **args)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, R.conv2d(x, w, b, **args), **TOL[dtype])
    g = rng.standard_normal(y.shape).astype(dtype)
    for got, want in zip(F.conv2d_backward(g, x, w, **args), R.conv2d_backward(g, x, w, **args)):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, **TOL[dtype])
    assert F.conv2d_backward(g, x, w, input_grad=False, **args)[0] is None


@pytest.mark.parametrize("shape, stride", [((1, 96, 28, 28), 2), ((2, 144, 14, 14), 1), ((1, 672, 14, 14), 2)])
def test_depthwise_matches_torch_on_efficientnet_shapes(torch, shape, stride):
    rng = np.random.default_rng(6)
    c = shape[1]
    x, w = rng.standard_normal(shape).astype(np.float32), rng.standard_normal((c, 1, 5, 5)).astype(np.float32)
    y = F.conv2d(x, w, stride=stride, padding=2, groups=c)
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    ty = torch.nn.functional.conv2d(tx, tw, stride=stride, padding=2, groups=c)
    g = rng.standard_normal(y.shape).astype(np.float32)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-4, atol=1e-4)
    grad_x, grad_w, _ = F.conv2d_backward(g, x, w, stride=stride, padding=2, groups=c)
    np.testing.assert_allclose(grad_x, tx.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(grad_w, tw.grad.numpy(), rtol=1e-4, atol=2e-3)


def test_depthwise_gives_the_same_bytes_with_one_and_two_threads(tmp_path):
    script = """
import sys, numpy as np, minicnn.functional as F
rng = np.random.default_rng(7)
out = []
for shape, k, s in [((3, 96, 56, 56), 3, 2), ((2, 240, 28, 28), 5, 1), ((5, 64, 17, 15), 3, (1, 2))]:
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal((shape[1], 1, k, k)).astype(np.float32)
    y = F.conv2d(x, w, stride=s, padding=k // 2, groups=shape[1])
    out += [y, *F.conv2d_backward(np.cos(y), x, w, stride=s, padding=k // 2, groups=shape[1])]
np.savez(sys.argv[1], *out)
"""
    results = []
    for threads in ("1", "2"):
        path = tmp_path / f"threads{threads}.npz"
        subprocess.run([sys.executable, "-c", script, str(path)], check=True,
                       env=dict(os.environ, NUMBA_NUM_THREADS=threads))
        results.append(np.load(path))
    for key in results[0].files:
        assert results[0][key].tobytes() == results[1][key].tobytes(), key


def test_depthwise_nan_reaches_only_its_windows():
    x = np.zeros((1, 3, 6, 6))
    x[0, 1, 2, 3] = np.nan
    w = np.ones((3, 1, 3, 3))
    y = F.conv2d(x, w, stride=2, padding=1, groups=3)
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(np.isnan(y), np.isnan(R.conv2d(x, w, stride=2, padding=1, groups=3)))
    assert np.isnan(y[0, 1]).sum() == 2 and not np.isnan(y[0, [0, 2]]).any()
