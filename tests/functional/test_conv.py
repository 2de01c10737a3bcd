"""minicnn.functional.conv against numpy/scipy, minicnn.reference (hypothesis) and PyTorch (when installed)."""
import os
import pathlib
import subprocess
import sys
import zlib

import numpy as np
import pytest
import scipy.signal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minicnn.functional as F
from minicnn import reference as R
from minicnn.kernels import blas

MODES = ["valid", "full", "same"]
TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}


def relative_error(got, want):
    """Largest error relative to the largest entry: robust to entries that cancel to ~0."""
    scale = max(float(np.abs(want).max(initial=0.0)), 1e-30)
    return float(np.abs(np.asarray(got, np.float64) - np.asarray(want, np.float64)).max(initial=0.0)) / scale


# ---------------------------------------------------------------- single signal / image


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("n, m", [(11, 3), (10, 4), (5, 5), (7, 1), (3, 6)])
def test_convolve_1d_matches_numpy(n, m, mode):
    rng = np.random.default_rng(n * 10 + m)
    x, w = rng.standard_normal(n), rng.standard_normal(m)
    if mode == "valid" and m > n:
        with pytest.raises(ValueError, match="no larger than x"):
            F.convolve(x, w, mode)
        return
    want = np.convolve(x, w, mode)
    if mode == "same" and m > n:  # numpy returns max(n, m) samples, scipy and minicnn len(x)
        want = scipy.signal.convolve(x, w, mode)
    np.testing.assert_allclose(F.convolve(x, w, mode), want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(F.correlate(x, w, mode), scipy.signal.correlate(x, w, mode), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(R.convolve1d(x, w, mode), want, rtol=1e-12, atol=1e-12)


def test_course_mode_names_are_aliases():
    x, w = np.arange(6.0), np.array([1.0, -0.5, 0.25])
    for course, scipy_name in [("narrow", "valid"), ("wide", "full"), ("equal-width", "same")]:
        np.testing.assert_array_equal(F.convolve(x, w, course), F.convolve(x, w, scipy_name))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kshape", [(3, 3), (4, 3), (2, 5), (1, 1)])
def test_convolve_2d_matches_scipy(kshape, mode):
    rng = np.random.default_rng(sum(kshape))
    image, kernel = rng.standard_normal((7, 9)), rng.standard_normal(kshape)
    np.testing.assert_allclose(F.convolve(image, kernel, mode), scipy.signal.convolve2d(image, kernel, mode),
                               rtol=1e-12, atol=1e-12)
    # scipy.signal.correlate2d centres 'same' differently for even kernels; scipy.signal.correlate is the n-d rule.
    np.testing.assert_allclose(F.correlate(image, kernel, mode), scipy.signal.correlate(image, kernel, mode),
                               rtol=1e-12, atol=1e-12)
    if mode != "same" or all(k % 2 for k in kshape):
        np.testing.assert_allclose(F.correlate(image, kernel, mode), scipy.signal.correlate2d(image, kernel, mode),
                                   rtol=1e-12, atol=1e-12)


def test_reference_2d_and_flip_relation():
    rng = np.random.default_rng(1)
    image, kernel = rng.standard_normal((6, 8)), rng.standard_normal((3, 2))
    np.testing.assert_allclose(R.correlate2d(image, kernel), F.correlate(image, kernel, "valid"), rtol=1e-12)
    np.testing.assert_allclose(R.convolve2d(image, kernel), F.convolve(image, kernel, "valid"), rtol=1e-12)
    np.testing.assert_allclose(F.convolve(image, kernel, "full"), F.correlate(image, kernel[::-1, ::-1], "full"))


def test_decay_example_from_the_course():
    # y_t = x_t + x_{t-1}/2 + x_{t-2}/4: a constant signal of ones settles at 1.75
    y = F.convolve(np.ones(6), np.array([1.0, 0.5, 0.25]), "valid")
    np.testing.assert_array_equal(y, np.full(4, 1.75))


def test_single_signal_errors():
    with pytest.raises(ValueError, match="one signal and a 1-D kernel"):
        F.convolve(np.ones(5), np.ones((2, 2)))
    with pytest.raises(ValueError, match="mode must be one of"):
        F.correlate(np.ones(5), np.ones(2), mode="circular")
    with pytest.raises(TypeError, match="float32 or float64"):
        F.convolve(np.arange(5), np.ones(2))


# ---------------------------------------------------------------- output size


@pytest.mark.parametrize("args, kwargs, expected", [
    ((32, 5), {}, 28),
    ((32, 5), {"stride": 3}, 10),
    ((32, 5), {"stride": 2}, 14),
    ((32, 5), {"padding": 2}, 32),
    ((4, 3), {"padding": 1}, 4),
    ((56, 1), {}, 56),
    ((7, 3), {"dilation": 2}, 3),
    ((227, 11), {"stride": 4}, 55),
])
def test_conv_output_size(args, kwargs, expected):
    assert F.conv_output_size(*args, **kwargs) == expected


def test_conv_output_size_exact_refuses_fractional_result():
    with pytest.raises(ValueError, match=r"\(32 - 5 \+ 2\*0\)/2 \+ 1 = 14.5 is not an integer"):
        F.conv_output_size(32, 5, stride=2, exact=True)
    assert F.conv_output_size(32, 5, stride=3, exact=True) == 10


@pytest.mark.parametrize("kwargs, message", [
    (dict(input_size=3, kernel_size=5), "kernel spans 5 cells"),
    (dict(input_size=8, kernel_size=3, stride=0), "stride must be >= 1"),
    (dict(input_size=8, kernel_size=3, padding=-1), "padding must be >= 0"),
    (dict(input_size=8, kernel_size=3, dilation=0), "dilation must be >= 1"),
])
def test_conv_output_size_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        F.conv_output_size(**kwargs)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 20), k=st.integers(1, 6), s=st.integers(1, 4), p=st.integers(0, 3), d=st.integers(1, 3))
def test_conv_output_size_matches_conv1d(n, k, s, p, d):
    if d * (k - 1) + 1 > n + 2 * p:
        return
    x, w = np.zeros((1, 1, n)), np.zeros((1, 1, k))
    assert F.conv1d(x, w, stride=s, padding=p, dilation=d).shape[-1] == F.conv_output_size(n, k, s, p, d)


