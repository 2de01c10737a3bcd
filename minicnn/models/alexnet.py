r"""AlexNet (Krizhevsky, Sutskever and Hinton, 2012) and ZFNet (Zeiler and Fergus, 2013).

Every network here has torchvision's three parts, so its state-dict keys read ``features.<i>.weight``,
``classifier.<i>.bias``: ``features`` (convolutions, ReLU, pooling), ``avgpool`` (AdaptiveAvgPool2d(6):
the identity at the native input size, where the last maps are already 6x6, and what lets smaller images
through) and ``classifier`` (the fully connected layers). Forward flattens the pooled maps between the last two.

- `alexnet` (default): torchvision's single-tower AlexNet, layer for layer (224x224 input): 61,100,840 parameters.
  A torchvision state dict loads unchanged.
- `alexnet` with ``two_towers=True``: the paper's network, whose layers were split over two GTX 580 GPUs,
  written as one graph (227x227 input): 60,965,224 parameters. A layer that read only its own GPU's maps is a
  grouped convolution (``groups=2``): conv2, conv4 and conv5. conv3 and the FC layers read both towers.
- `zfnet`: ZFNet, AlexNet with a 7x7 stride-2 first layer and a stride-2 second layer (224x224 input):
  107,627,624 parameters with the 512-1024-512 maps of its layers 3-5.

Initialisation: PyTorch's default for every layer (as torchvision's AlexNet); the papers drew N(0, 0.01) weights.
"""
import numpy as np

from minicnn import nn
from minicnn.functional._checks import check_bool, check_int, check_real
from minicnn.models._base import FeaturesClassifier

__all__ = ["AlexNet", "ZFNet", "alexnet", "zfnet"]


def _check_settings(name, num_classes, in_channels, dropout):
    return (check_int(name, "num_classes", num_classes, 1), check_int(name, "in_channels", in_channels, 1),
            check_real(name, "dropout", dropout, low=0, high=1, high_open=True))


def _classifier(in_features, num_classes, dropout, dropout_first):
    """The three FC layers. torchvision's AlexNet drops the *inputs* of FC6 and FC7 (dropout_first); the papers
    (and VGG) drop the outputs of FC6 and FC7. The Linear layers are at indices 1, 4, 6 in the first case and
    0, 3, 6 in the second, as in torchvision."""
    if dropout_first:
        return nn.Sequential(nn.Dropout(dropout), nn.Linear(in_features, 4096), nn.ReLU(),
                             nn.Dropout(dropout), nn.Linear(4096, 4096), nn.ReLU(),
                             nn.Linear(4096, num_classes))
    return nn.Sequential(nn.Linear(in_features, 4096), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(4096, num_classes))


def _lrn():
    # the paper's k=2, n=5, alpha=1e-4, beta=0.75, with PyTorch's (and Caffe's) convention of dividing alpha by n
    return nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)


