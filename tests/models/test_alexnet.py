"""AlexNet (torchvision's and the paper's two towers) and ZFNet: exact parameter counts, torchvision's state-dict
keys and shapes, the layer order, native-size forward passes, and agreement with plain torch.nn (float64)."""
import copy

import numpy as np
import pytest

from minicnn import random as mrandom
from minicnn.models import AlexNet, ZFNet, alexnet, zfnet


def count(module):
    return sum(p.data.size for p in module.parameters())


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


BUILD = {"alexnet": lambda **kw: alexnet(**kw), "two_towers": lambda **kw: alexnet(two_towers=True, **kw),
         "zfnet": lambda **kw: zfnet(**kw)}


@pytest.fixture(scope="module", params=list(BUILD))
def model(request):
    """One 1000-class float32 model per variant, shared by the tests that only read it (building one takes ~2 s)."""
    mrandom.manual_seed(0)
    return request.param, BUILD[request.param]()


# torchvision.models.alexnet (torchvision/models/alexnet.py): features indices 0, 3, 6, 8, 10 are the convolutions,
# classifier = Dropout, Linear, ReLU, Dropout, Linear, ReLU, Linear. Shapes as torchvision's state dict.
TORCHVISION_ALEXNET = [
    ("features.0.weight", (64, 3, 11, 11)), ("features.0.bias", (64,)),
    ("features.3.weight", (192, 64, 5, 5)), ("features.3.bias", (192,)),
    ("features.6.weight", (384, 192, 3, 3)), ("features.6.bias", (384,)),
    ("features.8.weight", (256, 384, 3, 3)), ("features.8.bias", (256,)),
    ("features.10.weight", (256, 256, 3, 3)), ("features.10.bias", (256,)),
    ("classifier.1.weight", (4096, 9216)), ("classifier.1.bias", (4096,)),
    ("classifier.4.weight", (4096, 4096)), ("classifier.4.bias", (4096,)),
    ("classifier.6.weight", (1000, 4096)), ("classifier.6.bias", (1000,)),
]
TWO_TOWERS = [  # grouped convolutions hold 48 = 96/2 and 192 = 384/2 input maps per filter
    ("features.0.weight", (96, 3, 11, 11)), ("features.0.bias", (96,)),
    ("features.4.weight", (256, 48, 5, 5)), ("features.4.bias", (256,)),
    ("features.8.weight", (384, 256, 3, 3)), ("features.8.bias", (384,)),
    ("features.10.weight", (384, 192, 3, 3)), ("features.10.bias", (384,)),
    ("features.12.weight", (256, 192, 3, 3)), ("features.12.bias", (256,)),
    ("classifier.0.weight", (4096, 9216)), ("classifier.0.bias", (4096,)),
    ("classifier.3.weight", (4096, 4096)), ("classifier.3.bias", (4096,)),
    ("classifier.6.weight", (1000, 4096)), ("classifier.6.bias", (1000,)),
]
ZFNET = [
    ("features.0.weight", (96, 3, 7, 7)), ("features.0.bias", (96,)),
    ("features.4.weight", (256, 96, 5, 5)), ("features.4.bias", (256,)),
    ("features.8.weight", (512, 256, 3, 3)), ("features.8.bias", (512,)),
    ("features.10.weight", (1024, 512, 3, 3)), ("features.10.bias", (1024,)),
    ("features.12.weight", (512, 1024, 3, 3)), ("features.12.bias", (512,)),
    ("classifier.0.weight", (4096, 18432)), ("classifier.0.bias", (4096,)),
    ("classifier.3.weight", (4096, 4096)), ("classifier.3.bias", (4096,)),
    ("classifier.6.weight", (1000, 4096)), ("classifier.6.bias", (1000,)),
]
EXPECTED = {
    "alexnet": (61_100_840, TORCHVISION_ALEXNET, 224,
                [(64, 55, 55), (64, 27, 27), (192, 27, 27), (192, 13, 13), (384, 13, 13), (256, 13, 13),
                 (256, 13, 13), (256, 6, 6)],
                ["Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "Conv2d", "ReLU",
                 "Conv2d", "ReLU", "MaxPool2d"],
                ["Dropout", "Linear", "ReLU", "Dropout", "Linear", "ReLU", "Linear"]),
    "two_towers": (60_965_224, TWO_TOWERS, 227,
                   [(96, 55, 55), (96, 27, 27), (256, 27, 27), (256, 13, 13), (384, 13, 13), (384, 13, 13),
                    (256, 13, 13), (256, 6, 6)],
                   ["Conv2d", "ReLU", "LocalResponseNorm", "MaxPool2d", "Conv2d", "ReLU", "LocalResponseNorm",
                    "MaxPool2d", "Conv2d", "ReLU", "Conv2d", "ReLU", "Conv2d", "ReLU", "MaxPool2d"],
                   ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]),
    "zfnet": (107_627_624, ZFNET, 224,  # the sizes of the paper's Fig. 3 (with 512-1024-512 maps in layers 3-5)
              [(96, 110, 110), (96, 55, 55), (256, 26, 26), (256, 13, 13), (512, 13, 13), (1024, 13, 13),
               (512, 13, 13), (512, 6, 6)],
              ["Conv2d", "ReLU", "MaxPool2d", "LocalResponseNorm", "Conv2d", "ReLU", "MaxPool2d",
               "LocalResponseNorm", "Conv2d", "ReLU", "Conv2d", "ReLU", "Conv2d", "ReLU", "MaxPool2d"],
              ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]),
}


