"""The fast ops of minicnn.functional and the optimizers of minicnn.optim against the readable loops of
minicnn.reference: the oracle that needs no PyTorch.

Three kinds of tests:

- property tests (hypothesis): a fast op and its reference on random shapes and settings agree;
- the reference against numbers worked out by hand;
- each reference backward against central differences of its own reference forward, so the oracle
  itself is checked against the math and not only against the code it judges.
"""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minicnn.functional as F
from minicnn import optim
from minicnn import reference as R
from minicnn.nn import Parameter

FEW = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RTOL = {np.float64: 1e-10, np.float32: 1e-5}
DTYPES = st.sampled_from([np.float64, np.float64, np.float32])  # float64 twice as often: the tight check
SEEDS = st.integers(0, 2**32 - 1)


def assert_close(got, want, rtol=1e-10, name="", scale=0.0):
    """Same shape, dtype and nan cells; elsewhere |got - want| <= rtol * max(max|want|, scale): robust to
    cells that cancel to ~0, whose relative error means nothing. Pass `scale`, the size of the terms that
    cancel, when every cell may cancel."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{name}: shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"{name}: dtype {got.dtype} != {want.dtype}"
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{name}: nan cells differ")
    ok = ~np.isnan(want)
    np.testing.assert_array_equal(np.isinf(got[ok]), np.isinf(want[ok]), err_msg=f"{name}: inf cells differ")
    np.testing.assert_array_equal(got[ok][np.isinf(want[ok])], want[ok][np.isinf(want[ok])], err_msg=name)
    finite = ok & ~np.isinf(want)
    g, w = got[finite].astype(np.float64), want[finite].astype(np.float64)
    scale = max(float(np.abs(w).max(initial=0.0)), scale, 1e-300)
    err = float(np.abs(g - w).max(initial=0.0))
    assert err <= rtol * scale, f"{name}: max error {err:.3g} > {rtol:g} * {scale:.3g}"


def size_of(a):
    """Largest magnitude in `a`: the size of the terms a sum of them may cancel down from."""
    return float(np.abs(np.asarray(a, np.float64)).max(initial=0.0))


def normal(seed, shape, dtype=np.float64, scale=1.0):
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype(dtype)


# ================================================================ pooling


@st.composite
def pool_case(draw, padded=True):
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    padding = (draw(st.integers(0, kernel[0] // 2)), draw(st.integers(0, kernel[1] // 2))) if padded else (0, 0)
    h = draw(st.integers(max(1, kernel[0] - 2 * padding[0]), 7))
    w = draw(st.integers(max(1, kernel[1] - 2 * padding[1]), 7))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), h, w)
    return dict(shape=shape, kernel=kernel, stride=stride, padding=padding, dtype=draw(DTYPES), seed=draw(SEEDS))


def pool_x(case, kind="normal"):
    """Random input; 'ties' holds few distinct values, 'specials' also nan, inf and -inf."""
    rng = np.random.default_rng(case["seed"])
    if kind == "normal":
        x = rng.standard_normal(case["shape"])
    elif kind == "ties":
        x = rng.integers(-1, 2, case["shape"]).astype(np.float64)
    else:
        x = rng.choice([np.nan, -np.inf, np.inf, -1.0, 0.0, 1.0], size=case["shape"], p=[.2, .15, .05, .2, .2, .2])
    return x.astype(case["dtype"])


def grad_for(y, seed):
    return normal(seed + 1, y.shape, y.dtype)


def check_max_pool(x, k, s, p):
    y, indices = F.max_pool2d(x, k, s, p, return_indices=True)
    want_y, want_indices = R.max_pool2d(x, k, s, p, return_indices=True)
    np.testing.assert_array_equal(indices, want_indices)  # same arg-max, nan and tie rules
    assert indices.dtype == np.int64
    np.testing.assert_array_equal(y, want_y)  # a max is one of the inputs: exactly equal
    assert y.dtype == x.dtype
    np.testing.assert_array_equal(F.max_pool2d(x, k, s, p), want_y)
    g = grad_for(y, 7)
    want = R.max_pool2d_backward(g, x, k, s, p)
    rtol = RTOL[x.dtype.type]
    assert_close(F.max_pool2d_backward(g, x, k, s, p), want, rtol, "grad_x", size_of(g))
    assert_close(F.max_pool2d_backward(g, x, k, s, p, indices=indices), want, rtol, "grad_x, indices", size_of(g))


@FEW
@given(case=pool_case(), kind=st.sampled_from(["normal", "ties", "specials"]))
def test_max_pool2d_matches_reference(case, kind):
    check_max_pool(pool_x(case, kind), case["kernel"], case["stride"], case["padding"])


@pytest.mark.parametrize("shape", [(2, 3, 6, 8), (1, 2, 5, 7)])
@pytest.mark.parametrize("kind", ["normal", "ties", "specials"])
def test_max_pool2d_2x2_shortcut_matches_reference(shape, kind):
    """2x2 windows, stride 2, no padding: the kernel's own vectorized route."""
    for seed in range(3):
        case = dict(shape=shape, dtype=np.float64, seed=seed)
        check_max_pool(pool_x(case, kind), 2, None, 0)
        check_max_pool(pool_x(dict(case, dtype=np.float32), kind), (2, 2), (2, 2), (0, 0))


