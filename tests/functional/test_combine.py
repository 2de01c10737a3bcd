"""add and cat (the ops that join a residual shortcut and Inception's branches) against the reference loops,
central differences and PyTorch."""
import numpy as np
import pytest

import minicnn.functional as F
from minicnn import gradcheck
from minicnn import reference as R

SHAPES = [(2, 3, 4, 5), (1, 1, 1, 1), (3, 7), (4,)]


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_add_matches_reference_and_passes_the_gradient_to_both_branches(shape, dtype):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)
    y = F.add(a, b)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, R.add(a, b))
    g = rng.standard_normal(shape).astype(dtype)
    grad_a, grad_b = F.add_backward(g)
    for got, want in zip((grad_a, grad_b), R.add_backward(g)):
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(got, g)  # unchanged: dL/da = dL/db = dL/dy
    grad_a[...] = 0  # two separate arrays: changing one in place leaves the other (and grad_out) alone
    np.testing.assert_array_equal(grad_b, g)


CAT_CASES = [
    ([(2, 3, 4, 4), (2, 1, 4, 4), (2, 5, 4, 4)], 1),
    ([(2, 3, 4, 4), (2, 3, 4, 4)], 0),
    ([(1, 2, 3, 4), (1, 2, 3, 1)], -1),
    ([(2, 2, 3), (2, 2, 5)], 2),
    ([(3, 2)], 1),
    ([(2, 0, 3), (2, 4, 3)], 1),  # an empty piece is allowed, as in torch.cat
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shapes, dim", CAT_CASES)
def test_cat_matches_reference_and_splits_the_gradient(shapes, dim, dtype):
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal(s).astype(dtype) for s in shapes]
    y = F.cat(xs, dim)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, R.cat(xs, dim))
    g = rng.standard_normal(y.shape).astype(dtype)
    sizes = [s[dim] for s in shapes]
    want = R.cat_backward(g, sizes, dim)
    for given in (sizes, shapes, tuple(tuple(s) for s in shapes)):  # sizes along dim, or whole shapes
        grads = F.cat_backward(g, given, dim)
        assert len(grads) == len(xs)
        for got, expected, x in zip(grads, want, xs):
            assert got.shape == x.shape and got.dtype == dtype and got.flags.c_contiguous
            np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(F.cat(F.cat_backward(g, sizes, dim), dim), g)  # the split undoes the join


def test_add_and_cat_pass_gradcheck():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((2, 3, 2, 2)), rng.standard_normal((2, 3, 2, 2))
    gradcheck.gradcheck(F.add, lambda g, a, b: F.add_backward(g), [a, b])
    xs = [rng.standard_normal((2, c, 3, 2)) for c in (1, 3, 2)]
    gradcheck.gradcheck(lambda *xs: F.cat(list(xs)), lambda g, *xs: F.cat_backward(g, [x.shape for x in xs]), xs)
    gradcheck.gradcheck(lambda *xs: F.cat(list(xs), dim=-2),
                        lambda g, *xs: F.cat_backward(g, [x.shape[-2] for x in xs], dim=-2), xs[:1] * 2)


def test_reference_backward_matches_central_differences():
    rng = np.random.default_rng(3)
    xs = [rng.standard_normal((1, c, 2)) for c in (2, 1)]
    gradcheck.gradcheck(lambda *xs: R.cat(list(xs)), lambda g, *xs: R.cat_backward(g, [x.shape for x in xs]), xs)
    gradcheck.gradcheck(R.add, lambda g, a, b: R.add_backward(g), [xs[0], xs[0] * 2])


def test_cat_and_add_match_torch_autograd(torch):
    rng = np.random.default_rng(4)
    xs = [rng.standard_normal((2, c, 3, 3)) for c in (2, 4, 1)]
    txs = [torch.tensor(x, requires_grad=True) for x in xs]
    ty = torch.cat([txs[0] * 1.0, txs[1], txs[2]], dim=1) + torch.cat(txs, dim=1)  # a fork and a join
    g = rng.standard_normal(tuple(ty.shape))
    ty.backward(torch.tensor(g))
    y = F.add(F.cat(xs), F.cat(xs))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-15)
    grad_1, grad_2 = F.add_backward(g)
    grads = [a + b for a, b in zip(F.cat_backward(grad_1, [2, 4, 1]), F.cat_backward(grad_2, [2, 4, 1]))]
    for got, tx in zip(grads, txs):
        np.testing.assert_allclose(got, tx.grad.numpy(), rtol=1e-15)


@pytest.mark.parametrize("call, error, match", [
    (lambda: F.add(np.ones((2, 3)), np.ones((3, 2))), ValueError, r"a and b must have the same shape .* a \(2, 3\), b \(3, 2\)"),
    (lambda: F.add(np.ones((2, 3)), np.ones(3)), ValueError, "no broadcasting"),
    (lambda: F.cat([np.ones((2, 3, 4, 4)), np.ones((2, 3, 5, 5))]), ValueError,
     r"every input must match xs\[0\] \(2, 3, 4, 4\) in every dimension except dim=1, got xs\[1\] \(2, 3, 5, 5\)"),
    (lambda: F.cat_backward(np.ones((2, 5)), [2, 2]), ValueError, r"sizes \[2, 2\] add up to 4, but grad_out \(2, 5\) has 5"),
])
def test_errors_name_the_rule_and_the_shapes(call, error, match):
    with pytest.raises(error, match=match):
        call()
