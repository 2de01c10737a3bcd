r"""LeNet-5 (LeCun, Bottou, Bengio and Haffner, "Gradient-based learning applied to document recognition", 1998).

Two forms share one class, `LeNet5`, built by `lenet5`:

- the **modern form** (the default), as courses and PyTorch tutorials write it: full convolutions, ReLU (or tanh),
  max (or average) pooling and a linear classifier: 61,706 trainable parameters;
- the **1998 form** (``original=True``): C3's partial connection table, trainable subsampling, the scaled tanh
  :math:`f(a) = 1.7159 \tanh(2a/3)` after every layer up to F6, and Euclidean RBF output units with fixed codes:
  60,000 trainable parameters.

The paper's layer names are the attribute names, so ``model.c3`` is C3 and ``state_dict()`` has ``c3.weight``:

=========  ===========  ==============================  ==============================  ============  =========
paper      attribute    modern form                     1998 form                       output        params
=========  ===========  ==============================  ==============================  ============  =========
input                                                                                   1 x 32 x 32
C1         ``c1``       Conv2d(1, 6, 5)                 Conv2d(1, 6, 5)                 6 x 28 x 28   156
S2         ``s2``       MaxPool2d(2) / AvgPool2d(2)     Subsampling2d(6)                6 x 14 x 14   0 / 12
C3         ``c3``       Conv2d(6, 16, 5)                PartiallyConnectedConv2d        16 x 10 x 10  2,416 / 1,516
S4         ``s4``       MaxPool2d(2) / AvgPool2d(2)     Subsampling2d(16)               16 x 5 x 5    0 / 32
C5         ``c5``       Conv2d(16, 120, 5)              Conv2d(16, 120, 5)              120 x 1 x 1   48,120
F6         ``f6``       Linear(120, 84)                 Linear(120, 84)                 84            10,164
output     ``output``   Linear(84, 10)                  EuclideanRBF(84, 10), fixed     10            850 / 0
=========  ===========  ==============================  ==============================  ============  =========

Between them sit parameter-free modules named after the layer they follow: ``c1_act``, ``c3_act``, ``c5_act``,
``f6_act`` (the activation; in the 1998 form also ``s2_act`` and ``s4_act``, because the paper squashes the
subsampling layers' outputs too) and ``flatten`` (C5's 120 x 1 x 1 maps become F6's 120 inputs).

C3's connection table is `C3_CONNECTIONS` (Table 1 of the paper, as (C3 map, S2 map)):

>>> int(C3_CONNECTIONS.sum()), C3_CONNECTIONS.sum(axis=1).tolist()
(60, [3, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 6])
>>> np.flatnonzero(C3_CONNECTIONS[12]).tolist()   # map 12 reads S2 maps 0, 1, 3 and 4: not contiguous
[0, 1, 3, 4]
"""
import numpy as np

from minicnn import nn
from minicnn import random as _random
from minicnn.functional._checks import as_float_array, check_bool, check_int, expect_ndim, int_tuple, same_dtype
from minicnn.functional.conv import Convolution

__all__ = ["LeNet5", "lenet5", "ScaledTanh", "Subsampling2d", "PartiallyConnectedConv2d", "EuclideanRBF", "Negate",
           "C3_CONNECTIONS"]


def _c3_table():
    """Table 1 of the paper as a (16, 6) bool array: row j marks the S2 maps that C3 map j reads."""
    inputs = ([[i, (i + 1) % 6, (i + 2) % 6] for i in range(6)]                 # maps 0-5: 3 contiguous S2 maps
              + [[(i + d) % 6 for d in range(4)] for i in range(6)]             # maps 6-11: 4 contiguous
              + [[0, 1, 3, 4], [1, 2, 4, 5], [0, 2, 3, 5]]                      # maps 12-14: 4 non-contiguous
              + [list(range(6))])                                               # map 15: all six
    table = np.zeros((16, 6), dtype=bool)
    for j, maps in enumerate(inputs):
        table[j, maps] = True
    table.setflags(write=False)  # shared by every model: nobody may change the architecture in place
    return table


C3_CONNECTIONS = _c3_table()
"""C3's connection table (Table 1 of the paper, transposed to (C3 map, S2 map)): 60 connections; read-only."""