@pytest.mark.parametrize("kernel, stride, padding", [(2, None, 0), (3, 1, 1), ((2, 3), (1, 2), (1, 1))])
def test_max_pool2d_nan_placement(kernel, stride, padding):
    """A nan anywhere in a window wins it (the last nan in row-major order), wherever it sits."""
    for at in np.ndindex(4, 5):
        x = np.random.default_rng(0).standard_normal((1, 1, 4, 5))
        x[(0, 0) + at] = np.nan
        check_max_pool(x, kernel, stride, padding)
        x[0, 0, 3 - at[0], 4 - at[1]] = np.nan  # a second nan, before or after the first
        check_max_pool(x, kernel, stride, padding)


@FEW
@given(case=pool_case())
def test_avg_pool2d_matches_reference(case):
    x, k, s, p = pool_x(case), case["kernel"], case["stride"], case["padding"]
    y = F.avg_pool2d(x, k, s, p)
    rtol = RTOL[case["dtype"]]
    assert_close(y, R.avg_pool2d(x, k, s, p), rtol, "y", size_of(x))
    g = grad_for(y, case["seed"])
    assert_close(F.avg_pool2d_backward(g, x, k, s, p), R.avg_pool2d_backward(g, x, k, s, p), rtol, "grad_x", size_of(g))


@FEW
@given(case=pool_case(padded=False), norm_type=st.sampled_from([1, 2, 3, 4, 1.5, 2.5]))
def test_lp_pool2d_matches_reference(case, norm_type):
    x, k, s = pool_x(case), case["kernel"], case["stride"]
    if norm_type not in (1, 2, 4):
        # a fractional power of a negative number is nan, and an odd root of a sum that cancels to ~0
        # magnifies rounding without bound (test_lp_pool2d_odd_power_of_negative_sums has such sums)
        x = np.abs(x) + x.dtype.type(0.1)
    y = F.lp_pool2d(x, norm_type, k, s)
    rtol = {np.float64: 1e-9, np.float32: 1e-4}[case["dtype"]]
    assert_close(y, R.lp_pool2d(x, norm_type, k, s), rtol, "y", size_of(R.lp_pool2d(np.abs(x), norm_type, k, s)))
    g = grad_for(y, case["seed"])
    # each window adds g * (x/y)^(p-1), at most |g| in size
    assert_close(F.lp_pool2d_backward(g, x, norm_type, k, s), R.lp_pool2d_backward(g, x, norm_type, k, s), rtol,
                 "grad_x", size_of(g))


def test_lp_pool2d_odd_power_of_negative_sums():
    """A negative sum of cubes gives the real cube root -|s|^(1/3) (PyTorch gives nan), fast and slow alike."""
    x = np.array([[[[-2.0, 1.0, 0.5, 0.25], [-1.0, -1.5, 3.0, -4.0]]]])
    y = F.lp_pool2d(x, 3, 2)
    # sums of cubes: -8 + 1 - 1 - 3.375 and 0.125 + 0.015625 + 27 - 64
    np.testing.assert_allclose(y, [[[[-11.375 ** (1 / 3), -36.859375 ** (1 / 3)]]]], rtol=1e-14)
    assert_close(y, R.lp_pool2d(x, 3, 2), 1e-14)
    g = np.array([[[[1.0, -2.0]]]])
    assert_close(F.lp_pool2d_backward(g, x, 3, 2), R.lp_pool2d_backward(g, x, 3, 2), 1e-14)


@FEW
@given(case=pool_case(padded=False), out_h=st.integers(1, 9), out_w=st.integers(1, 9))
def test_adaptive_avg_pool2d_matches_reference(case, out_h, out_w):
    x = pool_x(case)
    rtol = RTOL[case["dtype"]]
    y = F.adaptive_avg_pool2d(x, (out_h, out_w))
    assert_close(y, R.adaptive_avg_pool2d(x, (out_h, out_w)), rtol, "y", size_of(x))
    g = grad_for(y, case["seed"])
    want = R.adaptive_avg_pool2d_backward(g, x, (out_h, out_w))
    assert_close(F.adaptive_avg_pool2d_backward(g, x, (out_h, out_w)), want, rtol, "grad_x", size_of(g))
    if out_h == out_w:
        assert_close(F.adaptive_avg_pool2d(x, out_h), R.adaptive_avg_pool2d(x, out_h), rtol, "int size", size_of(x))


