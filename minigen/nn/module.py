"""Module and Parameter: how a network keeps its weights (the design of torch.nn.Module).

A `Parameter` is a Tensor that a Module owns and an optimizer updates (requires_grad=True).
A `Module` is an object whose attributes may be Parameters, buffers (Tensors saved with
the model but not trained, such as BatchNorm's running statistics) or other Modules.
Assigning one registers it, in order, so that

    model.named_parameters()  ->  ('encoder.0.weight', Parameter), ...   (depth first)
    model.state_dict()        ->  {'encoder.0.weight': Tensor, ..., 'norm.running_mean': ...}

walk the tree without any list kept by hand. `forward` says what the module computes;
calling the module runs it. `train()` / `eval()` set `training` on the whole tree
(dropout and batch norm read it). `to(device, dtype)` moves every parameter in place:
the Parameter objects stay the same, so an optimizer made before keeps working.
"""
from collections import OrderedDict

import numpy as np

from autograd import backend, no_grad
from autograd.tensor import Tensor


def check_size(layer, name, value, least=1, pair=False):
    """A layer's size argument checked where the layer is built: an int >= least (with
    pair=True, an int or a pair of them, returned as a pair). Anything else (0, a negative,
    a float, a bool) raises a ValueError naming the layer and the argument, before an
    initialiser divides by it or a forward trips over it."""
    def is_int(v):
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= least
    if pair:
        values = (value, value) if isinstance(value, (int, np.integer)) and \
            not isinstance(value, bool) else value
        if isinstance(values, (tuple, list)) and len(values) == 2 and all(map(is_int, values)):
            return tuple(int(v) for v in values)
        raise ValueError(f"{layer}: {name} must be an int >= {least} or a pair of them, got "
                         f"{value!r}")
    if not is_int(value):
        raise ValueError(f"{layer}: {name} must be an int >= {least}, got {value!r}")
    return int(value)


def zero_grads(params, set_to_none=True):
    """Forget the gradients of `params` (Module.zero_grad and Optimizer.zero_grad):
    drop them (the default, as PyTorch's), or fill the existing arrays with zeros."""
    for p in params:
        if set_to_none or p.grad is None:
            p.grad = None
        else:
            p.grad.data[...] = 0


class Parameter(Tensor):
    """A Tensor that is a module's weight: requires_grad=True, found by `parameters()`.

    Parameter(data) shares `data`'s array (a Tensor or an array), as torch.nn.Parameter does.
    """
    __slots__ = ()  # autograd.Tensor uses __slots__; a Parameter adds no field, only a type

    def __init__(self, data, requires_grad=True):
        super().__init__(data.data if isinstance(data, Tensor) else data)
        self.requires_grad_(requires_grad)

    def __repr__(self):
        return 'Parameter containing:\n' + super().__repr__()