# ---------------------------------------------------------------- batched: against the reference loops


@st.composite
def conv2d_case(draw):
    groups = draw(st.integers(1, 3))
    c_per_group, k_per_group = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    h = draw(st.integers(max(1, dh * (kh - 1) + 1 - 2 * ph), 9))
    w = draw(st.integers(max(1, dw * (kw - 1) + 1 - 2 * pw), 9))
    n = draw(st.integers(1, 3))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    seed = draw(st.integers(0, 2**32 - 1))
    return dict(shape=(n, groups * c_per_group, h, w), wshape=(groups * k_per_group, c_per_group, kh, kw),
                stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw), groups=groups, dtype=dtype, seed=seed)


def make_inputs(case):
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal(case["shape"]).astype(case["dtype"])
    w = rng.standard_normal(case["wshape"]).astype(case["dtype"])
    b = rng.standard_normal(case["wshape"][0]).astype(case["dtype"])
    return x, w, b


def conv_args(case):
    return dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"], groups=case["groups"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=conv2d_case())
def test_conv2d_forward_and_backward_match_reference(case):
    x, w, b = make_inputs(case)
    tol = TOL[case["dtype"]]
    y = F.conv2d(x, w, b, **conv_args(case))
    assert y.dtype == case["dtype"]
    np.testing.assert_allclose(y, R.conv2d(x, w, b, **conv_args(case)), **tol)

    grad_out = np.random.default_rng(case["seed"] + 1).standard_normal(y.shape).astype(case["dtype"])
    got = F.conv2d_backward(grad_out, x, w, **conv_args(case))
    want = R.conv2d_backward(grad_out, x, w, **conv_args(case))
    for name, g, r, like in zip(("grad_x", "grad_weight", "grad_bias"), got, want, (x, w, b)):
        assert g.shape == like.shape and g.dtype == like.dtype, name
        np.testing.assert_allclose(g, r, err_msg=name, **tol)


