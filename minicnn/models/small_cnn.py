r"""The course's own small 2-D CNN: conv-pool-conv-pool-FC, the shape every classic network of chapters 13-17
grows from, small enough to train on the 5,000 MNIST digits in seconds (chapters 9-12).

==================  =====================================  ===============  ==========================
layer               module                                 output (28x28)   parameters (8, 16 maps)
==================  =====================================  ===============  ==========================
input                                                      1 x 28 x 28
conv 1              Conv2d(1, c1, 5, padding=2)            c1 x 28 x 28     25 c1 + c1 = 208
(batch norm)        BatchNorm2d(c1), conv without bias                      2 c1 instead of c1
activation          ReLU
pool 1              MaxPool2d(2)                           c1 x 14 x 14
(spatial dropout)   Dropout2d(p)
conv 2              Conv2d(c1, c2, 5, padding=2)           c2 x 14 x 14     25 c1 c2 + c2 = 3,216
(batch norm)        BatchNorm2d(c2), conv without bias
activation          ReLU
pool 2              MaxPool2d(2)                           c2 x 7 x 7
(spatial dropout)   Dropout2d(p)
flatten             Flatten                                49 c2 = 784
(dropout)           Dropout(p)
classifier          Linear(49 c2, 10)                                       7,850
==================  =====================================  ===============  ==========================

A convolution followed by batch norm has no bias: BN subtracts the mean, so a bias would be cancelled (PyTorch
code writes ``bias=False`` there for the same reason). Layers in brackets are present only when asked for.

>>> model = small_cnn()
>>> sum(p.data.size for p in model.parameters())
11274
>>> model(np.zeros((2, 1, 28, 28), dtype=np.float32)).shape
(2, 10)
"""
import numpy as np

from minicnn import nn
from minicnn.functional._checks import check_bool, check_int, check_real

__all__ = ["small_cnn"]


def small_cnn(in_channels=1, num_classes=10, channels=(8, 16), image_size=28, batch_norm=False, dropout=0.0,
              spatial_dropout=0.0):
    """Build conv5x5-ReLU-maxpool2 twice, then flatten and one linear layer, as an `nn.Sequential`.

    Parameters
    ----------
    in_channels : int >= 1
        1 for grey digits, 3 for RGB.
    num_classes : int >= 1
    channels : (int, int)
        Feature maps of the first and second convolution.
    image_size : int >= 4, divisible by 4
        Height = width of the input; the two poolings divide it by 4, so the classifier has
        ``channels[1] * (image_size // 4) ** 2`` inputs.
    batch_norm : bool
        BatchNorm2d after each convolution (before the ReLU, as in the BN paper); the convolutions then have no bias.
    dropout : float in [0, 1)
        Dropout before the classifier (0: none).
    spatial_dropout : float in [0, 1)
        Dropout2d after each pooling (0: none).

    Returns
    -------
    nn.Sequential
        Parameters initialized from minicnn's global generator (seed with `minicnn.random.manual_seed`).
    """
    in_channels = check_int("small_cnn", "in_channels", in_channels, 1)
    num_classes = check_int("small_cnn", "num_classes", num_classes, 1)
    if not isinstance(channels, (tuple, list)) or len(channels) != 2:
        raise ValueError(f"small_cnn: channels must be a pair (maps of conv 1, maps of conv 2), got {channels!r}")
    c1, c2 = (check_int("small_cnn", "channels", c, 1) for c in channels)
    image_size = check_int("small_cnn", "image_size", image_size, 4)
    if image_size % 4:
        raise ValueError(f"small_cnn: image_size must be divisible by 4 (two 2x2 poolings), got {image_size}")
    batch_norm = check_bool("small_cnn", "batch_norm", batch_norm)
    dropout = check_real("small_cnn", "dropout", dropout, low=0, high=1, high_open=True)
    spatial_dropout = check_real("small_cnn", "spatial_dropout", spatial_dropout, low=0, high=1, high_open=True)

    layers = []
    for c_in, c_out in ((in_channels, c1), (c1, c2)):
        layers.append(nn.Conv2d(c_in, c_out, 5, padding=2, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(c_out))
        layers += [nn.ReLU(), nn.MaxPool2d(2)]
        if spatial_dropout:
            layers.append(nn.Dropout2d(spatial_dropout))
    layers.append(nn.Flatten())
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(c2 * (image_size // 4) ** 2, num_classes))
    return nn.Sequential(*layers)