def test_exact_parameter_count(model):
    name, net = model
    assert count(net) == EXPECTED[name][0]
    assert all(p.data.dtype == np.float32 for p in net.parameters())


def test_state_dict_keys_and_shapes_are_torchvisions(model):
    name, net = model
    state = net.state_dict()
    assert [(key, value.shape) for key, value in state.items()] == EXPECTED[name][1]


def test_layer_order(model):
    name, net = model
    assert [name for name, _ in net.named_children()] == ["features", "avgpool", "classifier"]
    assert [type(m).__name__ for m in net.features] == EXPECTED[name][4]
    assert [type(m).__name__ for m in net.classifier] == EXPECTED[name][5]
    assert net.avgpool.output_size == (6, 6)
    for layer in net.features:
        if type(layer).__name__ == "LocalResponseNorm":
            assert (layer.size, layer.alpha, layer.beta, layer.k) == (5, 1e-4, 0.75, 2.0)
    if name == "two_towers":  # conv3 reads both towers; conv2, conv4 and conv5 only their own
        assert [net.features[i].groups for i in (0, 4, 8, 10, 12)] == [1, 2, 1, 2, 2]
        assert net.features[0].stride == (4, 4) and net.features[0].padding == (0, 0)
    if name == "zfnet":
        assert net.features[0].kernel_size == (7, 7) and net.features[0].stride == (2, 2)
        assert net.features[4].stride == (2, 2)


def test_native_size_forward_float32(model):
    """The shape walk at the native size (the output of every convolution and pooling), then the whole forward."""
    name, net = model
    size, walk = EXPECTED[name][2], EXPECTED[name][3]
    net.eval()
    x = np.random.default_rng(0).standard_normal((1, 3, size, size)).astype(np.float32)
    sizes, a = [], x
    for layer in net.features:
        a = layer(a)
        if type(layer).__name__ in ("Conv2d", "MaxPool2d"):
            sizes.append(a.shape[1:])
    assert sizes == walk  # the last maps are 6x6: the adaptive pooling is the identity here
    np.testing.assert_array_equal(net.avgpool(a), a)
    y = net(x)
    assert y.shape == (1, 1000) and y.dtype == np.float32 and np.all(np.isfinite(y))