@FEW
@given(case=pool_case(padded=False))
def test_global_avg_pool2d_matches_reference(case):
    x = pool_x(case)
    y = F.global_avg_pool2d(x)
    assert_close(y, R.global_avg_pool2d(x), RTOL[case["dtype"]], "y", size_of(x))
    g = grad_for(y, case["seed"])
    assert_close(F.global_avg_pool2d_backward(g, x), R.global_avg_pool2d_backward(g, x), RTOL[case["dtype"]], "grad_x")


# ================================================================ normalization


@st.composite
def bn_case(draw):
    n_chan = draw(st.integers(1, 4))
    spatial = draw(st.sampled_from([(), (1,), (5,), (2, 3), (3, 1)]))
    n_batch = draw(st.integers(2 if spatial in ((), (1,), (3, 1)) else 1, 4))
    return dict(shape=(n_batch, n_chan) + spatial, training=draw(st.booleans()), affine=draw(st.booleans()),
                momentum=draw(st.sampled_from([0.0, 0.1, 0.5, 1.0])), eps=draw(st.sampled_from([1e-5, 1e-3, 0.5])),
                dtype=draw(DTYPES), seed=draw(SEEDS))


@FEW
@given(case=bn_case())
def test_batch_norm_matches_reference(case):
    rng = np.random.default_rng(case["seed"])
    dtype, n_chan = case["dtype"], case["shape"][1]
    offsets = rng.standard_normal(n_chan).reshape((1, n_chan) + (1,) * (len(case["shape"]) - 2))
    x = (3 * rng.standard_normal(case["shape"]) + offsets).astype(dtype)
    running_mean = rng.standard_normal(n_chan).astype(dtype)
    running_var = rng.uniform(0.5, 2.0, n_chan).astype(dtype)
    weight, bias = (rng.standard_normal(n_chan).astype(dtype), rng.standard_normal(n_chan).astype(dtype)) \
        if case["affine"] else (None, None)
    training, momentum, eps, rtol = case["training"], case["momentum"], case["eps"], RTOL[dtype]

    fast_stats, slow_stats = (running_mean.copy(), running_var.copy()), (running_mean.copy(), running_var.copy())
    y = F.batch_norm(x, *fast_stats, weight, bias, training=training, momentum=momentum, eps=eps)
    assert_close(y, R.batch_norm(x, *slow_stats, weight, bias, training=training, momentum=momentum, eps=eps),
                 rtol, "y")
    assert_close(fast_stats[0], slow_stats[0], rtol, "running_mean")
    assert_close(fast_stats[1], slow_stats[1], rtol, "running_var")

    g = rng.standard_normal(x.shape).astype(dtype)
    got = F.batch_norm_backward(g, x, weight, running_mean, running_var, training=training, eps=eps)
    want = R.batch_norm_backward(g, x, weight, running_mean, running_var, training=training, eps=eps)
    # compare each gradient at the size of the terms it sums: grad_x (in training) is a difference of terms
    # of size gamma*g/std that cancel entirely when each channel holds two values (normalized to about -1
    # and +1 whatever x is); grad_weight sums g * x_hat, grad_bias sums g
    axes = tuple(a for a in range(x.ndim) if a != 1)
    x64 = x.astype(np.float64)
    mean, var = (x64.mean(axis=axes), x64.var(axis=axes)) if training else (running_mean, running_var)
    inv_std = (1 / np.sqrt(np.asarray(var, np.float64) + eps)).reshape(offsets.shape)
    gamma = np.ones(offsets.shape) if weight is None else np.abs(weight).reshape(offsets.shape)
    x_hat = (x64 - np.asarray(mean, np.float64).reshape(offsets.shape)) * inv_std
    sizes = (size_of(g * gamma * inv_std), size_of(np.abs(g * x_hat).sum(axis=axes)), size_of(np.abs(g).sum(axis=axes)))
    for name, a, b, size in zip(("grad_x", "grad_weight", "grad_bias"), got, want, sizes):
        assert_close(a, b, rtol if dtype == np.float64 else 1e-4, name, size)


def test_batch_norm_training_without_running_statistics():
    x = normal(0, (4, 3, 2))
    assert_close(F.batch_norm(x, None, None, training=True), R.batch_norm(x, None, None, training=True))


@st.composite
def lrn_case(draw):
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 7))) + draw(st.sampled_from([(1,), (4,), (2, 3)]))
    return dict(shape=shape, size=draw(st.integers(1, 6)), alpha=draw(st.sampled_from([1e-4, 0.3, 2.0])),
                beta=draw(st.sampled_from([0.75, 0.5, 1.3])), k=draw(st.sampled_from([1.0, 2.0, 0.5])),
                dtype=draw(DTYPES), seed=draw(SEEDS))


