r"""`export`: hand a minicnn network to ONNX, the format other runtimes read (as ``torch.onnx.export``).

``minicnn.onnx.export(model, (1, 3, 224, 224), "resnet18.onnx")`` writes the network as it computes in
**evaluation mode**: dropout is the identity and batch norm uses its running statistics. The model itself
is not run and not changed (its train/eval flag, parameters and buffers stay as they are). The file opens
in onnxruntime, Netron, or any ONNX runtime; the tests run every model of `minicnn.models` in onnxruntime
and compare it with minicnn's own eval-mode forward. The ``onnx`` package is needed (``pip install onnx``);
minicnn imports it only when `export` is called.

Names: every parameter becomes an initializer named by its state-dict key (``features.0.weight``), every
node is named after the module it comes from (``layer1.0.conv1/Conv``, ``layer1.0/Add``), and every
intermediate value carries its shape (``value_info``), so the graph reads like ``print(model)``.

Which ONNX operators
--------------------
=======================================  =========================================================================
minicnn                                  ONNX
=======================================  =========================================================================
Conv1d, Conv2d                           Conv (stride, padding incl. 'same', dilation, groups)
Linear                                   Gemm (transB=1: y = x W^T + b)
ReLU, LeakyReLU, Sigmoid, Tanh           Relu, LeakyRelu (alpha = negative_slope), Sigmoid, Tanh
MaxPool2d                                MaxPool; ``ceil_mode=True`` as the same windows in floor mode, with the
                                         cells the last window overhangs written as padding after the input
AvgPool2d                                AveragePool (count_include_pad=1: PyTorch counts padded zeros)
AdaptiveAvgPool2d                        GlobalAveragePool for (1, 1); nothing when the output size is the input's
                                         (AlexNet and VGG at their native size); AveragePool when the sizes divide
BatchNorm1d, BatchNorm2d                 BatchNormalization with the running mean and variance
LocalResponseNorm                        LRN (odd sizes; both divide alpha by size, checked in the tests);
                                         an (N, C, L) input is reshaped to (N, C, L, 1) around it
Dropout                                  nothing (the identity in eval mode)
Flatten, a forward's ``x.reshape(N,-1)`` Flatten (axis = start_dim), or Reshape for another end_dim
Sequential, composite models             their layers, plus Add (residual blocks) and Concat (Inception)
1998 LeNet-5 modules                     Conv (PartiallyConnectedConv2d with its dense weight, Subsampling2d as a
                                         2x2 depthwise convolution), Mul/Tanh (ScaledTanh), Neg, and
                                         Reshape/Sub/Mul/MatMul for the RBF distances
=======================================  =========================================================================

Supported opsets: 13 to the newest the installed ``onnx`` knows (the default, 17, is what most runtimes read).

Design: one small exporter per module class
-------------------------------------------
Each module class has one exporter in a registry, a function ``exporter(g, module, x)`` that writes the
module's nodes into the graph ``g`` and returns its output: a `Value`, an ONNX name with a static shape.
A composite module's exporter reads like the forward it mirrors (compare `_basic_block` with
``BasicBlock.forward``): ``g(child, x)`` exports a child, ``g.op(...)`` writes what the forward computes
itself (``F.add`` becomes Add, ``F.cat`` Concat, ``x.reshape(N, -1)`` Flatten).

Why not trace a forward pass instead (as torch.onnx does)? minicnn's composites compute on plain numpy
arrays (``F.add``, ``F.cat``, ``F.relu``, ``x.reshape``), so a tracer would have to intercept numpy itself,
and a learner reading the exporter would have to understand the tracer. An explicit exporter is a few lines
next to the forward it copies, and the tests check the two agree numerically. Shapes are computed by the
exporters with minicnn's own size formulas (no forward pass: exporting VGG-16 takes under two seconds), and
the exported graph is checked with ``onnx.checker.check_model(..., full_check=True)``, whose strict shape
inference must agree with every shape the exporters wrote. Shapes are static: the graph is for the batch size
of `input_shape` (export again for another).

An exporter applies only to modules whose ``forward`` is the one it mirrors: a subclass that overrides
``forward`` (say a convolution that pads each input itself) needs its own exporter, and a module of a class
without one raises a TypeError naming its path and type.

Adding an exporter for a new layer or block
-------------------------------------------
Decorate a function with ``@register(TheClass)``, here next to the other exporters (the models never
import this module). A layer is a few lines: see `_relu6` (a Clip node) and `_zero_pad2d` (a Pad node with
PyTorch's (left, right, top, bottom) reordered to ONNX's starts-then-ends).

A block exports its children with ``g(module.conv1, x)`` and its own arithmetic with ``g.op``; see
`_basic_block`. ``g.constant(key, array)`` adds an initializer (cast to the export dtype if it holds
floats) named ``<module path>.<key>``; ``g.param(module, "weight")`` adds a parameter under its
state-dict key; ``g.error(message)`` makes a ValueError naming the module being exported.
"""
from collections import namedtuple
import numbers
import os

