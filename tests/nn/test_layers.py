"""Every layer against PyTorch autograd (float64, relative 1e-8) and against central differences."""
import numpy as np
import pytest

from minicnn import functional as F
from minicnn import gradcheck, nn
from minicnn import random as mrandom

LAYERS = [
    # (name, minicnn factory, torch factory (given torch.nn), input shape)
    ("conv1d", lambda: nn.Conv1d(3, 4, 3, stride=2, padding=1), lambda T: T.Conv1d(3, 4, 3, stride=2, padding=1), (2, 3, 9)),
    ("conv2d", lambda: nn.Conv2d(4, 6, 3, stride=(2, 1), padding=1, dilation=(1, 2), groups=2),
     lambda T: T.Conv2d(4, 6, 3, stride=(2, 1), padding=1, dilation=(1, 2), groups=2), (2, 4, 7, 8)),
    ("conv2d_nobias", lambda: nn.Conv2d(2, 3, 2, bias=False), lambda T: T.Conv2d(2, 3, 2, bias=False), (2, 2, 5, 5)),
    ("linear", lambda: nn.Linear(5, 3), lambda T: T.Linear(5, 3), (4, 5)),
    ("maxpool", lambda: nn.MaxPool2d(3, stride=2, padding=1), lambda T: T.MaxPool2d(3, stride=2, padding=1), (2, 3, 7, 6)),
    ("avgpool", lambda: nn.AvgPool2d(2), lambda T: T.AvgPool2d(2), (2, 3, 6, 6)),
    ("avgpool_pad", lambda: nn.AvgPool2d(3, 2, 1), lambda T: T.AvgPool2d(3, 2, 1), (2, 2, 7, 7)),
    ("lppool", lambda: nn.LPPool2d(2, 2), lambda T: T.LPPool2d(2, 2), (2, 3, 6, 6)),
    ("lppool3", lambda: nn.LPPool2d(3, (2, 3), stride=1), lambda T: T.LPPool2d(3, (2, 3), stride=1), (1, 2, 5, 6)),
    ("adaptive1", lambda: nn.AdaptiveAvgPool2d(1), lambda T: T.AdaptiveAvgPool2d(1), (2, 3, 5, 7)),
    ("adaptive3", lambda: nn.AdaptiveAvgPool2d((3, 2)), lambda T: T.AdaptiveAvgPool2d((3, 2)), (2, 3, 7, 5)),
    ("bn1d", lambda: nn.BatchNorm1d(4), lambda T: T.BatchNorm1d(4), (6, 4)),
    ("bn1d_seq", lambda: nn.BatchNorm1d(3), lambda T: T.BatchNorm1d(3), (4, 3, 5)),
    ("bn2d", lambda: nn.BatchNorm2d(3), lambda T: T.BatchNorm2d(3), (4, 3, 5, 5)),
    ("relu", lambda: nn.ReLU(), lambda T: T.ReLU(), (3, 7)),
    ("leaky", lambda: nn.LeakyReLU(0.2), lambda T: T.LeakyReLU(0.2), (3, 7)),
    ("sigmoid", lambda: nn.Sigmoid(), lambda T: T.Sigmoid(), (3, 7)),
    ("tanh", lambda: nn.Tanh(), lambda T: T.Tanh(), (3, 7)),
    ("relu6", lambda: nn.Sequential(nn.Linear(7, 9), nn.ReLU6()),  # the Linear spreads x over and beyond [0, 6]
     lambda T: T.Sequential(T.Linear(7, 9), T.ReLU6()), (5, 7)),
    ("zeropad", lambda: nn.ZeroPad2d((1, 2, 0, 3)), lambda T: T.ZeroPad2d((1, 2, 0, 3)), (2, 3, 4, 5)),
    ("zeropad_int", lambda: nn.ZeroPad2d(1), lambda T: T.ZeroPad2d(1), (1, 2, 3, 3)),
    ("conv2d_depthwise", lambda: nn.Conv2d(6, 6, 5, stride=2, padding=2, groups=6),
     lambda T: T.Conv2d(6, 6, 5, stride=2, padding=2, groups=6), (2, 6, 9, 8)),
    ("flatten", lambda: nn.Flatten(), lambda T: T.Flatten(), (2, 3, 4, 5)),
    ("lrn", lambda: nn.LocalResponseNorm(3, alpha=0.5, beta=0.75, k=2.0),
     lambda T: T.LocalResponseNorm(3, alpha=0.5, beta=0.75, k=2.0), (2, 5, 3, 3)),
    ("lrn_even", lambda: nn.LocalResponseNorm(4, alpha=0.3), lambda T: T.LocalResponseNorm(4, alpha=0.3), (2, 6, 2, 2)),
    ("sequential", lambda: nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                                          nn.Flatten(), nn.Linear(4 * 3 * 3, 5)),
     lambda T: T.Sequential(T.Conv2d(2, 4, 3, padding=1), T.BatchNorm2d(4), T.ReLU(), T.MaxPool2d(2), T.Flatten(),
                            T.Linear(4 * 3 * 3, 5)), (3, 2, 6, 6)),
]
IDS = [case[0] for case in LAYERS]


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def _to_torch_state(state, torch):
    return {k: torch.tensor(np.asarray(v)) for k, v in state.items()}


