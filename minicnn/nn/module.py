"""Module and Parameter: the state (weights, running statistics, train/eval mode) around the functional ops.

A module's ``forward(x)`` keeps what its ``backward(grad_out)`` needs; ``backward``
returns dL/d(input) and *adds* each parameter's gradient to ``p.grad``, like
PyTorch's autograd does. Names, state-dict keys and shapes match PyTorch's modules,
so weights move between the two with `state_dict` / `load_state_dict`.
"""
from collections import OrderedDict
import inspect

import numpy as np


class Parameter:
    """A trainable array: ``data`` (the values) and ``grad`` (None until a backward pass adds to it)."""

    def __init__(self, data):
        self.data = np.asarray(data)
        self.grad = None

    @property
    def shape(self):
        return self.data.shape

    def accumulate(self, grad):
        """Add a gradient (as autograd does when a parameter is used more than once)."""
        if grad.shape != self.data.shape:
            raise ValueError(f"gradient of shape {grad.shape} does not fit parameter of shape {self.data.shape}")
        if self.grad is None:
            self.grad = np.array(grad, dtype=self.data.dtype)
        else:
            self.grad += grad

    def __repr__(self):
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


class Module:
    """Base class of every layer and network. Subclasses define ``forward`` and ``backward``."""

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
        raise NotImplementedError(f"{type(self).__name__} does not define forward")

    def backward(self, grad_out):
        raise NotImplementedError(f"{type(self).__name__} does not define backward")

    def __call__(self, *inputs):
        return self.forward(*inputs)

    def _saved(self, *names):
        """What forward kept for backward; a clear error if backward comes first."""
        cache = self.__dict__.get("_cache")
        if cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        if not names:
            return cache
        return cache[names[0]] if len(names) == 1 else tuple(cache[name] for name in names)

    def _save(self, **values):
        object.__setattr__(self, "_cache", values)

    # ------------------------------------------------------------------ structure
    def named_children(self):
        return iter(self._modules.items())

    def children(self):
        return iter(self._modules.values())

    def named_modules(self, prefix=""):
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        return (module for _, module in self.named_modules())

    def named_parameters(self, prefix=""):
        """(name, Parameter) pairs with PyTorch's dotted names: ``0.weight``, ``features.3.bias``."""
        for module_name, module in self.named_modules(prefix):
            for name, param in module._parameters.items():
                yield (f"{module_name}.{name}" if module_name else name), param

    def parameters(self):
        return [param for _, param in self.named_parameters()]

    def named_buffers(self, prefix=""):
        for module_name, module in self.named_modules(prefix):
            for name, buf in module._buffers.items():
                yield (f"{module_name}.{name}" if module_name else name), buf

    # ------------------------------------------------------------------ state
    def train(self, mode=True):
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self):
        for param in self.parameters():
            param.grad = None

    def to(self, dtype):
        """Cast every floating-point parameter and buffer to `dtype` (e.g. np.float64 for gradient checks)."""
        for module in self.modules():
            for param in module._parameters.values():
                param.data = param.data.astype(dtype)
                param.grad = None if param.grad is None else param.grad.astype(dtype)
            for name, buf in list(module._buffers.items()):
                if buf.dtype.kind == "f":
                    module.register_buffer(name, buf.astype(dtype))
        return self

    def double(self):
        return self.to(np.float64)

    def float(self):
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

        Raises KeyError listing missing and unexpected keys, or ValueError listing mis-shaped ones;
        nothing is changed unless every key fits.
        """
        own = OrderedDict(self.named_parameters())
        buffers = OrderedDict(self.named_buffers())
        expected = list(own) + list(buffers)
        missing = [k for k in expected if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own and k not in buffers]
        if missing or unexpected:
            raise KeyError(f"load_state_dict for {type(self).__name__}: missing keys {missing}, "
                           f"unexpected keys {unexpected}")
        shapes = {k: np.shape(v) for k, v in state_dict.items()}
        wrong = [f"{k}: expected {tuple(np.shape(own[k].data if k in own else buffers[k]))}, got {shapes[k]}"
                 for k in expected if shapes[k] != np.shape(own[k].data if k in own else buffers[k])]
        if wrong:
            raise ValueError(f"load_state_dict for {type(self).__name__}: shape mismatch for " + "; ".join(wrong))
        for name, param in own.items():
            param.data = np.array(state_dict[name], dtype=param.data.dtype)
        for name, buf in buffers.items():
            np.copyto(buf, np.asarray(state_dict[name]), casting="unsafe")

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
        """Backpropagate through the modules in reverse; with ``input_grad=False`` the first module may skip
        dL/dx (convolutions do) and None may be returned, as in a training step where nobody uses it."""
        modules = list(self._modules.values())
        for module in reversed(modules[1:]):
            grad_out = module.backward(grad_out)
        if not modules:
            return grad_out
        if not input_grad and _offers_input_grad(modules[0]):
            return modules[0].backward(grad_out, input_grad=False)
        return modules[0].backward(grad_out)


def _offers_input_grad(module):
    """True if module.backward accepts ``input_grad`` (it can skip the gradient with respect to its input)."""
    return "input_grad" in inspect.signature(module.backward).parameters
