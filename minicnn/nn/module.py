"""Module and Parameter: the state (weights, running statistics, train/eval mode) around the functional ops.

The contract every module keeps (CS231n's cache idea, with PyTorch's names):

- ``forward(x)`` checks its input, computes the output and saves what ``backward`` needs;
- ``backward(grad_out, input_grad=True)`` takes dL/d(output), *adds* each parameter's gradient
  to ``p.grad`` (as PyTorch's autograd does) and returns dL/d(input). It uses what forward saved,
  once: a second backward after one forward is an error, as in PyTorch, because it would add
  every parameter gradient twice. With ``input_grad=False`` a module may skip dL/d(input) and
  return None (a network's first layer: nobody uses the gradient with respect to the images).

Names, state-dict keys and shapes match PyTorch's modules, so weights move between the two with
`state_dict` / `load_state_dict`.
"""
from collections import OrderedDict

import numpy as np

from minicnn.functional._checks import FLOAT_DTYPES, float_dtype

_CONSUMED = object()  # what a backward leaves behind in place of the saved values


class Parameter:
    """A trainable array: ``data`` (the values) and ``grad`` (None until a backward pass adds to it).

    Only float32 and float64 arrays can be trained (PyTorch: only floating-point tensors require grad).

    >>> Parameter(np.zeros((2, 3), np.float32))
    Parameter(shape=(2, 3), dtype=float32)
    """

    def __init__(self, data):
        data = np.asarray(data)
        if data.dtype not in FLOAT_DTYPES:
            raise TypeError(f"Parameter: data must be float32 or float64 (only floating-point values can be "
                            f"trained), got {data.dtype}")
        self.data = data
        self.grad = None

    @property
    def shape(self):
        return self.data.shape

    def accumulate(self, grad):
        """Add a gradient (as autograd does when a parameter is used more than once)."""
        grad = np.asarray(grad)
        if grad.shape != self.data.shape:
            raise ValueError(f"gradient of shape {grad.shape} does not fit parameter of shape {self.data.shape}")
        if self.grad is None:
            self.grad = np.array(grad, dtype=self.data.dtype)
        else:
            self.grad += grad

    def __repr__(self):
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


