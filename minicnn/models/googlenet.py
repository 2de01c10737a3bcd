r"""GoogLeNet (Szegedy et al. 2014, "Going deeper with convolutions"): nine Inception modules.

An Inception module runs four branches side by side on the same input and concatenates their outputs
along the channels:

.. math:: y = [\,b_1(x),\ b_2(x),\ b_3(x),\ b_4(x)\,] \qquad\qquad (1)

with :math:`b_1` a 1x1 convolution, :math:`b_2` a 1x1 "reduce" then a 3x3, :math:`b_3` a 1x1 reduce then a
"5x5", and :math:`b_4` a 3x3 max pool (stride 1) then a 1x1 "projection". The 1x1 reductions make the
module cheap: they shrink the channels before the larger filters. Backward splits dL/dy along the
channels (the inverse of the concatenation) and, since x fed all four branches, adds their gradients:

.. math:: \frac{\partial L}{\partial x} = \sum_{i=1}^{4} \frac{\partial L}{\partial b_i}\,
          \frac{\partial b_i}{\partial x} \qquad\qquad (2)

This is torchvision's GoogLeNet, with its module names and state-dict keys: every convolution is a
`BasicConv2d` (convolution without bias, batch norm with eps=0.001, ReLU), which the 2014 paper did not
have (batch norm came in 2015), and the max pools round their output size up (``ceil_mode=True``).
torchvision's ``transform_input`` (a fixed rescaling of the input channels that its pretrained weights
expect) is left out: feed such weights inputs scaled as they were trained on.

The "5x5" branch. torchvision's third branch uses a 3x3 convolution, a bug it keeps so that its trained
weights still load; the paper's is 5x5. The default here is torchvision's (``branch3_kernel_size=3``),
so torchvision state dicts load and the counts match torchvision's; ``branch3_kernel_size=5`` builds the
paper's module, with 380,928 more weights (16 more taps in each of the nine 5x5 convolutions).

Where the parameters are (1000 classes, no auxiliary classifiers): 6,624,904 with the default, 7,005,832
with 5x5 convolutions. By stage, convolution weights (no biases) + batch-norm gamma and beta, and the fc
layer's weights + biases:

=====================  =======================  =======================
stage                  3x3 (torchvision)        5x5 (the paper)
=====================  =======================  =======================
conv1, conv2, conv3      124,096 +    640         124,096 +    640
inception 3a, 3b         494,080 +  2,016         551,424 +  2,016
inception 4a - 4e      2,645,760 +  7,328       2,805,504 +  7,328
inception 5a, 5b       2,321,408 +  4,576       2,485,248 +  4,576
fc                     1,024,000 +  1,000       1,024,000 +  1,000
total                  6,624,904                7,005,832
=====================  =======================  =======================

Convolutions hold 5,585,344 weights (5,966,272 with 5x5), batch norm 14,560 parameters and the fc layer
1,025,000 (15% of the total); inception 4 and 5 hold three quarters of the network (inception 5b alone
1.35M). The paper's table 1 lists each layer's weights without biases (and without batch norm, which
came later) in units of 1024, and sums to about 6.8M; recounted, the paper's network (5x5) has
5,966,272 + 1,024,000 = 6,990,272 weights, 6,826K in those units, the small rest being in the table's
own entries (its first convolution, 7 x 7 x 3 x 64 = 9,408 weights, is listed as 2.7K). The "about 5
million" comes from the text, "12 times fewer parameters" than AlexNet's 60 million, repeated as
"around 5 million" in the authors' later "Rethinking the Inception architecture"; the table, not
the text, matches the network. Two auxiliary classifiers (``aux_logits=True``, used only in
training) add 6,379,984 parameters (13,004,888 in all), mostly their fc layers of 2048 x 1024.
"""
import numpy as np

from minicnn import functional as F
from minicnn import init, nn
from minicnn.functional._checks import as_float_array, check_bool, check_int, check_real, expect_ndim

__all__ = ["BasicConv2d", "Inception", "InceptionAux", "GoogLeNet", "googlenet"]


