r"""ResNet (He, Zhang, Ren and Sun, CVPR 2016): blocks that learn a residual, :math:`y = \mathrm{relu}(F(x) + x)`.

A residual block computes a small stack of layers F and adds its input back:

.. math::

    z = F(x) + \mathrm{shortcut}(x), \qquad y = \mathrm{relu}(z) \qquad\qquad (1)

The shortcut is the identity x, or, where F changes the shape (stride 2, more channels), a projection
:math:`W_s x` (a 1x1 convolution with the stride, then batch norm). By the chain rule through the sum,

.. math::

    \frac{\partial L}{\partial x} = \frac{\partial L}{\partial z}\frac{\partial F}{\partial x}
                                   + \frac{\partial L}{\partial z}\frac{\partial\,\mathrm{shortcut}}{\partial x}
                                 = \frac{\partial L}{\partial z}\frac{\partial F}{\partial x}
                                   + \frac{\partial L}{\partial z} \quad\text{(identity shortcut)} \qquad (2)

so the gradient reaches early layers through the shortcuts without being multiplied by any weight:
the reason very deep residual networks still train. Each block's ``backward`` is written as (2).

Two families:

- `resnet18`, `resnet34`, `resnet50`: torchvision's ImageNet networks (v1.5: a Bottleneck's stride is on
  its 3x3 convolution), with its module names and state-dict keys, so torchvision weights load with
  `load_state_dict`. Parameters: 11,689,512 / 21,797,672 / 25,557,032 (1000 classes, 3 input channels).
- `resnet_cifar`: the CIFAR-10 networks of the paper's section 4.2, depth 6n + 2, for the course's
  experiments, and with ``residual=False`` the "plain" network of the same depth (the degradation
  experiment).

torchvision's blocks apply one in-place ``nn.ReLU`` module two or three times; a minicnn module remembers
one forward pass, so the blocks here apply `functional.relu` themselves and keep the pre-activations
(ReLU has no parameters: the state-dict keys are the same).
"""
from minicnn import functional as F
from minicnn import init, nn
from minicnn.functional._checks import check_bool, check_int

__all__ = ["BasicBlock", "Bottleneck", "ResNet", "CifarResNet", "resnet18", "resnet34", "resnet50", "resnet_cifar"]


