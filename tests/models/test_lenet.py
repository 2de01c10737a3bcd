"""LeNet-5, modern and 1998 forms: exact parameter counts, names, the C3 table of the paper, gradient checks of the
1998 modules, and agreement with the same networks written in plain torch.nn (float64)."""
from collections import OrderedDict

import numpy as np
import pytest

from minicnn import functional as F
from minicnn import gradcheck, nn
from minicnn import random as mrandom
from minicnn.models import LeNet5, lenet5
from minicnn.models.lenet import (C3_CONNECTIONS, EuclideanRBF, Negate, PartiallyConnectedConv2d, ScaledTanh,
                                  Subsampling2d)


def count(module):
    return sum(p.data.size for p in module.parameters())


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


# ------------------------------------------------------------------------------------------- counts and names
@pytest.mark.parametrize("activation, pooling", [(None, None), ("relu", "max"), ("tanh", "avg"), ("relu", "avg")])
def test_modern_form_has_61706_parameters(activation, pooling):
    model = lenet5(activation=activation, pooling=pooling)
    assert isinstance(model, LeNet5) and count(model) == 61_706
    assert {name: count(layer) for name, layer in model.named_children() if count(layer)} == {
        "c1": 156, "c3": 2_416, "c5": 48_120, "f6": 10_164, "output": 850}
    assert all(p.data.dtype == np.float32 for p in model.parameters())


def test_original_form_has_60000_trainable_parameters_layer_by_layer():
    model = lenet5(original=True)
    per_layer = {name: count(layer) for name, layer in model.named_children()}
    assert {k: v for k, v in per_layer.items() if v} == {
        "c1": 156, "s2": 12, "c3": 1_516, "s4": 32, "c5": 48_120, "f6": 10_164}
    assert per_layer["output"] == 0 and count(model) == 60_000
    assert all(p.data.dtype == np.float32 for p in model.parameters())


def test_state_dict_keys_use_the_paper_layer_names():
    assert list(lenet5().state_dict()) == [
        "c1.weight", "c1.bias", "c3.weight", "c3.bias", "c5.weight", "c5.bias", "f6.weight", "f6.bias",
        "output.weight", "output.bias"]
    state = lenet5(original=True).state_dict()
    assert list(state) == [
        "c1.weight", "c1.bias", "s2.weight", "s2.bias", "c3.weight", "c3.bias", "s4.weight", "s4.bias",
        "c5.weight", "c5.bias", "f6.weight", "f6.bias", "output.codes"]
    assert state["c3.weight"].shape == (60, 5, 5) and state["c3.bias"].shape == (16,)
    assert state["output.codes"].shape == (10, 84)


def test_layer_order_and_types():
    modern = [type(m).__name__ for m in lenet5(activation="tanh", pooling="avg").children()]
    assert modern == ["Conv2d", "Tanh", "AvgPool2d", "Conv2d", "Tanh", "AvgPool2d", "Conv2d", "Tanh", "Flatten",
                      "Linear", "Tanh", "Linear"]
    original = [name for name, _ in lenet5(original=True).named_children()]
    assert original == ["c1", "c1_act", "s2", "s2_act", "c3", "c3_act", "s4", "s4_act", "c5", "c5_act", "flatten",
                        "f6", "f6_act", "output"]
    assert isinstance(lenet5(original=True).s2_act, ScaledTanh)


def test_c3_connections_are_table_1_of_the_paper():
    # Table 1 as printed: rows are S2 maps 0-5, columns C3 maps 0-15, X = connected
    table_1 = ["X...XXX..XXXX.XX",
               "XX...XXX..XXXX.X",
               "XXX...XXX..X.XXX",
               ".XXX..XXXX..X.XX",
               "..XXX..XXXX.XX.X",
               "...XXX..XXXX.XXX"]
    expected = np.array([[c == "X" for c in row] for row in table_1]).T
    np.testing.assert_array_equal(C3_CONNECTIONS, expected)
    assert C3_CONNECTIONS.sum() == 60
    with pytest.raises(ValueError):
        C3_CONNECTIONS[0, 0] = False  # the shared table is read-only


