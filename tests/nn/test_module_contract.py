"""The nn contract: settings normalized by constructors, one backward per forward, all-or-nothing loading,
and the right (empty or cumulative) results where PyTorch gives them."""
import numpy as np
import pytest

import minicnn.functional as F
from minicnn import nn


def test_constructors_normalize_settings_as_torch_does():
    conv = nn.Conv2d(3, 6, 5, stride=2, padding=1)
    assert (conv.kernel_size, conv.stride, conv.padding, conv.dilation) == ((5, 5), (2, 2), (1, 1), (1, 1))
    assert nn.Conv1d(1, 2, 3).stride == (1,)
    assert nn.MaxPool2d(2).stride == (2, 2)
    assert nn.Conv2d(3, 6, 3, padding="same").padding == "same"


def test_second_backward_is_refused_and_gradients_are_not_doubled():
    layer = nn.Linear(3, 2)
    x = np.ones((4, 3), np.float32)
    layer(x)
    layer.backward(np.ones((4, 2), np.float32))
    first = layer.weight.grad.copy()
    with pytest.raises(RuntimeError, match="twice"):
        layer.backward(np.ones((4, 2), np.float32))
    np.testing.assert_array_equal(layer.weight.grad, first)
    layer(x)  # a new forward allows a new backward, whose gradient adds up as in PyTorch
    layer.backward(np.ones((4, 2), np.float32))
    np.testing.assert_allclose(layer.weight.grad, 2 * first)


def test_every_module_accepts_input_grad():
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    y = net(np.ones((2, 4), np.float32))
    assert net.backward(np.ones_like(y), input_grad=False).shape == (2, 4)  # Linear computes it anyway
    conv = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten())
    y = conv(np.ones((2, 1, 5, 5), np.float32))
    assert conv.backward(np.ones_like(y), input_grad=False) is None


def test_load_state_dict_is_all_or_nothing():
    net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    before = net.state_dict()
    bad = {k: np.full(v.shape, 7.0) for k, v in before.items()}
    bad["1.running_var"] = np.array(["a", "b"])
    with pytest.raises(TypeError, match="1.running_var must hold numbers"):
        net.load_state_dict(bad)
    for key, value in net.state_dict().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)


def test_cumulative_moving_average_with_momentum_none():
    bn = nn.BatchNorm1d(2, momentum=None)
    rng = np.random.default_rng(0)
    batches = [rng.standard_normal((8, 2)).astype(np.float32) for _ in range(3)]
    for xb in batches:
        bn(xb)
    np.testing.assert_allclose(bn.running_mean, np.mean([b.mean(axis=0) for b in batches], axis=0), rtol=1e-5)
    np.testing.assert_allclose(bn.running_var, np.mean([b.var(axis=0, ddof=1) for b in batches], axis=0), rtol=1e-5)
    assert int(bn.num_batches_tracked) == 3


def test_empty_batches_give_empty_results():
    x, w = np.zeros((0, 3, 8, 8)), np.ones((4, 3, 3, 3))
    y = F.conv2d(x, w)
    assert y.shape == (0, 4, 6, 6)
    grad_x, grad_w, grad_b = F.conv2d_backward(y, x, w)
    assert grad_x.shape == x.shape and not grad_w.any() and not grad_b.any()
    assert F.batch_norm(x, np.zeros(3), np.ones(3)).shape == x.shape
    assert F.batch_norm_backward(x, x, None, np.zeros(3), np.ones(3))[0].shape == x.shape
    assert F.max_pool2d(x, 2).shape == (0, 3, 4, 4)


def test_backward_reuses_what_forward_checked(monkeypatch):
    """nn.Conv2d's backward neither re-validates nor re-plans: it uses the Convolution its forward built."""
    from minicnn.functional import conv as conv_module

    layer = nn.Conv2d(3, 4, 3)
    y = layer(np.ones((2, 3, 6, 6), np.float32))
    built = []
    monkeypatch.setattr(conv_module.Convolution, "__init__", lambda *args, **kw: built.append(args))
    layer.backward(np.ones_like(y))
    assert built == []


def test_batch_norm_backward_defaults_match_the_forward():
    x = np.random.default_rng(0).standard_normal((4, 3))
    mean, var = np.zeros(3), np.ones(3)
    g = np.ones_like(x)
    # evaluation is the default of both, as in torch.nn.functional.batch_norm
    np.testing.assert_allclose(F.batch_norm_backward(g, x, None, mean, var)[0],
                               F.batch_norm_backward(g, x, None, mean, var, training=False)[0])
