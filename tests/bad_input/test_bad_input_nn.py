"""The bad-input table for `minicnn.nn`: settings are checked by the constructors (as in torch.nn), inputs by
forward, and the forward/backward contract by the base Module. One row per kind of mistake."""
import numpy as np
import pytest

from minicnn import nn
from minicnn.nn import Parameter


def used(module, x):
    """A module after one forward and one backward."""
    y = module(x)
    module.backward(np.ones_like(y))
    return module


def x4(shape=(2, 3, 8, 8), dtype=np.float32):
    return np.ones(shape, dtype)


ROWS = [
    ("Conv2d zero in_channels", lambda: nn.Conv2d(0, 6, 5), ValueError, "Conv2d: in_channels must be >= 1"),
    ("Conv2d negative out_channels", lambda: nn.Conv2d(3, -1, 5), ValueError, "Conv2d: out_channels must be >= 1"),
    ("Conv2d float channels", lambda: nn.Conv2d(3.0, 6, 5), TypeError, "in_channels must be an int"),
    ("Conv2d groups 0", lambda: nn.Conv2d(4, 4, 3, groups=0), ValueError, "groups must be >= 1"),
    ("Conv2d groups not dividing", lambda: nn.Conv2d(3, 6, 5, groups=2), ValueError, "groups=2 must divide in_channels=3"),
    ("Conv2d kernel_size 0", lambda: nn.Conv2d(3, 6, 0), ValueError, "kernel_size must be >= 1"),
    ("Conv2d kernel_size of 3 ints", lambda: nn.Conv2d(3, 6, (3, 3, 3)), TypeError, "kernel_size must be an int or a tuple of 2 ints"),
    ("Conv2d stride 0", lambda: nn.Conv2d(3, 6, 3, stride=0), ValueError, "stride must be >= 1"),
    ("Conv2d stride 2**70", lambda: nn.Conv2d(3, 6, 3, stride=2 ** 70), ValueError, r"stride must be below 2\*\*62"),
    ("Conv2d negative padding", lambda: nn.Conv2d(3, 6, 3, padding=-1), ValueError, "padding must be >= 0"),
    ("Conv2d padding word", lambda: nn.Conv2d(3, 6, 3, padding="wide"), ValueError, "padding must be an int, a tuple of ints, 'valid' or 'same'"),
    ("Conv2d same padding with stride 2", lambda: nn.Conv2d(3, 6, 3, padding="same", stride=2), ValueError, "padding='same' needs stride 1"),
    ("Conv2d dilation 0", lambda: nn.Conv2d(3, 6, 3, dilation=0), ValueError, "dilation must be >= 1"),
    ("Conv2d bias a string", lambda: nn.Conv2d(3, 6, 3, bias="no"), TypeError, "bias must be True or False"),
    ("Conv2d reflect padding", lambda: nn.Conv2d(3, 6, 3, padding_mode="reflect"), ValueError, "padding_mode='reflect' is not implemented"),
    ("Conv1d kernel of 2 ints", lambda: nn.Conv1d(1, 4, (3, 3)), TypeError, "tuple of 1 ints"),
    ("Conv2d forward channel mismatch", lambda: nn.Conv2d(3, 6, 3)(x4((2, 1, 8, 8))), ValueError, "filter depth must equal the input depth"),
    ("Conv2d forward float64 input", lambda: nn.Conv2d(3, 6, 3)(x4(dtype=np.float64)), TypeError, "same dtype.*x is float64, weight is float32"),
    ("Conv2d forward 3-D input", lambda: nn.Conv2d(3, 6, 3)(np.ones((3, 8, 8), np.float32)), ValueError, "x with 4 dimensions"),
    ("Conv2d backward grad_out shape", lambda: _conv_backward_bad_shape(), ValueError, r"grad_out must have the forward output's shape .* = \(2, 6, 6, 6\)"),
    ("Linear zero in_features", lambda: nn.Linear(0, 3), ValueError, "in_features must be >= 1"),
    ("Linear float out_features", lambda: nn.Linear(3, 2.5), TypeError, "out_features must be an int"),
    ("Linear forward not flattened", lambda: nn.Linear(12, 3)(np.ones((2, 3, 2, 2), np.float32)), ValueError, r"x with 2 dimensions \(N, in_features\)"),
    ("MaxPool2d kernel 0", lambda: nn.MaxPool2d(0), ValueError, "MaxPool2d: kernel_size must be >= 1"),
    ("MaxPool2d padding over half", lambda: nn.MaxPool2d(2, padding=2), ValueError, "must be at most half of kernel_size"),
    ("AvgPool2d stride 0", lambda: nn.AvgPool2d(2, stride=0), ValueError, "AvgPool2d: stride must be >= 1"),
    ("MaxPool2d backward dtype", lambda: _max_pool_backward_dtype(), TypeError, "MaxPool2d.backward: all inputs must have the same dtype, but grad_out is float64, x is float32"),
    ("LPPool2d norm_type 0", lambda: nn.LPPool2d(0, 2), ValueError, r"LPPool2d: norm_type must be > 0"),
    ("AdaptiveAvgPool2d output 0", lambda: nn.AdaptiveAvgPool2d(0), ValueError, "output_size must be >= 1"),
    ("BatchNorm2d zero features", lambda: nn.BatchNorm2d(0), ValueError, "num_features must be >= 1"),
    ("BatchNorm2d eps -1", lambda: nn.BatchNorm2d(3, eps=-1), ValueError, r"BatchNorm2d: eps must be >= 0"),
    ("BatchNorm2d momentum 1.5", lambda: nn.BatchNorm2d(3, momentum=1.5), ValueError, r"momentum must be in \[0, 1\]"),
    ("BatchNorm2d momentum a string", lambda: nn.BatchNorm2d(3, momentum="0.1"), TypeError, "momentum must be a real number"),
    ("BatchNorm2d affine a string", lambda: nn.BatchNorm2d(3, affine="yes"), TypeError, "affine must be True or False"),
    ("BatchNorm2d wrong channels", lambda: nn.BatchNorm2d(3)(x4((2, 4, 8, 8))), ValueError, r"BatchNorm2d\(3\): x .* has 4 channels"),
    ("BatchNorm2d 2-D input", lambda: nn.BatchNorm2d(3)(np.ones((2, 3), np.float32)), ValueError, "expected x with 4 dimensions"),
    ("BatchNorm1d one sample in training", lambda: nn.BatchNorm1d(3)(np.ones((1, 3), np.float32)), ValueError, "more than 1 value per channel"),
    ("Dropout p a string", lambda: nn.Dropout(p="0.5"), TypeError, "Dropout: p must be a real number"),
    ("Dropout p 1", lambda: nn.Dropout(p=1.0), ValueError, r"Dropout: p must be in \[0, 1\)"),
    ("Dropout p nan", lambda: nn.Dropout(p=float("nan")), ValueError, "p must be a finite number"),
    ("Dropout rng 0", lambda: nn.Dropout(rng=0), TypeError, "Dropout: rng must be a numpy.random.Generator"),
    ("Dropout2d p 1", lambda: nn.Dropout2d(p=1.0), ValueError, r"Dropout2d: p must be in \[0, 1\)"),
    ("Dropout2d rng 0", lambda: nn.Dropout2d(rng=0), TypeError, "Dropout2d: rng must be a numpy.random.Generator"),
    ("ZeroPad2d 2 numbers", lambda: nn.ZeroPad2d((1, 2)), TypeError, r"ZeroPad2d: padding \(left, right, top, bottom\) must be an int or a tuple of 4 ints"),
    ("ZeroPad2d negative", lambda: nn.ZeroPad2d(-1), ValueError, "ZeroPad2d: padding .* must be >= 0"),
    ("ZeroPad2d backward shape", lambda: _zeropad_backward_bad_shape(), ValueError, r"grad_out \(2, 3, 9, 9\) must have the padded output's shape \(2, 3, 10, 10\)"),
    ("ReLU6 backward mixed dtypes", lambda: _relu6_backward_dtype(), TypeError, "relu6_backward: all inputs must have the same dtype"),
    ("LeakyReLU slope a string", lambda: nn.LeakyReLU("0.1"), TypeError, "negative_slope must be a real number"),
    ("LocalResponseNorm size 0", lambda: nn.LocalResponseNorm(0), ValueError, "LocalResponseNorm: size must be >= 1"),
    ("Flatten start_dim beyond the input", lambda: nn.Flatten(start_dim=5)(np.ones((2, 3), np.float32)), ValueError, r"start_dim=5 is out of range for x of shape \(2, 3\)"),
    ("Flatten start after end", lambda: nn.Flatten(start_dim=2, end_dim=1)(x4()), ValueError, "start_dim=2 comes after end_dim=1"),
    ("Flatten start_dim a string", lambda: nn.Flatten("1"), TypeError, "start_dim must be an int"),
    ("Module.to int32", lambda: nn.Linear(2, 2).to(np.int32), TypeError, "dtype must be float32 or float64"),
    ("Module.to a word", lambda: nn.Linear(2, 2).to("int"), TypeError, "dtype must be float32 or float64"),
    ("Module.train a string", lambda: nn.Linear(2, 2).train("no"), TypeError, "mode must be True or False"),
    ("Parameter of integers", lambda: Parameter(np.arange(3)), TypeError, "Parameter: data must be float32 or float64"),
    ("Parameter gradient shape", lambda: Parameter(np.zeros(3)).accumulate(np.zeros(4)), ValueError, r"gradient of shape \(4,\) does not fit parameter of shape \(3,\)"),
    ("backward before forward", lambda: nn.Linear(2, 2).backward(np.ones((1, 2), np.float32)), RuntimeError, "Linear.backward called before forward"),
    ("backward twice after one forward", lambda: used(nn.Linear(2, 2), np.ones((1, 2), np.float32)).backward(np.ones((1, 2), np.float32)), RuntimeError, "called twice after one forward"),
    ("Sequential backward twice", lambda: used(nn.Sequential(nn.Conv2d(3, 2, 3), nn.ReLU()), x4()).backward(np.ones((2, 2, 6, 6), np.float32)), RuntimeError, "called twice after one forward"),
    ("loss backward twice", lambda: _loss_backward_twice(), RuntimeError, "CrossEntropyLoss.backward called twice"),
    ("loss backward grad_out a string", lambda: _loss_backward_grad("1"), TypeError, "grad_out must be a real number"),
    ("load_state_dict missing key", lambda: nn.Linear(2, 2).load_state_dict({"weight": np.zeros((2, 2))}), KeyError, r"missing keys \['bias'\]"),
    ("load_state_dict shape", lambda: nn.Linear(2, 2).load_state_dict({"weight": np.zeros((2, 3)), "bias": np.zeros(2)}), ValueError, r"weight: expected \(2, 2\), got \(2, 3\)"),
    ("load_state_dict text value", lambda: nn.Linear(2, 2).load_state_dict({"weight": np.zeros((2, 2)), "bias": "zeros"}), TypeError, "bias must hold numbers"),
    ("load_state_dict not a mapping", lambda: nn.Linear(2, 2).load_state_dict([np.zeros((2, 2))]), TypeError, "expected a mapping of names to arrays"),
    ("Sequential of a function", lambda: nn.Sequential(nn.Linear(2, 2), np.tanh), TypeError, "item 1 is ufunc, not a minicnn.nn.Module"),
    ("Sequential reusing a module", lambda: nn.Sequential(*[nn.ReLU()] * 2), ValueError, "items 0 and 1 are the same ReLU object"),
    ("MaxPool2d ceil_mode a string", lambda: nn.MaxPool2d(2, ceil_mode="yes"), TypeError, "MaxPool2d: ceil_mode must be True or False"),
    ("MaxPool2d ceil_mode given by position", lambda: nn.MaxPool2d(3, 2, 0, True), TypeError, "positional"),
    ("MaxPool2d ceil_mode input too small", lambda: nn.MaxPool2d(3, 2, ceil_mode=True)(x4((1, 1, 1, 1))), ValueError, r"MaxPool2d: kernel_size \(3, 3\) is larger than the padded input \(1, 1\)"),
]