# ----------------------------------------------------------------------------------- against plain torch.nn
def _torch_net(T, name, num_classes):
    """The same network in torch.nn (no torchvision): what torchvision.models.alexnet builds, the paper's two
    towers, and ZFNet."""
    if name == "alexnet":
        features = T.Sequential(
            T.Conv2d(3, 64, 11, stride=4, padding=2), T.ReLU(), T.MaxPool2d(3, 2),
            T.Conv2d(64, 192, 5, padding=2), T.ReLU(), T.MaxPool2d(3, 2),
            T.Conv2d(192, 384, 3, padding=1), T.ReLU(), T.Conv2d(384, 256, 3, padding=1), T.ReLU(),
            T.Conv2d(256, 256, 3, padding=1), T.ReLU(), T.MaxPool2d(3, 2))
        classifier = T.Sequential(T.Dropout(), T.Linear(9216, 4096), T.ReLU(), T.Dropout(), T.Linear(4096, 4096),
                                  T.ReLU(), T.Linear(4096, num_classes))
    else:
        lrn = lambda: T.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)  # noqa: E731
        if name == "two_towers":
            features = T.Sequential(
                T.Conv2d(3, 96, 11, stride=4), T.ReLU(), lrn(), T.MaxPool2d(3, 2),
                T.Conv2d(96, 256, 5, padding=2, groups=2), T.ReLU(), lrn(), T.MaxPool2d(3, 2),
                T.Conv2d(256, 384, 3, padding=1), T.ReLU(), T.Conv2d(384, 384, 3, padding=1, groups=2), T.ReLU(),
                T.Conv2d(384, 256, 3, padding=1, groups=2), T.ReLU(), T.MaxPool2d(3, 2))
            width = 256
        else:
            features = T.Sequential(
                T.Conv2d(3, 96, 7, stride=2, padding=1), T.ReLU(), T.MaxPool2d(3, 2, padding=1), lrn(),
                T.Conv2d(96, 256, 5, stride=2), T.ReLU(), T.MaxPool2d(3, 2, padding=1), lrn(),
                T.Conv2d(256, 512, 3, padding=1), T.ReLU(), T.Conv2d(512, 1024, 3, padding=1), T.ReLU(),
                T.Conv2d(1024, 512, 3, padding=1), T.ReLU(), T.MaxPool2d(3, 2))
            width = 512
        classifier = T.Sequential(T.Linear(width * 36, 4096), T.ReLU(), T.Dropout(), T.Linear(4096, 4096),
                                  T.ReLU(), T.Dropout(), T.Linear(4096, num_classes))

    class Net(T.Module):
        def __init__(self):
            super().__init__()
            self.features, self.avgpool, self.classifier = features, T.AdaptiveAvgPool2d(6), classifier

        def forward(self, x):
            return self.classifier(self.avgpool(self.features(x)).flatten(1))

    return Net()


def _relative(got, want):
    """max |got - want| / max |want| without temporaries of the big layers' size (``got`` is overwritten)."""
    want = want.numpy() if hasattr(want, "numpy") else want
    scale = max(float(want.max()), -float(want.min()), 1e-12)
    diff = np.subtract(got, want, out=got)
    return max(float(diff.max()), -float(diff.min())) / scale


def torch_twin(torch, ours, build):
    """The torch network `build()` holding our model's values: built on the meta device (no memory, no init) and
    given our parameters by `load_state_dict(assign=True)` as tensors that share their memory (torch only reads
    them), which saves copying 60-100 million float64 numbers; buffers are copied. The keys must match ours, in
    our state dict's order."""
    with torch.device("meta"):
        theirs = build()
    keys = [f"{prefix}.{name}" if prefix else name for prefix, module in ours.named_modules()
            for name in [*module._parameters, *module._buffers]]
    assert list(theirs.state_dict()) == keys
    state = {key: torch.from_numpy(param.data) for key, param in ours.named_parameters()}
    state.update({key: torch.from_numpy(np.array(buf, copy=True)) for key, buf in ours.named_buffers()})
    theirs.load_state_dict(state, assign=True)
    return theirs


SMALLEST = {"alexnet": 63, "two_towers": 67, "zfnet": 53}  # below these a max pooling has nothing to pool


