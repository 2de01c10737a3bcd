r"""VGG (Simonyan and Zisserman, "Very deep convolutional networks for large-scale image recognition", 2014).

One idea, repeated: only 3x3 convolutions (stride 1, padding 1, so they keep the size) and 2x2 max pooling
(stride 2, which halves it). Two stacked 3x3 layers see a 5x5 window and three see 7x7, with fewer
parameters (3 * 9C^2 = 27C^2 instead of 49C^2) and more non-linearities than one big filter.

The layout and the state-dict keys are torchvision's, so a torchvision state dict loads unchanged:
``features`` (the convolutions, each followed by ReLU, or by BatchNorm2d and ReLU with ``batch_norm=True``, and
the pools), ``avgpool`` (AdaptiveAvgPool2d(7): the identity at 224x224, where the last maps are 7x7) and
``classifier``: Linear(25088, 4096), ReLU, Dropout, Linear(4096, 4096), ReLU, Dropout, Linear(4096, num_classes).

=========  ============  ==========================  ============  ===============
network    paper column  convolutions per block      parameters    with batch norm
=========  ============  ==========================  ============  ===============
`vgg11`    A             1, 1, 2, 2, 2               132,863,336   132,868,840
`vgg13`    B             2, 2, 2, 2, 2               133,047,848   133,053,736
`vgg16`    D             2, 2, 3, 3, 3               138,357,544   138,365,992
`vgg19`    E             2, 2, 4, 4, 4               143,667,240   143,678,248
=========  ============  ==========================  ============  ===============

The five blocks have 64, 128, 256, 512 and 512 maps, each block ends with a 2x2 max pooling: at 224x224 the
maps are 224, 112, 56, 28 and 14 pixels wide inside the blocks and 7 after the last pooling (512 x 7 x 7 = 25,088
inputs for the classifier). Parameters for 1000 classes and RGB input; the classifier holds 123,642,856 of them,
102,764,544 in its first layer alone.

Initialisation as torchvision's: convolutions He-normal with fan_out (``kaiming_normal_(mode="fan_out",
nonlinearity="relu")``) and zero bias, batch norm gamma 1 and beta 0, linear layers N(0, 0.01) and zero bias;
from minicnn's global generator (`minicnn.random.manual_seed`).

The configurations are `CONFIGS` (torchvision's letters, the paper's columns); VGG-n has n weight layers:

>>> [sum(v != "M" for v in cfg) + 3 for cfg in CONFIGS.values()]   # convolutions + 3 FC layers
[11, 13, 16, 19]
"""
from minicnn import init, nn
from minicnn import random as _random
from minicnn.functional._checks import check_bool, check_int, check_real
from minicnn.models._base import FeaturesClassifier

__all__ = ["VGG", "CONFIGS", "make_layers", "vgg11", "vgg13", "vgg16", "vgg19"]

