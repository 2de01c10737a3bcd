"""VGG-11/13/16/19 (with and without batch norm): exact parameter counts, torchvision's state-dict keys and shapes,
torchvision's initialisation, native-size forward passes, and agreement with plain torch.nn (float64)."""
import copy

import numpy as np
import pytest

from minicnn import nn
from minicnn import random as mrandom
from minicnn.models import VGG, vgg11, vgg13, vgg16, vgg19
from minicnn.models.vgg import CONFIGS, make_layers

FACTORIES = {"vgg11": vgg11, "vgg13": vgg13, "vgg16": vgg16, "vgg19": vgg19}

# torchvision's cfgs (torchvision/models/vgg.py), written out again here: the test must not trust the module's
TORCHVISION_CFGS = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}
# torchvision's documented counts (the weights tables of torchvision.models)
COUNTS = {"vgg11": 132_863_336, "vgg13": 133_047_848, "vgg16": 138_357_544, "vgg19": 143_667_240,
          "vgg16_bn": 138_365_992}


def count(module):
    return sum(p.data.size for p in module.parameters())


def build(name, **kwargs):
    base, bn = name.removesuffix("_bn"), name.endswith("_bn")
    return FACTORIES[base](batch_norm=bn, **kwargs)


def torchvision_state_shapes(name, num_classes=1000):
    """(key, shape) of torchvision's state dict: make_layers appends Conv2d, [BatchNorm2d,] ReLU per number and
    MaxPool2d per "M", so the indices skip the ReLUs and pools."""
    bn = name.endswith("_bn")
    keys, index, channels = [], 0, 3
    for v in TORCHVISION_CFGS[name.removesuffix("_bn")]:
        if v == "M":
            index += 1
            continue
        keys += [(f"features.{index}.weight", (v, channels, 3, 3)), (f"features.{index}.bias", (v,))]
        if bn:
            keys += [(f"features.{index + 1}.{k}", (v,)) for k in ("weight", "bias", "running_mean", "running_var")]
            keys.append((f"features.{index + 1}.num_batches_tracked", ()))
        index += 3 if bn else 2
        channels = v
    return keys + [("classifier.0.weight", (4096, 25088)), ("classifier.0.bias", (4096,)),
                   ("classifier.3.weight", (4096, 4096)), ("classifier.3.bias", (4096,)),
                   ("classifier.6.weight", (num_classes, 4096)), ("classifier.6.bias", (num_classes,))]


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.fixture(scope="module", params=list(COUNTS))
def model(request):
    """One 1000-class float32 model per variant, shared by the tests that only read it (each takes seconds to
    build: 130-140 million parameters to draw)."""
    mrandom.manual_seed(0)
    return request.param, build(request.param)


def test_exact_parameter_count(model):
    name, net = model
    assert count(net) == COUNTS[name]
    assert all(p.data.dtype == np.float32 for p in net.parameters())


def test_state_dict_keys_and_shapes_are_torchvisions(model):
    name, net = model
    keys = [f"{prefix}.{key}" for prefix, module in net.named_modules()
            for key in [*module._parameters, *module._buffers]]  # state_dict's order, without copying 550 MB
    shapes = {key: value.shape for key, value in [*net.named_parameters(), *net.named_buffers()]}
    assert [(key, shapes[key]) for key in keys] == torchvision_state_shapes(name)
    conv_indices = [int(key.split(".")[1]) for key in keys if key.startswith("features") and len(shapes[key]) == 4]
    if name == "vgg16":
        assert conv_indices == [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
    if name == "vgg16_bn":
        assert conv_indices == [0, 3, 7, 10, 14, 17, 20, 24, 27, 30, 34, 37, 40]


def test_layers(model):
    name, net = model
    assert [child for child, _ in net.named_children()] == ["features", "avgpool", "classifier"]
    assert net.avgpool.output_size == (7, 7)
    assert [type(m).__name__ for m in net.classifier] == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout",
                                                          "Linear"]
    assert [m.p for m in net.classifier if isinstance(m, nn.Dropout)] == [0.5, 0.5]
    convs = [m for m in net.features if isinstance(m, nn.Conv2d)]
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) and c.stride == (1, 1) for c in convs)
    pools = [m for m in net.features if isinstance(m, nn.MaxPool2d)]
    assert len(pools) == 5 and all(p.kernel_size == (2, 2) and p.stride == (2, 2) for p in pools)
    assert len(convs) + 3 == int(name[3:5])  # VGG-n has n weight layers