import numpy as np

from minicnn import __version__, nn
from minicnn.functional._checks import float_dtype, input_shape as checked_input_shape
from minicnn.functional.conv import _geometry
from minicnn.functional.pooling import pool_output_size
from minicnn.models._base import FeaturesClassifier
from minicnn.models.efficientnet import Conv2dSamePadding, EfficientNet, MBConvBlock
from minicnn.models.googlenet import BasicConv2d, GoogLeNet, Inception
from minicnn.models.lenet import EuclideanRBF, LeNet5, Negate, PartiallyConnectedConv2d, ScaledTanh, Subsampling2d
from minicnn.models.resnet import BasicBlock, Bottleneck, _Classifier
from minicnn.nn import layers as _layers

__all__ = ["export", "register", "Value", "MIN_OPSET"]

MIN_OPSET = 13
"""The oldest opset `export` writes: every operator used here has had its present form since opset 13."""

Value = namedtuple("Value", "name shape")
Value.__doc__ = """A value of the graph being written: its ONNX name and its static shape (a tuple of ints)."""

_EXPORTERS = {}  # module class -> exporter(g, module, x) -> Value


def register(module_type):
    """Decorator: make ``fn(g, module, x) -> Value`` the exporter of `module_type` (see the module docstring).

    The exporter applies to subclasses that keep ``module_type.forward``; registering a class again replaces
    its exporter.

    >>> class Double(nn.Module):
    ...     def forward(self, x):
    ...         return 2 * x
    >>> @register(Double)
    ... def _double(g, module, x):
    ...     return g.op("Mul", [x, g.constant("two", np.float32(2))], x.shape)
    """
    if not (isinstance(module_type, type) and issubclass(module_type, nn.Module)):
        raise TypeError(f"register: module_type must be a subclass of minicnn.nn.Module, got {module_type!r}")

    def decorate(fn):
        _EXPORTERS[module_type] = fn
        return fn

    return decorate


def _exporter_for(module, where):
    """The exporter of the nearest registered class in the module's MRO, if the module keeps its forward."""
    for cls in type(module).__mro__:
        if cls in _EXPORTERS:
            if type(module).forward is not cls.forward:
                raise TypeError(f"export: {where} overrides the forward of {cls.__name__}, which the "
                                f"{cls.__name__} exporter mirrors; register an exporter for "
                                f"{type(module).__name__} with @minicnn.onnx.register({type(module).__name__})")
            return _EXPORTERS[cls]
    raise TypeError(f"export: no ONNX exporter for {where}; minicnn.onnx exports the layers of minicnn.nn and the "
                    f"networks of minicnn.models; write one for {type(module).__name__} with "
                    f"@minicnn.onnx.register({type(module).__name__}) (see the minicnn.onnx docstring)")