def conv3x3(in_planes, out_planes, stride=1):
    """3x3 convolution with padding 1 and no bias (batch norm follows and has its own shift)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes, out_planes, stride=1):
    """1x1 convolution without bias: mixes channels (a projection shortcut, a bottleneck's reduce/expand)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class _ResidualBlock(nn.Module):
    """What both blocks share: the checked settings, the shortcut of equation (1) and its gradient (2)."""

    expansion = 1

    def _setup(self, inplanes, planes, stride, downsample, residual):
        name = type(self).__name__
        inplanes = check_int(name, "inplanes", inplanes, 1)
        planes = check_int(name, "planes", planes, 1)
        stride = check_int(name, "stride", stride, 1)
        self.residual = check_bool(name, "residual", residual)
        if downsample is not None and not isinstance(downsample, nn.Module):
            raise TypeError(f"{name}: downsample must be None or a minicnn.nn.Module (e.g. a 1x1 convolution and "
                            f"batch norm in an nn.Sequential), got {type(downsample).__name__}")
        if not self.residual and downsample is not None:
            raise ValueError(f"{name}: residual=False (a plain block) has no shortcut, so it takes no downsample")
        if self.residual and downsample is None and (stride != 1 or inplanes != planes * self.expansion):
            raise ValueError(f"{name}: the block maps {inplanes} channels to {planes * self.expansion} with stride "
                             f"{stride}, so x cannot be added to F(x) as it is; give a downsample projection "
                             f"(e.g. conv1x1(inplanes, planes * expansion, stride) and BatchNorm2d)")
        self.stride = stride
        return inplanes, planes, stride

    def _join(self, f, x):
        """z = F(x) + shortcut(x), equation (1); a plain block has z = F(x)."""
        if not self.residual:
            return f
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.add(f, shortcut)

    def _split(self, grad_z):
        """dL/dz to (dL/dF, dL/dz for the shortcut): the sum passes the gradient to both terms unchanged."""
        if not self.residual:
            return grad_z, None
        return F.add_backward(grad_z)

    def _merge(self, grad_x_through_f, grad_shortcut):
        """Equation (2): dL/dx = dL/dz dF/dx (computed by the caller) + dL/dz d(shortcut)/dx."""
        if not self.residual:
            return grad_x_through_f
        if self.downsample is not None:  # shortcut W_s x: back through the projection
            grad_shortcut = self.downsample.backward(grad_shortcut)
        return F.add(grad_x_through_f, grad_shortcut)  # identity shortcut: dL/dz reaches x unchanged

    def extra_repr(self):
        return "" if self.residual else "residual=False"


class BasicBlock(_ResidualBlock):
    r"""Two 3x3 convolutions and an identity (or projection) shortcut: ResNet-18/34 and the CIFAR networks.

    .. math:: F(x) = \mathrm{BN}_2(W_2\, \mathrm{relu}(\mathrm{BN}_1(W_1 x))), \qquad
              y = \mathrm{relu}(F(x) + \mathrm{shortcut}(x))

    ``stride`` is on the first convolution; ``downsample`` is the projection shortcut (needed when the
    stride or the channel count changes); ``residual=False`` drops the shortcut: a "plain" block,
    :math:`y = \mathrm{relu}(F(x))`.

    >>> block = BasicBlock(64, 64)
    >>> [name for name, _ in block.named_parameters()]
    ['conv1.weight', 'bn1.weight', 'bn1.bias', 'conv2.weight', 'bn2.weight', 'bn2.bias']
    """

    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None, *, residual=True):
        super().__init__()
        inplanes, planes, stride = self._setup(inplanes, planes, stride, downsample, residual)
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        a1 = self.bn1(self.conv1(x))
        f = self.bn2(self.conv2(F.relu(a1)))  # the residual branch F(x)
        z = self._join(f, x)                  # z = F(x) + shortcut(x)            (1)
        self._save(a1=a1, z=z)
        return F.relu(z)                      # y = relu(z)

    def backward(self, grad_out, input_grad=True):
        a1, z = self._saved("a1", "z")
        grad_z = F.relu_backward(grad_out, z)                  # dL/dz = dL/dy relu'(z)
        grad_f, grad_shortcut = self._split(grad_z)            # both terms of the sum get dL/dz
        # dL/dz dF/dx: back through the residual branch, last layer first
        g = self.conv2.backward(self.bn2.backward(grad_f))
        g = F.relu_backward(g, a1)
        grad_x = self.conv1.backward(self.bn1.backward(g))
        return self._merge(grad_x, grad_shortcut)              # + dL/dz d(shortcut)/dx   (2)


class Bottleneck(_ResidualBlock):
    r"""1x1 (reduce) -> 3x3 -> 1x1 (expand to 4 x planes) and a shortcut: ResNet-50 and deeper.

    .. math:: F(x) = \mathrm{BN}_3(W_3\,\mathrm{relu}(\mathrm{BN}_2(W_2\,\mathrm{relu}(\mathrm{BN}_1(W_1 x))))),
              \qquad y = \mathrm{relu}(F(x) + \mathrm{shortcut}(x))

    The stride is on the 3x3 convolution (torchvision's "ResNet v1.5"; the paper put it on the first
    1x1, which then skips three quarters of its input).

    >>> Bottleneck(256, 64).conv3.weight.shape
    (256, 64, 1, 1)
    """

    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, *, residual=True):
        super().__init__()
        inplanes, planes, stride = self._setup(inplanes, planes, stride, downsample, residual)
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.downsample = downsample

    def forward(self, x):
        a1 = self.bn1(self.conv1(x))
        a2 = self.bn2(self.conv2(F.relu(a1)))
        f = self.bn3(self.conv3(F.relu(a2)))  # the residual branch F(x)
        z = self._join(f, x)                  # z = F(x) + shortcut(x)            (1)
        self._save(a1=a1, a2=a2, z=z)
        return F.relu(z)

    def backward(self, grad_out, input_grad=True):
        a1, a2, z = self._saved("a1", "a2", "z")
        grad_z = F.relu_backward(grad_out, z)
        grad_f, grad_shortcut = self._split(grad_z)            # both terms of the sum get dL/dz
        g = self.conv3.backward(self.bn3.backward(grad_f))     # dL/dz dF/dx, last layer first
        g = self.conv2.backward(self.bn2.backward(F.relu_backward(g, a2)))
        grad_x = self.conv1.backward(self.bn1.backward(F.relu_backward(g, a1)))
        return self._merge(grad_x, grad_shortcut)              # + dL/dz d(shortcut)/dx   (2)