class AlexNet(FeaturesClassifier):
    r"""AlexNet: torchvision's single tower, or (``two_towers=True``) the paper's two-GPU network as one graph.

    Parameters
    ----------
    num_classes : int >= 1
    in_channels : int >= 1
        3 for RGB images (conv1 has 64 * (121 * in_channels) + 64 parameters, or 96 * ... with two towers).
    dropout : float in [0, 1)
        Dropout probability of the first two FC layers.
    two_towers : bool
        False: torchvision's AlexNet (from the "one weird trick" paper, Krizhevsky 2014). True: the 2012 paper's.

    Shapes: x (N, in_channels, H, W) -> (N, num_classes); native input 224x224 (single tower) or 227x227 (two
    towers), the sizes at which the last maps are 6x6. The adaptive pooling also accepts smaller images: at
    least 63x63 (single tower) or 67x67 (two towers), below which a max pooling has nothing to pool.

    Layers (``features`` indices, output maps at the native input size):

    ===================================================  ==================================================
    torchvision (``two_towers=False``), 224x224          the paper (``two_towers=True``), 227x227
    ===================================================  ==================================================
    0 Conv2d(3, 64, 11, stride 4, pad 2), 1 ReLU         0 Conv2d(3, 96, 11, stride 4), 1 ReLU, 2 LRN
    2 MaxPool2d(3, 2)                  64 x 27 x 27      3 MaxPool2d(3, 2)                   96 x 27 x 27
    3 Conv2d(64, 192, 5, pad 2), 4 ReLU                  4 Conv2d(96, 256, 5, pad 2, groups 2), 5 ReLU, 6 LRN
    5 MaxPool2d(3, 2)                 192 x 13 x 13      7 MaxPool2d(3, 2)                  256 x 13 x 13
    6 Conv2d(192, 384, 3, pad 1), 7 ReLU                 8 Conv2d(256, 384, 3, pad 1), 9 ReLU (both towers)
    8 Conv2d(384, 256, 3, pad 1), 9 ReLU                 10 Conv2d(384, 384, 3, pad 1, groups 2), 11 ReLU
    10 Conv2d(256, 256, 3, pad 1), 11 ReLU               12 Conv2d(384, 256, 3, pad 1, groups 2), 13 ReLU
    12 MaxPool2d(3, 2)                256 x 6 x 6        14 MaxPool2d(3, 2)                  256 x 6 x 6
    ===================================================  ==================================================

    Then ``avgpool`` = AdaptiveAvgPool2d(6) and ``classifier``: Linear(9216, 4096), ReLU, Linear(4096, 4096),
    ReLU, Linear(4096, num_classes) at indices 1, 4, 6 with Dropout at 0 and 3 (torchvision: dropout on the
    inputs of FC6 and FC7), or at indices 0, 3, 6 with Dropout at 2 and 5 (the paper: dropout on the outputs of
    FC6 and FC7).

    Local response normalization follows the ReLU of conv1 and conv2 and precedes their pooling, as in the paper
    (section 3.3), with k = 2, n = 5, alpha = 1e-4, beta = 0.75 (`nn.LocalResponseNorm`; like Caffe's reference
    model it divides alpha by n).

    Trainable parameters (num_classes=1000, in_channels=3): torchvision 61,100,840; two towers 60,965,224
    (conv 34,944 + 307,456 + 885,120 + 663,936 + 442,624; FC 37,752,832 + 16,781,312 + 4,097,000).

    Examples
    --------
    >>> model = AlexNet(num_classes=10)
    >>> [name for name, _ in model.named_parameters()][::4]
    ['features.0.weight', 'features.6.weight', 'features.10.weight', 'classifier.4.weight']
    >>> model.eval()(np.zeros((1, 3, 63, 63), np.float32)).shape     # the smallest input; 224x224 is native
    (1, 10)
    """

    def __init__(self, num_classes=1000, in_channels=3, dropout=0.5, two_towers=False):
        super().__init__()
        num_classes, in_channels, dropout = _check_settings("AlexNet", num_classes, in_channels, dropout)
        self.two_towers = check_bool("AlexNet", "two_towers", two_towers)
        if self.two_towers:
            self.features = nn.Sequential(
                nn.Conv2d(in_channels, 96, 11, stride=4), nn.ReLU(), _lrn(), nn.MaxPool2d(3, 2),
                nn.Conv2d(96, 256, 5, padding=2, groups=2), nn.ReLU(), _lrn(), nn.MaxPool2d(3, 2),
                nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(),
                nn.Conv2d(384, 384, 3, padding=1, groups=2), nn.ReLU(),
                nn.Conv2d(384, 256, 3, padding=1, groups=2), nn.ReLU(), nn.MaxPool2d(3, 2))
        else:
            self.features = nn.Sequential(
                nn.Conv2d(in_channels, 64, 11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
                nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
                nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
                nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
                nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2))
        self.avgpool = nn.AdaptiveAvgPool2d(6)
        self.classifier = _classifier(256 * 6 * 6, num_classes, dropout, dropout_first=not self.two_towers)
        self.num_classes, self.in_channels, self.dropout = num_classes, in_channels, dropout

    def extra_repr(self):
        return "two_towers=True" if self.two_towers else ""