class _Graph:
    """The nodes and initializers being written, and the path of the module being exported (for names and errors).

    ``g(module, x)`` exports a module, ``g.op`` writes one node, ``g.constant``/``g.param`` add initializers.
    """

    def __init__(self, model, dtype, reserved):
        self.dtype = dtype
        self.paths = {}
        for name, module in model.named_modules():
            self.paths.setdefault(id(module), name)  # a module used twice keeps its first name
        from onnx import ModelProto

        self.proto = ModelProto()       # the weights go straight into it (see `constant`)
        self.nodes, self.shapes = [], {}
        self.taken = set(reserved)      # names of values, nodes and initializers already used
        self.params = {}                # id(Parameter) -> initializer name, so a shared parameter is stored once
        self.stack = []                 # (path, module) of the modules being exported, innermost last

    # ------------------------------------------------------------------ names
    def _where(self, path, module):
        return f"{path or 'the model'} ({type(module).__name__})"

    def _fresh(self, name):
        unique, i = name, 1
        while unique in self.taken:
            unique, i = f"{name}_{i}", i + 1
        self.taken.add(unique)
        return unique

    def _scoped(self, key, sep):
        path = self.stack[-1][0] if self.stack else ""
        return f"{path}{sep}{key}" if path else key

    def where(self):
        """``export: <path> (<type>)`` of the module being exported, to start error messages."""
        return f"export: {self._where(*self.stack[-1])}"

    def error(self, message):
        """A ValueError whose message starts with the path and type of the module being exported."""
        return ValueError(f"{self.where()}: {message}")

    # ------------------------------------------------------------------ writing
    def __call__(self, module, x):
        """Export `module` applied to `x`; return its output Value."""
        path = self.paths.get(id(module), type(module).__name__)
        exporter = _exporter_for(module, self._where(path, module))
        self.stack.append((path, module))
        try:
            return exporter(self, module, x)
        finally:
            self.stack.pop()

    def op(self, op_type, inputs, shape, **attributes):
        """One node of `op_type` reading `inputs` (Values or initializer names); its output has `shape`."""
        from onnx import helper

        name = self._fresh(self._scoped(op_type, "/"))
        names = [v.name if isinstance(v, Value) else v for v in inputs]
        self.nodes.append(helper.make_node(op_type, names, [name], name=name, **attributes))
        shape = tuple(int(d) for d in shape)
        self.shapes[name] = shape
        return Value(name, shape)

    def constant(self, key, array):
        """An initializer named ``<module path>.<key>``; floating-point values are cast to the export dtype."""
        from onnx import helper

        array = np.asarray(array)
        if array.dtype.kind == "f":
            array = array.astype(self.dtype, copy=False)
        name = self._fresh(self._scoped(key, "."))
        # written in place into the model: the weights of VGG (half a gigabyte) are copied once, not three times
        tensor = self.proto.graph.initializer.add()
        tensor.name, tensor.data_type = name, helper.np_dtype_to_tensor_dtype(array.dtype)
        tensor.dims.extend(array.shape)
        tensor.raw_data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()  # ONNX: little-endian
        return name

    def param(self, module, attribute):
        """The initializer of ``module.<attribute>`` (a Parameter or a buffer), named by its state-dict key."""
        source = getattr(module, attribute)
        if id(source) not in self.params:
            self.params[id(source)] = self.constant(attribute, getattr(source, "data", source))
        return self.params[id(source)]


# ------------------------------------------------------------------------------------------------ checks
def _expect(g, x, ndim, channels=None, what=None):
    """Refuse an input of the wrong rank or channel count, naming the module (as its forward would)."""
    ndims = (ndim,) if isinstance(ndim, int) else ndim
    if len(x.shape) not in ndims:
        raise g.error(f"expects an input with {' or '.join(map(str, ndims))} dimensions"
                      + (f" {what}" if what else "") + f", got shape {x.shape}")
    if channels is not None and x.shape[1] != channels:
        raise g.error(f"expects {channels} input channels (dimension 1), got shape {x.shape}")


# ------------------------------------------------------------------------------------------------ layers
@register(_layers._ConvNd)
def _conv(g, m, x):
    n = m._spatial
    _expect(g, x, n + 2, m.in_channels, "(N, C, " + ("L)" if n == 1 else "H, W)"))
    geo = _geometry(g.where(), n, x.shape, m.weight.shape, m.stride, m.padding, m.dilation)  # minicnn's sizes
    inputs = [x, g.param(m, "weight")] + ([g.param(m, "bias")] if m.bias is not None else [])
    return g.op("Conv", inputs, (x.shape[0], m.out_channels) + geo.out_size[-n:],
                kernel_shape=list(m.kernel_size), strides=list(geo.stride[-n:]),
                dilations=list(geo.dilation[-n:]), group=m.groups,
                pads=list(geo.pad_before[-n:]) + list(geo.pad_after[-n:]))  # ONNX: all starts, then all ends


@register(_layers.Linear)
def _linear(g, m, x):
    _expect(g, x, 2, m.in_features, "(N, in_features)")
    inputs = [x, g.param(m, "weight")] + ([g.param(m, "bias")] if m.bias is not None else [])
    return g.op("Gemm", inputs, (x.shape[0], m.out_features), transB=1)


@register(_layers.ReLU)
def _relu(g, m, x):
    return g.op("Relu", [x], x.shape)