def _compare(torch, ours, theirs, x, g):
    """Outputs, dL/dx and every parameter gradient against torch autograd, each relative to its largest entry."""
    tx = torch.tensor(x, requires_grad=True)
    ty = theirs(tx)
    ty.backward(torch.from_numpy(g))
    y = ours(x)
    assert y.shape == tuple(ty.shape) and y.dtype == np.float64
    assert _relative(y, ty.detach()) < 1e-10
    assert _relative(ours.backward(g), tx.grad) < 1e-9
    torch_params = dict(theirs.named_parameters())
    assert [key for key, _ in ours.named_parameters()] == list(torch_params)
    for key, param in ours.named_parameters():
        assert _relative(param.grad, torch_params[key].grad) < 1e-9, key


@pytest.mark.parametrize("model", ["alexnet", "two_towers"], indirect=True)
def test_whole_network_matches_torch_float64(torch, model):
    """Against the same network in plain torch.nn, in float64, on the smallest input, batch 2, in eval mode (no
    dropout): outputs, dL/dx and every parameter gradient. A float64 copy of the shared model is compared
    (copying is much faster than drawing a new one)."""
    name, net = model
    ours = copy.deepcopy(net).double().eval()
    theirs = torch_twin(torch, ours, lambda: _torch_net(torch.nn, name, 1000)).eval()
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, SMALLEST[name], SMALLEST[name]))
    _compare(torch, ours, theirs, x, rng.standard_normal((2, 1000)))
    with pytest.raises(ValueError, match="MaxPool2d"):
        ours(x[:, :, 1:, 1:])


@pytest.mark.parametrize("model", ["zfnet"], indirect=True)
def test_zfnet_features_match_torch_float64(torch, model):
    """ZFNet's classifier is the two towers' (compared whole above) with 18,432 inputs, so its ``features`` are
    compared alone (in float64 its 96 million FC weights would double the time), on the smallest input, 53x53."""
    name, net = model
    ours = copy.deepcopy(net.features).double()
    theirs = torch_twin(torch, ours, lambda: _torch_net(torch.nn, name, 1000).features)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 53, 53))
    _compare(torch, ours, theirs, x, rng.standard_normal((2, 512, 1, 1)))
    with pytest.raises(ValueError, match="MaxPool2d"):
        ours(x[:, :, 1:, 1:])


def test_backward_contract_dropout_and_in_channels():
    mrandom.manual_seed(3)
    net = alexnet(num_classes=4, in_channels=1, dropout=0.5).train()
    assert net.features[0].weight.shape == (64, 1, 11, 11)
    x = np.random.default_rng(3).standard_normal((2, 1, 63, 63)).astype(np.float32)
    y1, y2 = net(x), net(x)
    assert y1.shape == (2, 4) and not np.allclose(y1, y2)  # fresh dropout masks
    assert net.backward(np.ones((2, 4), np.float32), input_grad=False) is None
    with pytest.raises(RuntimeError, match="twice"):
        net.backward(np.ones((2, 4), np.float32))
    net.eval()
    np.testing.assert_array_equal(net(x), net(x))


@pytest.mark.parametrize("make, kwargs, error, match", [
    (alexnet, {"num_classes": 0}, ValueError, "AlexNet: num_classes must be >= 1"),
    (alexnet, {"in_channels": 0}, ValueError, "AlexNet: in_channels must be >= 1"),
    (alexnet, {"dropout": 1.0}, ValueError, r"AlexNet: dropout must be in \[0, 1\)"),
    (alexnet, {"dropout": "0.5"}, TypeError, "AlexNet: dropout must be a real number"),
    (alexnet, {"two_towers": 1}, TypeError, "AlexNet: two_towers must be True or False"),
    (zfnet, {"num_classes": 0}, ValueError, "ZFNet: num_classes must be >= 1"),
    (zfnet, {"dropout": -0.1}, ValueError, r"ZFNet: dropout must be in \[0, 1\)"),
    (AlexNet, {"num_classes": True}, TypeError, "AlexNet: num_classes must be an int"),
    (ZFNet, {"in_channels": 1.0}, TypeError, "ZFNet: in_channels must be an int"),
])
def test_bad_settings_raise_clear_errors(make, kwargs, error, match):
    with pytest.raises(error, match=match):
        make(**kwargs)