def _make_layer(block, inplanes, planes, blocks, stride, residual):
    """A stage: `blocks` blocks, the first with the stride (and a projection shortcut if the shape changes).

    Returns the nn.Sequential and its output channel count."""
    downsample = None
    if residual and (stride != 1 or inplanes != planes * block.expansion):
        # "option B" of the paper: project x with a strided 1x1 convolution (and batch norm) to F(x)'s shape
        downsample = nn.Sequential(conv1x1(inplanes, planes * block.expansion, stride),
                                   nn.BatchNorm2d(planes * block.expansion))
    layers = [block(inplanes, planes, stride, downsample, residual=residual)]
    inplanes = planes * block.expansion
    layers += [block(inplanes, planes, residual=residual) for _ in range(1, blocks)]
    return nn.Sequential(*layers), inplanes


def _init_weights(model):
    """torchvision's initialisation: He normal (fan_out, ReLU) for convolutions, gamma = 1 and beta = 0 for
    batch norm (already the layer's default); the fc layer keeps Linear's default."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")


class _Classifier(nn.Module):
    """forward/backward of a network that is: the modules named in ``_body``, in order, then flatten and ``fc``."""

    _body = ()

    def forward(self, x):
        for name in self._body:
            x = getattr(self, name)(x)
        self._save(shape=x.shape)  # (N, C, 1, 1) after global average pooling
        return self.fc(x.reshape(x.shape[0], -1))

    def backward(self, grad_out, input_grad=True):
        shape = self._saved("shape")
        g = self.fc.backward(grad_out).reshape(shape)
        for name in reversed(self._body[1:]):
            g = getattr(self, name).backward(g)
        return getattr(self, self._body[0]).backward(g, input_grad=input_grad)


class ResNet(_Classifier):
    """torchvision's ImageNet ResNet: a 7x7/2 convolution and a 3x3/2 max pool, four stages of blocks
    (64, 128, 256, 512 channels times the block's expansion; stages 2-4 halve the size), global average
    pooling and one fc layer.

    On 224x224 images the maps are 112 (conv1), 56 (maxpool, layer1), 28, 14 and 7 (layer4).

    Parameters
    ----------
    block : BasicBlock or Bottleneck
    layers : 4 ints, the number of blocks of each stage ([2, 2, 2, 2] is ResNet-18)
    num_classes, in_channels : int
    """

    _body = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool")

    def __init__(self, block, layers, num_classes=1000, in_channels=3):
        super().__init__()
        if block not in (BasicBlock, Bottleneck):
            raise TypeError(f"ResNet: block must be BasicBlock or Bottleneck, got {block!r}")
        if not isinstance(layers, (list, tuple)) or len(layers) != 4:
            raise TypeError(f"ResNet: layers must be a list of 4 ints (blocks per stage), got {layers!r}")
        layers = [check_int("ResNet", f"layers[{i}]", n, 1) for i, n in enumerate(layers)]
        num_classes = check_int("ResNet", "num_classes", num_classes, 1)
        in_channels = check_int("ResNet", "in_channels", in_channels, 1)
        self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        inplanes = 64
        self.layer1, inplanes = _make_layer(block, inplanes, 64, layers[0], 1, True)
        self.layer2, inplanes = _make_layer(block, inplanes, 128, layers[1], 2, True)
        self.layer3, inplanes = _make_layer(block, inplanes, 256, layers[2], 2, True)
        self.layer4, inplanes = _make_layer(block, inplanes, 512, layers[3], 2, True)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(inplanes, num_classes)
        _init_weights(self)


class CifarResNet(_Classifier):
    """The CIFAR-10 ResNet of He et al. (2016, section 4.2): a 3x3 convolution with 16 filters, three stages of
    n BasicBlocks with 16, 32 and 64 channels (stages 2 and 3 halve the size: 32 -> 16 -> 8 on CIFAR,
    28 -> 14 -> 7 on MNIST digits), global average pooling and an fc layer: 6n + 2 weighted layers.

    Where a stage changes the shape, the shortcut is a strided 1x1 convolution and batch norm ("option B";
    the paper's CIFAR networks used option A, zero-padded identity shortcuts without parameters, so these
    have a few more parameters: 2,752 more at every depth). ``residual=False`` builds the plain network:
    the same convolutions, no shortcuts (and so no projections).
    """

    _body = ("conv1", "bn1", "relu", "layer1", "layer2", "layer3", "avgpool")

    def __init__(self, depth, num_classes=10, residual=True, in_channels=3):
        super().__init__()
        depth = check_int("resnet_cifar", "depth", depth, 1)
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"resnet_cifar: depth must be 6n + 2 with n >= 1 (8, 14, 20, 32, 44, 56, 110, ...): "
                             f"3 stages of n blocks of 2 convolutions, plus the first convolution and the fc "
                             f"layer; got {depth}")
        num_classes = check_int("resnet_cifar", "num_classes", num_classes, 1)
        in_channels = check_int("resnet_cifar", "in_channels", in_channels, 1)
        self.depth, self.residual = depth, check_bool("resnet_cifar", "residual", residual)
        n = (depth - 2) // 6
        self.conv1 = conv3x3(in_channels, 16)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU()
        inplanes = 16
        self.layer1, inplanes = _make_layer(BasicBlock, inplanes, 16, n, 1, self.residual)
        self.layer2, inplanes = _make_layer(BasicBlock, inplanes, 32, n, 2, self.residual)
        self.layer3, inplanes = _make_layer(BasicBlock, inplanes, 64, n, 2, self.residual)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(inplanes, num_classes)
        _init_weights(self)


def resnet18(num_classes=1000, in_channels=3):
    """ResNet-18: BasicBlocks [2, 2, 2, 2]; 11,689,512 parameters with 1000 classes.

    >>> sum(p.data.size for p in resnet18().parameters())
    11689512
    """
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes, in_channels)


def resnet34(num_classes=1000, in_channels=3):
    """ResNet-34: BasicBlocks [3, 4, 6, 3]; 21,797,672 parameters with 1000 classes."""
    return ResNet(BasicBlock, [3, 4, 6, 3], num_classes, in_channels)


def resnet50(num_classes=1000, in_channels=3):
    """ResNet-50 (v1.5): Bottlenecks [3, 4, 6, 3]; 25,557,032 parameters with 1000 classes."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes, in_channels)


def resnet_cifar(depth, num_classes=10, residual=True, in_channels=3):
    """The CIFAR ResNet of depth 6n + 2 (`CifarResNet`): 32x32 colour images, or 28x28 digits with in_channels=1.

    ``residual=False`` gives the plain network of the same depth, for the degradation experiment.

    >>> [sum(p.data.size for p in resnet_cifar(20, residual=r).parameters()) for r in (True, False)]
    [272474, 269722]
    """
    return CifarResNet(depth, num_classes, residual, in_channels)