@FEW
@given(case=lrn_case())
def test_local_response_norm_matches_reference(case):
    x = normal(case["seed"], case["shape"], case["dtype"], scale=2.0)
    args = dict(size=case["size"], alpha=case["alpha"], beta=case["beta"], k=case["k"])
    y = F.local_response_norm(x, **args)
    assert_close(y, R.local_response_norm(x, **args), RTOL[case["dtype"]], "y")
    g = grad_for(y, case["seed"])
    # the two terms of the gradient, each at most (1 + 2 beta) |g| k^-beta, may cancel
    size = size_of(g) * (1 + 2 * case["beta"]) * case["k"] ** -case["beta"]
    assert_close(F.local_response_norm_backward(g, x, **args), R.local_response_norm_backward(g, x, **args),
                 RTOL[case["dtype"]], "grad_x", size)


# ================================================================ linear, dropout


@FEW
@given(n=st.integers(1, 4), n_in=st.integers(1, 6), n_out=st.integers(1, 5), with_bias=st.booleans(),
       dtype=DTYPES, seed=SEEDS)
def test_linear_matches_reference(n, n_in, n_out, with_bias, dtype, seed):
    x, w = normal(seed, (n, n_in), dtype), normal(seed + 1, (n_out, n_in), dtype)
    b = normal(seed + 2, n_out, dtype) if with_bias else None
    y = F.linear(x, w, b)
    # the same sums of absolute values give the size of the terms each output adds up
    absolute = (np.abs(x), np.abs(w), None if b is None else np.abs(b))
    assert_close(y, R.linear(x, w, b), RTOL[dtype], "y", size_of(R.linear(*absolute)))
    g = grad_for(y, seed)
    sizes = map(size_of, R.linear_backward(np.abs(g), *absolute[:2]))
    for name, a, r, size in zip(("grad_x", "grad_weight", "grad_bias"), F.linear_backward(g, x, w),
                                R.linear_backward(g, x, w), sizes):
        assert_close(a, r, RTOL[dtype], name, size)


@FEW
@given(shape=st.sampled_from([(5,), (2, 3), (2, 3, 4)]), p=st.sampled_from([0.0, 0.2, 0.5, 0.9]),
       training=st.booleans(), dtype=DTYPES, seed=SEEDS)
def test_dropout_matches_reference_given_the_mask(shape, p, training, dtype, seed):
    x = normal(seed, shape, dtype)
    y, mask = F.dropout(x, p, training, np.random.default_rng(seed))
    if mask is not None:
        assert set(np.unique(mask).tolist()) <= {0.0, float(dtype(1) / dtype(1 - p))}
    assert_close(y, R.dropout(x, mask), 0.0, "y")
    g = grad_for(x, seed)
    assert_close(F.dropout_backward(g, mask), R.dropout_backward(g, mask), 0.0, "grad_x")


# ================================================================ activations, softmax, losses


ACTIVATIONS = {
    "relu": ((F.relu, F.relu_backward), (R.relu, R.relu_backward)),
    "relu6": ((F.relu6, F.relu6_backward), (R.relu6, R.relu6_backward)),
    "sigmoid": ((F.sigmoid, F.sigmoid_backward), (R.sigmoid, R.sigmoid_backward)),
    "tanh": ((F.tanh, F.tanh_backward), (R.tanh, R.tanh_backward)),
}


@pytest.mark.parametrize("name", ACTIVATIONS)
@FEW
@given(shape=st.sampled_from([(7,), (2, 3), (2, 3, 2, 2)]), scale=st.sampled_from([1.0, 30.0]), dtype=DTYPES,
       seed=SEEDS)
def test_activations_match_reference(name, shape, scale, dtype, seed):
    (fast, fast_back), (slow, slow_back) = ACTIVATIONS[name]
    x = normal(seed, shape, dtype, scale)
    x.flat[::3] = 0  # the kink of relu
    assert_close(fast(x), slow(x), RTOL[dtype], "y")
    g = grad_for(x, seed)
    assert_close(fast_back(g, x), slow_back(g, x), RTOL[dtype], "grad_x")


@FEW
@given(shape=st.sampled_from([(7,), (2, 3), (2, 3, 2, 2)]), slope=st.sampled_from([0.01, 0.2, 1.5]), dtype=DTYPES,
       seed=SEEDS)
def test_leaky_relu_matches_reference(shape, slope, dtype, seed):
    x = normal(seed, shape, dtype)
    x.flat[::3] = 0
    assert_close(F.leaky_relu(x, slope), R.leaky_relu(x, slope), RTOL[dtype], "y")
    g = grad_for(x, seed)
    assert_close(F.leaky_relu_backward(g, x, slope), R.leaky_relu_backward(g, x, slope), RTOL[dtype], "grad_x")


@FEW
@given(shape=st.sampled_from([(4,), (2, 5), (3, 2, 4)]), data=st.data(), scale=st.sampled_from([1.0, 500.0]),
       seed=SEEDS)
def test_softmax_matches_reference(shape, data, scale, seed):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = normal(seed, shape, scale=scale)
    assert_close(F.softmax(x, dim), R.softmax(x, dim), 1e-12, "softmax")
    assert_close(F.log_softmax(x, dim), R.log_softmax(x, dim), 1e-12, "log_softmax")


