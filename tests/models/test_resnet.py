"""ResNet: parameter counts, torchvision's state-dict keys, agreement with the same network written in torch.nn
(float64: outputs, input gradients, every parameter gradient, running statistics), gradient checks of the blocks,
and the CIFAR networks on 32x32 colour images and 28x28 digits."""
import importlib

import numpy as np
import pytest

from minicnn import gradcheck, nn, optim
from minicnn import random as mrandom
from minicnn.models import resnet18, resnet34, resnet50, resnet_cifar

R = importlib.import_module("minicnn.models.resnet")  # the module (minicnn.models exports the functions)

COUNTS = {"resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032}
BUILDERS = {"resnet18": (resnet18, "basic", [2, 2, 2, 2]), "resnet34": (resnet34, "basic", [3, 4, 6, 3]),
            "resnet50": (resnet50, "bottleneck", [3, 4, 6, 3])}


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.fixture(scope="module")
def imagenet_models():
    mrandom.manual_seed(0)
    return {name: build() for name, (build, _, _) in BUILDERS.items()}


def count(model):
    return sum(p.data.size for p in model.parameters())


# ------------------------------------------------------------------------------ the same networks in torch.nn
def torch_resnets(T):
    """torchvision's ResNet code, written out (torchvision is not installed), plus the CIFAR network."""

    class BasicBlock(T.Module):
        expansion = 1

        def __init__(self, inplanes, planes, stride=1, downsample=None, residual=True):
            super().__init__()
            self.conv1 = T.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
            self.bn1 = T.BatchNorm2d(planes)
            self.relu = T.ReLU(inplace=True)
            self.conv2 = T.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = T.BatchNorm2d(planes)
            self.downsample = downsample
            self.residual = residual

        def forward(self, x):
            out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
            if self.residual:
                out = out + (x if self.downsample is None else self.downsample(x))
            return self.relu(out)

    class Bottleneck(T.Module):
        expansion = 4

        def __init__(self, inplanes, planes, stride=1, downsample=None, residual=True):
            super().__init__()
            self.conv1 = T.Conv2d(inplanes, planes, 1, bias=False)
            self.bn1 = T.BatchNorm2d(planes)
            self.conv2 = T.Conv2d(planes, planes, 3, stride, 1, bias=False)
            self.bn2 = T.BatchNorm2d(planes)
            self.conv3 = T.Conv2d(planes, planes * 4, 1, bias=False)
            self.bn3 = T.BatchNorm2d(planes * 4)
            self.relu = T.ReLU(inplace=True)
            self.downsample = downsample

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            return self.relu(out + (x if self.downsample is None else self.downsample(x)))

    def make_layer(block, inplanes, planes, blocks, stride, residual=True):
        downsample = None
        if residual and (stride != 1 or inplanes != planes * block.expansion):
            downsample = T.Sequential(T.Conv2d(inplanes, planes * block.expansion, 1, stride, bias=False),
                                      T.BatchNorm2d(planes * block.expansion))
        layers = [block(inplanes, planes, stride, downsample, residual)]
        layers += [block(planes * block.expansion, planes, residual=residual) for _ in range(1, blocks)]
        return T.Sequential(*layers), planes * block.expansion

    class ResNet(T.Module):
        def __init__(self, block, layers, num_classes=1000, in_channels=3):
            super().__init__()
            self.conv1 = T.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
            self.bn1 = T.BatchNorm2d(64)
            self.relu = T.ReLU(inplace=True)
            self.maxpool = T.MaxPool2d(3, 2, 1)
            self.layer1, c = make_layer(block, 64, 64, layers[0], 1)
            self.layer2, c = make_layer(block, c, 128, layers[1], 2)
            self.layer3, c = make_layer(block, c, 256, layers[2], 2)
            self.layer4, c = make_layer(block, c, 512, layers[3], 2)
            self.avgpool = T.AdaptiveAvgPool2d((1, 1))
            self.fc = T.Linear(c, num_classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.avgpool(self.layer4(self.layer3(self.layer2(self.layer1(x)))))
            return self.fc(x.flatten(1))

    class CifarResNet(T.Module):
        def __init__(self, depth, num_classes=10, residual=True, in_channels=3):
            super().__init__()
            n = (depth - 2) // 6
            self.conv1 = T.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
            self.bn1 = T.BatchNorm2d(16)
            self.relu = T.ReLU(inplace=True)
            self.layer1, c = make_layer(BasicBlock, 16, 16, n, 1, residual)
            self.layer2, c = make_layer(BasicBlock, c, 32, n, 2, residual)
            self.layer3, c = make_layer(BasicBlock, c, 64, n, 2, residual)
            self.avgpool = T.AdaptiveAvgPool2d((1, 1))
            self.fc = T.Linear(c, num_classes)

        def forward(self, x):
            x = self.relu(self.bn1(self.conv1(x)))
            return self.fc(self.avgpool(self.layer3(self.layer2(self.layer1(x)))).flatten(1))

    return {"basic": BasicBlock, "bottleneck": Bottleneck, "ResNet": ResNet, "CifarResNet": CifarResNet}


def _relative(got, want):
    scale = max(float(np.abs(want).max(initial=0.0)), 1e-6)
    return float(np.abs(np.asarray(got) - want).max(initial=0.0)) / scale


def assert_same_keys(ours, theirs):
    """The state dicts have the same keys, in the same order, with the same shapes: weights move both ways."""
    ours_state, theirs_state = ours.state_dict(), theirs.state_dict()
    assert list(ours_state) == list(theirs_state)
    for key, value in ours_state.items():
        assert value.shape == tuple(theirs_state[key].shape), key


def assert_agrees_with_torch(torch, ours, theirs, shape, training, seed=0, tol=1e-8):
    """Copy our weights (with non-trivial batch-norm state) into the torch network, then compare in float64 the
    outputs, dL/dx, every parameter's gradient and, after the forward pass, the running statistics."""
    assert_same_keys(ours, theirs)
    rng = np.random.default_rng(seed)
    ours.double()
    for name, buf in ours.named_buffers():
        if name.endswith("running_mean"):
            buf[...] = 0.1 * rng.standard_normal(buf.shape)
        elif name.endswith("running_var"):
            buf[...] = rng.uniform(0.5, 2.0, buf.shape)
    for name, param in ours.named_parameters():
        if param.data.ndim == 1 and ".bn" in f".{name}" or name.startswith("bn") or ".downsample.1." in name:
            param.data[...] = rng.uniform(0.5, 1.5, param.shape) if name.endswith("weight") else \
                0.1 * rng.standard_normal(param.shape)
    theirs.double().load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in ours.state_dict().items()})
    ours.train(training)
    theirs.train(training)
    x = rng.standard_normal(shape)
    tx = torch.tensor(x, requires_grad=True)
    ty = theirs(tx)
    grad_out = rng.standard_normal(tuple(ty.shape))
    ty.backward(torch.tensor(grad_out))
    y = ours(x)
    assert y.shape == tuple(ty.shape) and y.dtype == np.float64
    assert _relative(y, ty.detach().numpy()) < tol
    assert _relative(ours.backward(grad_out), tx.grad.numpy()) < tol
    torch_params = dict(theirs.named_parameters())
    names = [name for name, _ in ours.named_parameters()]
    assert names == list(torch_params)
    for name, param in ours.named_parameters():
        assert param.grad is not None, name
        assert _relative(param.grad, torch_params[name].grad.numpy()) < tol, name
    torch_state = theirs.state_dict()
    for key, value in ours.state_dict().items():
        np.testing.assert_allclose(value, torch_state[key].numpy(), rtol=1e-10, atol=1e-12, err_msg=key)