def test_torchvision_initialisation(model):
    _, net = model
    convs = [m for m in net.features if isinstance(m, nn.Conv2d)]
    assert all(np.all(c.bias.data == 0) for c in convs)
    first = convs[0].weight.data  # kaiming_normal_(mode="fan_out"): std = sqrt(2 / (64 * 3 * 3))
    assert abs(first.std() / np.sqrt(2 / (64 * 9)) - 1) < 0.1 and abs(first.mean()) < 0.01
    last = net.classifier[6].weight.data  # N(0, 0.01)
    assert abs(last.std() / 0.01 - 1) < 0.02
    assert all(np.all(net.classifier[i].bias.data == 0) for i in (0, 3, 6))
    for bn in (m for m in net.features if isinstance(m, nn.BatchNorm2d)):
        assert np.all(bn.weight.data == 1) and np.all(bn.bias.data == 0)


def test_native_224x224_forward_float32_slow(model):
    """2-9 s each (VGG-19: 20 GFLOP)."""
    name, net = model
    net.eval()
    y = net(np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32))
    assert y.shape == (1, 1000) and y.dtype == np.float32 and np.all(np.isfinite(y))


# ----------------------------------------------------------------------------------- against plain torch.nn
def _torch_vgg(T, cfg, batch_norm, num_classes, dropout):
    """What torchvision.models.vgg builds, in plain torch.nn."""
    layers, channels = [], 3
    for v in cfg:
        if v == "M":
            layers.append(T.MaxPool2d(2, 2))
        else:
            layers += [T.Conv2d(channels, v, 3, padding=1)] + ([T.BatchNorm2d(v)] if batch_norm else []) + [T.ReLU()]
            channels = v

    class Net(T.Module):
        def __init__(self):
            super().__init__()
            self.features, self.avgpool = T.Sequential(*layers), T.AdaptiveAvgPool2d(7)
            self.classifier = T.Sequential(T.Linear(25088, 4096), T.ReLU(), T.Dropout(dropout),
                                           T.Linear(4096, 4096), T.ReLU(), T.Dropout(dropout),
                                           T.Linear(4096, num_classes))

        def forward(self, x):
            return self.classifier(self.avgpool(self.features(x)).flatten(1))

    return Net()


def torch_twin(torch, ours, build_torch):
    """The torch network holding our model's values: built on the meta device (no memory, no init) and given our
    parameters by `load_state_dict(assign=True)` as tensors sharing their memory (torch only reads them), which
    saves copying 130 million float64 numbers; buffers are copied. The keys must match ours, in order."""
    with torch.device("meta"):
        theirs = build_torch()
    keys = [f"{prefix}.{name}" if prefix else name for prefix, module in ours.named_modules()
            for name in [*module._parameters, *module._buffers]]
    assert list(theirs.state_dict()) == keys
    state = {key: torch.from_numpy(param.data) for key, param in ours.named_parameters()}
    state.update({key: torch.from_numpy(np.array(buf, copy=True)) for key, buf in ours.named_buffers()})
    theirs.load_state_dict(state, assign=True)
    return theirs


def _relative(got, want, floor=1e-12):
    """max |got - want| / max |want| without temporaries of the big layers' size (``got`` is overwritten)."""
    want = want.numpy() if hasattr(want, "numpy") else want
    scale = max(float(want.max()), -float(want.min()), floor)
    diff = np.subtract(got, want, out=got)
    return max(float(diff.max()), -float(diff.min())) / scale


def _compare(torch, ours, theirs, x, g):
    """Outputs, dL/dx and every parameter gradient, each relative to its largest entry; a conv bias followed by
    batch norm has a true gradient of 0, so its round-off is judged against a millionth of the largest gradient."""
    tx = torch.tensor(x, requires_grad=True)
    ty = theirs(tx)
    ty.backward(torch.from_numpy(g))
    y = ours(x)
    assert y.shape == tuple(ty.shape) and y.dtype == np.float64
    assert _relative(y, ty.detach()) < 1e-9
    assert _relative(ours.backward(g), tx.grad) < 1e-8
    torch_params = dict(theirs.named_parameters())
    assert [key for key, _ in ours.named_parameters()] == list(torch_params)
    largest = max(float(torch.linalg.vector_norm(p.grad, float("inf"))) for p in torch_params.values())
    for key, param in ours.named_parameters():
        assert _relative(param.grad, torch_params[key].grad, 1e-6 * largest) < 1e-8, key


