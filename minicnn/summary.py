r"""`summary`: a layer-by-layer table of a network, in the spirit of torchinfo.

One forward pass on zeros of the given shape records, for every *leaf* module (one with no
sub-modules) in the order it runs: its output shape, its parameters, its multiply-adds, the memory
of its output and the receptive field of that output on the input image. The result prints as a
plain-text table (at most 120 columns) and shows as an HTML table in Jupyter.

What is counted
---------------
- **Parameters**: every `Parameter` once (a parameter shared by two layers is counted in the first
  row that uses it). In minicnn every parameter is trainable.
- **Multiply-adds**, for the whole batch, as torchinfo counts them for these layers, without the bias:
  a convolution costs (output values) x (C_in/groups * kH * kW), a linear layer
  (output values) x in_features (N * in * out for an (N, in) input). Batch norm, pooling, activations,
  dropout and flatten count 0: their few operations per value are negligible beside these. A layer of
  a kind summary does not know that holds weights (a custom module) has an unknown cost: None, shown
  as ``?`` and left out of the total.
- **Activations**: the values of each layer's output (and their bytes). Two totals:
  ``activations()`` sums every leaf's output (forward only), and
  ``activations(inplace=True, include_input=True)`` is CS231n's count ("VGGNet in detail"): the input
  plus the outputs that need new memory, skipping element-wise layers that can run in place
  (ReLU, LeakyReLU, Sigmoid, Tanh, Dropout: PyTorch's ``inplace=True``) and outputs that are views of
  their input (Flatten). Arrays a composite module makes itself (``a + b``, a concatenation, a
  functional relu in a residual block) are no layer's output and are not counted.
- **Receptive field** (RF) of one output value on the input, per spatial dimension, with the
  *jump* (input pixels between neighbouring output values), by the standard recurrence over
  convolution and pooling layers (kernel k, stride s, dilation d):

  .. math::

      r_{out} = r_{in} + (k - 1)\,d\,j_{in}, \qquad j_{out} = j_{in}\,s, \qquad r_0 = j_0 = 1.

  Padding moves the field but does not change its size. Element-wise layers, batch norm, LRN and
  Flatten keep the field of their input; adaptive average pooling uses its actual windows (output
  size 1, global pooling: the whole input); a linear layer sees the whole input. A module of another
  kind is followed through its ``kernel_size``, ``stride`` and ``dilation`` attributes if it has them,
  assumed position-wise if it keeps the spatial size, and unknown (None, ``?``) otherwise. The field
  is the theoretical one: it can exceed the image (its outer part then lies in the padding).

How branched networks are followed
----------------------------------
Composite modules (an Inception block, a residual block) run their own ``forward``. summary follows
every array a leaf makes; an array made by the composite itself (``a + b``, a concatenation, a
functional relu) gets the *largest* field among the inputs of the innermost running composite and the
outputs of the leaves that ran inside it so far (a composite's own output: the largest over its whole
run). So after a merge the field is the largest over the branches merged, as the receptive field of a
branched network is usually defined; a layer whose input went through such a merge is marked ``*`` in
the table. An array made from part of the branches only (rare) gets an upper bound.

The model's state is left exactly as it was: the pass runs in evaluation mode (no dropout, batch
norm uses and keeps its running statistics), each module's train/eval flag, its saved forward
values (so a pending backward still works) and its buffers are restored afterwards.
"""
from collections import OrderedDict, namedtuple
import html
import math
import textwrap
import weakref

import numpy as np

from minicnn.functional._checks import float_dtype, input_shape as checked_input_shape
from minicnn.nn import layers as _layers
from minicnn.nn.module import Module

__all__ = ["summary", "Summary", "LayerRow"]

WIDTH = 120  # the text table never goes wider

LayerRow = namedtuple("LayerRow", "name type depth call input_shape output_shape params mult_adds out_elements "
                                  "out_bytes inplace rf jump rf_whole rf_merged")