def _models():
    import importlib

    from minicnn import models

    # (minicnn.models.googlenet is the function, as in torchvision; the module is imported by its full name)
    return models, importlib.import_module("minicnn.models.resnet"), importlib.import_module("minicnn.models.googlenet")


def _googlenet_aux_backward_one_gradient():
    models, _, _ = _models()
    net = models.googlenet(num_classes=2, aux_logits=True)
    y = net(x4((2, 3, 15, 15)))
    net.backward(np.ones_like(y[0]))


ROWS += [
    ("resnet_cifar depth 10", lambda: _models()[0].resnet_cifar(10), ValueError, r"resnet_cifar: depth must be 6n \+ 2 with n >= 1 \(8, 14, 20, .*got 10"),
    ("resnet_cifar depth 2", lambda: _models()[0].resnet_cifar(2), ValueError, r"depth must be 6n \+ 2 with n >= 1"),
    ("resnet_cifar float depth", lambda: _models()[0].resnet_cifar(20.0), TypeError, "resnet_cifar: depth must be an int"),
    ("resnet_cifar residual a string", lambda: _models()[0].resnet_cifar(8, residual="no"), TypeError, "residual must be True or False"),
    ("resnet_cifar for digits fed colour", lambda: _models()[0].resnet_cifar(8, in_channels=1)(x4((1, 3, 28, 28))), ValueError, "filter depth must equal the input depth"),
    ("BasicBlock shape change without projection", lambda: _models()[1].BasicBlock(16, 32, stride=2), ValueError, "BasicBlock: the block maps 16 channels to 32 with stride 2, so x cannot be added"),
    ("Bottleneck without projection", lambda: _models()[1].Bottleneck(64, 64), ValueError, "Bottleneck: the block maps 64 channels to 256"),
    ("plain BasicBlock given a downsample", lambda: _models()[1].BasicBlock(16, 32, 2, nn.Sequential(nn.Conv2d(16, 32, 1, 2)), residual=False), ValueError, "residual=False .* takes no downsample"),
    ("BasicBlock downsample a function", lambda: _models()[1].BasicBlock(16, 32, 2, np.tanh), TypeError, "downsample must be None or a minicnn.nn.Module"),
    ("ResNet block by name", lambda: _models()[1].ResNet("basic", [2, 2, 2, 2]), TypeError, "ResNet: block must be BasicBlock or Bottleneck"),
    ("ResNet three stages", lambda: _models()[1].ResNet(_models()[1].BasicBlock, [2, 2, 2]), TypeError, "ResNet: layers must be a list of 4 ints"),
    ("ResNet a stage of 0 blocks", lambda: _models()[1].ResNet(_models()[1].BasicBlock, [2, 0, 2, 2]), ValueError, r"ResNet: layers\[1\] must be >= 1"),
    ("resnet18 zero classes", lambda: _models()[0].resnet18(num_classes=0), ValueError, "ResNet: num_classes must be >= 1"),
    ("Inception branch3 kernel 7", lambda: _models()[2].Inception(8, 2, 2, 2, 2, 2, 2, branch3_kernel_size=7), ValueError, "branch3_kernel_size must be 3 .* or 5"),
    ("Inception zero filters", lambda: _models()[2].Inception(8, 0, 2, 2, 2, 2, 2), ValueError, "Inception: ch1x1 must be >= 1"),
    ("GoogLeNet dropout 1", lambda: _models()[0].googlenet(dropout=1.0), ValueError, r"GoogLeNet: dropout must be in \[0, 1\)"),
    ("GoogLeNet aux_logits a string", lambda: _models()[0].googlenet(aux_logits="yes"), TypeError, "GoogLeNet: aux_logits must be True or False"),
    ("GoogLeNet input below 15x15", lambda: _models()[0].googlenet(num_classes=2).eval()(x4((1, 3, 14, 14))), ValueError, r"MaxPool2d: kernel_size \(3, 3\) is larger than the padded input \(1, 1\)"),
    ("GoogLeNet aux backward given one gradient", _googlenet_aux_backward_one_gradient, TypeError, r"forward returned \(logits, aux2, aux1\), so backward needs the three gradients"),
]