@pytest.mark.parametrize("model", ["vgg11", "vgg13", "vgg16", "vgg19"], indirect=True)
def test_features_match_torch_float64(torch, model):
    """The convolutional part against the same layers in plain torch.nn, in float64, on the smallest input
    (32x32: five 2x2 poolings leave 1x1), batch 2. The classifier is the same for every VGG and is compared in
    the VGG-16-bn test (in float64 its 120 million weights take most of the time). A float64 copy of the
    shared model is compared (copying is much faster than drawing a new one)."""
    name, net = model
    ours = copy.deepcopy(net.features).double().train()
    theirs = torch_twin(torch, ours, lambda: _torch_vgg(torch.nn, TORCHVISION_CFGS[name], False, 10, 0.0).features)
    rng = np.random.default_rng(2)
    _compare(torch, ours, theirs, rng.standard_normal((2, 3, 32, 32)), rng.standard_normal((2, 512, 1, 1)))


@pytest.mark.parametrize("model", ["vgg16_bn"], indirect=True)
def test_whole_vgg16_bn_matches_torch_float64_slow(torch, model):
    """The whole VGG-16 with batch norm, which holds every kind of layer of the four networks, against plain
    torch.nn in float64 on the smallest input (32x32, batch 2), in train mode (batch statistics; dropout 0 on both
    sides): outputs, dL/dx, every parameter gradient and the running statistics it updates."""
    _, net = model
    ours = copy.deepcopy(net).double().train()
    rng = np.random.default_rng(2)
    for module in ours.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
        if isinstance(module, nn.BatchNorm2d):  # gamma, beta and the running statistics away from 1, 0, 0, 1
            module.weight.data[...] = rng.uniform(0.5, 1.5, module.weight.shape)
            module.bias.data[...] = rng.uniform(-0.5, 0.5, module.bias.shape)
            module.running_mean[...] = rng.uniform(-0.1, 0.1, module.running_mean.shape)
            module.running_var[...] = rng.uniform(0.5, 2.0, module.running_var.shape)
    theirs = torch_twin(torch, ours, lambda: _torch_vgg(torch.nn, TORCHVISION_CFGS["vgg16"], True, 1000, 0.0))
    x = rng.standard_normal((2, 3, 32, 32))
    _compare(torch, ours, theirs.train(), x, rng.standard_normal((2, 1000)))
    torch_buffers = dict(theirs.named_buffers())
    for key, buf in ours.named_buffers():
        np.testing.assert_allclose(buf, torch_buffers[key].numpy(), rtol=1e-10, atol=1e-12, err_msg=key)
    with pytest.raises(ValueError, match="MaxPool2d"):  # 32x32 is the smallest input: five 2x2 poolings
        ours(x[:, :, :31, :31])


# ------------------------------------------------------------------------------------------- settings
def test_configs_and_make_layers_follow_torchvision():
    assert {name: list(CONFIGS[letter]) for name, letter in zip(FACTORIES, "ABDE")} == TORCHVISION_CFGS
    features = make_layers([8, "M", 16], batch_norm=True, in_channels=1)
    assert [type(m).__name__ for m in features] == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "Conv2d",
                                                    "BatchNorm2d", "ReLU"]
    assert features[0].weight.shape == (8, 1, 3, 3)


@pytest.mark.parametrize("make, kwargs, error, match", [
    (vgg16, {"num_classes": 0}, ValueError, "vgg16: num_classes must be >= 1"),
    (vgg11, {"batch_norm": "yes"}, TypeError, "vgg11: batch_norm must be True or False"),
    (vgg13, {"dropout": 1.0}, ValueError, r"vgg13: dropout must be in \[0, 1\)"),
    (vgg19, {"in_channels": 0}, ValueError, "vgg19: in_channels must be >= 1"),
    (vgg19, {"num_classes": 10.0}, TypeError, "vgg19: num_classes must be an int"),
    (VGG, {"features": "conv"}, TypeError, "VGG: features must be a minicnn.nn.Module"),
    (make_layers, {"cfg": [64, "A"]}, TypeError, "make_layers: cfg entry must be an int"),
    (make_layers, {"cfg": [0]}, ValueError, "make_layers: cfg entry must be >= 1"),
])
def test_bad_settings_raise_clear_errors(make, kwargs, error, match):
    with pytest.raises(error, match=match):
        make(**kwargs)