LayerRow.__doc__ = """One executed leaf module (one row of the table).

name : dotted name from ``named_modules`` ('' when the model itself is the leaf)
type : class name
depth : number of dotted parts of the name (1 for a direct child of the model)
call : 1 for the module's first call in the pass, 2, 3, ... when the same module runs again
input_shape, output_shape : shapes of the first array input and of the output (a tuple of shapes if
    the module returns several arrays)
params : parameters of this leaf not already counted in an earlier row
mult_adds : multiply-adds of this call for the whole batch (conv and linear; 0 for other known layers; None for
    a layer of another kind that holds weights: its cost is unknown)
out_elements, out_bytes : values and bytes of the output, for the whole batch
inplace : True when CS231n's count skips this output (element-wise layer that can run in place, or a view)
rf, jump : receptive field and jump per spatial dimension (tuples), None when unknown; for a whole-input
    field rf is the input's spatial size and jump is None
rf_whole : the output depends on the whole input (linear layers, global pooling and what follows them)
rf_merged : the input was made by a composite (add, cat): its field is the largest over the branches merged
"""

# element-wise or position-wise: the receptive field passes through
# (zero padding too: it adds cells around the map but changes no cell's field or jump)
_POINTWISE = (_layers.ReLU, _layers.ReLU6, _layers.LeakyReLU, _layers.Sigmoid, _layers.Tanh, _layers.Dropout,
              _layers._BatchNorm, _layers.LocalResponseNorm, _layers.Flatten, _layers.ZeroPad2d)
# CS231n does not count these outputs: they can overwrite their input (PyTorch's inplace=True)
_INPLACE_ABLE = (_layers.ReLU, _layers.ReLU6, _layers.LeakyReLU, _layers.Sigmoid, _layers.Tanh, _layers.Dropout)

_WHOLE = "whole"  # receptive-field state of an output that depends on the whole input


class _Field(namedtuple("_Field", "rf jump")):
    """Receptive field and jump of an array, per spatial dimension."""


# ---------------------------------------------------------------------------------------------- checking


def _check_dtype(dtype):
    return float_dtype("summary", "dtype", dtype)


# ---------------------------------------------------------------------------------------------- state
def _snapshot(model):
    """Everything a forward pass may rebind or overwrite, to restore it exactly."""
    snap = []
    for module in {id(m): m for m in model.modules()}.values():
        buffers = OrderedDict((name, (buf, np.array(buf, copy=True))) for name, buf in module._buffers.items())
        params = [(p, p.data, p.grad) for p in module._parameters.values() if p is not None]
        snap.append((module, dict(module.__dict__), OrderedDict(module._parameters), OrderedDict(module._modules),
                     buffers, params))
    return snap


def _restore(snap):
    for module, attributes, params, modules, buffers, param_state in snap:
        state = module.__dict__
        for key in [key for key in state if key not in attributes]:
            del state[key]  # e.g. the wrapped forward, or a _cache the module had not saved before
        state.update(attributes)  # _cache, training, and anything forward rebound
        for registry, saved in ((module._parameters, params), (module._modules, modules)):
            registry.clear()
            registry.update(saved)
        module._buffers.clear()
        for name, (buf, copy) in buffers.items():
            module._buffers[name] = buf
            if isinstance(buf, np.ndarray) and buf.tobytes() != copy.tobytes():
                np.copyto(buf, copy)
        for param, data, grad in param_state:
            param.data, param.grad = data, grad


# ---------------------------------------------------------------------------------------------- per layer
def _arrays(value):
    """The arrays in a module's inputs or outputs (an array, or tuples/lists of them)."""
    if isinstance(value, np.ndarray):
        return [value]
    if isinstance(value, (tuple, list)):
        return [a for item in value for a in _arrays(item)]
    return []


def _shape_of(value):
    arrays = _arrays(value)
    if len(arrays) == 1 and isinstance(value, np.ndarray):
        return arrays[0].shape
    return tuple(a.shape for a in arrays)


_KNOWN = tuple(getattr(_layers, name) for name in _layers.__all__)