class ZFNet(FeaturesClassifier):
    r"""ZFNet (Zeiler and Fergus, "Visualizing and understanding convolutional networks", 2013).

    AlexNet made finer after the paper's visualisations showed that conv1's 11x11 stride-4 filters missed the
    middle frequencies and aliased: conv1 is 7x7 with stride 2 and conv2 has stride 2. Layers 3-5 have the
    512, 1024 and 512 maps of the paper's enlarged model (its Fig. 3 draws AlexNet's 384, 384, 256; the wider
    layers lowered the error in its architecture experiments).

    Parameters
    ----------
    num_classes : int >= 1
    in_channels : int >= 1
    dropout : float in [0, 1)
        Dropout on the outputs of FC6 and FC7, as in the paper.

    Shapes: x (N, in_channels, 224, 224) -> (N, num_classes); the paper's 224x224 crops are the native size
    (smaller images down to 53x53 pass through the adaptive pooling). The shape walk at 224, as in the
    paper's Fig. 3:

    ===========  ==================================================================  ===============
    features     layer                                                               output
    ===========  ==================================================================  ===============
    0, 1         Conv2d(3, 96, 7, stride 2, pad 1), ReLU                             96 x 110 x 110
    2, 3         MaxPool2d(3, 2, pad 1), LRN                                         96 x 55 x 55
    4, 5         Conv2d(96, 256, 5, stride 2), ReLU                                  256 x 26 x 26
    6, 7         MaxPool2d(3, 2, pad 1), LRN                                         256 x 13 x 13
    8-13         Conv2d(256, 512, 3, pad 1), ReLU, Conv2d(512, 1024, 3, pad 1),      512 x 13 x 13
                 ReLU, Conv2d(1024, 512, 3, pad 1), ReLU
    14           MaxPool2d(3, 2)                                                     512 x 6 x 6
    ===========  ==================================================================  ===============

    Why the paddings: without them, 224 gives 109 after conv1 (an unpadded 225x225 input would give 110), and
    the floor of max pooling gives 54 and 12 where the paper has 55 and 13. The paper's sizes come from pooling
    that rounds up (Caffe's ceil mode); `nn.MaxPool2d` rounds down (it has no ceil_mode), so pools 1 and 2 pad by
    1 instead: the same sizes, with windows that start one pixel earlier than ceil mode's (the -inf padding never
    wins a maximum). Conv1 pads by 1 so the input is the paper's 224x224 crop. The response normalization across maps follows pools 1 and 2, as in the paper
    (its settings are not given; AlexNet's are used).

    Then ``avgpool`` (AdaptiveAvgPool2d(6)) and ``classifier``: Linear(18432, 4096), ReLU, Dropout,
    Linear(4096, 4096), ReLU, Dropout, Linear(4096, num_classes).

    Trainable parameters (num_classes=1000, in_channels=3): **107,627,624** = conv 14,208 + 614,656 + 1,180,160
    + 4,719,616 + 4,719,104 (11,247,744) and FC 75,501,568 + 16,781,312 + 4,097,000 (96,379,880).

    The shape walk, with `minicnn.conv_output_size`:

    >>> from minicnn import conv_output_size as out
    >>> c1 = out(224, 7, stride=2, padding=1); p1 = out(c1, 3, stride=2, padding=1); c2 = out(p1, 5, stride=2)
    >>> p2 = out(c2, 3, stride=2, padding=1); c1, p1, c2, p2, out(p2, 3, stride=2)
    (110, 55, 26, 13, 6)
    >>> out(224, 7, stride=2), out(225, 7, stride=2), out(110, 3, stride=2), out(26, 3, stride=2)   # unpadded
    (109, 110, 54, 12)
    """

    def __init__(self, num_classes=1000, in_channels=3, dropout=0.5):
        super().__init__()
        num_classes, in_channels, dropout = _check_settings("ZFNet", num_classes, in_channels, dropout)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 96, 7, stride=2, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2, padding=1), _lrn(),
            nn.Conv2d(96, 256, 5, stride=2), nn.ReLU(), nn.MaxPool2d(3, 2, padding=1), _lrn(),
            nn.Conv2d(256, 512, 3, padding=1), nn.ReLU(),
            nn.Conv2d(512, 1024, 3, padding=1), nn.ReLU(),
            nn.Conv2d(1024, 512, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2))
        self.avgpool = nn.AdaptiveAvgPool2d(6)
        self.classifier = _classifier(512 * 6 * 6, num_classes, dropout, dropout_first=False)
        self.num_classes, self.in_channels, self.dropout = num_classes, in_channels, dropout


def alexnet(num_classes=1000, in_channels=3, dropout=0.5, two_towers=False):
    """Build an `AlexNet`: torchvision's (61,100,840 parameters) or, with ``two_towers=True``, the 2012 paper's
    two-GPU network as one graph (60,965,224 parameters)."""
    return AlexNet(num_classes=num_classes, in_channels=in_channels, dropout=dropout, two_towers=two_towers)


def zfnet(num_classes=1000, in_channels=3, dropout=0.5):
    """Build a `ZFNet` (224x224 input, 107,627,624 parameters with 1000 classes)."""
    return ZFNet(num_classes=num_classes, in_channels=in_channels, dropout=dropout)