def _relative(got, want):
    # a conv bias before batch norm has a true gradient of 0: judge ~1e-17 round-off against 1e-6
    scale = max(float(np.abs(want).max(initial=0.0)), 1e-6)
    return float(np.abs(np.asarray(got) - want).max(initial=0.0)) / scale


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("make, make_torch, shape", [c[1:] for c in LAYERS], ids=IDS)
def test_layer_matches_torch_autograd(torch, make, make_torch, shape, training):
    mrandom.manual_seed(1)
    ours = make().double()
    theirs = make_torch(torch.nn).double()
    rng = np.random.default_rng(2)
    for name, buf in ours.named_buffers():  # non-trivial running statistics for eval mode
        if name.endswith("running_mean"):
            buf[...] = rng.standard_normal(buf.shape)
        elif name.endswith("running_var"):
            buf[...] = rng.uniform(0.5, 2.0, buf.shape)
    for name, param in ours.named_parameters():
        if name.endswith("weight") and "running" not in name and param.data.ndim == 1:
            param.data[...] = rng.uniform(0.5, 1.5, param.shape)  # BN gamma away from 1
    theirs.load_state_dict(_to_torch_state(ours.state_dict(), torch))
    ours.train(training)
    theirs.train(training)

    x = rng.standard_normal(shape)
    if isinstance(ours, nn.LPPool2d):
        x = np.abs(x) + 0.1  # PyTorch gives NaN for a negative sum under an odd power
    tx = torch.tensor(x, requires_grad=True)
    ty = theirs(tx)
    grad_out = rng.standard_normal(tuple(ty.shape))
    ty.backward(torch.tensor(grad_out))

    y = ours(x)
    assert y.shape == tuple(ty.shape) and y.dtype == np.float64
    assert _relative(y, ty.detach().numpy()) < 1e-8
    assert _relative(ours.backward(grad_out), tx.grad.numpy()) < 1e-8
    torch_params = dict(theirs.named_parameters())
    assert set(torch_params) == {name for name, _ in ours.named_parameters()}
    for name, param in ours.named_parameters():
        assert _relative(param.grad, torch_params[name].grad.numpy()) < 1e-8, name
    torch_state = theirs.state_dict()
    for key, value in ours.state_dict().items():  # running statistics moved the same way
        np.testing.assert_allclose(value, torch_state[key].numpy(), rtol=1e-10, err_msg=key)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("make, shape", [(c[1], c[3]) for c in LAYERS if c[0] not in ("maxpool",)],
                         ids=[c[0] for c in LAYERS if c[0] != "maxpool"])
def test_layer_passes_gradcheck(make, shape, training):
    mrandom.manual_seed(3)
    module = make().train(training)
    x = np.random.default_rng(4).standard_normal(shape)
    if isinstance(module, nn.LPPool2d):
        x = np.abs(x) + 0.1  # (sum x^p)^(1/p) is smooth away from 0
    gradcheck.check_module(module, x, tol=1e-6)


def test_maxpool_gradcheck_without_ties():
    x = np.random.default_rng(5).permutation(2 * 3 * 6 * 6).reshape(2, 3, 6, 6).astype(np.float64)
    gradcheck.check_module(nn.MaxPool2d(2), x, tol=1e-6)


def test_dropout_reuses_its_mask_in_backward_and_is_identity_in_eval():
    layer = nn.Dropout(0.5, rng=np.random.default_rng(0))
    x = np.ones((50, 40))
    y = layer(x)
    kept = y != 0
    assert 0.4 < kept.mean() < 0.6
    np.testing.assert_array_equal(y[kept], 2.0)  # inverted dropout: survivors scaled by 1/(1-p)
    grad = layer.backward(np.full_like(x, 3.0))
    np.testing.assert_array_equal(grad != 0, kept)
    np.testing.assert_array_equal(grad[kept], 6.0)
    layer.eval()
    np.testing.assert_array_equal(layer(x), x)
    np.testing.assert_array_equal(layer.backward(x), x)
    gradcheck.check_module(nn.Dropout(0.3).train(), np.random.default_rng(1).standard_normal((4, 5)))


def test_batchnorm_running_statistics_like_pytorch(torch):
    ours, theirs = nn.BatchNorm2d(3), torch.nn.BatchNorm2d(3)
    rng = np.random.default_rng(0)
    for _ in range(4):
        x = (rng.standard_normal((8, 3, 4, 4)) * 3 + 1).astype(np.float32)
        ours(x)
        theirs(torch.tensor(x))
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key], value.numpy(), rtol=1e-5, err_msg=key)
    assert int(ours.num_batches_tracked) == 4


def test_default_initialisation_has_pytorch_bounds():
    mrandom.manual_seed(0)
    conv = nn.Conv2d(6, 16, 5)
    bound = 1 / np.sqrt(6 * 25)
    for p in (conv.weight.data, conv.bias.data):
        assert p.dtype == np.float32 and np.abs(p).max() <= bound and np.abs(p).max() > 0.9 * bound
    linear = nn.Linear(120, 84)
    assert np.abs(linear.weight.data).max() <= 1 / np.sqrt(120)