class Module:
    """Base class of every layer and network. Subclasses define ``forward`` and ``backward``.

    Assigning a `Parameter` or a `Module` to an attribute registers it, so `parameters`,
    `state_dict` and `train`/`eval` reach it, as in ``torch.nn.Module``.
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}.__init__ must call super().__init__() before setting {name!r}")
        params, modules, buffers = self._parameters, self._modules, self._buffers
        if isinstance(value, Parameter):
            modules.pop(name, None), buffers.pop(name, None)
            params[name] = value
        elif isinstance(value, Module):
            params.pop(name, None), buffers.pop(name, None)
            modules[name] = value
        else:
            params.pop(name, None), modules.pop(name, None)
            if name in buffers:  # e.g. `self.num_batches_tracked += 1` rebinds the buffer
                buffers[name] = value
        object.__setattr__(self, name, value)

    def register_buffer(self, name, array):
        """State that is saved and loaded but not trained (e.g. batch norm's running mean)."""
        setattr(self, name, array)
        self._buffers[name] = array

    # ------------------------------------------------------------------ computing
    def forward(self, *inputs):
        """Compute the output, and save what `backward` will need."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward")

    def backward(self, grad_out, input_grad=True):
        """Given dL/d(output), add the parameters' gradients to their ``grad`` and return dL/d(input).

        With ``input_grad=False`` the module may skip dL/d(input) and return None.
        """
        raise NotImplementedError(f"{type(self).__name__} does not define backward")

    def __call__(self, *inputs):
        return self.forward(*inputs)

    def _save(self, **values):
        """Keep what backward needs from this forward pass (replacing the previous pass's)."""
        object.__setattr__(self, "_cache", values)

    def _saved(self, *names):
        """Hand what forward saved to backward, once; a clear error if backward comes first or comes twice."""
        cache = self.__dict__.get("_cache")
        if cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward: nothing was saved to "
                               f"differentiate; call the module on an input first")
        if cache is _CONSUMED:
            raise RuntimeError(f"{type(self).__name__}.backward called twice after one forward: the first backward "
                               f"used what forward saved, and a second would add every parameter gradient again; "
                               f"run forward again before another backward (PyTorch refuses this too)")
        object.__setattr__(self, "_cache", _CONSUMED)
        if not names:
            return cache
        return cache[names[0]] if len(names) == 1 else tuple(cache[name] for name in names)

    # ------------------------------------------------------------------ structure
    def named_children(self):
        """(name, module) pairs of the direct sub-modules."""
        return iter(self._modules.items())

    def children(self):
        """The direct sub-modules."""
        return iter(self._modules.values())

    def named_modules(self, prefix=""):
        """(dotted name, module) pairs of this module and every module inside it, depth first."""
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        """This module and every module inside it."""
        return (module for _, module in self.named_modules())

    def named_parameters(self, prefix=""):
        """(name, Parameter) pairs with PyTorch's dotted names: ``0.weight``, ``features.3.bias``.

        A parameter shared by two layers is listed once, under its first name (as in PyTorch), so an
        optimizer updates it once per step."""
        seen = set()
        for module_name, module in self.named_modules(prefix):
            for name, param in module._parameters.items():
                if param is not None and id(param) not in seen:
                    seen.add(id(param))
                    yield (f"{module_name}.{name}" if module_name else name), param

    def parameters(self):
        """Every trainable `Parameter` of this module and its sub-modules: what an optimizer is given.

        >>> from minicnn import nn
        >>> [p.shape for p in nn.Linear(4, 3).parameters()]
        [(3, 4), (3,)]
        """
        return [param for _, param in self.named_parameters()]

    def named_buffers(self, prefix=""):
        """(name, array) pairs of the saved but untrained state (e.g. batch norm's running statistics)."""
        for module_name, module in self.named_modules(prefix):
            for name, buf in module._buffers.items():
                yield (f"{module_name}.{name}" if module_name else name), buf

    # ------------------------------------------------------------------ state
    def train(self, mode=True):
        """Training mode for this module and its sub-modules: dropout drops, batch norm uses batch statistics."""
        if not isinstance(mode, (bool, np.bool_)):
            raise TypeError(f"{type(self).__name__}.train: mode must be True or False, got {mode!r}")
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self):
        """Evaluation mode (``train(False)``): no dropout, batch norm uses its running statistics."""
        return self.train(False)

    def zero_grad(self):
        """Forget every parameter's gradient (set ``grad`` to None) before the next backward pass."""
        for param in self.parameters():
            param.grad = None

    def to(self, dtype):
        """Cast every floating-point parameter and buffer to `dtype` (np.float32, or np.float64 for gradient checks)."""
        dtype = float_dtype(f"{type(self).__name__}.to", "dtype", dtype)
        for module in self.modules():
            for param in module._parameters.values():
                param.data = param.data.astype(dtype)
                param.grad = None if param.grad is None else param.grad.astype(dtype)
            for name, buf in list(module._buffers.items()):
                if buf.dtype.kind == "f":
                    module.register_buffer(name, buf.astype(dtype))
        return self

    def double(self):
        """Cast to float64 (`to`)."""
        return self.to(np.float64)

    def float(self):
        """Cast to float32 (`to`), the default."""
        return self.to(np.float32)

    def state_dict(self):
        """Copies of every parameter and buffer, keyed as in the equivalent PyTorch module."""
        state = OrderedDict()
        for module_name, module in self.named_modules():
            prefix = f"{module_name}." if module_name else ""
            for name, param in module._parameters.items():
                state[prefix + name] = param.data.copy()
            for name, buf in module._buffers.items():
                state[prefix + name] = np.array(buf, copy=True)
        return state

    def load_state_dict(self, state_dict):
        """Copy values into this module's parameters and buffers (keeping their dtype).

        All or nothing: every value is checked and converted first. Raises KeyError listing missing
        and unexpected keys, ValueError listing mis-shaped keys, TypeError naming a value that is not
        numeric; in each case nothing has been changed.
        """
        if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
            raise TypeError(f"load_state_dict for {type(self).__name__}: expected a mapping of names to arrays "
                            f"(e.g. from state_dict() or load_checkpoint), got {type(state_dict).__name__}")
        # every name state_dict writes, a shared parameter under each of its names
        own = OrderedDict((f"{module_name}.{name}" if module_name else name, param)
                          for module_name, module in self.named_modules()
                          for name, param in module._parameters.items() if param is not None)
        buffers = OrderedDict(self.named_buffers())
        targets = OrderedDict((k, p.data) for k, p in own.items())
        targets.update(buffers)
        missing = [k for k in targets if k not in state_dict]
        unexpected = [k for k in state_dict if k not in targets]
        if missing or unexpected:
            raise KeyError(f"load_state_dict for {type(self).__name__}: missing keys {missing}, "
                           f"unexpected keys {unexpected}")
        converted, wrong = {}, []
        for key, target in targets.items():
            value = np.asarray(state_dict[key])
            if value.dtype.kind not in "biuf":
                raise TypeError(f"load_state_dict for {type(self).__name__}: {key} must hold numbers, "
                                f"got dtype {value.dtype}; nothing was loaded")
            if value.shape != target.shape:
                wrong.append(f"{key}: expected {target.shape}, got {value.shape}")
            converted[key] = value.astype(target.dtype)
        if wrong:
            raise ValueError(f"load_state_dict for {type(self).__name__}: shape mismatch for " + "; ".join(wrong)
                             + "; nothing was loaded")
        for name, param in own.items():
            param.data = converted[name]
        for name, buf in buffers.items():
            np.copyto(buf, converted[name])

    # ------------------------------------------------------------------ display
    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        if self._modules:
            for name, child in self._modules.items():
                child_repr = repr(child).replace("\n", "\n  ")
                lines.append(f"  ({name}): {child_repr}")
            return "\n".join(lines) + "\n)"
        return lines[0] + ")"


class Sequential(Module):
    """Modules applied one after another; backward runs them in reverse.

    >>> from minicnn import nn
    >>> net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    >>> [name for name, _ in net.named_parameters()]
    ['0.weight', '0.bias', '2.weight', '2.bias']
    """

    def __init__(self, *modules):
        super().__init__()
        seen = {}
        for index, module in enumerate(modules):
            if not isinstance(module, Module):
                raise TypeError(f"Sequential: item {index} is {type(module).__name__}, not a minicnn.nn.Module")
            if id(module) in seen:
                # each module keeps the inputs of its last forward for backward; a second use would overwrite them
                raise ValueError(f"Sequential: items {seen[id(module)]} and {index} are the same {type(module).__name__} "
                                 f"object; a module remembers one forward pass for backward, so create a new one")
            seen[id(module)] = index
            setattr(self, str(index), module)

    def __getitem__(self, index):
        return list(self._modules.values())[index]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x

    def backward(self, grad_out, input_grad=True):
        """Backpropagate through the modules in reverse; ``input_grad`` goes to the first module (with False a
        convolution skips dL/dx, and None may be returned, as in a training step where nobody uses it)."""
        modules = list(self._modules.values())
        for module in reversed(modules[1:]):
            grad_out = module.backward(grad_out)
        if not modules:
            return grad_out
        return modules[0].backward(grad_out, input_grad=input_grad)