@settings(max_examples=80, deadline=None)
@given(case=conv2d_case())
def test_conv1d_matches_reference(case):
    case["shape"] = case["shape"][:2] + case["shape"][3:]
    case["wshape"] = case["wshape"][:2] + case["wshape"][3:]
    args = dict(stride=case["stride"][1], padding=case["padding"][1], dilation=case["dilation"][1],
                groups=case["groups"])
    x, w, b = make_inputs(case)
    tol = TOL[case["dtype"]]
    y = F.conv1d(x, w, b, **args)
    np.testing.assert_allclose(y, R.conv1d(x, w, b, **args), **tol)
    grad_out = np.ones_like(y)
    for g, r in zip(F.conv1d_backward(grad_out, x, w, **args), R.conv1d_backward(grad_out, x, w, **args)):
        np.testing.assert_allclose(g, r, **tol)


def is_depthwise(case):
    """groups = C = K > 1: always the "depthwise" route, whatever the other routes' thresholds."""
    return case["groups"] > 1 and case["wshape"][:2] == (case["groups"], 1)


HAVE_BLAS = blas.gemm_for(np.float32) is not None  # the "shifted products" route needs numpy's BLAS


ROUTES = {  # route: (module constants that force it where it applies, whether it applies to a case)
    "windows copied": (dict(_DIRECT_MAX_TAPS=0, _SHIFTED_PRODUCTS_MIN_CHANNELS=10**9), lambda c: not is_depthwise(c)),
    "shifted products": (dict(_DIRECT_MAX_TAPS=0, _SHIFTED_PRODUCTS_MIN_CHANNELS=1),
                         lambda c: c["stride"] == (1, 1) and not is_depthwise(c) and HAVE_BLAS),
    "shifted planes": (dict(_DIRECT_MAX_TAPS=10**9), lambda c: c["stride"] == (1, 1) and not is_depthwise(c)),
    "folding": (dict(_FULL_CORRELATION_WASTE=0.0), lambda c: not is_depthwise(c)),
    "full correlation": (dict(_FULL_CORRELATION_WASTE=1e9, _FULL_CORRELATION_MIN_CHANNELS=1),
                         lambda c: c["stride"] == (1, 1) and not is_depthwise(c) and all(
                             p <= d * (k - 1) for p, d, k in zip(c["padding"], c["dilation"], c["wshape"][2:]))),
    "depthwise": ({}, is_depthwise),
}


def force_route(monkeypatch, route):
    """Force `route` where it applies, and return the list into which every route that runs is recorded."""
    from minicnn.functional import conv as conv_module

    for name, value in ROUTES[route][0].items():
        monkeypatch.setattr(conv_module, name, value)
    ran = []
    for table in (conv_module._FORWARD, conv_module._GRAD_INPUT):
        for name, function in list(table.items()):
            def spy(*args, _name=name, _function=function, _table=table):
                ran.append(("forward" if _table is conv_module._FORWARD else "grad_input", _name))
                return _function(*args)
            monkeypatch.setitem(table, name, spy)
    return ran


def plan_of(case):
    x_shape, w_shape = case["shape"], case["wshape"]
    return F.conv.Convolution("test", 2, np.zeros(x_shape), np.zeros(w_shape), None, **conv_args(case)).plan


@pytest.mark.parametrize("route", ROUTES)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=conv2d_case())
def test_every_route_matches_reference(monkeypatch, route, case):
    """conv2d picks its algorithm from the shapes (`ConvPlan`); each route, forced for every shape it applies to,
    must be the one that runs and must agree with the readable loops."""
    ran = force_route(monkeypatch, route)
    plan = plan_of(case)
    if ROUTES[route][1](case) and plan.forward != "matrix product":
        assert route in plan, (route, plan)
    x, w, b = make_inputs(case)
    tol = TOL[case["dtype"]]
    np.testing.assert_allclose(F.conv2d(x, w, b, **conv_args(case)), R.conv2d(x, w, b, **conv_args(case)), **tol)
    assert ran[0] == ("forward", plan.forward)
    grad_out = np.random.default_rng(case["seed"] + 1).standard_normal(
        R.conv2d(x, w, b, **conv_args(case)).shape).astype(case["dtype"])
    ran.clear()
    got = F.conv2d_backward(grad_out, x, w, **conv_args(case))
    assert ran[0] == ("grad_input", plan.grad_input)
    for g, r in zip(got, R.conv2d_backward(grad_out, x, w, **conv_args(case))):
        np.testing.assert_allclose(g, r, **tol)