# ------------------------------------------------------------------------------------------- the 1998 modules
class ScaledTanh(nn.Module):
    r"""LeCun's squashing function :math:`f(a) = A \tanh(S a)` with A = 1.7159 and S = 2/3 (Appendix A).

    The constants make f(1) = 1 and f(-1) = -1, so targets of +-1 (the RBF codes) sit where the curvature of f
    is largest instead of at its asymptotes, where the gradient would vanish; the gain at 0 is A*S ~ 1.14.

    Backward: :math:`f'(a) = A S (1 - \tanh^2(S a))`. Shapes: any, output of the input's shape. No parameters.

    >>> np.round(ScaledTanh()(np.array([-1.0, 0.0, 1.0])), 4)
    array([-1.,  0.,  1.])
    """

    A = 1.7159
    S = 2.0 / 3.0

    def forward(self, x):
        x = as_float_array("ScaledTanh", "x", x)
        t = np.tanh(self.S * x)
        self._save(t=t)
        return self.A * t

    def backward(self, grad_out, input_grad=True):
        t = self._saved("t")
        grad_out = as_float_array("ScaledTanh.backward", "grad_out", grad_out)
        if grad_out.shape != t.shape:
            raise ValueError(f"ScaledTanh.backward: grad_out {grad_out.shape} must have the input's shape {t.shape}")
        same_dtype("ScaledTanh.backward", grad_out=grad_out, x=t)
        return grad_out * (self.A * self.S) * (1 - t * t)


class Subsampling2d(nn.Module):
    r"""LeNet-5's trainable subsampling (S2, S4): per map c, :math:`y = w_c \sum_{2 \times 2} x + b_c`.

    Each output adds the four inputs of its non-overlapping 2x2 window, multiplies the sum by the map's trainable
    coefficient and adds the map's trainable bias (the paper then squashes it: `ScaledTanh`, a separate module).
    A small coefficient makes the unit nearly linear, a large one makes the squashing act like a noisy OR or AND.

    Backward, with :math:`s = \sum_{2 \times 2} x` saved by forward and :math:`\delta = \partial L/\partial y`:

    .. math::

        \frac{\partial L}{\partial w_c} = \sum_{n,p,q} \delta_{ncpq}\, s_{ncpq}, \qquad
        \frac{\partial L}{\partial b_c} = \sum_{n,p,q} \delta_{ncpq}, \qquad
        \frac{\partial L}{\partial x_{nc,2p+i,2q+j}} = w_c\, \delta_{ncpq} \quad (i, j \in \{0, 1\})

    (a last row or column left over by an odd size is read by no window and gets 0).

    Parameters
    ----------
    num_channels : int >= 1
        C, the number of maps; weight (C,) and bias (C,): 2C trainable parameters.

    Shapes: x (N, C, H, W) -> (N, C, H // 2, W // 2).

    The coefficients start at 1/4 and the biases at 0, so the layer starts as 2x2 average pooling.

    >>> layer = Subsampling2d(6)
    >>> layer(np.ones((1, 6, 28, 28), np.float32)).shape, sum(p.data.size for p in layer.parameters())
    ((1, 6, 14, 14), 12)
    """

    def __init__(self, num_channels):
        super().__init__()
        self.num_channels = check_int("Subsampling2d", "num_channels", num_channels, 1)
        self.weight = nn.Parameter(np.full(num_channels, 0.25, np.float32))
        self.bias = nn.Parameter(np.zeros(num_channels, np.float32))

    def forward(self, x):
        op = "Subsampling2d"
        x = as_float_array(op, "x", x)
        expect_ndim(op, "x", x, 4, "(N, C, H, W)")
        same_dtype(op, x=x, weight=self.weight.data)
        n, c, h, w = x.shape
        if c != self.num_channels:
            raise ValueError(f"{op}({self.num_channels}): x {x.shape} has {c} channels")
        if h < 2 or w < 2:
            raise ValueError(f"{op}: x {x.shape} is smaller than the 2x2 window")
        ho, wo = h // 2, w // 2
        sums = x[:, :, :2 * ho, :2 * wo].reshape(n, c, ho, 2, wo, 2).sum(axis=(3, 5))
        self._save(sums=sums, x_shape=x.shape)
        return self.weight.data[:, None, None] * sums + self.bias.data[:, None, None]

    def backward(self, grad_out, input_grad=True):
        sums, x_shape = self._saved("sums", "x_shape")
        op = "Subsampling2d.backward"
        grad_out = as_float_array(op, "grad_out", grad_out)
        if grad_out.shape != sums.shape:
            raise ValueError(f"{op}: grad_out must have the forward output's shape {sums.shape}, got {grad_out.shape}")
        same_dtype(op, grad_out=grad_out, x=sums)
        self.weight.accumulate(np.sum(grad_out * sums, axis=(0, 2, 3)))
        self.bias.accumulate(np.sum(grad_out, axis=(0, 2, 3)))
        if not input_grad:
            return None
        ho, wo = sums.shape[2:]
        grad_x = np.zeros(x_shape, dtype=grad_out.dtype)
        spread = self.weight.data[:, None, None] * grad_out  # w_c * delta, the same for the window's four cells
        grad_x[:, :, :2 * ho, :2 * wo] = np.repeat(np.repeat(spread, 2, axis=2), 2, axis=3)
        return grad_x

    def extra_repr(self):
        return f"{self.num_channels}"


