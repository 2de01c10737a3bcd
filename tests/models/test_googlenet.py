"""GoogLeNet: parameter counts and where they are, torchvision's state-dict keys, agreement with the same network
written in torch.nn (float64, on the smallest input it accepts, with and without the auxiliary classifiers), and a
gradient check of the Inception module."""
import importlib

import numpy as np
import pytest

from minicnn import gradcheck, nn
from minicnn import random as mrandom
from minicnn.models import GoogLeNet, Inception, googlenet

G = importlib.import_module("minicnn.models.googlenet")  # the module (minicnn.models.googlenet is the function)

SMALLEST = 15  # inception 5 then sees 1x1 maps; at 14, maxpool3 would get a 1x1 map


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.fixture(scope="module")
def model():
    mrandom.manual_seed(0)
    return googlenet()


def count(module):
    return sum(p.data.size for p in module.parameters())


# ---------------------------------------------------------------------------- the same network in torch.nn
def torch_googlenet(T, num_classes=1000, aux_logits=False, dropout=0.2, branch3_kernel_size=3):
    """torchvision's GoogLeNet code, written out (torchvision is not installed)."""
    import torch
    import torch.nn.functional as TF

    class BasicConv2d(T.Module):
        def __init__(self, in_channels, out_channels, **kwargs):
            super().__init__()
            self.conv = T.Conv2d(in_channels, out_channels, bias=False, **kwargs)
            self.bn = T.BatchNorm2d(out_channels, eps=0.001)

        def forward(self, x):
            return TF.relu(self.bn(self.conv(x)), inplace=True)

    class Inception(T.Module):
        def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
            super().__init__()
            k = branch3_kernel_size
            self.branch1 = BasicConv2d(in_channels, ch1x1, kernel_size=1)
            self.branch2 = T.Sequential(BasicConv2d(in_channels, ch3x3red, kernel_size=1),
                                        BasicConv2d(ch3x3red, ch3x3, kernel_size=3, padding=1))
            self.branch3 = T.Sequential(BasicConv2d(in_channels, ch5x5red, kernel_size=1),
                                        BasicConv2d(ch5x5red, ch5x5, kernel_size=k, padding=k // 2))
            self.branch4 = T.Sequential(T.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
                                        BasicConv2d(in_channels, pool_proj, kernel_size=1))

        def forward(self, x):
            return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)

    class InceptionAux(T.Module):
        def __init__(self, in_channels, num_classes, dropout=0.7):
            super().__init__()
            self.conv = BasicConv2d(in_channels, 128, kernel_size=1)
            self.fc1 = T.Linear(2048, 1024)
            self.fc2 = T.Linear(1024, num_classes)
            self.dropout = T.Dropout(p=dropout)

        def forward(self, x):
            x = self.conv(TF.adaptive_avg_pool2d(x, (4, 4)))
            return self.fc2(self.dropout(TF.relu(self.fc1(torch.flatten(x, 1)), inplace=True)))

    class GoogLeNet(T.Module):
        def __init__(self):
            super().__init__()
            self.aux_logits = aux_logits
            self.conv1 = BasicConv2d(3, 64, kernel_size=7, stride=2, padding=3)
            self.maxpool1 = T.MaxPool2d(3, stride=2, ceil_mode=True)
            self.conv2 = BasicConv2d(64, 64, kernel_size=1)
            self.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1)
            self.maxpool2 = T.MaxPool2d(3, stride=2, ceil_mode=True)
            self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32)
            self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64)
            self.maxpool3 = T.MaxPool2d(3, stride=2, ceil_mode=True)
            self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64)
            self.inception4b = Inception(512, 160, 112, 224, 24, 64, 64)
            self.inception4c = Inception(512, 128, 128, 256, 24, 64, 64)
            self.inception4d = Inception(512, 112, 144, 288, 32, 64, 64)
            self.inception4e = Inception(528, 256, 160, 320, 32, 128, 128)
            self.maxpool4 = T.MaxPool2d(2, stride=2, ceil_mode=True)
            self.inception5a = Inception(832, 256, 160, 320, 32, 128, 128)
            self.inception5b = Inception(832, 384, 192, 384, 48, 128, 128)
            if aux_logits:
                self.aux1 = InceptionAux(512, num_classes)
                self.aux2 = InceptionAux(528, num_classes)
            else:
                self.aux1 = self.aux2 = None
            self.avgpool = T.AdaptiveAvgPool2d((1, 1))
            self.dropout = T.Dropout(p=dropout)
            self.fc = T.Linear(1024, num_classes)

        def forward(self, x):
            x = self.maxpool2(self.conv3(self.conv2(self.maxpool1(self.conv1(x)))))
            x = self.inception4a(self.maxpool3(self.inception3b(self.inception3a(x))))
            aux1 = self.aux1(x) if self.aux1 is not None and self.training else None
            x = self.inception4d(self.inception4c(self.inception4b(x)))
            aux2 = self.aux2(x) if self.aux2 is not None and self.training else None
            x = self.inception5b(self.inception5a(self.maxpool4(self.inception4e(x))))
            x = self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))
            return (x, aux2, aux1) if self.aux_logits and self.training else x

    return GoogLeNet()


