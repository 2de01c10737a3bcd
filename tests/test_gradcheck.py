import numpy as np
import pytest

from minicnn import functional as F
from minicnn import nn
from minicnn import random as mrandom
from minicnn.gradcheck import _compare, check_module, gradcheck, numerical_gradient
from minicnn.nn import Module, Parameter


def old_measure(analytic, numeric):
    """The measure gradcheck used before: the largest difference over the largest entry."""
    scale = max(np.abs(analytic).max(), np.abs(numeric).max(), 1e-3)
    return np.abs(analytic - numeric).max() / scale


def test_a_small_entry_wrong_by_100_percent_fails():
    x = np.random.default_rng(0).standard_normal((3, 4))
    w = np.array([2.0, 1e-7, 1.0])[:, None]
    wrong_w = np.array([2.0, 2e-7, 1.0])[:, None]  # row 1 of the gradient is twice what it should be

    g = np.random.default_rng(9).standard_normal((3, 4))
    analytic, exact = g * wrong_w, g * w
    assert old_measure(analytic, exact) < 1e-6  # the old measure let it pass
    assert _compare(analytic, exact)[0] > 1e-5  # 1e-7 wrong, judged against the floor 1e-3 * 2
    with pytest.raises(AssertionError, match=r"input 0 relative error .* > 1e-06 \(worst entry \(1, \d\)"):
        gradcheck(lambda x: x * w, lambda g, x: g * wrong_w, [x])
    assert gradcheck(lambda x: x * w, lambda g, x: g * w, [x])[0] < 1e-6


def test_the_measure_is_entry_by_entry_with_a_floor():
    # |a - n| / max(|a|, |n|, floor), floor = max(1e-3 * largest entry, 1e-9)
    assert _compare(np.array([1.0, 0.5]), np.array([1.0, 0.25]))[0] == pytest.approx(0.5)
    error, worst = _compare(np.array([1000.0, 0.0]), np.array([1000.0, 0.5]))
    assert error == pytest.approx(0.5) and worst == (1,)  # 0.5 judged against the floor 1
    assert _compare(np.zeros(4), np.zeros(4))[0] == 0.0
    assert _compare(np.zeros(2), np.array([0.0, 1e-12]))[0] == pytest.approx(1e-3)  # the absolute floor 1e-9
    assert _compare(np.zeros(2), np.array([0.0, 1e-12]), noise=1e-11)[0] == 0.0  # below the rounding noise
    assert _compare(np.array([1.0, np.nan]), np.array([1.0, 1.0]))[0] == np.inf


def test_all_zero_gradients_pass():
    x = np.random.default_rng(1).standard_normal((2, 3)) - 5  # relu is flat here
    assert gradcheck(F.relu, F.relu_backward, [x]) == [0.0]


def test_correct_backward_passes_for_several_inputs_and_float32_inputs():
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    errors = gradcheck(lambda x, w, b: F.conv2d(x, w, b, padding=1),
                       lambda g, x, w, b: F.conv2d_backward(g, x, w, padding=1), [x, w, b])
    assert len(errors) == 3 and max(errors) < 1e-6
    assert gradcheck(F.tanh, F.tanh_backward, [x.astype(np.float32)])[0] < 1e-6  # checked as float64 copies


def test_nan_in_the_analytic_gradient_fails():
    x = np.ones((2, 2))
    with pytest.raises(AssertionError, match="relative error inf.*analytic nan"):
        gradcheck(lambda x: 2 * x, lambda g, x: np.where(x > 0, np.nan, 2 * g), [x])


def test_numerical_gradient_changes_the_array_itself_even_through_a_strided_view():
    base = np.random.default_rng(3).standard_normal((3, 4))
    view = base.T  # not contiguous: reshape(-1) would have been a copy, and the gradient silently zero
    scale = np.arange(1.0, 4.0)
    grad = numerical_gradient(lambda: float(np.sum(view ** 2 * scale)), view)
    np.testing.assert_allclose(grad, 2 * view * scale, rtol=1e-6)
    assert view.flags.c_contiguous is False


class WrongLinear(Module):
    """A linear layer whose weight gradient is wrong in one entry."""

    def __init__(self):
        super().__init__()
        self.weight = Parameter(np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32))

    def forward(self, x):
        self._save(x=x)
        return x @ self.weight.data.T

    def backward(self, grad_out, input_grad=True):
        x = self._saved("x")
        grad_w = grad_out.T @ x
        grad_w[0, 0] *= 1.5
        self.weight.accumulate(grad_w)
        return grad_out @ self.weight.data


def snapshot(module):
    params = [(p, p.data, p.data.dtype, p.data.copy(), p.grad) for p in module.parameters()]
    buffers = [(name, buf.dtype, buf.copy()) for name, buf in module.named_buffers()]
    return params, buffers


def assert_unchanged(module, before):
    params, buffers = before
    for param, data, dtype, values, grad in params:
        assert param.data is data and param.data.dtype == dtype
        np.testing.assert_array_equal(param.data, values)
        assert param.grad is grad
    for (name, dtype, values), (name2, buf) in zip(buffers, module.named_buffers()):
        assert name == name2 and buf.dtype == dtype, name
        np.testing.assert_array_equal(buf, values, err_msg=name)


def test_check_module_leaves_the_module_as_it_was():
    mrandom.manual_seed(0)
    generator = np.random.default_rng(7)
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Dropout(0.3, rng=generator), nn.Linear(3, 2))
    model[3].double()  # layers may mix dtypes: each array gets its own back
    model[0].weight.accumulate(np.ones((3, 4), np.float32))
    generator_state = generator.bit_generator.state
    before = snapshot(model)
    errors = check_module(model, np.random.default_rng(1).standard_normal((5, 4)))
    assert set(errors) == {"input", "0.weight", "0.bias", "1.weight", "1.bias", "3.weight", "3.bias"}
    assert_unchanged(model, before)
    assert model[2].rng is generator and generator.bit_generator.state == generator_state
    assert model[0].weight.data.dtype == np.float32 and model[3].weight.data.dtype == np.float64
    assert int(model[1].num_batches_tracked) == 0 and model.training


def test_check_module_restores_the_module_when_the_check_fails_or_raises():
    layer = WrongLinear()
    before = snapshot(layer)
    with pytest.raises(AssertionError,
                       match=r"check_module\(WrongLinear\): .*weight.*worst is weight \(worst entry \(0, 0\)"):
        check_module(layer, np.random.default_rng(0).standard_normal((4, 3)))
    assert_unchanged(layer, before)

    model = nn.Sequential(nn.Linear(4, 3), nn.Dropout(0.5))
    before = snapshot(model)
    with pytest.raises(ValueError):
        check_module(model, np.ones((2, 5)))  # 5 features for a Linear(4, 3)
    assert_unchanged(model, before)
    assert model[1].rng is None


def test_check_module_dropout_mask_is_fixed_during_the_check():
    layer = nn.Dropout(0.5).train()
    errors = check_module(layer, np.random.default_rng(2).standard_normal((6, 5)))
    assert errors["input"] < 1e-6
    assert layer.rng is None