@FEW
@given(n=st.integers(1, 5), n_classes=st.integers(1, 6), scale=st.sampled_from([1.0, 100.0]), seed=SEEDS)
def test_losses_match_reference(n, n_classes, scale, seed):
    scores = normal(seed, (n, n_classes), scale=scale)
    target = np.random.default_rng(seed).integers(0, n_classes, n)
    loss = F.cross_entropy(scores, target)
    assert isinstance(loss, float)
    assert loss == pytest.approx(R.cross_entropy(scores, target), rel=1e-12, abs=1e-12)
    assert_close(F.cross_entropy_backward(scores, target), R.cross_entropy_backward(scores, target), 1e-12,
                 "grad", 1 / n)  # softmax - onehot: terms of size 1/N
    pred, truth = normal(seed + 1, (n, n_classes)), normal(seed + 2, (n, n_classes))
    assert F.mse_loss(pred, truth) == pytest.approx(R.mse_loss(pred, truth), rel=1e-12)
    assert_close(F.mse_loss_backward(pred, truth), R.mse_loss_backward(pred, truth), 1e-12)


# ================================================================ optimizers


def run_sgd(start, grads, **hyper):
    """(fast, reference) weights after each step of the same gradients."""
    param = Parameter(start.copy())
    opt = optim.SGD([param], **hyper)
    w, velocity, fast, slow = start.copy(), None, [], []
    for g in grads:
        param.grad = g.copy()
        opt.step()
        w, velocity = R.sgd_step(w, g, velocity, **hyper)
        fast.append(param.data.copy())
        slow.append(w)
    return fast, slow


def run_adam(start, grads, **hyper):
    param = Parameter(start.copy())
    opt = optim.Adam([param], **hyper)
    w, m, v, fast, slow = start.copy(), None, None, [], []
    for step, g in enumerate(grads, start=1):
        param.grad = g.copy()
        opt.step()
        w, m, v = R.adam_step(w, g, m, v, step, **hyper)
        fast.append(param.data.copy())
        slow.append(w)
    return fast, slow


def random_run(seed, shape, steps=5):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape), [rng.standard_normal(shape) for _ in range(steps)]


@pytest.mark.parametrize("hyper", [
    dict(lr=0.1),
    dict(lr=0.1, weight_decay=5e-4),
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.1, momentum=0.9, weight_decay=5e-4),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.05, momentum=0.5, weight_decay=0.1, nesterov=True),
])
def test_sgd_five_steps_match_reference(hyper):
    fast, slow = run_sgd(*random_run(0, (3, 4)), **hyper)
    for step, (a, b) in enumerate(zip(fast, slow), start=1):
        assert_close(a, b, 1e-12, f"step {step}")


@pytest.mark.parametrize("hyper", [
    dict(lr=1e-3),
    dict(lr=1e-2, betas=(0.8, 0.99)),
    dict(lr=1e-2, weight_decay=1e-2),
    dict(lr=0.1, betas=(0.5, 0.9), eps=1e-3, weight_decay=0.2),
])
def test_adam_five_steps_match_reference(hyper):
    fast, slow = run_adam(*random_run(1, (3, 4)), **hyper)
    for step, (a, b) in enumerate(zip(fast, slow), start=1):
        assert_close(a, b, 1e-12, f"step {step}")


@FEW
@given(shape=st.sampled_from([(3,), (2, 3), (2, 1, 3)]), lr=st.sampled_from([1e-3, 0.1, 1.0]),
       momentum=st.sampled_from([0.0, 0.5, 0.9]), weight_decay=st.sampled_from([0.0, 1e-4, 0.3]),
       nesterov=st.booleans(), seed=SEEDS)
def test_sgd_matches_reference(shape, lr, momentum, weight_decay, nesterov, seed):
    nesterov = nesterov and momentum > 0
    fast, slow = run_sgd(*random_run(seed, shape), lr=lr, momentum=momentum, weight_decay=weight_decay,
                         nesterov=nesterov)
    for a, b in zip(fast, slow):
        assert_close(a, b, 1e-12)


@FEW
@given(shape=st.sampled_from([(3,), (2, 3), (2, 1, 3)]), lr=st.sampled_from([1e-3, 0.1]),
       betas=st.sampled_from([(0.9, 0.999), (0.5, 0.6), (0.0, 0.99)]), eps=st.sampled_from([1e-8, 1e-2]),
       weight_decay=st.sampled_from([0.0, 0.3]), seed=SEEDS)