@pytest.mark.parametrize("route", ["windows copied", "folding", "full correlation"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=conv2d_case())
def test_the_plain_product_agrees_too(monkeypatch, route, case):
    """Without a BLAS beside numpy (or with MINICNN_BLAS=0) the routes multiply with minicnn's own numba product
    (`minicnn.kernels.gemm.dot_rows`): the plain route that runs on any CPU must agree with the loops as well."""
    monkeypatch.setattr(blas, "_FUNCTIONS", None)
    assert blas.gemm_for(np.float32) is None
    force_route(monkeypatch, route)
    x, w, b = make_inputs(case)
    tol = TOL[case["dtype"]]
    np.testing.assert_allclose(F.conv2d(x, w, b, **conv_args(case)), R.conv2d(x, w, b, **conv_args(case)), **tol)
    grad_out = np.random.default_rng(case["seed"] + 1).standard_normal(
        R.conv2d(x, w, b, **conv_args(case)).shape).astype(case["dtype"])
    for g, r in zip(F.conv2d_backward(grad_out, x, w, **conv_args(case)),
                    R.conv2d_backward(grad_out, x, w, **conv_args(case))):
        np.testing.assert_allclose(g, r, **tol)


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("bad", [np.nan, np.inf])
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=conv2d_case(), where=st.integers(0, 10**6))
def test_nan_and_inf_reach_only_the_windows_that_hold_them(monkeypatch, route, bad, case, where):
    """One nan or inf placed anywhere in x (or in grad_out) makes non-finite exactly the outputs (input-gradient
    cells, weight-gradient taps) that the readable loops make non-finite, whatever route runs."""
    force_route(monkeypatch, route)
    x, w, b = make_inputs(case)
    x.reshape(-1)[where % x.size] = bad
    with np.errstate(invalid="ignore", over="ignore"):
        want = R.conv2d(x, w, b, **conv_args(case))
        got = F.conv2d(x, w, b, **conv_args(case))
        np.testing.assert_array_equal(np.isfinite(got), np.isfinite(want))
        grad_out = np.random.default_rng(case["seed"]).standard_normal(want.shape).astype(case["dtype"])
        _, got_w, _ = F.conv2d_backward(grad_out, x, w, **conv_args(case))
        np.testing.assert_array_equal(np.isfinite(got_w), np.isfinite(R.conv2d_backward(grad_out, x, w, **conv_args(case))[1]))
        x[np.isinf(x)] = 1.0
        grad_out.reshape(-1)[where % grad_out.size] = bad
        got = F.conv2d_backward(grad_out, x, w, **conv_args(case))
        for g, r in zip(got, R.conv2d_backward(grad_out, x, w, **conv_args(case))):
            np.testing.assert_array_equal(np.isfinite(g), np.isfinite(r))


@pytest.mark.parametrize("x_shape, w_shape, kwargs, forward, grad_input", [
    ((2, 1, 32, 32), (6, 1, 5, 5), {}, "shifted planes", "folding"),      # LeNet-5 C1
    ((2, 6, 14, 14), (16, 6, 5, 5), {}, "windows copied", "folding"),     # LeNet-5 C3
    ((2, 16, 14, 14), (16, 16, 5, 5), {}, "shifted products" if HAVE_BLAS else "windows copied", "full correlation"),
    ((2, 16, 5, 5), (120, 16, 5, 5), {}, "matrix product", "matrix product"),      # LeNet-5 C5
    ((2, 3, 227, 227), (96, 3, 11, 11), dict(stride=4), "windows copied", "folding"),  # AlexNet conv1
    ((2, 64, 56, 56), (64, 64, 3, 3), dict(padding=1), "shifted products" if HAVE_BLAS else "windows copied",
     "full correlation"),  # ResNet 3x3
    ((2, 3, 32, 32), (4, 3, 5, 5), dict(stride=2), "windows copied", "folding"),  # few filters, strided
    ((2, 6, 16, 16), (6, 3, 3, 3), dict(groups=2), "shifted planes", "folding"),
    ((2, 12, 16, 16), (6, 6, 3, 3), dict(groups=2), "shifted planes", "full correlation"),
    ((1, 96, 113, 113), (96, 1, 3, 3), dict(stride=2, groups=96), "depthwise", "depthwise"),  # EfficientNet
    ((1, 1152, 11, 11), (1152, 1, 5, 5), dict(groups=1152), "depthwise", "depthwise"),
    ((2, 6, 16, 16), (12, 1, 3, 3), dict(groups=6), "shifted planes", "folding"),  # 2 filters per channel
])
def test_the_plan_for_known_layers(x_shape, w_shape, kwargs, forward, grad_input):
    plan = F.conv.Convolution("conv2d", 2, np.zeros(x_shape, np.float32), np.zeros(w_shape, np.float32),
                              **kwargs).plan
    assert (plan.forward, plan.grad_input) == (forward, grad_input), plan.reason
    assert plan.forward in F.conv.FORWARD_ROUTES and plan.grad_input in F.conv.GRAD_INPUT_ROUTES