class PartiallyConnectedConv2d(nn.Module):
    r"""A convolution in which output map j reads only the input maps that row j of a connection table marks.

    LeNet-5's C3 uses one (`C3_CONNECTIONS`): the paper says it keeps the number of connections in bounds and,
    more importantly, breaks the symmetry, forcing different maps to extract different features.

    The parameter holds **only the kernels of the connections**: ``weight`` has shape (connections, kH, kW), in
    the row-major order of the table's nonzero entries (``np.nonzero(connections)``), plus one bias per output
    map. Forward scatters them into a zero (C_out, C_in, kH, kW) weight and calls the fast convolution; backward
    computes the full weight gradient with the same convolution backward and gathers the entries of the
    connections from it: a missing connection is a kernel that is always zero, and its gradient is dropped.

    Parameters
    ----------
    connections : array of bool, shape (C_out, C_in)
        ``connections[j, i]``: output map j reads input map i. Every output map needs at least one input.
    kernel_size : int or (int, int)
    bias : bool

    Trainable parameters: connections * kH * kW (+ C_out): 60 * 25 + 16 = 1,516 for C3.
    Initialisation as PyTorch's Conv2d, per output map: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in the
    inputs that map actually reads (inputs * kH * kW).

    Shapes: x (N, C_in, H, W) -> (N, C_out, H - kH + 1, W - kW + 1) (stride 1, no padding, as in LeNet-5).

    >>> c3 = PartiallyConnectedConv2d(C3_CONNECTIONS, 5)
    >>> c3.weight.shape, sum(p.data.size for p in c3.parameters())
    ((60, 5, 5), 1516)
    >>> c3(np.zeros((1, 6, 14, 14), np.float32)).shape
    (1, 16, 10, 10)
    """

    def __init__(self, connections, kernel_size, bias=True):
        super().__init__()
        op = "PartiallyConnectedConv2d"
        table = np.asarray(connections)
        if table.ndim != 2 or 0 in table.shape:
            raise ValueError(f"{op}: connections must be a non-empty (out_channels, in_channels) table, "
                             f"got shape {table.shape}")
        if table.dtype != bool and not (table.dtype.kind in "biuf" and np.all((table == 0) | (table == 1))):
            raise TypeError(f"{op}: connections must hold booleans (or 0/1), got dtype {table.dtype}")
        table = table.astype(bool)
        empty = np.flatnonzero(~table.any(axis=1))
        if empty.size:
            raise ValueError(f"{op}: every output map must read at least one input map; rows {empty.tolist()} "
                             f"of connections are empty")
        self.kernel_size = int_tuple(op, "kernel_size", kernel_size, 2, 1)
        check_bool(op, "bias", bias)
        self.out_channels, self.in_channels = table.shape
        self.connections = table
        self.connections.setflags(write=False)
        self._rows, self._cols = np.nonzero(table)
        fan_in = table.sum(axis=1) * self.kernel_size[0] * self.kernel_size[1]
        bound = 1.0 / np.sqrt(fan_in)
        rng = _random.default_rng()
        weight = rng.uniform(-1.0, 1.0, (len(self._rows),) + self.kernel_size) * bound[self._rows, None, None]
        self.weight = nn.Parameter(weight.astype(np.float32))
        self.bias = nn.Parameter((rng.uniform(-1.0, 1.0, self.out_channels) * bound).astype(np.float32)) if bias \
            else None

    def full_weight(self):
        """The equivalent dense weight (C_out, C_in, kH, kW): the connections' kernels, zeros elsewhere."""
        full = np.zeros((self.out_channels, self.in_channels) + self.kernel_size, dtype=self.weight.data.dtype)
        full[self._rows, self._cols] = self.weight.data
        return full

    def forward(self, x):
        conv = Convolution("PartiallyConnectedConv2d", 2, x, self.full_weight(),
                           None if self.bias is None else self.bias.data)
        self._save(conv=conv)
        return conv.forward()

    def backward(self, grad_out, input_grad=True):
        """Add dL/dweight (the connections' entries of the dense weight gradient) and dL/dbias; return dL/dx."""
        grad_x, grad_full, grad_b = self._saved("conv").backward(grad_out, input_grad)
        self.weight.accumulate(grad_full[self._rows, self._cols])
        if self.bias is not None:
            self.bias.accumulate(grad_b)
        return grad_x

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"connections={len(self._rows)}" + ("" if self.bias is not None else ", bias=False"))