# ------------------------------------------------------------------------------------------------------ tests
def test_parameter_counts_are_torchvisions(imagenet_models):
    assert {name: count(model) for name, model in imagenet_models.items()} == COUNTS
    assert count(resnet18(num_classes=10, in_channels=1)) == COUNTS["resnet18"] - 990 * 513 - 2 * 64 * 49


@pytest.mark.parametrize("depth, residual, plain", [(8, 78_042, 75_290), (20, 272_474, 269_722),
                                                    (56, 855_770, 853_018)])
def test_cifar_counts(depth, residual, plain):
    """Option B shortcuts add two projections (16->32 and 32->64: 512 + 64 and 2,048 + 128 parameters) to the
    plain network; the paper's option A (no parameters) gives 0.27M for ResNet-20, as the plain count here."""
    assert count(resnet_cifar(depth)) == residual
    assert count(resnet_cifar(depth, residual=False)) == plain == residual - 2_752


@pytest.mark.parametrize("name", list(BUILDERS))
def test_state_dict_keys_are_torchvisions(torch, imagenet_models, name):
    _, block, layers = BUILDERS[name]
    classes = torch_resnets(torch.nn)
    ours, theirs = imagenet_models[name], classes["ResNet"](classes[block], layers)
    assert_same_keys(ours, theirs)
    keys = list(ours.state_dict())
    assert keys[:7] == ["conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
                        "bn1.num_batches_tracked", "layer1.0.conv1.weight"]
    assert "layer2.0.downsample.0.weight" in keys and "layer2.0.downsample.1.running_mean" in keys
    assert keys[-2:] == ["fc.weight", "fc.bias"]
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})  # a torch state dict loads as is