@register(_layers.LeakyReLU)
def _leaky_relu(g, m, x):
    return g.op("LeakyRelu", [x], x.shape, alpha=float(m.negative_slope))


@register(_layers.Sigmoid)
def _sigmoid(g, m, x):
    return g.op("Sigmoid", [x], x.shape)


@register(_layers.Tanh)
def _tanh(g, m, x):
    return g.op("Tanh", [x], x.shape)


@register(_layers.Dropout)
def _dropout(g, m, x):
    return x  # evaluation mode: the identity, so no node


@register(_layers.Flatten)
def _flatten(g, m, x):
    ndim = max(len(x.shape), 1)
    start, end = m.start_dim, m.end_dim
    if not (-ndim <= start < ndim and -ndim <= end < ndim) or start % ndim > end % ndim:
        raise g.error(f"start_dim={start} and end_dim={end} do not fit an input of shape {x.shape}")
    start, end = start % ndim, end % ndim
    shape = x.shape[:start] + (int(np.prod(x.shape[start:end + 1])),) + x.shape[end + 1:]
    if end == ndim - 1 and start == 1:
        return g.op("Flatten", [x], shape, axis=1)  # ONNX's Flatten always makes 2 dimensions
    return g.op("Reshape", [x, g.constant("shape", np.array(shape, np.int64))], shape)


def _pool_sizes(g, m, x, ceil_mode=False):
    """Output size and padding after the input of a 2-D pooling, by minicnn's (PyTorch's) rules."""
    _expect(g, x, 4, what="(N, C, H, W)")
    out, after = [], []
    for size, k, s, p in zip(x.shape[2:], m.kernel_size, m.stride, m.padding):
        if k > size + 2 * p + (s - 1 if ceil_mode else 0):
            raise g.error(f"kernel_size {m.kernel_size} is larger than the padded input of x {x.shape}")
        o = pool_output_size(size, k, s, p, ceil_mode)
        out.append(o)
        after.append(max(p, (o - 1) * s + k - p - size))  # ceil mode: cells the last window overhangs
    return tuple(x.shape[:2]) + tuple(out), after


@register(_layers.MaxPool2d)
def _max_pool(g, m, x):
    shape, after = _pool_sizes(g, m, x, m.ceil_mode)
    # ceil mode is written as floor mode with the overhang as padding after the input: the same windows
    # (padding never wins a maximum), and every opset agrees on floor mode's sizes, whereas ONNX's shape
    # inference sizes ceil mode one larger than PyTorch (and onnxruntime) before opset 22 when PyTorch's rule
    # drops a last window that would start in the padding
    return g.op("MaxPool", [x], shape, kernel_shape=list(m.kernel_size), strides=list(m.stride),
                pads=list(m.padding) + after)


@register(_layers.AvgPool2d)
def _avg_pool(g, m, x):
    shape, _ = _pool_sizes(g, m, x)
    return g.op("AveragePool", [x], shape, kernel_shape=list(m.kernel_size), strides=list(m.stride),
                pads=list(m.padding) * 2, count_include_pad=1)  # minicnn (as PyTorch) averages padded zeros too


