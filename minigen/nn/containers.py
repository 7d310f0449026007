"""Containers: modules that hold other modules (as torch.nn's).

    Sequential(a, b, c)     forward(x) = c(b(a(x))); children named '0', '1', '2'
    ModuleList([a, b])      a list whose modules are registered (their parameters are found)
    ModuleDict({'k': a})    the same as a dict
    Identity()              forward(x) = x (a placeholder, e.g. a skip with no projection)

A plain Python list of modules is invisible to `parameters()`; these are the registered
versions.
"""
from .module import Module


def _check_module(container, value):
    if not isinstance(value, Module):
        raise TypeError(f"{container}: every entry must be a Module, got {type(value).__name__}")
    return value


class Sequential(Module):
    def __init__(self, *modules):
        super().__init__()
        for i, m in enumerate(modules):
            self._modules[str(i)] = _check_module('Sequential', m)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def __getitem__(self, i):
        items = list(self._modules.values())
        return Sequential(*items[i]) if isinstance(i, slice) else items[i]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        self._modules[str(len(self._modules))] = _check_module('Sequential', module)
        return self


class ModuleList(Module):
    def __init__(self, modules=()):
        super().__init__()
        self.extend(modules)

    def __getitem__(self, i):
        items = list(self._modules.values())
        return ModuleList(items[i]) if isinstance(i, slice) else items[i]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        self._modules[str(len(self._modules))] = _check_module('ModuleList', module)
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self


class ModuleDict(Module):
    def __init__(self, modules=None):
        super().__init__()
        for k, m in dict(modules or {}).items():
            self[k] = m

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        if '.' in str(key) or not str(key):
            raise KeyError(f"ModuleDict: key {key!r} must be non-empty and contain no '.' "
                           f"(dots separate the parts of a parameter's name)")
        self._modules[str(key)] = _check_module('ModuleDict', module)

    def __contains__(self, key):
        return key in self._modules

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()


class Identity(Module):
    def forward(self, x):
        return x