@pytest.mark.parametrize("xs, ws, padding, dilation", [
    ((7, 16, 5, 5), (12, 16, 5, 5), 0, 1),  # LeNet-5's C5: 5x5 filters on 5x5 maps
    ((3, 2, 3, 4), (5, 2, 5, 6), 1, 1),  # padding makes the window the whole padded input
    ((3, 2, 5, 5), (4, 2, 3, 3), 0, 2),  # dilated: a 1x1 output, but not a plain matrix product
])
def test_fully_connected_convolution_matches_reference(xs, ws, padding, dilation):
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    y = F.conv2d(x, w, b, padding=padding, dilation=dilation)
    assert y.shape[2:] == (1, 1)
    np.testing.assert_allclose(y, R.conv2d(x, w, b, padding=padding, dilation=dilation), rtol=1e-10, atol=1e-12)
    grad_out = rng.standard_normal(y.shape)
    got = F.conv2d_backward(grad_out, x, w, padding=padding, dilation=dilation)
    for g, r in zip(got, R.conv2d_backward(grad_out, x, w, padding=padding, dilation=dilation)):
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("op, x_shape, w_shape", [
    (F.conv2d_backward, (4, 3, 9, 9), (5, 3, 3, 3)),
    (F.conv2d_backward, (4, 3, 3, 3), (5, 3, 3, 3)),  # fully connected: a matrix product
    (F.conv1d_backward, (4, 3, 9), (5, 3, 3)),
])
def test_input_grad_false_skips_only_the_input_gradient(op, x_shape, w_shape):
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    grad_out = rng.standard_normal((4, 5) + tuple(n - 2 for n in x_shape[2:]))
    full = op(grad_out, x, w)
    skipped = op(grad_out, x, w, input_grad=False)
    assert skipped[0] is None
    np.testing.assert_array_equal(skipped[1], full[1])
    np.testing.assert_array_equal(skipped[2], full[2])


def test_conv2d_gradient_matches_central_differences():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 2, 6, 5)), rng.standard_normal((3, 2, 3, 2))
    args = dict(stride=(2, 1), padding=1, dilation=(1, 2))
    grad_out = rng.standard_normal(F.conv2d(x, w, **args).shape)
    gx, gw, _ = F.conv2d_backward(grad_out, x, w, **args)
    eps = 1e-6
    for array, grad in ((x, gx), (w, gw)):
        for index in [(0, 0, 0, 0), (1, 1, 2, 1), tuple(s - 1 for s in array.shape)]:
            saved = array[index]
            array[index] = saved + eps
            plus = np.sum(F.conv2d(x, w, **args) * grad_out)
            array[index] = saved - eps
            minus = np.sum(F.conv2d(x, w, **args) * grad_out)
            array[index] = saved
            assert abs((plus - minus) / (2 * eps) - grad[index]) < 1e-6