def _mult_adds(module, out_elements):
    """Multiply-adds of one call; None for a module of another kind that holds weights (its cost is unknown)."""
    if isinstance(module, _layers._ConvNd):
        return out_elements * (module.in_channels // module.groups) * math.prod(module.kernel_size)
    if isinstance(module, _layers.Linear):
        return out_elements * module.in_features
    if not isinstance(module, _KNOWN) and (any(p is not None for p in module._parameters.values())
                                           or module._buffers):
        return None
    return 0


def _window_field(field, kernel, stride, dilation):
    if field is _WHOLE:
        return _WHOLE
    if field is None or not (len(kernel) == len(stride) == len(dilation) == len(field.rf)):
        return None
    rf = tuple(r + (k - 1) * d * j for r, k, d, j in zip(field.rf, kernel, dilation, field.jump))
    return _Field(rf, tuple(j * s for j, s in zip(field.jump, stride)))


def _adaptive_windows(size, out):
    """Largest window and largest step of adaptive pooling from `size` to `out` (PyTorch's windows)."""
    starts = [(i * size) // out for i in range(out)]
    ends = [-((-(i + 1) * size) // out) for i in range(out)]
    kernel = max(e - s for s, e in zip(starts, ends))
    step = max([b - a for a, b in zip(starts, starts[1:])], default=1)
    return kernel, step


def _field_of(module, field, in_shape, out_shape):
    """Receptive-field state of a leaf's output, given that of its input."""
    def tup(value, n):
        return tuple(value) if isinstance(value, (tuple, list)) else (value,) * n

    if field is _WHOLE or isinstance(module, _layers.Linear):
        return _WHOLE
    if isinstance(module, _layers.AdaptiveAvgPool2d):
        if field is None or in_shape is None or len(in_shape) != 4:
            return None
        if tuple(module.output_size) == (1, 1):
            return _WHOLE
        windows = [_adaptive_windows(n, o) for n, o in zip(in_shape[2:], module.output_size)]
        return _window_field(field, [k for k, _ in windows], [s for _, s in windows], (1, 1))
    if isinstance(module, _POINTWISE):
        return field
    kernel = getattr(module, "kernel_size", None)  # convolutions, pools, and modules shaped like them
    if kernel is not None:
        n = len(kernel) if isinstance(kernel, (tuple, list)) else (len(field.rf) if isinstance(field, _Field) else 1)
        try:
            return _window_field(field, tup(kernel, n), tup(getattr(module, "stride", 1) or kernel, n),
                                 tup(getattr(module, "dilation", 1), n))
        except TypeError:
            return None
    if in_shape is not None and out_shape is not None and len(in_shape) == len(out_shape) \
            and tuple(in_shape[2:]) == tuple(out_shape[2:]):
        return field  # a module summary does not know, with the same spatial size: assumed position-wise
    return None


def _max_field(fields, ndim):
    """The largest receptive field among `fields` (the whole input beats any window)."""
    if any(f is _WHOLE for f in fields):
        return _WHOLE
    fields = [f for f in fields if isinstance(f, _Field) and len(f.rf) == ndim]
    if not fields:
        return None
    return _Field(tuple(max(f.rf[i] for f in fields) for i in range(ndim)),
                  tuple(max(f.jump[i] for f in fields) for i in range(ndim)))


class _Recorder:
    """Wraps every module's forward during the pass: rows for the leaves, and the receptive field of each array.

    Fields are kept per array (by id, with a weak reference so that a recycled id is never mistaken for it).
    An array no leaf made (``a + b``, a concatenation, a functional relu inside a composite) gets, the first
    time it is met, the largest field among the inputs of the innermost running composite and the outputs of
    the leaves that ran inside it so far; a composite's own output gets the largest over its whole run.
    """

    def __init__(self, x, spatial_ndim):
        self.ndim = spatial_ndim
        start = _Field((1,) * spatial_ndim, (1,) * spatial_ndim) if spatial_ndim else None
        self.fields = {}  # id(array) -> (weak reference, field, merged)
        self.remember(x, start, False)
        self.scopes = [[start]]  # per running composite: the fields it has seen (its inputs, its leaves' outputs)
        self.records = []  # per leaf call, in call order
        self.calls = {}
        self.failed = None  # (name, type, input shape) of the innermost leaf an exception came through

    def remember(self, arr, field, merged):
        self.fields[id(arr)] = (weakref.ref(arr), field, merged)

    def lookup(self, arr):
        """(field, merged) of an array already met (or of a view of one, with the same spatial size), else None."""
        for candidate in (arr, arr.base):
            if not isinstance(candidate, np.ndarray):
                continue
            entry = self.fields.get(id(candidate))
            if entry is not None and entry[0]() is candidate and candidate.shape[2:] == arr.shape[2:]:
                return entry[1], entry[2]
        return None

    def resolve(self, arrays):
        """The field of a module's input(s), and whether one of them was made outside any leaf."""
        fields, merged = [], False
        for arr in arrays:
            hit = self.lookup(arr)
            if hit is None:  # made by a composite: the largest field it has seen so far
                hit = (_max_field(self.scopes[-1], self.ndim), True)
                self.remember(arr, *hit)
            fields.append(hit[0])
            merged = merged or hit[1]
        if len(fields) == 1:
            return fields[0], merged
        return (_max_field(fields, self.ndim) if fields else None), merged

    def wrap_leaf(self, module, name):
        original = module.forward

        def forward(*args, **kwargs):
            inputs = _arrays(args) + _arrays(list(kwargs.values()))
            field, merged = self.resolve(inputs)
            slot = len(self.records)
            self.records.append(None)
            in_shape = inputs[0].shape if inputs else None
            try:
                out = original(*args, **kwargs)
            except BaseException:
                if self.failed is None:
                    self.failed = (name, type(module).__name__, in_shape)
                raise
            outputs = _arrays(out)
            out_shape = outputs[0].shape if len(outputs) == 1 else None
            out_field = _field_of(module, field, in_shape, out_shape) if self.ndim else None
            for arr in outputs:
                self.remember(arr, out_field, False)
            for scope in self.scopes:
                scope.append(out_field)
            views = bool(outputs) and all(any(np.may_share_memory(o, i) for i in inputs) for o in outputs)
            self.calls[id(module)] = self.calls.get(id(module), 0) + 1
            self.records[slot] = (module, name, self.calls[id(module)], in_shape, _shape_of(out),
                                  sum(a.size for a in outputs), sum(a.nbytes for a in outputs),
                                  views or isinstance(module, _INPLACE_ABLE), out_field, merged)
            return out

        object.__setattr__(module, "forward", forward)

    def wrap_composite(self, module, name):
        original = module.forward

        def forward(*args, **kwargs):
            inputs = _arrays(args) + _arrays(list(kwargs.values()))
            field, _ = self.resolve(inputs)
            self.scopes.append([field])
            try:
                out = original(*args, **kwargs)
            except BaseException:
                if self.failed is None:  # no leaf failed: the composite's own code did (an add, a cat)
                    self.failed = (name, type(module).__name__, inputs[0].shape if inputs else None)
                raise
            finally:
                scope = self.scopes.pop()
            for arr in _arrays(out):
                if self.lookup(arr) is None:  # made by the composite itself: the largest over its branches
                    merged_field = _max_field(scope, self.ndim)
                    self.remember(arr, merged_field, True)
                    for outer in self.scopes:
                        outer.append(merged_field)
            return out

        object.__setattr__(module, "forward", forward)


# ---------------------------------------------------------------------------------------------- summary
def summary(model, input_shape, dtype=np.float32):
    """Run one forward pass on zeros and tabulate every leaf layer, as torchinfo.summary does.

    Parameters
    ----------
    model : minicnn.nn.Module
        The network. Its train/eval mode and its whole state are unchanged afterwards.
    input_shape : tuple of int
        The full input shape with the batch first, e.g. ``(1, 3, 224, 224)``.
    dtype : numpy dtype, optional
        float32 (default) or float64: the dtype of the zeros, which must match the model's parameters.

    Returns
    -------
    Summary
        ``print(s)`` gives a text table, ``s`` alone in Jupyter an HTML table; ``s.rows`` lists the
        rows (`LayerRow`), ``s.total_params``, ``s.total_mult_adds`` and ``s.total_activations``
        the totals, ``s.activations(...)`` other views of the activation memory.

    Raises
    ------
    TypeError
        model is not a minicnn.nn.Module, input_shape is not a tuple of ints, dtype is not a float dtype.
    ValueError
        input_shape is empty or has a size below 1.
    Exception
        The model's own error when it refuses the input, of the same type, with a message starting
        "summary: forward on zeros of shape ... failed in <layer>" (the original is chained).

    Examples
    --------
    >>> from minicnn import nn, summary
    >>> net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 8, 3))
    >>> s = summary(net, (1, 1, 8, 8))
    >>> [row.output_shape for row in s.rows]
    [(1, 4, 6, 6), (1, 4, 6, 6), (1, 8, 4, 4)]
    >>> [row.rf for row in s.rows]  # two 3x3 convolutions see 5x5 pixels
    [(3, 3), (3, 3), (5, 5)]
    >>> s.total_params, s.total_mult_adds, s.total_activations
    (336, 5904, 416)
    >>> print(s)  # doctest: +NORMALIZE_WHITESPACE
    ==========================================================================
    Layer (type)      Output shape  Params  Mult-adds  Output memory  RF  Jump
    --------------------------------------------------------------------------
    0 (Conv2d)        (1, 4, 6, 6)      40      1,296          576 B   3     1
    1 (ReLU)          (1, 4, 6, 6)       0          0          576 B   3     1
    2 (Conv2d)        (1, 8, 4, 4)     296      4,608          512 B   5     1
    ==========================================================================
    Input: (1, 1, 8, 8) float32, 64 values, 256 B
    Parameters: 336, all trainable, 1.3 kB
    Mult-adds: 5,904 = 5.90 k for the batch of 1 (conv and linear layers only)
    Activations, all layer outputs: 416 values per image; 1.7 kB for the batch of 1 (forward pass)
    Activations, CS231n's count: 336 values per image; 1.3 kB for the batch (input + outputs that need new memory)
    Estimated total: 3.3 kB (input + all layer outputs + parameters)
    RF: receptive field on the input, in pixels, of one output value; Jump: input pixels between neighbouring outputs
    """
    if not isinstance(model, Module):
        raise TypeError(f"summary: model must be a minicnn.nn.Module (a layer or a network), "
                        f"got {type(model).__name__}")
    input_shape = checked_input_shape("summary", input_shape)
    dtype = _check_dtype(dtype)

    named = OrderedDict()  # id -> (name, module), each module once, under its first name
    for name, module in model.named_modules():
        named.setdefault(id(module), (name, module))
    leaves = [(name, module) for name, module in named.values() if not module._modules]

    x = np.zeros(input_shape, dtype)
    recorder = _Recorder(x, max(len(input_shape) - 2, 0))
    snap = _snapshot(model)
    try:
        model.eval()
        for name, module in named.values():
            if module._modules:
                recorder.wrap_composite(module, name)
            else:
                recorder.wrap_leaf(module, name)
        try:
            model(x)
        except Exception as error:
            where = ""
            if recorder.failed is not None:
                fname, ftype, fshape = recorder.failed
                where = f" in {fname or 'the model'} ({ftype}) on an input of shape {fshape}"
            message = f"summary: forward on zeros of shape {input_shape} failed{where}: {error}"
            try:
                wrapped = type(error)(message)
            except Exception:
                wrapped = RuntimeError(message)
            raise wrapped from error
    finally:
        _restore(snap)
    return Summary._build(model, input_shape, dtype, recorder, leaves)


def _human_bytes(n):
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def _human_count(n):
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}" if n < 100 * scale else f"{n / scale:.1f} {unit}"
    return f"{n:g}"


def _dims(values):
    """(5, 5) -> '5'; (5, 3) -> '5x3'."""
    return str(values[0]) if len(set(values)) == 1 else "x".join(map(str, values))


def _fmt_per_image(value):
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


class Summary:
    """The result of `summary`: rows per leaf layer, totals, a text table and an HTML table.

    Attributes
    ----------
    rows : list of LayerRow
        One per leaf call, in execution order (``row._asdict()`` gives a dict).
    input_shape, dtype, batch_size : the input the pass ran on
    total_params : int
        Every trainable `Parameter` of the model, each counted once (layers that did not run included).
    param_bytes : int
        Memory of those parameters.
    total_mult_adds : int
        Multiply-adds of the conv and linear layers for the whole batch.
    total_activations, total_activation_bytes : int
        Values (and bytes) of every leaf's output summed, for the whole batch (forward only); see `activations`
        for CS231n's count and per-image figures.
    input_elements : int
        Values in the input batch.
    not_run : list of str
        Leaf modules the forward pass did not call (e.g. an auxiliary classifier in eval mode).
    unknown_cost : list of str
        Leaf modules of a kind summary does not know that hold weights: their mult-adds are None, not in the total.
    params_outside_rows : int
        Parameters in no row: those of leaves that did not run, or held directly by composite modules.
    """

    @classmethod
    def _build(cls, model, input_shape, dtype, recorder, leaves):
        self = cls.__new__(cls)
        self.model_type = type(model).__name__
        self.input_shape, self.dtype = input_shape, dtype
        self.batch_size = input_shape[0]
        self.input_elements = math.prod(input_shape)
        self.spatial_size = input_shape[2:]
        unique = model.parameters()
        self.total_params = sum(p.data.size for p in unique)
        self.param_bytes = sum(p.data.nbytes for p in unique)
        counted, rows = set(), []
        for module, name, call, in_shape, out_shape, elements, nbytes, inplace, field, merged in recorder.records:
            params = 0
            for p in module._parameters.values():
                if p is not None and id(p) not in counted:
                    counted.add(id(p))
                    params += p.data.size
            whole = field is _WHOLE
            rf = self.spatial_size if whole else (field.rf if isinstance(field, _Field) else None)
            jump = field.jump if isinstance(field, _Field) else None
            rows.append(LayerRow(name, type(module).__name__, name.count(".") + 1 if name else 0, call, in_shape,
                                 out_shape, params, _mult_adds(module, elements), elements, nbytes, inplace,
                                 rf, jump, whole, merged))
        self.rows = rows
        self.total_mult_adds = sum(r.mult_adds for r in rows if r.mult_adds is not None)
        self.unknown_cost = list(dict.fromkeys(r.name for r in rows if r.mult_adds is None))
        self.total_activations = sum(r.out_elements for r in rows)
        self.total_activation_bytes = sum(r.out_bytes for r in rows)
        called = {id(module) for module, *_ in recorder.records}
        self.not_run = [name for name, module in leaves if id(module) not in called]
        self.params_outside_rows = self.total_params - sum(r.params for r in rows)
        containers = {name: module for name, module in model.named_modules() if module._modules and name}
        self._containers = {name: type(module).__name__ for name, module in containers.items()}
        return self

    # ------------------------------------------------------------------ totals
    def activations(self, *, inplace=False, include_input=False, per_image=False, nbytes=False):
        """Activation memory of the forward pass: a number of values, or of bytes with ``nbytes=True``.

        Parameters
        ----------
        inplace : bool
            Skip the outputs of element-wise layers that can run in place (ReLU, LeakyReLU, Sigmoid,
            Tanh, Dropout) and outputs that are views of their input (Flatten).
        include_input : bool
            Add the input batch.
        per_image : bool
            Divide by the batch size.
        nbytes : bool
            Bytes instead of values.

        ``activations(inplace=True, include_input=True, per_image=True)`` is the count of CS231n's
        "VGGNet in detail" (INPUT + every CONV/POOL/FC output).
        """
        rows = [r for r in self.rows if not (inplace and r.inplace)]
        total = sum(r.out_bytes if nbytes else r.out_elements for r in rows)
        if include_input:
            total += self.input_elements * (self.dtype.itemsize if nbytes else 1)
        return total / self.batch_size if per_image else total

    # ------------------------------------------------------------------ display
    def _cells(self, row):
        shape = row.output_shape
        shape = str(shape) if shape and isinstance(shape[0], int) else ", ".join(map(str, shape)) or "-"
        label = f"{row.name or '(model)'} ({row.type})" + (f" call {row.call}" if row.call > 1 else "")
        mult_adds = "?" if row.mult_adds is None else f"{row.mult_adds:,}"
        if not self.spatial_size:  # (N, features) input: no receptive field to follow
            return [label, shape, f"{row.params:,}", mult_adds, _human_bytes(row.out_bytes), "-", "-"]
        rf = "?" if row.rf is None else ("all" if row.rf_whole else _dims(row.rf))
        if row.rf is not None and row.rf_merged:
            rf += "*"
        jump = "-" if row.jump is None else _dims(row.jump)
        return [label, shape, f"{row.params:,}", mult_adds, _human_bytes(row.out_bytes), rf, jump]

    def _lines(self):
        """(depth, cells) per displayed line: container headings (no numbers) and rows, in execution order."""
        shown, lines = set(), []
        for row in self.rows:
            parts = row.name.split(".") if row.name else []
            for i in range(1, len(parts)):
                prefix = ".".join(parts[:i])
                if prefix in self._containers and prefix not in shown:
                    shown.add(prefix)
                    lines.append((i, [f"{prefix} ({self._containers[prefix]})"] + [""] * 6))
            lines.append((max(row.depth, 1), self._cells(row)))
        return lines

    def _footer(self):
        n, dt = self.batch_size, self.dtype.name
        items = [("Input", f"{self.input_shape} {dt}, {self.input_elements:,} values, "
                           f"{_human_bytes(self.input_elements * self.dtype.itemsize)}")]
        params = f"{self.total_params:,}, all trainable, {_human_bytes(self.param_bytes)}"
        if self.not_run:
            params += f"; layers not run by this forward: {', '.join(self.not_run)}"
        if self.params_outside_rows:
            params += f"; {self.params_outside_rows:,} of them in no row (layers not run, or held by composites)"
        items.append(("Parameters", params))
        mult_adds = f"{self.total_mult_adds:,} = {_human_count(self.total_mult_adds)} for the batch of {n} " \
                    f"(conv and linear layers only)"
        if self.unknown_cost:
            mult_adds += f"; ? = cost unknown to summary, not included: {', '.join(self.unknown_cost)}"
        items.append(("Mult-adds", mult_adds))
        items.append(("Activations, all layer outputs",
                      f"{_fmt_per_image(self.activations(per_image=True))} values per image; "
                      f"{_human_bytes(self.total_activation_bytes)} for the batch of {n} (forward pass)"))
        items.append(("Activations, CS231n's count",
                      f"{_fmt_per_image(self.activations(inplace=True, include_input=True, per_image=True))} "
                      f"values per image; "
                      f"{_human_bytes(self.activations(inplace=True, include_input=True, nbytes=True))} for the "
                      f"batch (input + outputs that need new memory)"))
        total = self.input_elements * self.dtype.itemsize + self.total_activation_bytes + self.param_bytes
        items.append(("Estimated total", f"{_human_bytes(total)} (input + all layer outputs + parameters)"))
        if self.spatial_size:
            items.append(("RF", "receptive field on the input, in pixels, of one output value; Jump: input pixels "
                                "between neighbouring outputs"))
            marks = []
            if any(r.rf_whole for r in self.rows):
                marks.append("all = the whole input")
            if any(r.rf_merged and r.rf is not None for r in self.rows):
                marks.append("* = input made by a composite (add, cat, relu): the largest field over its branches")
            if any(r.rf is None for r in self.rows):
                marks.append("? = unknown to summary")
            if marks:
                items.append(("RF marks", "; ".join(marks)))
        return items

    def __str__(self):
        header = ["Layer (type)", "Output shape", "Params", "Mult-adds", "Output memory", "RF", "Jump"]
        lines = self._lines()
        cells = [[" " * 2 * (depth - 1) + c[0]] + c[1:] for depth, c in lines]
        widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(header)]
        widths[1] = min(widths[1], 26)
        gap = 2
        widths[0] = max(min(widths[0], WIDTH - sum(widths[1:]) - gap * (len(header) - 1)), 16)

        def fit(text, width):
            return text if len(text) <= width else text[:width - 3] + "..."

        def fmt(row):
            out = [fit(row[0], widths[0]).ljust(widths[0]), fit(row[1], widths[1]).ljust(widths[1])]
            out += [fit(c, w).rjust(w) for c, w in zip(row[2:], widths[2:])]
            return (" " * gap).join(out).rstrip()

        width = min(sum(widths) + gap * (len(header) - 1), WIDTH)
        text = ["=" * width, fmt(header), "-" * width] + [fmt(c) for c in cells] + ["=" * width]
        for label, value in self._footer():
            text += textwrap.wrap(f"{label}: {value}", WIDTH, subsequent_indent="    ", break_on_hyphens=False)
        return "\n".join(text)

    def __repr__(self):
        return str(self)

    def _repr_html_(self):
        header = ["Layer (type)", "Output shape", "Params", "Mult-adds", "Output memory", "RF", "Jump"]
        esc = html.escape
        out = ['<table class="minicnn-summary">', "<thead><tr>"]
        out += [f'<th style="text-align:{"left" if i < 2 else "right"}">{esc(h)}</th>' for i, h in enumerate(header)]
        out.append("</tr></thead><tbody>")
        for depth, cells in self._lines():
            out.append("<tr>")
            out.append(f'<td style="text-align:left;padding-left:{0.5 + 1.5 * (depth - 1):g}em">'
                       f"{esc(cells[0])}</td>")
            out.append(f'<td style="text-align:left">{esc(cells[1])}</td>')
            out += [f'<td style="text-align:right">{esc(c)}</td>' for c in cells[2:]]
            out.append("</tr>")
        out.append("</tbody></table>")
        out.append('<table class="minicnn-summary-totals"><tbody>')
        for label, value in self._footer():
            out.append(f'<tr><th style="text-align:left">{esc(label)}</th>'
                       f'<td style="text-align:left">{esc(value)}</td></tr>')
        out.append("</tbody></table>")
        return "\n".join(out)