class EuclideanRBF(nn.Module):
    r"""LeNet-5's output layer: one Euclidean radial basis function unit per class, with fixed codes.

    .. math:: y_{ni} = \sum_j (x_{nj} - w_{ij})^2

    Output i is the squared distance between the input and class i's code: a **penalty**, so lower is better
    and the prediction is ``y.argmin(axis=1)``. Backward:
    :math:`\partial L/\partial x_{nj} = 2 \sum_i \delta_{ni} (x_{nj} - w_{ij})`.

    The codes are not trained: they are the buffer ``codes`` (saved in the state dict, cast by ``.double()``,
    not returned by ``parameters()``), so the layer has **0 trainable parameters**. The paper drew each of its
    characters as a 7x12 bitmap of +-1 (84 = 7 * 12 is why F6 has 84 units), so that confusable characters
    (O, o, 0) get close codes. Lacking those bitmaps, the default codes here are fixed random +-1 vectors
    from a generator seeded with 1998, the same for every model and independent of `minicnn.random`; two such
    codes differ in about half of their entries, so the classes start equally far apart. Pass ``codes`` to use
    your own (e.g. bitmaps of the digits).

    Parameters
    ----------
    in_features : int >= 1
        84 in LeNet-5.
    out_features : int >= 1
        The number of classes.
    codes : array (out_features, in_features), optional
        The class codes (real numbers, stored as float32 like the parameters); default: the seeded +-1 codes.

    Shapes: x (N, in_features) -> (N, out_features).

    Training: the penalties are not scores. The paper's discriminative criterion (its eq. 9) is
    :math:`y_{nD} + \log (e^{-j} + \sum_i e^{-y_{ni}})`, with D the true class; without the :math:`e^{-j}` term
    (a "rubbish class" for rejecting non-characters) it is exactly the cross-entropy of softmax(-y): it pulls F6's
    output to the right code *and* pushes it away from the others (minimising y_D alone, eq. 8, has no such
    competition). So train with::

        penalties = model(x)
        loss = F.cross_entropy(-penalties, labels)
        model.backward(-F.cross_entropy_backward(-penalties, labels))

    or give `minicnn.train.fit` the network ``nn.Sequential(model, Negate())``, whose scores are -y.

    >>> rbf = EuclideanRBF(84, 10)
    >>> rbf.codes.shape, sorted(set(rbf.codes.ravel().tolist())), rbf.parameters()
    ((10, 84), [-1.0, 1.0], [])
    >>> rbf(rbf.codes[[3]]).argmin(axis=1)   # the input closest to code 3 is classified as 3
    array([3])
    """

    def __init__(self, in_features, out_features, codes=None):
        super().__init__()
        op = "EuclideanRBF"
        self.in_features = check_int(op, "in_features", in_features, 1)
        self.out_features = check_int(op, "out_features", out_features, 1)
        if codes is None:
            codes = np.random.default_rng(1998).choice(np.array([-1.0, 1.0], np.float32),
                                                       size=(out_features, in_features))
        else:
            codes = np.asarray(codes)
            if codes.dtype.kind not in "iuf":
                raise TypeError(f"{op}: codes must hold real numbers (e.g. +-1 bitmaps), got dtype {codes.dtype}")
            codes = codes.astype(np.float32)  # the model's dtype, like its parameters (cast with .double())
            if codes.shape != (out_features, in_features):
                raise ValueError(f"{op}: codes must have shape (out_features, in_features) = "
                                 f"({out_features}, {in_features}), got {codes.shape}")
            if not np.all(np.isfinite(codes)):
                raise ValueError(f"{op}: codes must be finite numbers")
        self.register_buffer("codes", codes)

    def forward(self, x):
        op = "EuclideanRBF"
        x = as_float_array(op, "x", x)
        expect_ndim(op, "x", x, 2, "(N, in_features)")
        same_dtype(op, x=x, codes=self.codes)
        if x.shape[1] != self.in_features:
            raise ValueError(f"{op}: x {x.shape} must have in_features={self.in_features} columns")
        diff = x[:, None, :] - self.codes[None, :, :]  # (N, classes, features)
        self._save(diff=diff)
        return np.sum(diff * diff, axis=2)

    def backward(self, grad_out, input_grad=True):
        diff = self._saved("diff")
        op = "EuclideanRBF.backward"
        grad_out = as_float_array(op, "grad_out", grad_out)
        if grad_out.shape != diff.shape[:2]:
            raise ValueError(f"{op}: grad_out must have the forward output's shape {diff.shape[:2]}, "
                             f"got {grad_out.shape}")
        same_dtype(op, grad_out=grad_out, x=diff)
        return 2 * np.einsum("ni,nij->nj", grad_out, diff)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, fixed codes"