def test_same_padding_keeps_size_and_matches_explicit_padding():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 2, 8, 7))
    for k in (1, 3, 5):
        w = rng.standard_normal((4, 2, k, k))
        same = F.conv2d(x, w, padding="same")
        assert same.shape == (1, 4, 8, 7)
        np.testing.assert_allclose(same, F.conv2d(x, w, padding=(k - 1) // 2), rtol=1e-12)
    np.testing.assert_array_equal(F.conv2d(x, w, padding="valid"), F.conv2d(x, w))
    w_even = rng.standard_normal((1, 2, 4, 2))
    assert F.conv2d(x, w_even, padding="same").shape == (1, 1, 8, 7)
    assert F.conv1d(x[:, :, 0], w_even[:, :, 0], padding="same", dilation=2).shape == (1, 1, 7)


def test_float32_is_kept_and_inputs_are_not_modified():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 5, 5)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    x_copy, w_copy = x.copy(), w.copy()
    y = F.conv2d(x[:, :, ::-1, :], w, padding=1)  # non-contiguous input works too
    assert y.dtype == np.float32
    gx, gw, gb = F.conv2d_backward(np.ones_like(y), x, w, padding=1)
    assert (gx.dtype, gw.dtype, gb.dtype) == (np.float32,) * 3
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(w, w_copy)


def test_same_numbers_with_one_and_two_threads(tmp_path):
    """Every output element is owned by one prange iteration and summed in a fixed order: a few training steps
    of a small CNN (conv, pooling, batch norm, linear, Adam) give the same bytes with 1 and 2 threads."""
    script = """
import sys, numpy as np, minicnn.functional as F
from minicnn import nn, optim, random
rng = np.random.default_rng(7)
x = rng.standard_normal((37, 4, 17, 15)).astype(np.float32)
w = rng.standard_normal((8, 2, 3, 3)).astype(np.float32)
args = dict(stride=(1, 2), padding=1, dilation=(2, 1), groups=2)
y = F.conv2d(x, w, **args)
grads = F.conv2d_backward(np.cos(y), x, w, **args)
big_x = rng.standard_normal((64, 8, 32, 32)).astype(np.float32)  # large enough to run on every thread
big_w = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)
big_y = F.conv2d(big_x, big_w, padding=1)
grads += F.conv2d_backward(np.sin(big_y), big_x, big_w, padding=1)
grads += (big_y, F.max_pool2d(big_y, 2), F.max_pool2d_backward(np.ones((64, 16, 16, 16), np.float32), big_y, 2))
first_w = rng.standard_normal((6, 1, 5, 5)).astype(np.float32)  # few taps: the forward without unfolding
first_y = F.conv2d(big_x[:, :1], first_w)
grads += (first_y,) + F.conv2d_backward(np.cos(first_y), big_x[:, :1], first_w)
fc_x = rng.standard_normal((64, 16, 5, 5)).astype(np.float32)  # LeNet-5's C5: a matrix product
fc_w = rng.standard_normal((120, 16, 5, 5)).astype(np.float32)
fc_y = F.conv2d(fc_x, fc_w)
grads += (fc_y,) + F.conv2d_backward(np.cos(fc_y), fc_x, fc_w)
grads += (F.linear(big_x.reshape(64, -1), big_x.reshape(64, -1)[:40]),)
grads += F.conv1d_backward(np.ones((64, 8, 16), np.float32), big_x[:, :, 0], big_w[:8, :, 0], stride=2, padding=1)[1:]
random.manual_seed(0)
net = nn.Sequential(nn.Conv2d(4, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
                    nn.Conv2d(6, 6, 3), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(6 * 3 * 2, 3))
loss_fn, opt = nn.CrossEntropyLoss(), optim.Adam(net.parameters(), lr=1e-2)
for step in range(3):
    loss_fn(net(x), np.arange(37) % 3)
    opt.zero_grad()
    net.backward(loss_fn.backward())
    opt.step()
np.savez(sys.argv[1], y, *grads, *net.state_dict().values())
"""
    results = []
    for threads in ("1", "2"):
        out = tmp_path / f"threads{threads}.npz"
        env = dict(os.environ, NUMBA_NUM_THREADS=threads)
        subprocess.run([sys.executable, "-c", script, str(out)], check=True, env=env)
        results.append(np.load(out))
    for key in results[0].files:
        assert results[0][key].tobytes() == results[1][key].tobytes(), key


# ---------------------------------------------------------------- bad input


GOOD_X, GOOD_W = np.zeros((2, 4, 8, 8)), np.zeros((6, 2, 3, 3))


@pytest.mark.parametrize("call, error, message", [
    (lambda: F.conv2d(np.zeros((4, 8, 8)), GOOD_W), ValueError, r"expected x with 4 dimensions \(N, C, H, W\), got shape \(4, 8, 8\)"),
    (lambda: F.conv2d(GOOD_X, np.zeros((6, 2, 3))), ValueError, r"expected weight with 4 dimensions"),
    (lambda: F.conv1d(np.zeros((2, 8)), np.zeros((1, 2, 3))), ValueError, r"expected x with 3 dimensions \(N, C, L\)"),
    (lambda: F.conv2d(GOOD_X, GOOD_W), ValueError, r"x \(2, 4, 8, 8\) has 4 channels, but weight \(6, 2, 3, 3\) with groups=1 expects 2 per group"),
    (lambda: F.conv2d(GOOD_X, np.zeros((6, 1, 3, 3)), groups=3), ValueError, r"groups=3 must divide both the input channels \(4"),
    (lambda: F.conv2d(GOOD_X, np.zeros((5, 2, 3, 3)), groups=2), ValueError, r"output channels \(5"),
    (lambda: F.conv2d(GOOD_X, GOOD_W, groups=0), ValueError, "groups must be >= 1"),
    (lambda: F.conv2d(GOOD_X, np.zeros((6, 2, 9, 3)), groups=2), ValueError, r"spans 9 cells .* larger than the padded input \(8 \+ 0 padding = 8\)"),
    (lambda: F.conv2d(GOOD_X, np.zeros((6, 2, 3, 3)), groups=2, dilation=4), ValueError, "spans 9 cells"),
    (lambda: F.conv2d(GOOD_X, GOOD_W, groups=2, stride=0), ValueError, "stride must be >= 1"),
    (lambda: F.conv2d(GOOD_X, GOOD_W, groups=2, dilation=(1, 0)), ValueError, "dilation must be >= 1"),
    (lambda: F.conv2d(GOOD_X, GOOD_W, groups=2, padding=-1), ValueError, "padding must be >= 0"),
    (lambda: F.conv2d(GOOD_X, GOOD_W, groups=2, stride=(1, 2, 3)), TypeError, "stride must be an int or a tuple of 2 ints"),
    (lambda: F.conv2d(GOOD_X, GOOD_W, groups=2, padding="full"), ValueError, "padding must be an int, a tuple of ints, 'valid' or 'same'"),
    (lambda: F.conv2d(GOOD_X, GOOD_W, groups=2, stride=2, padding="same"), ValueError, "padding='same' needs stride 1"),
    (lambda: F.conv2d(GOOD_X.astype(int), GOOD_W, groups=2), TypeError, "x must be float32 or float64.*got int64"),
    (lambda: F.conv2d(GOOD_X, GOOD_W.astype(complex), groups=2), TypeError, "weight must be float32 or float64.*got complex128"),
    (lambda: F.conv2d(GOOD_X.astype(np.float32), GOOD_W, groups=2), TypeError, "same dtype, but x is float32, weight is float64"),
    (lambda: F.conv2d(GOOD_X, GOOD_W, np.zeros(5), groups=2), ValueError, r"bias must have shape \(6,\)"),
    (lambda: F.conv2d_backward(np.zeros((2, 6, 5, 5)), GOOD_X, GOOD_W, groups=2), ValueError, r"grad_out must have the forward output's shape .* = \(2, 6, 6, 6\)"),
    (lambda: F.conv2d_backward(np.zeros((2, 6, 6, 6), np.float32), GOOD_X, GOOD_W, groups=2), TypeError, "same dtype"),
])
def test_bad_input_names_the_rule_and_shapes(call, error, message):
    with pytest.raises(error, match=message):
        call()


# ---------------------------------------------------------------- against PyTorch


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


TORCH_CASES = [
    # (x shape, weight shape, stride, padding, dilation, groups)
    ((4, 3, 32, 32), (6, 3, 5, 5), 1, 0, 1, 1),
    ((2, 4, 15, 13), (6, 2, 3, 3), (2, 1), (1, 2), (1, 2), 2),
    ((3, 6, 20, 20), (6, 1, 3, 3), 2, 1, 1, 6),
    ((2, 3, 31, 29), (8, 3, 11, 11), 4, 2, 1, 1),
    ((2, 8, 9, 9), (4, 8, 1, 1), 1, 0, 1, 1),
    ((2, 4, 10, 12), (4, 2, 4, 2), 1, "same", (2, 3), 2),
    ((5, 2, 7, 7), (3, 2, 3, 3), 3, 0, 2, 1),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", TORCH_CASES)
def test_conv2d_matches_torch(torch, case, dtype):
    xs, ws, stride, padding, dilation, groups = case
    rng = np.random.default_rng(zlib.crc32(repr(case).encode()))
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in (xs, ws, ws[:1]))
    args = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.conv2d(tx, tw, tb, **args)
    grad_out = rng.standard_normal(tuple(ty.shape)).astype(dtype)
    ty.backward(torch.tensor(grad_out))

    limit = 1e-4 if dtype == np.float32 else 1e-10
    y = F.conv2d(x, w, b, **args)
    assert relative_error(y, ty.detach().numpy()) < limit
    for got, want in zip(F.conv2d_backward(grad_out, x, w, **args), (tx.grad, tw.grad, tb.grad)):
        assert relative_error(got, want.numpy()) < limit


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=conv2d_case(), same=st.booleans())
def test_conv1d_and_conv2d_match_torch_over_random_configurations(torch, case, same):
    x, w, b = make_inputs(case)
    args = conv_args(case)
    if same:
        args.update(stride=1, padding="same")
    limit = 1e-4 if case["dtype"] == np.float32 else 1e-10
    for op, op_backward, t_op, squeeze in ((F.conv2d, F.conv2d_backward, torch.nn.functional.conv2d, False),
                                           (F.conv1d, F.conv1d_backward, torch.nn.functional.conv1d, True)):
        xi, wi = (x[:, :, 0], w[:, :, 0]) if squeeze else (x, w)
        ai = {k: (v[1] if squeeze and isinstance(v, tuple) else v) for k, v in args.items()}
        tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (xi, wi, b))
        ty = t_op(tx, tw, tb, **ai)
        ty.backward(torch.ones_like(ty))
        assert relative_error(op(xi, wi, b, **ai), ty.detach().numpy()) < limit
        grads = op_backward(np.ones(tuple(ty.shape), case["dtype"]), xi, wi, **ai)
        for got, want in zip(grads, (tx.grad, tw.grad, tb.grad)):
            assert relative_error(got, want.numpy()) < limit