def test_adam_matches_reference(shape, lr, betas, eps, weight_decay, seed):
    fast, slow = run_adam(*random_run(seed, shape), lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
    for a, b in zip(fast, slow):
        assert_close(a, b, 1e-12)


# ================================================================ the reference against hand-worked numbers


def test_reference_avg_pool_by_hand():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(R.avg_pool2d(x, 2)[0, 0], [[2.5, 4.5], [10.5, 12.5]])
    np.testing.assert_array_equal(R.avg_pool2d(x, 3, stride=1)[0, 0], [[5.0, 6.0], [9.0, 10.0]])
    # padding 1: each 2x2 window holds one real cell and three zeros that still count (count_include_pad)
    small = np.arange(4.0).reshape(1, 1, 2, 2)
    np.testing.assert_array_equal(R.avg_pool2d(small, 2, padding=1), small / 4)
    np.testing.assert_array_equal(R.avg_pool2d_backward(np.ones((1, 1, 2, 2)), small, 2, padding=1),
                                  np.full((1, 1, 2, 2), 0.25))
    # overlapping 2x2 windows, stride 1: the centre of a 3x3 input is in all four
    np.testing.assert_array_equal(R.avg_pool2d_backward(np.ones((1, 1, 2, 2)), np.zeros((1, 1, 3, 3)), 2, 1)[0, 0],
                                  [[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]])


def test_reference_max_pool_by_hand():
    x = np.array([[[[1.0, 3.0, 3.0, 0.0],
                    [2.0, 3.0, np.nan, 5.0],
                    [np.nan, 1.0, 7.0, 7.0],
                    [4.0, np.nan, 7.0, 6.0]]]])
    y, indices = R.max_pool2d(x, 2, return_indices=True)
    np.testing.assert_array_equal(y[0, 0], [[3.0, np.nan], [np.nan, 7.0]])
    # ties: the first 3 (index 1) and the first 7 (index 10); nans: the only one (6), the last one (13)
    np.testing.assert_array_equal(indices[0, 0], [[1, 6], [13, 10]])
    grad = R.max_pool2d_backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), x, 2)
    np.testing.assert_array_equal(grad.ravel()[[1, 6, 13, 10]], [1.0, 2.0, 3.0, 4.0])
    assert grad.sum() == 10.0
    # padding is -inf: a -inf input still wins over it, and the index points at the real cell
    y, indices = R.max_pool2d(np.full((1, 1, 1, 1), -np.inf), 2, stride=1, padding=1, return_indices=True)
    np.testing.assert_array_equal(y, np.full((1, 1, 2, 2), -np.inf))
    np.testing.assert_array_equal(indices, np.zeros((1, 1, 2, 2), np.int64))
    check_max_pool(np.full((1, 1, 1, 1), -np.inf), 2, 1, 1)  # and the kernel agrees
    check_max_pool(x, 2, None, 0)
    check_max_pool(x, 3, 1, 1)


def test_reference_lp_and_adaptive_pool_by_hand():
    x = np.array([[[[3.0, 4.0]]]])
    assert R.lp_pool2d(x, 2, (1, 2))[0, 0, 0, 0] == 5.0
    np.testing.assert_allclose(R.lp_pool2d_backward(np.ones((1, 1, 1, 1)), x, 2, (1, 2)), [[[[0.6, 0.8]]]])
    z = np.arange(16.0).reshape(1, 1, 4, 4)
    np.testing.assert_allclose(R.lp_pool2d(z, 1, 2), 4 * R.avg_pool2d(z, 2))  # p = 1: sum pooling
    assert [R._adaptive_bin(i, 5, 3) for i in range(3)] == [(0, 2), (1, 4), (3, 5)]
    assert [R._adaptive_bin(i, 2, 3) for i in range(3)] == [(0, 1), (0, 2), (1, 2)]  # more outputs than inputs
    np.testing.assert_array_equal(R.adaptive_avg_pool2d(np.arange(5.0).reshape(1, 1, 1, 5), (1, 3)),
                                  [[[[0.5, 2.0, 3.5]]]])
    np.testing.assert_array_equal(R.adaptive_avg_pool2d(z, 4), z)  # one cell per bin: the identity
    np.testing.assert_array_equal(R.adaptive_avg_pool2d(z, 2), R.avg_pool2d(z, 2))
    np.testing.assert_array_equal(R.adaptive_avg_pool2d(z, 1)[:, :, 0, 0], R.global_avg_pool2d(z))
    assert R.global_avg_pool2d(z)[0, 0] == 7.5


