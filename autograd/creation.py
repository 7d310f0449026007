"""Making tensors: the constructors, named and behaving as PyTorch's.

    tensor(data)          a new leaf, always a copy (of a number, list, array or Tensor)
    as_tensor(array)      the same memory, no copy: how raw NumPy/CuPy code hands its
                          result back to Tensors (torch.as_tensor)
    zeros, ones, full     filled arrays, float32 unless a dtype is given
    randn, rand, randint  samples from the device's seeded generator (random.py)
    arange                integers when every argument is an int, else float32
    zeros_like, ...       the shape, dtype and device of another tensor

Every constructor takes `device=` ('cpu' or 'cuda'; the default device otherwise).
"""
import numpy as np

from . import backend, random
from .axes import shape_arg
from .tensor import Tensor

float32, float64, int64, int32, bool_ = np.float32, np.float64, np.int64, np.int32, np.bool_


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new leaf tensor from a number, list, NumPy or CuPy array or Tensor (always copied)."""
    if isinstance(data, Tensor):
        data = data.data
    if hasattr(data, 'copy'):  # an array: never share its memory
        data = data.copy()
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device)


def as_tensor(array, dtype=None, device=None):
    """A Tensor that shares the memory of a NumPy or CuPy `array`, like torch.as_tensor.

    No copy is made unless one is needed: to move the array to `device` or to cast it to
    `dtype`. Writing into the array changes the tensor and the other way round. The
    result is a leaf that does not require grad. A Tensor is returned as it is (moved or
    cast if asked); numbers and lists are refused: `tensor(...)` makes those.
    """
    if isinstance(array, Tensor):
        return array.to(device=device, dtype=dtype)
    if not (hasattr(array, 'shape') and hasattr(array, 'dtype')):
        raise TypeError(f"as_tensor: expected a NumPy or CuPy array, got {type(array).__name__}; "
                        f"use autograd.tensor(...) to make a tensor from numbers or lists")
    if device is not None:
        array = backend.to_device(array, device)
    if dtype is not None:
        array = array.astype(dtype, copy=False)
    return Tensor._make(array)


def _new(fill, shape, dtype, device, requires_grad):
    device = backend.check_device(device or backend.get_default_device())
    xp = backend.xp_for(device)
    data = fill(xp, shape_arg(shape), np.dtype(dtype or backend.default_dtype))
    return Tensor._make(data).requires_grad_(requires_grad)


def zeros(*shape, dtype=None, device=None, requires_grad=False):
    return _new(lambda xp, s, d: xp.zeros(s, d), shape, dtype, device, requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad=False):
    return _new(lambda xp, s, d: xp.ones(s, d), shape, dtype, device, requires_grad)


def full(shape, value, dtype=None, device=None, requires_grad=False):
    return _new(lambda xp, s, d: xp.full(s, value, d), (shape,), dtype, device, requires_grad)


def randn(*shape, dtype=None, device=None, requires_grad=False):
    """Standard normal samples from the device's seeded generator."""
    device = device or backend.get_default_device()
    gen = random.rng(device)
    return _new(lambda xp, s, d: gen.standard_normal(s).astype(d), shape, dtype, device,
                requires_grad)


def rand(*shape, dtype=None, device=None, requires_grad=False):
    """Uniform samples in [0, 1) from the device's seeded generator."""
    device = device or backend.get_default_device()
    gen = random.rng(device)
    return _new(lambda xp, s, d: gen.random(s).astype(d), shape, dtype, device, requires_grad)


def randint(low, high, shape, device=None):
    device = device or backend.get_default_device()
    gen = random.rng(device)
    return _new(lambda xp, s, d: gen.integers(low, high, s).astype(d), (shape,), np.int64,
                device, False)


def arange(start, stop=None, step=1, dtype=None, device=None):
    if stop is None:
        start, stop = 0, start
    if dtype is None:
        dtype = np.int64 if all(isinstance(v, int) for v in (start, stop, step)) else backend.default_dtype
    xp = backend.xp_for(device or backend.get_default_device())
    return Tensor._make(xp.arange(start, stop, step, dtype=dtype))


def _like(fn):
    def like(t, dtype=None, device=None, requires_grad=False):
        return fn(t.shape, dtype=dtype or t.dtype, device=device or t.device,
                  requires_grad=requires_grad)
    like.__name__ = fn.__name__ + '_like'
    like.__doc__ = f"`{fn.__name__}` with the shape, dtype and device of `t`."
    return like


zeros_like, ones_like, randn_like, rand_like = map(_like, (zeros, ones, randn, rand))