def _load_mnist1d(dtype):
    from minicnn.data import load_mnist1d

    return load_mnist1d(dtype=dtype)


def _conv_backward_bad_shape():
    conv = nn.Conv2d(3, 6, 3)
    conv(x4())
    conv.backward(np.ones((2, 6, 5, 5), np.float32))


def _zeropad_backward_bad_shape():
    pad = nn.ZeroPad2d(1)
    pad(x4())
    pad.backward(np.ones((2, 3, 9, 9), np.float32))


def _relu6_backward_dtype():
    act = nn.ReLU6()
    act(x4())
    act.backward(np.ones((2, 3, 8, 8)))


def _max_pool_backward_dtype():
    pool = nn.MaxPool2d(2)
    pool(x4())
    pool.backward(np.ones((2, 3, 4, 4)))


def _loss_backward_twice():
    loss_fn = nn.CrossEntropyLoss()
    loss_fn(np.zeros((2, 3)), np.array([0, 1]))
    loss_fn.backward()
    loss_fn.backward()


def _loss_backward_grad(grad):
    loss_fn = nn.CrossEntropyLoss()
    loss_fn(np.zeros((2, 3)), np.array([0, 1]))
    loss_fn.backward(grad)




def _init_rows():
    from minicnn import init, random

    w = np.empty((3, 4), np.float32)
    return [
        ("kaiming mode misspelt", lambda: init.kaiming_uniform_(w, mode="fanin"), ValueError, "mode must be 'fan_in' or 'fan_out'"),
        ("xavier on a bias", lambda: init.xavier_uniform_(np.empty(3)), ValueError, "at least 2 dimensions"),
        ("init of an integer array", lambda: init.zeros_(np.empty(3, int)), TypeError, "expected a float ndarray or a Parameter"),
        ("init rng a seed", lambda: init.normal_(w, rng=0), TypeError, "rng must be a numpy.random.Generator"),
        ("normal_ negative std", lambda: init.normal_(w, std=-1), ValueError, r"std must be >= 0"),
        ("uniform_ reversed interval", lambda: init.uniform_(w, 1.0, -1.0), ValueError, "needs a <= b"),
        ("calculate_gain unknown", lambda: init.calculate_gain("swish"), ValueError, "unsupported nonlinearity 'swish'"),
        ("manual_seed a string", lambda: random.manual_seed("0"), ValueError, "seed must be an int >= 0"),
        ("load_mnist1d integer dtype", lambda: _load_mnist1d(np.int64), TypeError, "dtype must be float32 or float64"),
    ]


ROWS += _init_rows()


@pytest.mark.parametrize("case_id, call, error, match", ROWS, ids=[row[0] for row in ROWS])
def test_bad_input_gets_a_clear_error(case_id, call, error, match):
    with pytest.raises(error, match=match):
        call()