def test_reference_normalization_by_hand():
    running_mean, running_var = np.zeros(1), np.ones(1)
    y = R.batch_norm(np.array([[1.0], [3.0]]), running_mean, running_var, training=True, eps=0.0)
    np.testing.assert_array_equal(y, [[-1.0], [1.0]])  # mean 2, biased variance 1
    np.testing.assert_allclose(running_mean, [0.2])
    np.testing.assert_allclose(running_var, [1.1])  # the unbiased variance 2
    y = R.batch_norm(np.array([[4.0]]), np.array([2.0]), np.array([3.0]), np.array([0.5]), np.array([1.0]),
                     training=False, eps=1.0)
    np.testing.assert_array_equal(y, [[1.5]])  # (4 - 2) / sqrt(3 + 1) * 0.5 + 1
    gx, gw, gb = R.batch_norm_backward(np.array([[2.0]]), np.array([[4.0]]), np.array([0.5]), np.array([2.0]),
                                       np.array([3.0]), training=False, eps=1.0)
    np.testing.assert_array_equal([gx[0, 0], gw[0], gb[0]], [0.5, 2.0, 2.0])  # 2*0.5/2, 2*x_hat = 2*1, 2
    # LRN: one channel, size 1: b = a / (k + alpha a^2)^beta
    a = np.array([[[2.0]]])
    assert R.local_response_norm(a, 1, alpha=1.0, beta=1.0, k=1.0)[0, 0, 0] == 2.0 / 5.0
    # three channels of ones, size 3 (channels c-1..c+1), alpha/size = 1, beta = 1, k = 0: divide by 2, 3, 2
    np.testing.assert_allclose(R.local_response_norm(np.ones((1, 3, 1)), 3, 3.0, 1.0, 0.0).ravel(),
                               [1 / 2, 1 / 3, 1 / 2])
    # even size 2: the window is channels c-1..c
    np.testing.assert_allclose(R.local_response_norm(np.ones((1, 3, 1)), 2, 2.0, 1.0, 0.0).ravel(), [1, 1 / 2, 1 / 2])


def test_reference_linear_losses_and_activations_by_hand():
    np.testing.assert_array_equal(R.linear(np.array([[1.0, 2.0]]), np.array([[3.0, 4.0], [0.0, -1.0]]),
                                           np.array([0.5, 0.0])), [[11.5, -2.0]])
    assert R.cross_entropy(np.zeros((2, 10)), np.array([3, 7])) == pytest.approx(math.log(10), rel=1e-15)
    assert R.cross_entropy(np.array([[1000.0, 0.0]]), np.array([0])) == 0.0  # stable for huge scores
    assert R.mse_loss(np.array([1.0, 2.0]), np.array([1.0, 4.0])) == 2.0
    np.testing.assert_array_equal(R.relu(np.array([-1.0, 0.0, 2.0, np.nan])), [0.0, 0.0, 2.0, np.nan])
    np.testing.assert_array_equal(R.sigmoid(np.array([0.0, 1000.0, -1000.0])), [0.5, 1.0, 0.0])
    np.testing.assert_array_equal(R.softmax(np.array([[1000.0, 1000.0]])), [[0.5, 0.5]])


def test_reference_optimizer_steps_by_hand():
    w, g = np.array([1.0]), np.array([1.0])
    w1, v1 = R.sgd_step(w, g, None, lr=0.5, momentum=0.5)
    assert (w1[0], v1[0]) == (0.5, 1.0)  # first step: v = g
    w2, v2 = R.sgd_step(w1, g, v1, lr=0.5, momentum=0.5)
    assert (w2[0], v2[0]) == (-0.25, 1.5)  # v = 0.5 * 1 + 1, w = 0.5 - 0.5 * 1.5
    w1, v1 = R.sgd_step(w, g, None, lr=0.5, momentum=0.5, nesterov=True)
    assert (w1[0], v1[0]) == (0.25, 1.0)  # w = 1 - 0.5 * (g + 0.5 v)
    w1, v1 = R.sgd_step(np.array([2.0]), np.array([0.0]), None, lr=0.5, weight_decay=0.5)
    assert w1[0] == 1.5 and v1 is None  # g = 0 + 0.5 * 2
    # Adam's first step with eps = 0 moves every weight by exactly lr against the gradient's sign
    w1, m, v = R.adam_step(np.array([1.0, 1.0, 1.0]), np.array([3.0, -0.01, 1e6]), None, None, 1, lr=0.5, eps=0.0)
    np.testing.assert_allclose(w1, [0.5, 1.5, 0.5], rtol=1e-15)
    np.testing.assert_allclose(m, [0.3, -0.001, 1e5], rtol=1e-15)
    np.testing.assert_allclose(v, [0.009, 1e-7, 1e9], rtol=1e-12)


# ================================================================ the reference backwards against its forwards


def numeric_gradient(f, x, grad_out, h=1e-6):
    """d/dx of sum(grad_out * f(x)) by central differences, cell by cell."""
    grad = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        old = x[idx]
        x[idx] = old + h
        up = np.sum(grad_out * f(x))
        x[idx] = old - h
        down = np.sum(grad_out * f(x))
        x[idx] = old
        grad[idx] = (up - down) / (2 * h)
    return grad


def separated(seed, shape):
    """Random values at least 0.1 apart, so a small nudge never changes which cell is a window's maximum."""
    rng = np.random.default_rng(seed)
    return (rng.permutation(int(np.prod(shape))).reshape(shape) * 0.1 + rng.uniform(-0.01, 0.01, shape))