def test_same_seed_same_network():
    mrandom.manual_seed(7)
    a = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Linear(3, 2)).state_dict()
    mrandom.manual_seed(7)
    b = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Linear(3, 2)).state_dict()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def test_backward_before_forward_is_a_clear_error():
    with pytest.raises(RuntimeError, match="Conv2d.backward called before forward"):
        nn.Conv2d(1, 1, 3).backward(np.zeros((1, 1, 1, 1), np.float32))


def test_layer_input_errors():
    with pytest.raises(ValueError, match=r"BatchNorm2d\(3\): x \(2, 4, 5, 5\) has 4 channels"):
        nn.BatchNorm2d(3)(np.zeros((2, 4, 5, 5), np.float32))
    with pytest.raises(ValueError, match="expected x with 4 dimensions"):
        nn.BatchNorm2d(3)(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"x \(2, 10\) has 10 features but weight \(3, 5\) expects 5"):
        nn.Linear(5, 3)(np.zeros((2, 10), np.float32))
    with pytest.raises(TypeError, match="same dtype"):
        nn.Linear(5, 3)(np.zeros((2, 5)))  # float64 input, float32 weights
    with pytest.raises(ValueError, match="groups=2 must divide"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(np.zeros((1, 3), np.float32))


def test_sequential_refuses_a_module_used_twice():
    dropout = nn.Dropout(0.5)
    with pytest.raises(ValueError, match="items 1 and 3 are the same Dropout object"):
        nn.Sequential(nn.Linear(4, 4), dropout, nn.Linear(4, 4), dropout)
    with pytest.raises(TypeError, match="item 0 is function"):
        nn.Sequential(lambda x: x)


def test_sequential_backward_can_skip_the_input_gradient():
    """input_grad=False lets the first layer skip dL/dx (as PyTorch does for an input that does not require
    grad); every parameter gradient is unchanged."""
    x = np.random.default_rng(0).standard_normal((4, 1, 12, 12)).astype(np.float32)
    grads = []
    for input_grad in (True, False):
        mrandom.manual_seed(0)
        net = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(75, 2))
        net(x)
        returned = net.backward(np.ones((4, 2), np.float32), input_grad=input_grad)
        assert (returned is None) == (not input_grad)
        grads.append([p.grad.copy() for p in net.parameters()])
    for full, skipped in zip(*grads):
        np.testing.assert_array_equal(full, skipped)
    net = nn.Sequential(nn.ReLU(), nn.Linear(3, 2))  # a first module that cannot skip still returns dL/dx
    net(np.ones((1, 3), np.float32))
    assert net.backward(np.ones((1, 2), np.float32), input_grad=False).shape == (1, 3)


def test_dropout2d_drops_whole_feature_maps_and_reuses_its_mask():
    layer = nn.Dropout2d(0.5, rng=np.random.default_rng(0))
    x = np.ones((20, 30, 4, 5))
    y = layer(x)
    per_map = y[:, :, :1, :1]
    np.testing.assert_array_equal(y, np.broadcast_to(per_map, y.shape))   # one coin per (example, channel)
    kept = per_map != 0
    assert 0.4 < kept.mean() < 0.6
    np.testing.assert_array_equal(per_map[kept], 2.0)
    grad = layer.backward(np.full_like(x, 3.0))
    np.testing.assert_array_equal(grad, 3.0 * y)
    layer.eval()
    np.testing.assert_array_equal(layer(x), x)
    gradcheck.check_module(nn.Dropout2d(0.3).train(), np.random.default_rng(1).standard_normal((3, 4, 2, 2)))


def test_dropout2d_matches_pytorch_given_the_same_channel_mask(torch):
    x = np.random.default_rng(2).standard_normal((3, 5, 4, 4)).astype(np.float32)
    y, mask = F.dropout2d(x, 0.25, rng=np.random.default_rng(3))
    torch.manual_seed(0)
    keep = torch.from_numpy((mask != 0).astype(np.float32))
    expected = torch.from_numpy(x) * keep / 0.75     # what torch's Dropout2d computes for this channel mask
    np.testing.assert_allclose(y, expected.numpy(), rtol=1e-6)
    assert torch.nn.Dropout2d(0.25)(torch.ones(2, 3, 4, 4)).shape == (2, 3, 4, 4)


@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 4), (1, 2, 3, 4, 5)])
def test_dropout2d_names_the_layout_it_needs(shape):
    with pytest.raises(ValueError, match=r"dropout2d: x must have 4 dimensions \(N, C, H, W\)"):
        nn.Dropout2d(0.5)(np.ones(shape))


def test_dropout2d_backward_rejects_a_mask_of_another_shape():
    with pytest.raises(ValueError, match=r"mask \(N, C, 1, 1\)"):
        F.dropout2d_backward(np.ones((2, 3, 4, 4)), np.ones((2, 3, 4, 4)))
    with pytest.raises(ValueError, match="p must be"):
        nn.Dropout2d(1.0)