@register(_layers.AdaptiveAvgPool2d)
def _adaptive_avg_pool(g, m, x):
    _expect(g, x, 4, what="(N, C, H, W)")
    size, out = x.shape[2:], tuple(m.output_size)
    if out == (1, 1):
        return g.op("GlobalAveragePool", [x], x.shape[:2] + (1, 1))
    if tuple(size) == out:
        return x  # already the output size: the identity (AlexNet's 6x6, VGG's 7x7 at their native input)
    if any(n % o for n, o in zip(size, out)):
        raise g.error(f"adaptive pooling from {tuple(size)} to {out} has windows of different sizes, which ONNX's "
                      f"AveragePool cannot express; export at an input size where each output size divides the "
                      f"input's (the model's native size, e.g. 224x224 for AlexNet and VGG)")
    kernel = [n // o for n, o in zip(size, out)]  # equal windows side by side: an ordinary average pooling
    return g.op("AveragePool", [x], x.shape[:2] + out, kernel_shape=kernel, strides=kernel)


@register(_layers._BatchNorm)
def _batch_norm(g, m, x):
    _expect(g, x, m._ndims, m.num_features)
    if m.running_mean is None:
        raise g.error("has no running statistics (track_running_stats=False), so even in evaluation mode it "
                      "normalizes with each batch's statistics; ONNX's BatchNormalization needs running statistics")
    c = m.num_features
    scale = g.param(m, "weight") if m.affine else g.constant("weight", np.ones(c))
    shift = g.param(m, "bias") if m.affine else g.constant("bias", np.zeros(c))
    inputs = [x, scale, shift, g.param(m, "running_mean"), g.param(m, "running_var")]
    return g.op("BatchNormalization", inputs, x.shape, epsilon=float(m.eps))


@register(_layers.LocalResponseNorm)
def _lrn(g, m, x):
    _expect(g, x, (3, 4))
    if m.size % 2 == 0:
        # PyTorch's window over channels is c - size//2 .. c + (size-1)//2, ONNX's c - (size-1)//2 .. c + size//2:
        # they agree for odd sizes only (and onnxruntime refuses even sizes)
        raise g.error(f"size={m.size} is even; ONNX's LRN centres an even window one channel later than "
                      f"minicnn and PyTorch do, so only odd sizes (AlexNet's 5) can be exported")
    settings = dict(size=m.size, alpha=float(m.alpha), beta=float(m.beta), bias=float(m.k))
    if len(x.shape) == 4:
        return g.op("LRN", [x], x.shape, **settings)
    # (N, C, L): onnxruntime's LRN takes 4 dimensions only, so L becomes maps of width 1 and back
    maps = g.op("Reshape", [x, g.constant("shape_4d", np.array(x.shape + (1,), np.int64))], x.shape + (1,))
    normalized = g.op("LRN", [maps], maps.shape, **settings)
    return g.op("Reshape", [normalized, g.constant("shape_3d", np.array(x.shape, np.int64))], x.shape)


@register(nn.Sequential)
def _sequential(g, m, x):
    for layer in m:
        x = g(layer, x)
    return x


# ------------------------------------------------------------------------------------------ composite models
def _flatten_batch(g, x):
    """``x.reshape(x.shape[0], -1)`` in a forward: (N, C, H, W) -> (N, C*H*W)."""
    return g.op("Flatten", [x], (x.shape[0], int(np.prod(x.shape[1:]))), axis=1)


@register(FeaturesClassifier)  # AlexNet (one or two towers), ZFNet, VGG
def _features_classifier(g, m, x):
    x = g(m.avgpool, g(m.features, x))
    return g(m.classifier, _flatten_batch(g, x))


@register(LeNet5)
def _lenet5(g, m, x):
    if len(x.shape) != 4 or x.shape[1:] != (m.in_channels, 32, 32):
        raise g.error(f"expects x of shape (N, {m.in_channels}, 32, 32), got {x.shape}")
    for layer in m.children():
        x = g(layer, x)
    return x


def _relu_of(g, x):
    """``F.relu(x)`` in a forward."""
    return g.op("Relu", [x], x.shape)


def _add(g, a, b):
    """``F.add(a, b)`` in a forward (same shapes)."""
    if a.shape != b.shape:
        raise g.error(f"adds values of shapes {a.shape} and {b.shape}")
    return g.op("Add", [a, b], a.shape)


@register(BasicConv2d)
def _basic_conv2d(g, m, x):
    return _relu_of(g, g(m.bn, g(m.conv, x)))


@register(Inception)
def _inception(g, m, x):
    outputs = [g(branch, x) for branch in m._branches()]
    channels = sum(out.shape[1] for out in outputs)
    return g.op("Concat", outputs, (x.shape[0], channels) + outputs[0].shape[2:], axis=1)  # F.cat(outputs, dim=1)


@register(GoogLeNet)
def _google_net(g, m, x):
    _expect(g, x, 4, 3, "(N, 3, H, W)")
    for name in m._TO_4A + m._TO_4D + m._TO_POOL:  # in eval mode the auxiliary classifiers do not run
        x = g(getattr(m, name), x)
    return g(m.fc, g(m.dropout, _flatten_batch(g, x)))


def _shortcut(g, m, f, x):
    """``_ResidualBlock._join``: z = F(x) + shortcut(x), or F(x) in a plain block."""
    if not m.residual:
        return f
    return _add(g, f, x if m.downsample is None else g(m.downsample, x))


@register(BasicBlock)
def _basic_block(g, m, x):
    a1 = g(m.bn1, g(m.conv1, x))
    f = g(m.bn2, g(m.conv2, _relu_of(g, a1)))     # the residual branch F(x)
    return _relu_of(g, _shortcut(g, m, f, x))     # y = relu(F(x) + shortcut(x))


@register(Bottleneck)
def _bottleneck(g, m, x):
    a1 = g(m.bn1, g(m.conv1, x))
    a2 = g(m.bn2, g(m.conv2, _relu_of(g, a1)))
    f = g(m.bn3, g(m.conv3, _relu_of(g, a2)))
    return _relu_of(g, _shortcut(g, m, f, x))


@register(_Classifier)  # ResNet, CifarResNet
def _resnet_classifier(g, m, x):
    for name in m._body:
        x = g(getattr(m, name), x)
    return g(m.fc, _flatten_batch(g, x))



# ------------------------------------------------------------------------------------ EfficientNet-Lite0
def _relu6_of(g, x):
    """``F.relu6(x)`` in a forward: Clip to [0, 6]."""
    return g.op("Clip", [x, g.constant("relu6_min", np.float32(0)), g.constant("relu6_max", np.float32(6))],
                x.shape)


@register(_layers.ReLU6)
def _relu6(g, m, x):
    return _relu6_of(g, x)


@register(_layers.ZeroPad2d)
def _zero_pad2d(g, m, x):
    _expect(g, x, 4, None, "(N, C, H, W)")
    left, right, top, bottom = m.padding
    n, c, h, w = x.shape
    pads = np.array([0, 0, top, left, 0, 0, bottom, right], np.int64)  # ONNX: all starts, then all ends
    return g.op("Pad", [x, g.constant("pads", pads)], (n, c, h + top + bottom, w + left + right))


@register(Conv2dSamePadding)
def _conv_same_padding(g, m, x):
    """``conv2d(pad(x, SAME), W)``: one Conv whose pads are TensorFlow's (possibly asymmetric) "SAME" zeros."""
    _expect(g, x, 4, m.in_channels, "(N, C, H, W)")
    left, right, top, bottom = m.paddings(*x.shape[2:])
    h, w = (x.shape[2] + top + bottom, x.shape[3] + left + right)
    (kh, kw), (sh, sw), (dh, dw) = m.kernel_size, m.stride, m.dilation
    out = ((h - dh * (kh - 1) - 1) // sh + 1, (w - dw * (kw - 1) - 1) // sw + 1)
    inputs = [x, g.param(m, "weight")] + ([g.param(m, "bias")] if m.bias is not None else [])
    return g.op("Conv", inputs, (x.shape[0], m.out_channels) + out, kernel_shape=[kh, kw], strides=[sh, sw],
                dilations=[dh, dw], group=m.groups, pads=[top, left, bottom, right])


@register(MBConvBlock)
def _mbconv_block(g, m, x):
    h = _relu6_of(g, g(m._bn0, g(m._expand_conv, x))) if m.expand_ratio != 1 else x
    a1 = g(m._bn1, g(m._depthwise_conv, h))
    f = g(m._bn2, g(m._project_conv, _relu6_of(g, a1)))        # linear bottleneck: no activation
    return _add(g, f, x) if m.residual else f                   # y = f + x


@register(EfficientNet)
def _efficientnet(g, m, x):
    h = g(m._blocks, _relu6_of(g, g(m._bn0, g(m._conv_stem, x))))
    h = g(m._avg_pooling, _relu6_of(g, g(m._bn1, g(m._conv_head, h))))
    return g(m._fc, g(m._dropout, _flatten_batch(g, h)))

# ------------------------------------------------------------------------------- the 1998 form of LeNet-5
@register(PartiallyConnectedConv2d)
def _partially_connected_conv(g, m, x):
    _expect(g, x, 4, m.in_channels, "(N, C, H, W)")
    kh, kw = m.kernel_size
    if x.shape[2] < kh or x.shape[3] < kw:
        raise g.error(f"kernel_size {m.kernel_size} is larger than the input of shape {x.shape}")
    # a missing connection is a kernel of zeros: the dense weight makes it an ordinary convolution
    inputs = [x, g.constant("weight_dense", m.full_weight())] + ([g.param(m, "bias")] if m.bias is not None else [])
    return g.op("Conv", inputs, (x.shape[0], m.out_channels, x.shape[2] - kh + 1, x.shape[3] - kw + 1),
                kernel_shape=[kh, kw])


@register(Subsampling2d)
def _subsampling(g, m, x):
    _expect(g, x, 4, m.num_channels, "(N, C, H, W)")
    n, c, h, w = x.shape
    if h < 2 or w < 2:
        raise g.error(f"x {x.shape} is smaller than the 2x2 window")
    # w_c * (sum of a 2x2 window) + b_c: a depthwise 2x2 convolution of stride 2 whose four taps are all w_c
    weight = np.broadcast_to(m.weight.data[:, None, None, None], (c, 1, 2, 2))
    return g.op("Conv", [x, g.constant("weight_2x2", weight), g.param(m, "bias")], (n, c, h // 2, w // 2),
                kernel_shape=[2, 2], strides=[2, 2], group=c)


@register(ScaledTanh)
def _scaled_tanh(g, m, x):
    scaled = g.op("Mul", [x, g.constant("S", np.float64(m.S))], x.shape)
    return g.op("Mul", [g.op("Tanh", [scaled], x.shape), g.constant("A", np.float64(m.A))], x.shape)


@register(EuclideanRBF)
def _euclidean_rbf(g, m, x):
    _expect(g, x, 2, m.in_features, "(N, in_features)")
    n, classes = x.shape[0], m.out_features
    rows = g.op("Reshape", [x, g.constant("shape", np.array([n, 1, m.in_features], np.int64))],
                (n, 1, m.in_features))
    diff = g.op("Sub", [rows, g.param(m, "codes")], (n, classes, m.in_features))   # x_j - w_ij, broadcast
    squares = g.op("Mul", [diff, diff], diff.shape)
    return g.op("MatMul", [squares, g.constant("ones", np.ones(m.in_features))], (n, classes))  # sum over j


@register(Negate)
def _negate(g, m, x):
    return g.op("Neg", [x], x.shape)


# ------------------------------------------------------------------------------------------------ export
def _import_onnx():
    try:
        import onnx
    except ImportError as error:
        raise ImportError("minicnn.onnx.export needs the onnx package, which minicnn does not install: "
                          "pip install onnx (and pip install onnxruntime to run the exported model)") from error
    return onnx




def _check_settings(opset, input_name, output_name, path):
    if not isinstance(opset, numbers.Integral) or isinstance(opset, (bool, np.bool_)):
        raise TypeError(f"export: opset must be an int (the ONNX operator set version, e.g. 17), "
                        f"got {opset!r} ({type(opset).__name__})")
    if opset < MIN_OPSET:
        raise ValueError(f"export: opset must be >= {MIN_OPSET} (the oldest whose operators minicnn writes), "
                         f"got {opset}")
    for name, value in (("input_name", input_name), ("output_name", output_name)):
        if not isinstance(value, str) or not value:
            raise TypeError(f"export: {name} must be a non-empty string, got {value!r}")
    if input_name == output_name:
        raise ValueError(f"export: input_name and output_name must differ (ONNX names each value once), "
                         f"both are {input_name!r}")
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"export: path must be None (return the model only) or a file name, "
                        f"got {type(path).__name__}")


def _check(onnx, proto):
    """ONNX's full check (strict shape inference included) of the graph, with the weights as typed inputs.

    Checking the model itself would copy every weight twice more (half a gigabyte each for VGG): the graph's
    structure and shapes are what exporters can get wrong, while initializers made from arrays are right."""
    from onnx import helper

    skeleton = onnx.ModelProto(ir_version=proto.ir_version, opset_import=proto.opset_import)
    graph, full = skeleton.graph, proto.graph
    graph.name = full.name
    for field in ("node", "input", "output", "value_info"):
        getattr(graph, field).extend(getattr(full, field))
    graph.input.extend(helper.make_tensor_value_info(t.name, t.data_type, t.dims) for t in full.initializer)
    try:
        onnx.checker.check_model(skeleton, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as error:
        raise RuntimeError(f"export: the graph fails ONNX's check, so an exporter wrote a wrong shape or attribute "
                           f"(each node is named after its module's path): {error}") from error


def export(model, input_shape, path=None, *, opset=17, input_name="input", output_name="output", dtype=np.float32):
    """Write `model` in evaluation mode as an ONNX model, for an input of shape `input_shape`.

    Like ``torch.onnx.export(model, example_input, f)``, with the input's shape instead of an example. The
    model is not run and not changed: dropout is exported as the identity and batch norm with its running
    statistics, whatever the model's train/eval flag.

    Parameters
    ----------
    model : minicnn.nn.Module
        A layer, an ``nn.Sequential`` or a network of `minicnn.models` (the 1998 LeNet-5 included).
    input_shape : tuple of int
        The input's full, static shape with the batch first, e.g. ``(1, 3, 224, 224)``.
    path : str or os.PathLike, optional
        Where to write the ``.onnx`` file; None (the default) only returns the model.
    opset : int, keyword only
        ONNX operator set version, from `MIN_OPSET` (13) to the newest the installed ``onnx`` knows; default 17.
    input_name, output_name : str, keyword only
        Names of the graph's input and output (the keys of onnxruntime's ``run``).
    dtype : np.float32 or np.float64, keyword only
        Element type of the input, the output and every weight (weights are cast). onnxruntime's CPU provider
        runs float32 convolutions only.

    Returns
    -------
    onnx.ModelProto
        The model (also when it is written to `path`); its graph has passed ``onnx.checker.check_model`` with
        ``full_check=True`` (strict shape inference agrees with every shape the exporters computed).

    Raises
    ------
    TypeError
        model is not a Module, a module inside it has no exporter (the message names its path and type),
        or an argument has the wrong type.
    ValueError
        input_shape, opset, names or dtype break their rules, or the model refuses the input shape (a wrong
        channel count, an image too small for a kernel, adaptive pooling whose windows would differ in size).
    ImportError
        The onnx package is not installed (``pip install onnx``).
    RuntimeError
        The graph fails ONNX's check: an exporter (a custom one, or a bug) wrote a wrong shape or attribute.

    Examples
    --------
    >>> import pytest; onnx = pytest.importorskip("onnx")   # the example needs the onnx package
    >>> import minicnn.onnx
    >>> from minicnn import nn
    >>> net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    >>> proto = minicnn.onnx.export(net, (1, 1, 8, 8))
    >>> [node.op_type for node in proto.graph.node]
    ['Conv', 'Relu', 'Flatten', 'Gemm']
    >>> [init.name for init in proto.graph.initializer]     # the state-dict keys
    ['0.weight', '0.bias', '3.weight', '3.bias']
    >>> [d.dim_value for d in proto.graph.output[0].type.tensor_type.shape.dim]
    [1, 2]
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"export: model must be a minicnn.nn.Module (a layer or a network), got {type(model).__name__}")
    input_shape = checked_input_shape("export", input_shape)
    _check_settings(opset, input_name, output_name, path)
    dtype = float_dtype("export", "dtype", dtype)
    onnx = _import_onnx()
    from onnx import helper

    newest = onnx.defs.onnx_opset_version()
    if opset > newest:
        raise ValueError(f"export: opset {opset} is unknown to the installed onnx {onnx.__version__}, which knows "
                         f"opsets up to {newest}; choose one from {MIN_OPSET} to {newest}")

    g = _Graph(model, dtype, reserved=(input_name, output_name))
    out = g(model, Value(input_name, input_shape))
    if out.name == input_name:  # nothing computed (e.g. a lone Dropout): the graph still needs a node
        g.nodes.append(helper.make_node("Identity", [input_name], [output_name], name=output_name))
    else:  # the last value gets the output's name
        for node in g.nodes:
            node.input[:] = [output_name if name == out.name else name for name in node.input]
            node.output[:] = [output_name if name == out.name else name for name in node.output]
        del g.shapes[out.name]

    elem = helper.np_dtype_to_tensor_dtype(dtype)
    proto = g.proto  # already holds the initializers
    graph = proto.graph
    graph.name = type(model).__name__
    graph.node.extend(g.nodes)
    graph.input.append(helper.make_tensor_value_info(input_name, elem, input_shape))
    graph.output.append(helper.make_tensor_value_info(output_name, elem, out.shape))
    # every intermediate shape the exporters computed: shown by viewers, and checked by the strict inference
    graph.value_info.extend(helper.make_tensor_value_info(name, elem, shape) for name, shape in g.shapes.items())
    proto.opset_import.append(helper.make_opsetid("", opset))
    proto.producer_name, proto.producer_version = "minicnn", __version__
    proto.ir_version = helper.find_min_ir_version_for(proto.opset_import)  # the oldest runtimes that can read it
    _check(onnx, proto)
    if path is not None:
        onnx.save(proto, os.fspath(path))
    return proto