@pytest.mark.parametrize("name", list(BUILDERS))
def test_native_size_forward(imagenet_models, name):
    model = imagenet_models[name].eval()
    y = model(np.random.default_rng(1).standard_normal((1, 3, 224, 224)).astype(np.float32))
    assert y.shape == (1, 1000) and y.dtype == np.float32 and np.all(np.isfinite(y))


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_resnet18_agrees_with_torch(torch, training):
    mrandom.manual_seed(2)
    classes = torch_resnets(torch.nn)
    assert_agrees_with_torch(torch, resnet18(num_classes=10), classes["ResNet"](classes["basic"], [2, 2, 2, 2], 10),
                             (2 if training else 1, 3, 32, 32), training)


def test_bottleneck_agrees_with_torch(torch):
    """A Bottleneck with a projection shortcut: the v1.5 stride (on the 3x3) and the block's keys, in training
    mode (resnet50's whole layout is checked by its keys and its count)."""
    mrandom.manual_seed(3)
    T = torch.nn
    ours = R.Bottleneck(16, 8, stride=2, downsample=nn.Sequential(R.conv1x1(16, 32, 2), nn.BatchNorm2d(32)))
    theirs = torch_resnets(T)["bottleneck"](16, 8, 2, T.Sequential(T.Conv2d(16, 32, 1, 2, bias=False),
                                                                   T.BatchNorm2d(32)))
    assert_agrees_with_torch(torch, ours, theirs, (2, 16, 9, 9), True)


@pytest.mark.parametrize("residual", [True, False], ids=["residual", "plain"])
def test_resnet_cifar_agrees_with_torch(torch, residual):
    mrandom.manual_seed(4)
    classes = torch_resnets(torch.nn)
    assert_agrees_with_torch(torch, resnet_cifar(8, residual=residual), classes["CifarResNet"](8, 10, residual),
                             (2, 3, 32, 32), True)


def test_resnet_cifar_on_digits_shape_walk_and_learning():
    """1-channel 28x28 digits: 28 -> 28 (stage 1) -> 14 -> 7 -> global average -> 10 scores; a few SGD steps
    on one batch lower its loss (forward, backward and the optimizer fit together)."""
    mrandom.manual_seed(5)
    net = resnet_cifar(8, in_channels=1)
    x = np.random.default_rng(6).standard_normal((8, 1, 28, 28)).astype(np.float32)
    h = net.relu(net.bn1(net.conv1(x)))
    shapes = []
    for stage in (net.layer1, net.layer2, net.layer3):
        h = stage(h)
        shapes.append(h.shape)
    assert shapes == [(8, 16, 28, 28), (8, 32, 14, 14), (8, 64, 7, 7)]
    labels = np.arange(8) % 10
    loss_fn, opt = nn.CrossEntropyLoss(), optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(6):
        net.zero_grad()
        scores = net(x)
        assert scores.shape == (8, 10)
        losses.append(float(loss_fn(scores, labels)))
        grad_x = net.backward(loss_fn.backward())
        assert grad_x.shape == x.shape
        opt.step()
    assert all(b < a for a, b in zip(losses, losses[1:])) and losses[-1] < 0.7 * losses[0], losses


def _block_cases():
    projection = lambda c_in, c_out: nn.Sequential(R.conv1x1(c_in, c_out, 2), nn.BatchNorm2d(c_out))  # noqa: E731
    return [
        ("basic identity", lambda: R.BasicBlock(3, 3), (2, 3, 3, 3)),
        ("basic projection", lambda: R.BasicBlock(2, 3, stride=2, downsample=projection(2, 3)), (2, 2, 4, 4)),
        ("basic plain", lambda: R.BasicBlock(2, 3, stride=2, residual=False), (2, 2, 4, 4)),
        ("bottleneck projection", lambda: R.Bottleneck(3, 1, stride=2, downsample=projection(3, 4)), (2, 3, 4, 4)),
        ("bottleneck identity", lambda: R.Bottleneck(4, 1), (2, 4, 3, 3)),
    ]


@pytest.mark.parametrize("make, shape", [case[1:] for case in _block_cases()], ids=[c[0] for c in _block_cases()])
def test_blocks_pass_gradcheck(make, shape):
    mrandom.manual_seed(7)
    block = make()
    errors = gradcheck.check_module(block, np.random.default_rng(8).standard_normal(shape), tol=1e-6)
    assert set(errors) == {"input"} | {name for name, _ in block.named_parameters()}