def test_same_seed_same_weights_and_codes_fixed():
    mrandom.manual_seed(7)
    a = lenet5(original=True).state_dict()
    mrandom.manual_seed(7)
    b = lenet5(original=True).state_dict()
    mrandom.manual_seed(8)
    c = lenet5(original=True).state_dict()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["c3.weight"], c["c3.weight"])
    np.testing.assert_array_equal(a["output.codes"], c["output.codes"])  # codes do not depend on the seed


# ---------------------------------------------------------------------------------------------- native size
@pytest.mark.parametrize("original", [False, True], ids=["modern", "original"])
def test_native_32x32_forward_float32(original):
    model = lenet5(original=original)
    y = model(np.random.default_rng(0).standard_normal((1, 1, 32, 32)).astype(np.float32))
    assert y.shape == (1, 10) and y.dtype == np.float32
    if original:
        assert np.all(y >= 0)  # squared distances


def test_in_channels_and_num_classes():
    model = lenet5(num_classes=26, in_channels=3, original=True)
    assert model(np.zeros((2, 3, 32, 32), np.float32)).shape == (2, 26)
    assert count(model) == 60_000 + 6 * 25 * 2
    assert lenet5(num_classes=26, in_channels=3)(np.zeros((2, 3, 32, 32), np.float32)).shape == (2, 26)