class Module:
    """Base class of every layer and model: subclasses set attributes in `__init__` and
    write `forward`."""

    def __init__(self):
        object.__setattr__(self, '_parameters', OrderedDict())
        object.__setattr__(self, '_buffers', OrderedDict())
        object.__setattr__(self, '_modules', OrderedDict())
        object.__setattr__(self, 'training', True)

    # --- registration: assigning a Parameter or a Module records it -----------------
    def __setattr__(self, name, value):
        if '_parameters' not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() before "
                               f"assigning attributes (setting {name!r})")
        if isinstance(value, Parameter):
            table = self._parameters
        elif isinstance(value, Module):
            table = self._modules
        elif isinstance(value, Tensor) and name in self._buffers:
            table = self._buffers
        else:
            table = None  # a plain attribute
        for other in (self._parameters, self._buffers, self._modules):
            if other is not table:
                other.pop(name, None)  # re-assigning a name to something else unregisters it
        if table is None:
            object.__setattr__(self, name, value)
        else:
            self.__dict__.pop(name, None)
            table[name] = value

    def __getattr__(self, name):  # only called when normal lookup fails
        for table in ('_parameters', '_buffers', '_modules'):
            entries = self.__dict__.get(table, {})
            if name in entries:
                return entries[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for table in (self._parameters, self._buffers, self._modules):
            if name in table:
                del table[name]
                return
        object.__delattr__(self, name)

    def register_buffer(self, name, tensor):
        """A Tensor saved in `state_dict` and moved by `to`, but not trained (no gradient)."""
        if not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer: {name!r} must be a Tensor, got {type(tensor).__name__}")
        self.__dict__.pop(name, None)
        self._buffers[name] = tensor

    # --- running ------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def train(self, mode=True):
        for m in self.modules():
            object.__setattr__(m, 'training', mode)
        return self

    def eval(self):
        return self.train(False)

    # --- walking the tree (depth first, in the order of assignment) -------------------
    def named_modules(self, prefix=''):
        """(name, module) for this module and every descendant, each once."""
        seen, stack = set(), [(prefix, self)]
        while stack:
            name, m = stack.pop()
            if id(m) in seen:
                continue
            seen.add(id(m))
            yield name, m
            stack.extend(reversed([(f"{name}.{k}" if name else k, c)
                                   for k, c in m._modules.items()]))

    def modules(self):
        return (m for _, m in self.named_modules())

    def named_children(self):
        return iter(self._modules.items())

    def children(self):
        return iter(self._modules.values())

    def _named(self, *tables, once=True):
        """(dotted name, tensor) from the given tables of every module; with `once`, a
        tensor shared by two layers (tied weights) is listed at its first name only."""
        seen = set()
        for prefix, m in self.named_modules():
            for k, t in [kt for table in tables for kt in getattr(m, table).items()]:
                if not (once and id(t) in seen):
                    seen.add(id(t))
                    yield (f"{prefix}.{k}" if prefix else k), t

    def named_parameters(self):
        return self._named('_parameters')

    def parameters(self):
        return (p for _, p in self.named_parameters())

    def named_buffers(self):
        return self._named('_buffers')

    def buffers(self):
        return (b for _, b in self.named_buffers())

    def zero_grad(self, set_to_none=True):
        zero_grads(self.parameters(), set_to_none)

    # --- moving: the same Parameter objects, new arrays --------------------------------
    def to(self, device=None, dtype=None):
        """Move every parameter, gradient and buffer to `device` and cast the floating-point
        ones to `dtype`, in place (the Tensor objects stay, their arrays change)."""
        device = None if device is None else backend.check_device(device)
        for t in list(self.parameters()) + list(self.buffers()):
            for owner in (t, t.grad):
                if owner is None:
                    continue
                data = owner.data if device is None else backend.to_device(owner.data, device)
                if dtype is not None and data.dtype.kind == 'f':
                    data = data.astype(dtype, copy=False)
                if data is not owner.data:
                    owner.data = data
                    owner._version += 1  # a graph made before the move must not backward
        return self

    def float(self):
        return self.to(dtype=np.float32)

    def double(self):
        return self.to(dtype=np.float64)

    def cpu(self):
        return self.to('cpu')

    def cuda(self):
        return self.to('cuda')

    # --- saving and loading ----------------------------------------------------------
    def state_dict(self):
        """Every parameter and buffer by dotted name, module by module (a tied weight under
        each of its names, as PyTorch), as Tensors sharing their arrays (a copy is made only
        when saved: `minigen.save`)."""
        return OrderedDict((k, t.detach())
                           for k, t in self._named('_parameters', '_buffers', once=False))

    def load_state_dict(self, state_dict):
        """Copy values (Tensors or arrays, any device) into the parameters and buffers.
        Every key must match a parameter or buffer and hold real numbers (bool, int or
        float) of its shape. All of that is checked before anything is assigned: otherwise
        a ValueError lists the missing, unexpected, mis-shaped and non-numeric keys and
        nothing changes."""
        own = self.state_dict()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        values = {k: _as_array(v) for k, v in state_dict.items() if k in own}
        mis_shaped = [f"{k}: checkpoint {tuple(np.shape(v))}, model {own[k].shape}"
                      for k, v in values.items() if tuple(np.shape(v)) != own[k].shape]
        non_numeric = [f"{k}: {getattr(v, 'dtype', type(v).__name__)}, not real numbers"
                       for k, v in values.items() if getattr(v, 'dtype', None) is None
                       or v.dtype.kind not in 'biuf']
        if missing or unexpected or mis_shaped or non_numeric:
            parts = [f"{what} ({len(keys)}): {', '.join(keys)}" for what, keys in
                     (('missing keys', missing), ('unexpected keys', unexpected),
                      ('shape mismatches', mis_shaped), ('non-numeric values', non_numeric))
                     if keys]
            raise ValueError(f"{type(self).__name__}.load_state_dict: the state dict does not "
                             f"match the model; nothing was loaded.\n  " + '\n  '.join(parts))
        with no_grad():
            for k, t in self._named('_parameters', '_buffers', once=False):
                t.copy_(backend.to_device(values[k], t.device))

    # --- printing ----------------------------------------------------------------------
    def extra_repr(self):
        """The constructor's arguments, shown by repr (layers override this)."""
        return ''

    def __repr__(self):
        n = sum(p.size for p in self.parameters())
        count = f"  # {n:,} parameters" if n else ''
        if not self._modules:
            return f"{type(self).__name__}({self.extra_repr()}){count}"
        lines = [f"{type(self).__name__}({count}"]
        if self.extra_repr():
            lines.append('  ' + self.extra_repr())
        for name, m in self._modules.items():
            lines.append(f"  ({name}): " + repr(m).replace('\n', '\n  '))
        return '\n'.join(lines) + '\n)'


def _raw(value):
    return value.data if isinstance(value, Tensor) else value


def _as_array(value):
    """A state-dict value as an array (NumPy or CuPy, as given; a list or number becomes a
    NumPy array); None where it cannot be one."""
    value = _raw(value)
    if hasattr(value, 'dtype') and hasattr(value, 'shape'):
        return value
    try:
        return np.asarray(value)
    except (ValueError, TypeError):  # ragged lists and the like
        return None