def test_kernels_are_cached_on_disk():
    from minicnn.kernels import conv as kernels

    for name in ("conv2d_forward", "conv2d_forward_direct", "conv2d_forward_shifted_products",
                 "conv2d_backward_input", "_backward_weight_chunks", "depthwise_forward", "depthwise_backward_input",
                 "depthwise_backward_weight"):
        dispatcher = getattr(kernels, name)
        assert dispatcher._cache is not None and dispatcher.targetoptions.get("nogil"), name
        assert type(dispatcher._cache).__name__ == "FunctionCache", name
    assert pathlib.Path(kernels.__file__).exists()


def test_the_plain_route_on_a_cpu_without_vector_extensions(tmp_path):
    """Code generated for a CPU with no SIMD extensions (NUMBA_CPU_NAME=generic, what numba would do on an unknown
    CPU) and without BLAS (MINICNN_BLAS=0): the routes still agree with the loops. A fresh process and cache."""
    script = """
import numpy as np, minicnn.functional as F
from minicnn import reference as R
from minicnn.kernels import blas
assert blas.gemm_for(np.float64) is None
rng = np.random.default_rng(3)
for xs, ws, args in [((3, 4, 9, 8), (6, 2, 3, 3), dict(stride=(2, 1), padding=1, groups=2)),
                     ((2, 12, 7, 7), (20, 12, 3, 3), dict(padding=1)),
                     ((2, 3, 6, 6), (3, 1, 3, 3), dict(groups=3))]:
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    y = F.conv2d(x, w, **args)
    np.testing.assert_allclose(y, R.conv2d(x, w, **args), rtol=1e-10, atol=1e-10)
    g = rng.standard_normal(y.shape)
    for got, want in zip(F.conv2d_backward(g, x, w, **args), R.conv2d_backward(g, x, w, **args)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
print("ok")
"""
    env = dict(os.environ, NUMBA_CPU_NAME="generic", MINICNN_BLAS="0", NUMBA_CACHE_DIR=str(tmp_path))
    env.pop("NUMBA_CPU_FEATURES", None)
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