def _relative(got, want):
    scale = max(float(np.abs(want).max(initial=0.0)), 1e-6)
    return float(np.abs(np.asarray(got) - want).max(initial=0.0)) / scale


def assert_same_keys(ours, theirs):
    ours_state, theirs_state = ours.state_dict(), theirs.state_dict()
    assert list(ours_state) == list(theirs_state)
    for key, value in ours_state.items():
        assert value.shape == tuple(theirs_state[key].shape), key


def assert_agrees_with_torch(torch, ours, theirs, shape, training, seed=0, tol=1e-8):
    """float64: outputs (one, or logits and the two auxiliary ones), dL/dx, every parameter gradient and the
    running statistics. Dropout is switched off (eval) in both, so the function compared is deterministic."""
    assert_same_keys(ours, theirs)
    rng = np.random.default_rng(seed)
    ours.double()
    for name, buf in ours.named_buffers():
        if name.endswith("running_mean"):
            buf[...] = 0.1 * rng.standard_normal(buf.shape)
        elif name.endswith("running_var"):
            buf[...] = rng.uniform(0.5, 2.0, buf.shape)
    for name, param in ours.named_parameters():
        if ".bn." in name:
            param.data[...] = rng.uniform(0.5, 1.5, param.shape) if name.endswith("weight") else \
                0.1 * rng.standard_normal(param.shape)
    theirs.double().load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in ours.state_dict().items()})
    for net in (ours, theirs):
        net.train(training)
        for module in net.modules():
            if type(module).__name__ == "Dropout":
                module.eval()
    x = rng.standard_normal(shape)
    tx = torch.tensor(x, requires_grad=True)
    ty = theirs(tx)
    t_outputs = list(ty) if isinstance(ty, tuple) else [ty]
    grads = [rng.standard_normal(tuple(t.shape)) for t in t_outputs]
    torch.autograd.backward(t_outputs, [torch.tensor(g) for g in grads])
    y = ours(x)
    outputs = list(y) if isinstance(y, tuple) else [y]
    assert len(outputs) == len(t_outputs)
    for got, want in zip(outputs, t_outputs):
        assert got.shape == tuple(want.shape) and got.dtype == np.float64
        assert _relative(got, want.detach().numpy()) < tol
    grad_x = ours.backward(tuple(grads) if isinstance(y, tuple) else grads[0])
    assert _relative(grad_x, tx.grad.numpy()) < tol
    torch_params = dict(theirs.named_parameters())
    assert [name for name, _ in ours.named_parameters()] == list(torch_params)
    for name, param in ours.named_parameters():
        assert param.grad is not None, name
        assert _relative(param.grad, torch_params[name].grad.numpy()) < tol, name
    torch_state = theirs.state_dict()
    for key, value in ours.state_dict().items():
        np.testing.assert_allclose(value, torch_state[key].numpy(), rtol=1e-10, atol=1e-12, err_msg=key)


# ------------------------------------------------------------------------------------------------------ tests
def _breakdown(net):
    """Parameters by stage: convolution weights, batch-norm gamma and beta, fc weights and biases."""
    stages = {"stem": ("conv1", "conv2", "conv3"), "inception3": ("inception3a", "inception3b"),
              "inception4": tuple(f"inception4{c}" for c in "abcde"), "inception5": ("inception5a", "inception5b"),
              "fc": ("fc",)}
    table = {}
    for stage, names in stages.items():
        kinds = {"conv": 0, "bn": 0, "fc": 0}
        for name in names:
            for module in getattr(net, name).modules():
                kind = {nn.Conv2d: "conv", nn.BatchNorm2d: "bn", nn.Linear: "fc"}.get(type(module))
                if kind:
                    kinds[kind] += count(module)
        table[stage] = kinds
    return table


def test_parameter_counts_and_where_they_are(model):
    """The numbers of the module docstring's table."""
    assert count(model) == 6_624_904  # torchvision's, without the auxiliary classifiers
    assert _breakdown(model) == {
        "stem": {"conv": 124_096, "bn": 640, "fc": 0},
        "inception3": {"conv": 494_080, "bn": 2_016, "fc": 0},
        "inception4": {"conv": 2_645_760, "bn": 7_328, "fc": 0},
        "inception5": {"conv": 2_321_408, "bn": 4_576, "fc": 0},
        "fc": {"conv": 0, "bn": 0, "fc": 1_025_000},
    }
    paper = googlenet(branch3_kernel_size=5)
    assert count(paper) == 7_005_832 == 6_624_904 + 16 * sum(  # 16 more taps per weight of the nine "5x5" convs
        m.branch3[1].conv.weight.shape[0] * m.branch3[1].conv.weight.shape[1]
        for name, m in model.named_children() if name.startswith("inception"))
    table = _breakdown(paper)
    assert [table[s]["conv"] for s in ("inception3", "inception4", "inception5")] == [551_424, 2_805_504, 2_485_248]
    assert sum(t["conv"] for t in table.values()) + 1_024_000 == 6_990_272  # weights, as the paper's table counts
    assert count(googlenet(aux_logits=True)) == 13_004_888  # torchvision's googlenet() with its aux classifiers