class Negate(nn.Module):
    """y = -x: turns penalties (lower is better, `EuclideanRBF`) into scores for a cross-entropy loss.

    >>> Negate()(np.array([[1.0, -2.0]]))
    array([[-1.,  2.]])
    """

    def forward(self, x):
        x = as_float_array("Negate", "x", x)
        self._save(shape=x.shape)
        return -x

    def backward(self, grad_out, input_grad=True):
        shape = self._saved("shape")
        grad_out = as_float_array("Negate.backward", "grad_out", grad_out)
        if grad_out.shape != shape:
            raise ValueError(f"Negate.backward: grad_out {grad_out.shape} must have the input's shape {shape}")
        return -grad_out


# ------------------------------------------------------------------------------------------------- the network
class LeNet5(nn.Module):
    r"""LeNet-5, in its modern form or (``original=True``) as published in 1998. See the module docstring's table.

    Parameters
    ----------
    num_classes : int >= 1
        Outputs of the last layer (10 digits).
    in_channels : int >= 1
        Channels of the input images (1: grayscale). C1 then has 6 * (25 * in_channels + 1) parameters.
    activation : {'relu', 'tanh'}, optional
        Modern form only; default 'relu'. The 1998 form always uses `ScaledTanh`.
    pooling : {'max', 'avg'}, optional
        Modern form only; default 'max'. The 1998 form always uses trainable `Subsampling2d`.
    original : bool
        The 1998 form: partial C3 (`C3_CONNECTIONS`), trainable subsampling, scaled tanh after C1, S2, C3, S4,
        C5 and F6, and an `EuclideanRBF` output with fixed codes.

    Shapes: x (N, in_channels, 32, 32) -> (N, num_classes). The modern form returns class scores (logits, for
    `nn.CrossEntropyLoss`); the 1998 form returns RBF penalties, lower is better (see `EuclideanRBF` for how to
    train it: cross-entropy on -y).

    Trainable parameters (num_classes=10, in_channels=1): modern 61,706 = 156 + 2,416 + 48,120 + 10,164 + 850;
    1998: 60,000 = C1 156 + S2 12 + C3 1,516 + S4 32 + C5 48,120 + F6 10,164 (the RBF codes are fixed buffers).

    Examples
    --------
    >>> model = lenet5()
    >>> model(np.zeros((2, 1, 32, 32), np.float32)).shape, sum(p.data.size for p in model.parameters())
    ((2, 10), 61706)
    >>> sum(p.data.size for p in lenet5(original=True).parameters())
    60000
    >>> [name for name, _ in lenet5(original=True).named_parameters()][:4]
    ['c1.weight', 'c1.bias', 's2.weight', 's2.bias']
    """

    def __init__(self, num_classes=10, in_channels=1, activation=None, pooling=None, original=False):
        super().__init__()
        name = "LeNet5"
        num_classes = check_int(name, "num_classes", num_classes, 1)
        self.in_channels = check_int(name, "in_channels", in_channels, 1)
        self.original = check_bool(name, "original", original)
        if self.original:
            for arg, value in (("activation", activation), ("pooling", pooling)):
                if value is not None:
                    raise ValueError(f"{name}: {arg}={value!r} cannot be combined with original=True; the 1998 form "
                                     f"fixes it (scaled tanh, trainable subsampling); leave {arg} unset")
            act, pool = ScaledTanh, Subsampling2d
        else:
            activation = "relu" if activation is None else activation
            pooling = "max" if pooling is None else pooling
            if activation not in ("relu", "tanh"):
                raise ValueError(f"{name}: activation must be 'relu' or 'tanh', got {activation!r}")
            if pooling not in ("max", "avg"):
                raise ValueError(f"{name}: pooling must be 'max' or 'avg', got {pooling!r}")
            act = nn.ReLU if activation == "relu" else nn.Tanh
            pool = (lambda channels: nn.MaxPool2d(2)) if pooling == "max" else (lambda channels: nn.AvgPool2d(2))
        self.activation, self.pooling = activation, pooling

        # registration order is the order of the layers (and of the state dict)
        self.c1 = nn.Conv2d(self.in_channels, 6, 5)
        self.c1_act = act()
        self.s2 = pool(6)
        if self.original:
            self.s2_act = act()
        self.c3 = PartiallyConnectedConv2d(C3_CONNECTIONS, 5) if self.original else nn.Conv2d(6, 16, 5)
        self.c3_act = act()
        self.s4 = pool(16)
        if self.original:
            self.s4_act = act()
        self.c5 = nn.Conv2d(16, 120, 5)
        self.c5_act = act()
        self.flatten = nn.Flatten()
        self.f6 = nn.Linear(120, 84)
        self.f6_act = act()
        self.output = EuclideanRBF(84, num_classes) if self.original else nn.Linear(84, num_classes)
        self.num_classes = num_classes

    def forward(self, x):
        x = as_float_array("LeNet5", "x", x)
        if x.ndim != 4 or x.shape[1:] != (self.in_channels, 32, 32):
            raise ValueError(f"LeNet5: expected x of shape (N, {self.in_channels}, 32, 32) (32x32 images: "
                             f"MNIST's 28x28 digits padded by 2), got {x.shape}")
        for layer in self.children():
            x = layer(x)
        return x

    def backward(self, grad_out, input_grad=True):
        """Backpropagate from the output to C1; ``input_grad`` is passed on to C1 (False: return None)."""
        layers = list(self.children())
        for layer in reversed(layers[1:]):
            grad_out = layer.backward(grad_out)
        return layers[0].backward(grad_out, input_grad=input_grad)

    def extra_repr(self):
        if self.original:
            return "original=True"
        return f"activation={self.activation!r}, pooling={self.pooling!r}"


def lenet5(num_classes=10, in_channels=1, activation=None, pooling=None, original=False):
    """Build a `LeNet5` (modern form by default: ReLU and max pooling; ``original=True``: the 1998 network).

    >>> lenet5(activation="tanh", pooling="avg").s2
    AvgPool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))
    """
    return LeNet5(num_classes=num_classes, in_channels=in_channels, activation=activation, pooling=pooling,
                  original=original)