class BasicConv2d(nn.Module):
    """Convolution without bias, batch norm (eps=0.001) and ReLU: torchvision's building block of GoogLeNet.

    >>> [name for name, _ in BasicConv2d(3, 64, kernel_size=7, stride=2, padding=3).named_parameters()]
    ['conv.weight', 'bn.weight', 'bn.bias']
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x):
        a = self.bn(self.conv(x))
        self._save(a=a)
        return F.relu(a)

    def backward(self, grad_out, input_grad=True):
        g = F.relu_backward(grad_out, self._saved("a"))
        return self.conv.backward(self.bn.backward(g), input_grad=input_grad)


class Inception(nn.Module):
    """Four branches on one input, concatenated along the channels: equation (1) of the module docstring.

    Parameters
    ----------
    in_channels : int
    ch1x1 : int
        Filters of branch 1 (1x1).
    ch3x3red, ch3x3 : int
        Branch 2: 1x1 reduction to ch3x3red channels, then ch3x3 3x3 filters.
    ch5x5red, ch5x5 : int
        Branch 3: 1x1 reduction, then ch5x5 filters of size branch3_kernel_size.
    pool_proj : int
        Branch 4: 3x3 max pool (stride 1, padding 1), then pool_proj 1x1 filters.
    branch3_kernel_size : 3 or 5, keyword only
        3 is torchvision's (its weights load), 5 the paper's.

    The output has ch1x1 + ch3x3 + ch5x5 + pool_proj channels and the input's height and width.

    >>> Inception(192, 64, 96, 128, 16, 32, 32)(np.zeros((1, 192, 28, 28), np.float32)).shape  # inception 3a
    (1, 256, 28, 28)
    """

    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj, *, branch3_kernel_size=3):
        super().__init__()
        if branch3_kernel_size not in (3, 5) or isinstance(branch3_kernel_size, bool):
            raise ValueError(f"Inception: branch3_kernel_size must be 3 (torchvision's, whose weights load) or 5 "
                             f"(the paper's), got {branch3_kernel_size!r}")
        for name, value in (("in_channels", in_channels), ("ch1x1", ch1x1), ("ch3x3red", ch3x3red),
                            ("ch3x3", ch3x3), ("ch5x5red", ch5x5red), ("ch5x5", ch5x5), ("pool_proj", pool_proj)):
            check_int("Inception", name, value, 1)
        k = branch3_kernel_size
        self.branch1 = BasicConv2d(in_channels, ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(BasicConv2d(in_channels, ch3x3red, kernel_size=1),
                                     BasicConv2d(ch3x3red, ch3x3, kernel_size=3, padding=1))
        self.branch3 = nn.Sequential(BasicConv2d(in_channels, ch5x5red, kernel_size=1),
                                     BasicConv2d(ch5x5red, ch5x5, kernel_size=k, padding=k // 2))
        self.branch4 = nn.Sequential(nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
                                     BasicConv2d(in_channels, pool_proj, kernel_size=1))

    def _branches(self):
        return (self.branch1, self.branch2, self.branch3, self.branch4)

    def forward(self, x):
        outputs = [branch(x) for branch in self._branches()]
        self._save(channels=[out.shape[1] for out in outputs])
        return F.cat(outputs, dim=1)                                 # y = [b1(x), b2(x), b3(x), b4(x)]   (1)

    def backward(self, grad_out, input_grad=True):
        channels = self._saved("channels")
        grads = F.cat_backward(grad_out, channels, dim=1)            # branch i gets dL/dy of its own channels
        grad_x = None
        for branch, grad in zip(self._branches(), grads):
            from_branch = branch.backward(grad)                      # dL/db_i db_i/dx
            grad_x = from_branch if grad_x is None else F.add(grad_x, from_branch)  # summed over the branches (2)
        return grad_x


class InceptionAux(nn.Module):
    """torchvision's auxiliary classifier (training only): 4x4 adaptive average pooling, a 1x1 BasicConv2d to
    128 channels, fc 2048 -> 1024 with ReLU, dropout, fc 1024 -> num_classes."""

    def __init__(self, in_channels, num_classes, dropout=0.7):
        super().__init__()
        self.conv = BasicConv2d(in_channels, 128, kernel_size=1)
        self.fc1 = nn.Linear(2048, 1024)
        self.fc2 = nn.Linear(1024, num_classes)
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, x):
        pooled = F.adaptive_avg_pool2d(x, (4, 4))
        h = self.conv(pooled)
        a = self.fc1(h.reshape(h.shape[0], -1))
        self._save(x=x, shape=h.shape, a=a)
        return self.fc2(self.dropout(F.relu(a)))

    def backward(self, grad_out, input_grad=True):
        x, shape, a = self._saved("x", "shape", "a")
        g = F.relu_backward(self.dropout.backward(self.fc2.backward(grad_out)), a)
        g = self.conv.backward(self.fc1.backward(g).reshape(shape))
        return F.adaptive_avg_pool2d_backward(g, x, (4, 4))


class GoogLeNet(nn.Module):
    """torchvision's GoogLeNet (see the module docstring for the parameter count and the 5x5 branch).

    On 224x224 images the maps are 112 (conv1), 56 (maxpool1, conv2, conv3), 28 (maxpool2, inception 3),
    14 (maxpool3, inception 4), 7 (maxpool4, inception 5) and 1 (avgpool); the smallest input it accepts
    is 15x15 (inception 5 then sees 1x1 maps).

    With ``aux_logits=True``, in training mode forward returns ``(logits, aux2, aux1)`` (torchvision's
    order) and backward takes the three gradients; their gradients join the trunk at the outputs of
    inception 4d and 4a, where the auxiliary heads branch off. In eval mode it returns the logits only.
    """

    def __init__(self, num_classes=1000, aux_logits=False, dropout=0.2, dropout_aux=0.7, *, branch3_kernel_size=3):
        super().__init__()
        num_classes = check_int("GoogLeNet", "num_classes", num_classes, 1)
        self.aux_logits = check_bool("GoogLeNet", "aux_logits", aux_logits)
        check_real("GoogLeNet", "dropout", dropout, low=0, high=1, high_open=True)
        check_real("GoogLeNet", "dropout_aux", dropout_aux, low=0, high=1, high_open=True)

        def inception(*channels):
            return Inception(*channels, branch3_kernel_size=branch3_kernel_size)

        self.conv1 = BasicConv2d(3, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception3a = inception(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = inception(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = inception(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = inception(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = inception(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = inception(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = inception(528, 256, 160, 320, 32, 128, 128)
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.inception5a = inception(832, 256, 160, 320, 32, 128, 128)
        self.inception5b = inception(832, 384, 192, 384, 48, 128, 128)
        if self.aux_logits:
            self.aux1 = InceptionAux(512, num_classes, dropout=dropout_aux)
            self.aux2 = InceptionAux(528, num_classes, dropout=dropout_aux)
        else:
            self.aux1 = self.aux2 = None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(1024, num_classes)
        # torchvision's initialisation: N(0, 0.01^2) weights (its truncation at +-2, 200 standard deviations,
        # never applies), batch norm gamma = 1 and beta = 0 (the layer's default); Linear biases keep their default
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                init.normal_(module.weight, 0.0, 0.01)

    # the trunk in three runs, split where the auxiliary classifiers branch off (after 4a and after 4d)
    _TO_4A = ("conv1", "maxpool1", "conv2", "conv3", "maxpool2", "inception3a", "inception3b", "maxpool3",
              "inception4a")
    _TO_4D = ("inception4b", "inception4c", "inception4d")
    _TO_POOL = ("inception4e", "maxpool4", "inception5a", "inception5b", "avgpool")

    def _run(self, names, x):
        for name in names:
            x = getattr(self, name)(x)
        return x

    def _run_backward(self, names, g):
        for name in reversed(names):
            g = getattr(self, name).backward(g)
        return g

    def forward(self, x):
        x = as_float_array("GoogLeNet", "x", x)
        expect_ndim("GoogLeNet", "x", x, 4, "(N, 3, H, W)")
        with_aux = self.aux_logits and self.training
        x = self._run(self._TO_4A, x)
        aux1 = self.aux1(x) if with_aux else None
        x = self._run(self._TO_4D, x)
        aux2 = self.aux2(x) if with_aux else None
        x = self._run(self._TO_POOL, x)
        self._save(shape=x.shape, with_aux=with_aux)
        logits = self.fc(self.dropout(x.reshape(x.shape[0], -1)))
        return (logits, aux2, aux1) if with_aux else logits

    def backward(self, grad_out, input_grad=True):
        shape, with_aux = self._saved("shape", "with_aux")
        if with_aux:
            if not isinstance(grad_out, (tuple, list)) or len(grad_out) != 3:
                raise TypeError("GoogLeNet.backward: with aux_logits in training, forward returned (logits, aux2, "
                                "aux1), so backward needs the three gradients (grad_logits, grad_aux2, grad_aux1)")
            grad_out, grad_aux2, grad_aux1 = grad_out
        g = self.dropout.backward(self.fc.backward(grad_out)).reshape(shape)
        g = self._run_backward(self._TO_POOL, g)
        if with_aux:  # 4d's output fed 4e and aux2: its gradient is the sum of both
            g = F.add(g, self.aux2.backward(grad_aux2))
        g = self._run_backward(self._TO_4D, g)
        if with_aux:  # likewise 4a's output fed 4b and aux1
            g = F.add(g, self.aux1.backward(grad_aux1))
        g = self._run_backward(self._TO_4A[1:], g)
        return self.conv1.backward(g, input_grad=input_grad)


def googlenet(num_classes=1000, aux_logits=False, dropout=0.2, *, branch3_kernel_size=3):
    """GoogLeNet (`GoogLeNet`): 6,624,904 parameters with 1000 classes (7,005,832 with branch3_kernel_size=5).

    >>> sum(p.data.size for p in googlenet().parameters())
    6624904
    """
    return GoogLeNet(num_classes, aux_logits, dropout, branch3_kernel_size=branch3_kernel_size)