# ------------------------------------------------------------------------------------- the 1998 modules
def test_partial_conv_equals_dense_conv_with_zero_kernels():
    rng = np.random.default_rng(0)
    mrandom.manual_seed(0)
    c3 = PartiallyConnectedConv2d(C3_CONNECTIONS, 5).double()
    x = rng.standard_normal((2, 6, 14, 14))
    dense = c3.full_weight()
    assert dense.shape == (16, 6, 5, 5)
    assert np.all(dense[~C3_CONNECTIONS] == 0) and np.all(dense[C3_CONNECTIONS] != 0)
    y = c3(x)
    np.testing.assert_allclose(y, F.conv2d(x, dense, c3.bias.data), rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(y.shape)
    grad_x = c3.backward(g)
    want_x, want_w, want_b = F.conv2d_backward(g, x, dense)
    np.testing.assert_allclose(grad_x, want_x, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(c3.weight.grad, want_w[C3_CONNECTIONS], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(c3.bias.grad, want_b, rtol=1e-12, atol=1e-12)


def test_partial_conv_default_init_bound_per_output_map():
    mrandom.manual_seed(0)
    c3 = PartiallyConnectedConv2d(C3_CONNECTIONS, 5)
    bound = 1 / np.sqrt(25 * C3_CONNECTIONS.sum(axis=1))  # fan_in of each map: the maps it reads
    rows = np.nonzero(C3_CONNECTIONS)[0]
    assert np.all(np.abs(c3.weight.data).max(axis=(1, 2)) <= bound[rows])
    assert np.all(np.abs(c3.bias.data) <= bound)


def test_gradcheck_partial_conv_with_the_c3_table():
    mrandom.manual_seed(1)
    x = np.random.default_rng(1).standard_normal((2, 6, 7, 6))
    gradcheck.check_module(PartiallyConnectedConv2d(C3_CONNECTIONS, 5), x, tol=1e-6)


def test_gradcheck_partial_conv_small_table_without_bias():
    mrandom.manual_seed(2)
    table = np.array([[1, 0, 1], [0, 1, 0]])
    x = np.random.default_rng(2).standard_normal((2, 3, 5, 4))
    gradcheck.check_module(PartiallyConnectedConv2d(table, (3, 2), bias=False), x, tol=1e-6)


@pytest.mark.parametrize("shape", [(2, 3, 6, 6), (2, 3, 7, 5)], ids=["even", "odd"])
def test_gradcheck_trainable_subsampling(shape):
    layer = Subsampling2d(3)
    rng = np.random.default_rng(3)
    layer.weight.data[...] = rng.uniform(-1, 1, 3)
    layer.bias.data[...] = rng.uniform(-1, 1, 3)
    gradcheck.check_module(layer, rng.standard_normal(shape), tol=1e-6)


def test_subsampling_is_coefficient_times_window_sum_plus_bias():
    layer = Subsampling2d(2).double()
    layer.weight.data[...] = [2.0, -1.0]
    layer.bias.data[...] = [0.5, 0.0]
    x = np.arange(2 * 5 * 4, dtype=np.float64).reshape(1, 2, 5, 4)
    sums = 4 * F.avg_pool2d(x, 2)  # the fifth row is read by no window
    coefficient, bias = np.array([2.0, -1.0])[:, None, None], np.array([0.5, 0.0])[:, None, None]
    np.testing.assert_allclose(layer(x), coefficient * sums + bias)
    np.testing.assert_array_equal(Subsampling2d(3).weight.data, 0.25)  # starts as average pooling


def test_gradcheck_scaled_tanh_and_values():
    gradcheck.check_module(ScaledTanh(), np.random.default_rng(4).standard_normal((2, 3, 4)), tol=1e-6)
    y = ScaledTanh()(np.array([1.0, -1.0, 0.0]))
    np.testing.assert_allclose(y, [1.0, -1.0, 0.0], atol=1e-4)


@pytest.mark.parametrize("codes", [None, "custom"])
def test_gradcheck_rbf_output(codes):
    rng = np.random.default_rng(5)
    if codes == "custom":
        codes = rng.standard_normal((4, 6))
        layer = EuclideanRBF(6, 4, codes=codes)
    else:
        layer = EuclideanRBF(84, 10)
    x = rng.standard_normal((2, layer.in_features))
    gradcheck.check_module(layer, x, tol=1e-6)
    y = layer.double()(x)
    want = ((x[:, None, :] - layer.codes[None]) ** 2).sum(axis=2)
    np.testing.assert_allclose(y, want, rtol=1e-12)


def test_rbf_codes_are_fixed_buffers_and_the_nearest_code_wins():
    rbf = EuclideanRBF(84, 10)
    assert rbf.parameters() == [] and list(rbf.state_dict()) == ["codes"]
    assert set(np.unique(rbf.codes)) == {-1.0, 1.0}
    assert len({row.tobytes() for row in rbf.codes}) == 10  # ten different codes
    np.testing.assert_array_equal(rbf.codes, EuclideanRBF(84, 10).codes)
    noisy = rbf.codes + 0.3 * np.random.default_rng(0).standard_normal(rbf.codes.shape).astype(np.float32)
    np.testing.assert_array_equal(rbf(noisy).argmin(axis=1), np.arange(10))
    assert rbf.double().codes.dtype == np.float64


def test_negate_gradcheck():
    gradcheck.check_module(Negate(), np.random.default_rng(6).standard_normal((3, 4)), tol=1e-6)


# ------------------------------------------------------------------------------ whole networks, float64
def _sampled_gradcheck(model, x, entries=12, h=1e-6, tol=1e-5, seed=0):
    """check_module's central differences on a few entries of the input and of every parameter (the full check
    would take 2 forwards per entry of 60,000 parameters)."""
    model.double()
    rng = np.random.default_rng(seed)
    y = model(x)
    g = rng.standard_normal(y.shape)
    model.zero_grad()
    model(x)
    analytic = {"input": model.backward(g)}
    analytic.update({name: p.grad for name, p in model.named_parameters()})
    arrays = {"input": x}
    arrays.update({name: p.data for name, p in model.named_parameters()})
    for name, array in arrays.items():
        flat = array.reshape(-1)  # a view: numerical_gradient changes the model's own values in place
        step = max(1, flat.size // entries)
        start = int(rng.integers(step))
        numeric = gradcheck.numerical_gradient(lambda: float(np.sum(model(x) * g)), flat[start::step], h)
        got = analytic[name].reshape(-1)[start::step]
        scale = max(float(np.abs(numeric).max()), float(np.abs(got).max()), 1e-8)
        assert np.abs(got - numeric).max() / scale < tol, name


@pytest.mark.parametrize("original", [False, True], ids=["modern", "original"])
def test_whole_network_sampled_gradcheck(original):
    mrandom.manual_seed(9)
    model = lenet5(original=original, activation=None if original else "tanh", pooling=None if original else "avg")
    _sampled_gradcheck(model, np.random.default_rng(9).standard_normal((2, 1, 32, 32)))


def _torch_modern(T, activation, pooling):
    act = {"relu": T.ReLU, "tanh": T.Tanh}[activation]
    pool = {"max": T.MaxPool2d, "avg": T.AvgPool2d}[pooling]
    return T.Sequential(OrderedDict([
        ("c1", T.Conv2d(1, 6, 5)), ("c1_act", act()), ("s2", pool(2)),
        ("c3", T.Conv2d(6, 16, 5)), ("c3_act", act()), ("s4", pool(2)),
        ("c5", T.Conv2d(16, 120, 5)), ("c5_act", act()), ("flatten", T.Flatten()),
        ("f6", T.Linear(120, 84)), ("f6_act", act()), ("output", T.Linear(84, 10))]))


def _torch_original(torch):
    T = torch.nn

    class ScaledTanhT(T.Module):
        def forward(self, x):
            return 1.7159 * torch.tanh(2.0 / 3.0 * x)

    class SubsamplingT(T.Module):
        def __init__(self, c):
            super().__init__()
            self.weight, self.bias = T.Parameter(torch.zeros(c)), T.Parameter(torch.zeros(c))

        def forward(self, x):
            return 4 * T.functional.avg_pool2d(x, 2) * self.weight[:, None, None] + self.bias[:, None, None]

    class PartialT(T.Module):
        def __init__(self, table):
            super().__init__()
            self.rows, self.cols = (torch.tensor(i) for i in np.nonzero(table))
            self.weight = T.Parameter(torch.zeros(len(self.rows), 5, 5))
            self.bias = T.Parameter(torch.zeros(table.shape[0]))
            self.shape = table.shape + (5, 5)

        def forward(self, x):
            full = self.weight.new_zeros(self.shape)
            full[self.rows, self.cols] = self.weight
            return T.functional.conv2d(x, full, self.bias)

    class RBFT(T.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("codes", torch.zeros(10, 84))

        def forward(self, x):
            return ((x[:, None, :] - self.codes[None]) ** 2).sum(dim=2)

    return T.Sequential(OrderedDict([
        ("c1", T.Conv2d(1, 6, 5)), ("c1_act", ScaledTanhT()), ("s2", SubsamplingT(6)), ("s2_act", ScaledTanhT()),
        ("c3", PartialT(C3_CONNECTIONS)), ("c3_act", ScaledTanhT()), ("s4", SubsamplingT(16)),
        ("s4_act", ScaledTanhT()), ("c5", T.Conv2d(16, 120, 5)), ("c5_act", ScaledTanhT()),
        ("flatten", T.Flatten()), ("f6", T.Linear(120, 84)), ("f6_act", ScaledTanhT()), ("output", RBFT())]))


def _relative(got, want):
    return float(np.abs(np.asarray(got) - want).max()) / max(float(np.abs(want).max()), 1e-12)


def _compare_with_torch(torch, ours, theirs, x, training=True):
    rng = np.random.default_rng(11)
    ours.double().train(training)
    theirs.double().train(training)
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    assert list(theirs.state_dict()) == list(ours.state_dict())
    tx = torch.tensor(x, requires_grad=True)
    ty = theirs(tx)
    g = rng.standard_normal(tuple(ty.shape))
    ty.backward(torch.from_numpy(g))
    y = ours(x)
    assert y.shape == tuple(ty.shape)
    assert _relative(y, ty.detach().numpy()) < 1e-10
    assert _relative(ours.backward(g), tx.grad.numpy()) < 1e-9
    torch_params = dict(theirs.named_parameters())
    assert [name for name, _ in ours.named_parameters()] == list(torch_params)
    for name, param in ours.named_parameters():
        assert _relative(param.grad, torch_params[name].grad.numpy()) < 1e-9, name


@pytest.mark.parametrize("activation, pooling", [("relu", "max"), ("tanh", "avg")])
def test_modern_form_matches_torch(torch, activation, pooling):
    mrandom.manual_seed(12)
    ours = lenet5(activation=activation, pooling=pooling)
    x = np.random.default_rng(12).standard_normal((2, 1, 32, 32))
    _compare_with_torch(torch, ours, _torch_modern(torch.nn, activation, pooling), x)


def test_original_form_matches_torch(torch):
    mrandom.manual_seed(13)
    ours = lenet5(original=True)
    rng = np.random.default_rng(13)
    for layer in (ours.s2, ours.s4):  # coefficients away from their common start value
        layer.weight.data[...] = rng.uniform(0.1, 0.5, layer.weight.shape)
        layer.bias.data[...] = rng.uniform(-0.2, 0.2, layer.bias.shape)
    _compare_with_torch(torch, ours, _torch_original(torch), rng.standard_normal((2, 1, 32, 32)))


# ------------------------------------------------------------------------------------ training the 1998 form
def test_original_form_trains_with_cross_entropy_on_negated_penalties():
    mrandom.manual_seed(14)
    model = nn.Sequential(lenet5(original=True), Negate())
    rng = np.random.default_rng(14)
    x = rng.standard_normal((16, 1, 32, 32)).astype(np.float32)
    labels = rng.integers(0, 10, 16)
    losses = []
    for _ in range(8):  # plain SGD; the penalties are sums of 84 squares, so the step must be small
        scores = model(x)
        losses.append(F.cross_entropy(scores, labels))
        model.zero_grad()
        model.backward(F.cross_entropy_backward(scores, labels), input_grad=False)
        for p in model.parameters():
            p.data -= 0.005 * p.grad
    assert losses[-1] < 0.5 * losses[0]
    penalties = model[0](x)
    np.testing.assert_array_equal(penalties.argmin(axis=1), scores.argmax(axis=1))


# ----------------------------------------------------------------------------------------- the contract
def test_backward_contract():
    model = lenet5(original=True)
    x = np.zeros((2, 1, 32, 32), np.float32)
    model(x)
    assert model.backward(np.ones((2, 10), np.float32), input_grad=False) is None
    with pytest.raises(RuntimeError, match="twice"):
        model.backward(np.ones((2, 10), np.float32))
    model(x)
    assert model.backward(np.ones((2, 10), np.float32)).shape == x.shape


@pytest.mark.parametrize("kwargs, error, match", [
    ({"num_classes": 0}, ValueError, "LeNet5: num_classes must be >= 1"),
    ({"num_classes": 2.5}, TypeError, "LeNet5: num_classes must be an int"),
    ({"in_channels": 0}, ValueError, "LeNet5: in_channels must be >= 1"),
    ({"activation": "gelu"}, ValueError, "LeNet5: activation must be 'relu' or 'tanh', got 'gelu'"),
    ({"pooling": "min"}, ValueError, "LeNet5: pooling must be 'max' or 'avg', got 'min'"),
    ({"original": "yes"}, TypeError, "LeNet5: original must be True or False"),
    ({"original": True, "activation": "relu"}, ValueError, "LeNet5: activation='relu' cannot be combined"),
    ({"original": True, "pooling": "avg"}, ValueError, "LeNet5: pooling='avg' cannot be combined"),
])
def test_bad_settings_raise_clear_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        lenet5(**kwargs)


def test_bad_inputs_and_module_settings():
    with pytest.raises(ValueError, match=r"LeNet5: expected x of shape \(N, 1, 32, 32\)"):
        lenet5()(np.zeros((1, 1, 28, 28), np.float32))
    with pytest.raises(TypeError, match="LeNet5: x must be float32 or float64"):
        lenet5()(np.zeros((1, 1, 32, 32), np.int64))
    with pytest.raises(ValueError, match=r"rows \[1\] of connections are empty"):
        PartiallyConnectedConv2d([[1, 1], [0, 0]], 3)
    with pytest.raises(TypeError, match="connections must hold booleans"):
        PartiallyConnectedConv2d([[2, 1]], 3)
    with pytest.raises(ValueError, match="non-empty"):
        PartiallyConnectedConv2d([1, 1], 3)
    with pytest.raises(ValueError, match=r"codes must have shape \(out_features, in_features\) = \(3, 4\)"):
        EuclideanRBF(4, 3, codes=np.zeros((4, 3)))
    with pytest.raises(ValueError, match="Subsampling2d: num_channels must be >= 1"):
        Subsampling2d(0)
    with pytest.raises(ValueError, match=r"Subsampling2d\(3\): x \(1, 2, 4, 4\) has 2 channels"):
        Subsampling2d(3)(np.zeros((1, 2, 4, 4), np.float32))
    with pytest.raises(TypeError, match="same dtype"):
        Subsampling2d(2)(np.zeros((1, 2, 4, 4)))  # float64 input, float32 parameters