CONFIGS = {
    # the columns of the paper's Table 1, as torchvision writes them: maps of each 3x3 conv, "M" a 2x2 max pool
    "A": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "B": (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "D": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    "E": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"),
}
"""torchvision's VGG configurations: "A" is VGG-11, "B" VGG-13, "D" VGG-16, "E" VGG-19."""


def make_layers(cfg, batch_norm=False, in_channels=3):
    """The ``features`` part of a VGG from a configuration of `CONFIGS`, indexed as torchvision's.

    Parameters
    ----------
    cfg : sequence of int or "M"
        Output maps of each 3x3 convolution (padding 1), or "M" for a 2x2 max pooling with stride 2.
    batch_norm : bool
        BatchNorm2d between every convolution and its ReLU (the ``vgg*_bn`` models).
    in_channels : int >= 1

    Returns
    -------
    nn.Sequential
        Conv2d, [BatchNorm2d,] ReLU for each number, MaxPool2d for each "M".

    >>> features = make_layers(CONFIGS["D"])
    >>> sum(p.data.size for p in features.parameters()), len(features)     # VGG-16's 13 convolutions
    (14714688, 31)
    """
    check_bool("make_layers", "batch_norm", batch_norm)
    channels = check_int("make_layers", "in_channels", in_channels, 1)
    layers = []
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2, stride=2))
        else:
            layers.append(nn.Conv2d(channels, check_int("make_layers", "cfg entry", v, 1), 3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(v))
            layers.append(nn.ReLU())
            channels = v
    return nn.Sequential(*layers)


def _normal_(param, std):
    """`init.normal_(param, 0, std)` drawn in place in the parameter's dtype: `init` draws float64 and casts, which
    for the 102.8 million weights of the first FC layer takes twice the time and 820 MB of extra memory."""
    _random.default_rng().standard_normal(out=param.data, dtype=param.data.dtype)
    param.data *= param.data.dtype.type(std)


class VGG(FeaturesClassifier):
    r"""A VGG network: ``features`` -> ``avgpool`` (AdaptiveAvgPool2d(7)) -> flatten -> ``classifier``
    (forward and backward from `FeaturesClassifier`).

    Parameters
    ----------
    features : nn.Module
        The convolutional part, usually `make_layers`; its last layer must output 512 maps.
    num_classes : int >= 1
    dropout : float in [0, 1)
        Dropout on the outputs of the first two FC layers.
    init_weights : bool
        Re-initialise every layer as torchvision does (see the module docstring); False keeps PyTorch's defaults.

    Shapes: x (N, C, H, W) -> (N, num_classes). Native input 224x224 (the last maps are then 7x7); any size from
    32x32 works, since five 2x2 poolings need 32 pixels and the adaptive pooling makes 7x7 of what is left.

    Use `vgg11`, `vgg13`, `vgg16` or `vgg19` to build the published networks (parameter counts in the module
    docstring); torchvision's ``vgg16_bn()`` is ``vgg16(batch_norm=True)``.
    """

    def __init__(self, features, num_classes=1000, dropout=0.5, init_weights=True):
        super().__init__()
        if not isinstance(features, nn.Module):
            raise TypeError(f"VGG: features must be a minicnn.nn.Module (e.g. make_layers(CONFIGS['D'])), "
                            f"got {type(features).__name__}")
        num_classes = check_int("VGG", "num_classes", num_classes, 1)
        dropout = check_real("VGG", "dropout", dropout, low=0, high=1, high_open=True)
        check_bool("VGG", "init_weights", init_weights)
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d(7)
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(4096, num_classes))
        self.num_classes, self.dropout = num_classes, dropout
        if init_weights:
            self._init_weights()

    def _init_weights(self):
        # torchvision's choice: He init keeps the activations' scale through 8-16 ReLU layers without batch norm,
        # where PyTorch's default (a variance of 1/(3 fan_in)) shrinks it at every layer
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                init.ones_(module.weight)
                init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                _normal_(module.weight, 0.01)
                init.zeros_(module.bias)


def _vgg(name, cfg, num_classes, batch_norm, dropout, in_channels):
    check_int(name, "num_classes", num_classes, 1)
    check_bool(name, "batch_norm", batch_norm)
    check_real(name, "dropout", dropout, low=0, high=1, high_open=True)
    check_int(name, "in_channels", in_channels, 1)
    return VGG(make_layers(CONFIGS[cfg], batch_norm, in_channels), num_classes=num_classes, dropout=dropout)


def vgg11(num_classes=1000, batch_norm=False, dropout=0.5, in_channels=3):
    """VGG-11 (configuration A): 8 convolutions + 3 FC layers, 132,863,336 parameters (132,868,840 with
    batch norm)."""
    return _vgg("vgg11", "A", num_classes, batch_norm, dropout, in_channels)


def vgg13(num_classes=1000, batch_norm=False, dropout=0.5, in_channels=3):
    """VGG-13 (configuration B): 10 convolutions + 3 FC layers, 133,047,848 parameters (133,053,736 with
    batch norm)."""
    return _vgg("vgg13", "B", num_classes, batch_norm, dropout, in_channels)


def vgg16(num_classes=1000, batch_norm=False, dropout=0.5, in_channels=3):
    """VGG-16 (configuration D): 13 convolutions + 3 FC layers, 138,357,544 parameters (138,365,992 with
    batch norm, torchvision's ``vgg16_bn``)."""
    return _vgg("vgg16", "D", num_classes, batch_norm, dropout, in_channels)


def vgg19(num_classes=1000, batch_norm=False, dropout=0.5, in_channels=3):
    """VGG-19 (configuration E): 16 convolutions + 3 FC layers, 143,667,240 parameters (143,678,248 with
    batch norm)."""
    return _vgg("vgg19", "E", num_classes, batch_norm, dropout, in_channels)