def test_state_dict_keys_are_torchvisions(torch, model):
    T = torch.nn
    assert_same_keys(model, torch_googlenet(T))
    assert_same_keys(googlenet(aux_logits=True, branch3_kernel_size=5),
                     torch_googlenet(T, aux_logits=True, branch3_kernel_size=5))
    keys = list(model.state_dict())
    assert keys[:2] == ["conv1.conv.weight", "conv1.bn.weight"]
    assert "inception3a.branch3.1.conv.weight" in keys and "inception5b.branch4.1.bn.running_var" in keys
    assert keys[-2:] == ["fc.weight", "fc.bias"]
    assert model.state_dict()["inception3a.branch3.1.conv.weight"].shape == (32, 16, 3, 3)  # torchvision's "5x5"
    assert model.conv1.bn.eps == 0.001 and model.maxpool1.ceil_mode and model.inception3a.branch4[0].ceil_mode


def test_native_size_forward(model):
    y = model.eval()(np.random.default_rng(1).standard_normal((1, 3, 224, 224)).astype(np.float32))
    assert y.shape == (1, 1000) and y.dtype == np.float32 and np.all(np.isfinite(y))


def test_agrees_with_torch_on_the_smallest_input(torch):
    """torchvision's configuration in eval mode (batch-norm running statistics); training mode is compared below."""
    mrandom.manual_seed(2)
    assert_agrees_with_torch(torch, googlenet(num_classes=10), torch_googlenet(torch.nn, num_classes=10),
                             (1, 3, SMALLEST, SMALLEST), False)


def test_aux_classifiers_agree_with_torch_in_training(torch):
    """In training (batch statistics), (logits, aux2, aux1) and backward given three gradients: the auxiliary
    heads' gradients join the trunk after inception 4a and 4d. With the paper's 5x5 branch, too."""
    mrandom.manual_seed(3)
    assert_agrees_with_torch(torch, googlenet(num_classes=4, aux_logits=True, branch3_kernel_size=5),
                             torch_googlenet(torch.nn, num_classes=4, aux_logits=True, branch3_kernel_size=5),
                             (2, 3, SMALLEST + 2, SMALLEST), True)


def test_smallest_input(torch, model):
    model.eval()
    assert model(np.zeros((1, 3, SMALLEST, SMALLEST), np.float32)).shape == (1, 1000)
    with pytest.raises(ValueError, match="larger than the padded input"):
        model(np.zeros((1, 3, SMALLEST - 1, SMALLEST - 1), np.float32))
    theirs = torch_googlenet(torch.nn).eval()
    theirs(torch.zeros(1, 3, SMALLEST, SMALLEST))
    with pytest.raises(RuntimeError):
        theirs(torch.zeros(1, 3, SMALLEST - 1, SMALLEST - 1))


@pytest.mark.parametrize("kernel", [3, 5])
def test_inception_module_passes_gradcheck(kernel):
    """Backward = the split of dL/dy along the channels, each branch's backward, and the sum over branches."""
    mrandom.manual_seed(4)
    module = Inception(3, 2, 2, 3, 1, 2, 2, branch3_kernel_size=kernel)
    x = np.random.default_rng(5).standard_normal((2, 3, 4, 4))
    assert module(x.astype(np.float32)).shape == (2, 2 + 3 + 2 + 2, 4, 4)
    errors = gradcheck.check_module(module, x, tol=1e-6)
    assert set(errors) == {"input"} | {name for name, _ in module.named_parameters()}


def test_basic_conv2d_and_aux_pass_gradcheck():
    mrandom.manual_seed(6)
    rng = np.random.default_rng(7)
    gradcheck.check_module(G.BasicConv2d(2, 3, kernel_size=3, stride=2, padding=1), rng.standard_normal((2, 2, 5, 5)))
    aux = G.InceptionAux(2, 3)
    aux.conv = G.BasicConv2d(2, 1, kernel_size=1)  # a small head, so the check is quick (the real one is compared
    aux.fc1 = nn.Linear(16, 4)                     # with torch above): 1 channel of 4x4 instead of 128
    aux.fc2 = nn.Linear(4, 3)
    aux.dropout.eval()
    gradcheck.check_module(aux, rng.standard_normal((2, 2, 3, 5)), tol=1e-6)


def test_googlenet_class_matches_the_builder():
    assert isinstance(googlenet(num_classes=3), GoogLeNet)
    assert googlenet(num_classes=3, aux_logits=True).eval()(np.zeros((1, 3, SMALLEST, SMALLEST), np.float32)).shape \
        == (1, 3)  # in eval mode only the logits