FORWARD_BACKWARD = {
    "max_pool2d": lambda x: (lambda x: R.max_pool2d(x, 3, 2, 1), lambda g, x: R.max_pool2d_backward(g, x, 3, 2, 1)),
    "avg_pool2d": lambda x: (lambda x: R.avg_pool2d(x, (2, 3), 1, (1, 1)),
                             lambda g, x: R.avg_pool2d_backward(g, x, (2, 3), 1, (1, 1))),
    "lp_pool2d": lambda x: (lambda x: R.lp_pool2d(x, 3, 2, 1), lambda g, x: R.lp_pool2d_backward(g, x, 3, 2, 1)),
    "adaptive_avg_pool2d": lambda x: (lambda x: R.adaptive_avg_pool2d(x, (3, 2)),
                                      lambda g, x: R.adaptive_avg_pool2d_backward(g, x, (3, 2))),
    "global_avg_pool2d": lambda x: (R.global_avg_pool2d, R.global_avg_pool2d_backward),
    "local_response_norm": lambda x: (lambda x: R.local_response_norm(x, 3, 0.5, 0.75, 1.0),
                                      lambda g, x: R.local_response_norm_backward(g, x, 3, 0.5, 0.75, 1.0)),
    "local_response_norm, even size": lambda x: (lambda x: R.local_response_norm(x, 2, 0.5, 0.75, 1.0),
                                                 lambda g, x: R.local_response_norm_backward(g, x, 2, 0.5, 0.75, 1.0)),
    "relu": lambda x: (R.relu, R.relu_backward),
    "relu6": lambda x: (lambda x: R.relu6(4 * x), lambda g, x: 4 * R.relu6_backward(g, 4 * x)),  # x*4 reaches 6
    "pad": lambda x: (lambda x: R.pad(x, (1, 2, 0, 3)), lambda g, x: R.pad_backward(g, (1, 2, 0, 3))),
    "leaky_relu": lambda x: (lambda x: R.leaky_relu(x, 0.2), lambda g, x: R.leaky_relu_backward(g, x, 0.2)),
    "sigmoid": lambda x: (R.sigmoid, R.sigmoid_backward),
    "tanh": lambda x: (R.tanh, R.tanh_backward),
}


@pytest.mark.parametrize("name", FORWARD_BACKWARD)
def test_reference_backward_is_the_derivative_of_the_reference_forward(name):
    x = separated(0, (1, 4, 4, 5)) - 1.0
    if name == "lp_pool2d":
        x = np.abs(x) + 0.1
    forward, backward = FORWARD_BACKWARD[name](x)
    grad_out = normal(1, forward(x).shape)
    np.testing.assert_allclose(backward(grad_out, x), numeric_gradient(forward, x, grad_out), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(5, 2), (3, 2, 2, 3)])
def test_reference_batch_norm_backward_is_its_derivative(shape, training):
    rng = np.random.default_rng(4)
    x, grad_out = rng.standard_normal(shape), rng.standard_normal(shape)
    weight, bias = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    running_mean, running_var = rng.standard_normal(shape[1]), rng.uniform(0.5, 2.0, shape[1])

    def forward(x, weight=weight, bias=bias):
        return R.batch_norm(x, running_mean.copy(), running_var.copy(), weight, bias, training=training, eps=1e-3)

    gx, gw, gb = R.batch_norm_backward(grad_out, x, weight, running_mean, running_var, training=training, eps=1e-3)
    np.testing.assert_allclose(gx, numeric_gradient(forward, x, grad_out), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(gw, numeric_gradient(lambda w: forward(x, weight=w), weight, grad_out), rtol=1e-6)
    np.testing.assert_allclose(gb, numeric_gradient(lambda b: forward(x, bias=b), bias, grad_out), rtol=1e-6)


def test_reference_linear_and_loss_backwards_are_their_derivatives():
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((3, 4)), rng.standard_normal((2, 4)), rng.standard_normal(2)
    grad_out = rng.standard_normal((3, 2))
    gx, gw, gb = R.linear_backward(grad_out, x, w)
    np.testing.assert_allclose(gx, numeric_gradient(lambda x: R.linear(x, w, b), x, grad_out), rtol=1e-6)
    np.testing.assert_allclose(gw, numeric_gradient(lambda w: R.linear(x, w, b), w, grad_out), rtol=1e-6)
    np.testing.assert_allclose(gb, numeric_gradient(lambda b: R.linear(x, w, b), b, grad_out), rtol=1e-6)
    scores, target = rng.standard_normal((3, 5)), np.array([0, 4, 4])
    np.testing.assert_allclose(R.cross_entropy_backward(scores, target),
                               numeric_gradient(lambda s: R.cross_entropy(s, target), scores, 1.0), rtol=1e-6)
    truth = rng.standard_normal((3, 5))
    np.testing.assert_allclose(R.mse_loss_backward(scores, truth),
                               numeric_gradient(lambda p: R.mse_loss(p, truth), scores, 1.0), rtol=1e-6)
