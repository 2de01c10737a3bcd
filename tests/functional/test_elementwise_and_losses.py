import numpy as np
import pytest

import minicnn.functional as F
from minicnn.gradcheck import gradcheck


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "sigmoid", "tanh"])
def test_activation_gradients(name):
    x = np.random.default_rng(0).standard_normal((3, 4)) * 3
    gradcheck(getattr(F, name), getattr(F, name + "_backward"), [x])


def test_sigmoid_derivative_is_at_most_a_quarter():
    x = np.linspace(-10, 10, 2001)
    slope = F.sigmoid_backward(np.ones_like(x), x)
    assert slope.max() == pytest.approx(0.25) and slope.argmax() == 1000


def test_softmax_is_stable_and_sums_to_one():
    s = F.softmax(np.array([[1000.0, 0.0, -1000.0], [1.0, 2.0, 3.0]]))
    assert np.all(np.isfinite(s))
    np.testing.assert_allclose(s.sum(axis=1), 1.0)
    np.testing.assert_allclose(np.exp(F.log_softmax(np.array([[1.0, 2.0, 3.0]]))), s[1:])


def test_losses_and_gradients_match_torch(torch):
    rng = np.random.default_rng(1)
    scores, labels = rng.standard_normal((6, 5)), rng.integers(0, 5, 6)
    ts = torch.tensor(scores, requires_grad=True)
    loss = torch.nn.functional.cross_entropy(ts, torch.tensor(labels))
    loss.backward()
    assert F.cross_entropy(scores, labels) == pytest.approx(loss.item(), rel=1e-12)
    np.testing.assert_allclose(F.cross_entropy_backward(scores, labels), ts.grad.numpy(), rtol=1e-10)

    target = rng.standard_normal((6, 5))
    ts = torch.tensor(scores, requires_grad=True)
    loss = torch.nn.functional.mse_loss(ts, torch.tensor(target))
    loss.backward()
    assert F.mse_loss(scores, target) == pytest.approx(loss.item(), rel=1e-12)
    np.testing.assert_allclose(F.mse_loss_backward(scores, target), ts.grad.numpy(), rtol=1e-10)


def test_loss_gradients_by_central_differences():
    rng = np.random.default_rng(2)
    scores, labels = rng.standard_normal((4, 3)), np.array([0, 2, 1, 2])
    gradcheck(lambda s: np.array(F.cross_entropy(s, labels)), lambda g, s: g * F.cross_entropy_backward(s, labels),
              [scores])


@pytest.mark.parametrize("call, error, message", [
    (lambda: F.cross_entropy(np.zeros((3, 4)), np.array([0, 1])), ValueError, r"target must have shape \(3,\)"),
    (lambda: F.cross_entropy(np.zeros((2, 4)), np.array([0, 4])), ValueError, r"labels must be in \[0, 3\] .* got \[4\]"),
    (lambda: F.cross_entropy(np.zeros((2, 4)), np.array([-1, 0])), ValueError, r"got \[-1\]"),
    (lambda: F.cross_entropy(np.zeros((2, 4)), np.array([0.0, 1.0])), TypeError, "integer class labels"),
    (lambda: F.cross_entropy(np.zeros(4), np.array([0])), ValueError, r"expected scores with 2 dimensions"),
    (lambda: F.mse_loss(np.zeros((2, 3)), np.zeros((2,))), ValueError, r"input \(2, 3\) and target \(2,\) must have the same shape"),
    (lambda: F.linear(np.zeros((2, 3)), np.zeros((4, 5))), ValueError, "has 3 features but weight"),
    (lambda: F.relu_backward(np.zeros(3), np.zeros(4)), ValueError, "grad_out and x must have the same shape"),
    (lambda: F.dropout(np.zeros(3), p=1.0), ValueError, r"p must be in \[0, 1\)"),
    (lambda: F.batch_norm(np.zeros((4, 3)), np.zeros(2), np.ones(3), training=True), ValueError,
     r"running_mean must have shape \(3,\)"),
    (lambda: F.batch_norm(np.zeros((4, 3)), None, None, training=False), ValueError, "needs running_mean"),
])
def test_errors_name_the_rule(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_dropout_mask_statistics():
    y, mask = F.dropout(np.ones(100_000), 0.2, rng=np.random.default_rng(0))
    assert abs((mask == 0).mean() - 0.2) < 0.01
    assert abs(y.mean() - 1.0) < 0.01  # inverted dropout keeps the expectation
    y_eval, mask_eval = F.dropout(np.ones(5), 0.2, training=False)
    assert mask_eval is None and np.all(y_eval == 1)
